//! The CBOR wire form.
//!
//! * A request (handler call or host fn call) is a CBOR array of the
//!   arguments in declaration order. A handler without arguments also accepts
//!   an empty payload.
//! * A result is the CBOR value of the return type; a unit result is CBOR
//!   null. An empty `RET_OK` payload reads as CBOR null.
//! * A record is a CBOR map keyed by field name.
//! * Errors are UTF-8 text, not CBOR.
//!
//! Decoding is strict: trailing bytes, a wrong argument count and a wrong
//! argument type are errors that say which argument and what was wrong.
//!
//! One reference decides every result and every error text: ciborium
//! decodes the bytes into a `ciborium::Value`, and `Value::deserialized`
//! turns that into the type (for a request, argument by argument). It is
//! also what bounds memory: a `Value` holds only what the input really
//! contains, whatever lengths it declares, while ciborium's streaming
//! deserializer hands a declared length to serde as a size hint. The slice
//! decoder in `cbor_fast` is tried first and, for what it takes, gives the
//! same value faster; whatever it declines goes to the reference.

use std::fmt;

use ciborium::Value;
use serde::de::{DeserializeOwned, SeqAccess};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) mod buffers;
mod cbor_fast;

/// The CBOR encoding of null.
pub const CBOR_NULL: &[u8] = &[0xf6];

/// A byte string: travels as a CBOR byte string rather than an array of
/// integers (which is what `Vec<u8>` becomes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// Encodes `value` as CBOR.
///
/// The buffer comes from this thread's [`buffers`]; code that is done with
/// it on a hot path gives it back with [`buffers::give`].
pub fn to_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = buffers::take();
    match ciborium::into_writer(value, &mut out) {
        Ok(()) => Ok(out),
        Err(e) => {
            buffers::give(out);
            Err(match e {
                ciborium::ser::Error::Value(msg) => msg,
                ciborium::ser::Error::Io(e) => e.to_string(),
            })
        }
    }
}

fn describe_de_error(error: ciborium::de::Error<std::io::Error>) -> String {
    match error {
        ciborium::de::Error::Io(_) => "truncated CBOR: the input ended mid-value".to_owned(),
        ciborium::de::Error::Syntax(offset) => format!(
            "malformed CBOR at byte {offset} (bad structure, or a text string that is not UTF-8)"
        ),
        ciborium::de::Error::Semantic(_, msg) => msg,
        ciborium::de::Error::RecursionLimitExceeded => "CBOR nested too deeply".to_owned(),
    }
}

fn read_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if let Some(value) = cbor_fast::from_slice(bytes) {
        return Ok(value);
    }
    read_exact_by_value(bytes)
}

/// [`read_exact`] by the reference alone (bytes → `Value` → `T`), the
/// source of every decoding error's text.
fn read_exact_by_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    read_value_by_ciborium(bytes)?
        .deserialized()
        .map_err(value_error)
}

/// The size of the scratch buffer ciborium stages text and byte strings in.
const SCRATCH_LEN: usize = 256;

/// Decodes exactly one CBOR value from `bytes` into a `Value`, by ciborium.
fn read_value_by_ciborium(bytes: &[u8]) -> Result<Value, String> {
    let mut rest = bytes;
    // ciborium's `from_reader` zeroes a 4 KiB scratch buffer on every call;
    // the scratch only stages text and byte strings chunk by chunk, so a small
    // one decodes the same values without the cost.
    let mut scratch = [0u8; SCRATCH_LEN];
    let value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch)
        .map_err(describe_de_error)?;
    if !rest.is_empty() {
        return Err(format!(
            "{} trailing bytes after the CBOR value",
            rest.len()
        ));
    }
    Ok(value)
}

/// Decodes one CBOR value of type `T`, refusing trailing bytes. An empty
/// input reads as CBOR null (so it decodes `()` and `None`).
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    read_exact(if bytes.is_empty() { CBOR_NULL } else { bytes })
}

fn value_error(error: ciborium::value::Error) -> String {
    match error {
        ciborium::value::Error::Custom(msg) => msg,
    }
}

/// Argument lists: tuples of up to twelve deserializable types.
pub trait ArgTuple: Sized {
    /// Number of arguments.
    const LEN: usize;
    /// Builds the tuple from exactly [`ArgTuple::LEN`] decoded values.
    fn from_values(values: Vec<Value>, names: &[&str]) -> Result<Self, String>;
    /// Reads the tuple's elements in order from `seq`; `None` if it ends early.
    #[doc(hidden)]
    fn from_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Self>, A::Error>;
}

fn arg<T: DeserializeOwned>(value: &Value, names: &[&str], index: usize) -> Result<T, String> {
    value.deserialized().map_err(|e| {
        let name = names.get(index).copied().unwrap_or("?");
        format!("argument {} (`{name}`): {}", index + 1, value_error(e))
    })
}

macro_rules! arg_tuples {
    ($( ($($t:ident $i:tt),*) ),* $(,)?) => {$(
        impl<$($t: DeserializeOwned),*> ArgTuple for ($($t,)*) {
            const LEN: usize = <[usize]>::len(&[$($i),*]);
            #[allow(unused_variables, reason = "the zero-argument case uses neither")]
            fn from_values(values: Vec<Value>, names: &[&str]) -> Result<Self, String> {
                Ok(($(arg::<$t>(&values[$i], names, $i)?,)*))
            }
            #[allow(unused_variables, reason = "the zero-argument case reads nothing")]
            fn from_seq<'de, S: SeqAccess<'de>>(seq: &mut S) -> Result<Option<Self>, S::Error> {
                Ok(Some(($(match seq.next_element::<$t>()? {
                    Some(value) => value,
                    None => return Ok(None),
                },)*)))
            }
        }
    )*};
}

arg_tuples! {
    (),
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11),
}

/// Decodes a request: a CBOR array holding exactly `names.len()` arguments.
pub fn decode_args<T: ArgTuple>(bytes: &[u8], names: &[&str]) -> Result<T, String> {
    debug_assert_eq!(names.len(), T::LEN);
    match cbor_fast::array_of(bytes, T::LEN, |elements| T::from_seq(elements)) {
        Some(args) => Ok(args),
        None => decode_args_by_value(bytes, names),
    }
}

/// [`decode_args`] by the reference alone (bytes → `Value`, then each
/// argument by `Value::deserialized`), the source of every argument
/// error's text.
fn decode_args_by_value<T: ArgTuple>(bytes: &[u8], names: &[&str]) -> Result<T, String> {
    let expected = || {
        if names.is_empty() {
            "no arguments".to_owned()
        } else {
            format!("{} argument(s) ({})", names.len(), names.join(", "))
        }
    };
    if bytes.is_empty() {
        return if T::LEN == 0 {
            T::from_values(Vec::new(), names)
        } else {
            Err(format!(
                "empty request; expected a CBOR array of {}",
                expected()
            ))
        };
    }
    let values = match read_value_by_ciborium(bytes)? {
        Value::Array(values) => values,
        other => {
            return Err(format!(
                "expected a CBOR array of {}, got {}",
                expected(),
                kind(&other)
            ));
        }
    };
    if values.len() != T::LEN {
        return Err(format!("expected {}, got {}", expected(), values.len()));
    }
    T::from_values(values, names)
}

/// The reference decoders alone, without the fast path in front: what the
/// differential tests and the `cbor_differential` fuzz target compare
/// [`from_cbor`] and [`decode_args`] with. Not part of the API.
#[doc(hidden)]
pub mod reference {
    use serde::de::DeserializeOwned;

    use super::{ArgTuple, CBOR_NULL};

    /// [`super::from_cbor`] by the reference alone.
    pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        super::read_exact_by_value(if bytes.is_empty() { CBOR_NULL } else { bytes })
    }

    /// [`super::decode_args`] by the reference alone.
    pub fn decode_args<T: ArgTuple>(bytes: &[u8], names: &[&str]) -> Result<T, String> {
        super::decode_args_by_value(bytes, names)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged value",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unsupported CBOR value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(value: &impl Serialize) -> Vec<u8> {
        to_cbor(value).unwrap()
    }

    #[test]
    fn arguments_decode_in_order() {
        let (a, b): (i64, String) = decode_args(&cbor(&(7i64, "x")), &["a", "b"]).unwrap();
        assert_eq!((a, b.as_str()), (7, "x"));
        let () = decode_args(&[], &[]).unwrap();
        let err = decode_args::<()>(&cbor(&()), &[]).unwrap_err();
        assert_eq!(err, "expected a CBOR array of no arguments, got null");
        let () = decode_args(&[0x80], &[]).unwrap();
    }

    #[test]
    fn argument_errors_name_the_problem() {
        let err = decode_args::<(i64, i64)>(&cbor(&(1i64,)), &["a", "b"]).unwrap_err();
        assert_eq!(err, "expected 2 argument(s) (a, b), got 1");
        let err = decode_args::<(i64, i64)>(&cbor(&(1i64, 2i64, 3i64)), &["a", "b"]).unwrap_err();
        assert!(err.ends_with("got 3"), "{err}");
        let err = decode_args::<(i64, i64)>(&cbor(&(1i64, "two")), &["a", "b"]).unwrap_err();
        assert!(err.starts_with("argument 2 (`b`): invalid type"), "{err}");
        let err = decode_args::<(i64,)>(&cbor(&"not an array"), &["a"]).unwrap_err();
        assert!(err.contains("got a text string"), "{err}");
        let err = decode_args::<(i64,)>(&[], &["a"]).unwrap_err();
        assert!(err.starts_with("empty request"), "{err}");
        let err = decode_args::<(u32,)>(&cbor(&(-1i64,)), &["n"]).unwrap_err();
        assert!(err.starts_with("argument 1 (`n`)"), "{err}");
    }

    #[test]
    fn malformed_cbor_is_refused() {
        let mut bytes = cbor(&(1i64, 2i64));
        bytes.push(0x00);
        let err = decode_args::<(i64, i64)>(&bytes, &["a", "b"]).unwrap_err();
        assert_eq!(err, "1 trailing bytes after the CBOR value");
        let err = decode_args::<(i64, i64)>(&[0x82, 0x01], &["a", "b"]).unwrap_err();
        assert!(err.starts_with("truncated"), "{err}");
        let err = decode_args::<(String,)>(&[0x81, 0x62, 0xff, 0xfe], &["s"]).unwrap_err();
        assert!(!err.is_empty());
        let err = decode_args::<(i64,)>(&[0xff], &["a"]).unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn long_strings_decode_through_the_small_scratch_buffer() {
        let long = "x".repeat(10_000);
        let bytes = cbor(&(long.clone(), hostcall::Bytes(vec![7; 5_000])));
        let (text, data): (String, hostcall::Bytes) = from_cbor(&bytes).unwrap();
        assert_eq!((text, data.len()), (long, 5_000));
    }

    #[test]
    fn unit_and_bytes_round_trip() {
        assert_eq!(cbor(&()), CBOR_NULL);
        let () = from_cbor(&[]).unwrap();
        let none: Option<u8> = from_cbor(&[]).unwrap();
        assert_eq!(none, None);
        let bytes = Bytes(vec![1, 2, 3]);
        let encoded = cbor(&bytes);
        assert_eq!(encoded[0] >> 5, 2, "major type 2: byte string");
        assert_eq!(from_cbor::<Bytes>(&encoded).unwrap(), bytes);
        assert!(from_cbor::<String>(&[]).is_err());
    }

    /// The fast decoder (`cbor_fast`) against the reference (ciborium into
    /// a `Value`, then `Value::deserialized`): wherever the fast one
    /// succeeds, the reference must succeed with the same value. Inputs are
    /// random values of every CBOR kind (tags, big integers, half floats,
    /// long strings, deep nesting), random records of the shapes handlers
    /// use, and corrupted copies of both.
    mod differential {
        use std::collections::BTreeMap;
        use std::fmt::Debug;

        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        use serde::Deserialize;

        use super::super::*;
        use super::cbor;

        #[derive(Debug, Serialize, Deserialize)]
        enum Shape {
            Unit,
            Newtype(i32),
            Tuple(u8, String),
            Struct { a: Option<bool>, b: Vec<u16> },
        }

        #[derive(Debug, Serialize, Deserialize)]
        struct Record {
            name: String,
            age: u32,
            tags: Vec<String>,
            score: f64,
            ratio: f32,
            data: Bytes,
            shape: Shape,
            extra: Option<BTreeMap<String, i64>>,
            big: i128,
            small: i8,
            wide: u64,
            unit: (),
        }

        fn text(rng: &mut StdRng) -> String {
            let len = if rng.random_bool(0.1) {
                rng.random_range(250..300)
            } else {
                rng.random_range(0..12)
            };
            (0..len)
                .map(|_| {
                    if rng.random_bool(0.9) {
                        rng.random_range('a'..='z')
                    } else {
                        'é'
                    }
                })
                .collect()
        }

        fn integer(rng: &mut StdRng) -> i128 {
            match rng.random_range(0..4) {
                0 => rng.random_range(-30..30),
                1 => i128::from(rng.random::<i64>()),
                2 => i128::from(rng.random::<u64>()),
                _ => -1 - i128::from(rng.random::<u64>()),
            }
        }

        fn value(rng: &mut StdRng, depth: u32) -> Value {
            let leaf = depth == 0 || rng.random_bool(0.4);
            match rng.random_range(0..if leaf { 7 } else { 10 }) {
                0 => Value::Integer(integer(rng).try_into().unwrap()),
                1 => Value::Text(text(rng)),
                2 => Value::Bytes(
                    (0..rng.random_range(0..300))
                        .map(|_| rng.random())
                        .collect(),
                ),
                3 => Value::Float(
                    *[
                        1.5,
                        0.1,
                        f64::from(rng.random::<f32>()),
                        rng.random(),
                        f64::NAN,
                    ]
                    .get(rng.random_range(0..5))
                    .unwrap(),
                ),
                4 => Value::Bool(rng.random()),
                5 => Value::Null,
                6 => Value::Integer(rng.random_range(0..24).into()),
                7 => Value::Array(
                    (0..rng.random_range(0..5))
                        .map(|_| value(rng, depth - 1))
                        .collect(),
                ),
                8 => Value::Map(
                    (0..rng.random_range(0..5))
                        .map(|_| {
                            (
                                if rng.random_bool(0.8) {
                                    Value::Text(text(rng))
                                } else {
                                    value(rng, depth - 1)
                                },
                                value(rng, depth - 1),
                            )
                        })
                        .collect(),
                ),
                _ => Value::Tag(rng.random_range(0..40), Box::new(value(rng, depth - 1))),
            }
        }

        fn record(rng: &mut StdRng) -> Record {
            Record {
                name: text(rng),
                age: rng.random(),
                tags: (0..rng.random_range(0..4)).map(|_| text(rng)).collect(),
                score: rng.random(),
                ratio: rng.random(),
                data: Bytes(
                    (0..rng.random_range(0..300))
                        .map(|_| rng.random())
                        .collect(),
                ),
                shape: match rng.random_range(0..4) {
                    0 => Shape::Unit,
                    1 => Shape::Newtype(rng.random()),
                    2 => Shape::Tuple(rng.random(), text(rng)),
                    _ => Shape::Struct {
                        a: rng.random_bool(0.5).then(|| rng.random()),
                        b: vec![rng.random(); 3],
                    },
                },
                extra: rng
                    .random_bool(0.5)
                    .then(|| (0..3).map(|_| (text(rng), rng.random())).collect()),
                big: integer(rng),
                small: rng.random(),
                wide: rng.random(),
                unit: (),
            }
        }

        /// Flips, drops or adds a byte, or cuts the input short.
        fn corrupt(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..4) {
                0 => bytes[at] = rng.random(),
                1 => drop(bytes.remove(at)),
                2 => bytes.insert(at, rng.random()),
                _ => bytes.truncate(at),
            }
            bytes
        }

        /// Checks one input as `T`; true if the fast decoder took it.
        fn agrees<T: DeserializeOwned + Debug>(bytes: &[u8]) -> bool {
            let Some(fast) = cbor_fast::from_slice::<T>(bytes) else {
                return false;
            };
            match read_exact_by_value::<T>(bytes) {
                Ok(reference) => assert_eq!(
                    format!("{fast:?}"),
                    format!("{reference:?}"),
                    "input {bytes:02x?}"
                ),
                Err(e) => panic!(
                    "the fast decoder took {bytes:02x?} as {fast:?}; the reference refused it: {e}"
                ),
            }
            true
        }

        fn args_agree<T: ArgTuple + Debug>(bytes: &[u8], names: &[&str]) -> bool {
            let Some(fast) = cbor_fast::array_of(bytes, T::LEN, |elements| T::from_seq(elements))
            else {
                return false;
            };
            match decode_args_by_value::<T>(bytes, names) {
                Ok(reference) => assert_eq!(
                    format!("{fast:?}"),
                    format!("{reference:?}"),
                    "input {bytes:02x?}"
                ),
                Err(e) => panic!(
                    "the fast decoder took {bytes:02x?} as {fast:?}; the value path refused it: {e}"
                ),
            }
            true
        }

        #[test]
        fn random_values_decode_alike() {
            let mut rng = StdRng::seed_from_u64(0x5eed_0001);
            let mut taken = 0;
            for _ in 0..20_000 {
                let bytes = cbor(&value(&mut rng, 4));
                let bytes = if rng.random_bool(0.3) {
                    corrupt(&mut rng, bytes)
                } else {
                    bytes
                };
                taken += usize::from(agrees::<Value>(&bytes));
                agrees::<Record>(&bytes);
                agrees::<Vec<String>>(&bytes);
                agrees::<Option<i64>>(&bytes);
                agrees::<BTreeMap<String, Value>>(&bytes);
                agrees::<(u8, String, Bytes)>(&bytes);
                agrees::<Shape>(&bytes);
                args_agree::<(Value,)>(&bytes, &["v"]);
                args_agree::<(String, Option<u32>)>(&bytes, &["s", "n"]);
            }
            // Most untagged, uncorrupted values are in the fast subset.
            assert!(
                taken > 5_000,
                "the fast decoder took only {taken} of 20 000 values"
            );
        }

        #[test]
        fn random_records_decode_alike() {
            let mut rng = StdRng::seed_from_u64(0x5eed_0002);
            let (mut whole, mut taken, mut taken_args) = (0, 0, 0);
            for _ in 0..10_000 {
                let record = record(&mut rng);
                let bytes = cbor(&record);
                let as_args = cbor(&(&record, record.age, &record.name));
                if rng.random_bool(0.5) {
                    whole += 1;
                    taken += usize::from(agrees::<Record>(&bytes));
                    taken_args += usize::from(args_agree::<(Record, u32, String)>(
                        &as_args,
                        &["r", "n", "s"],
                    ));
                } else {
                    let bytes = corrupt(&mut rng, bytes);
                    agrees::<Record>(&bytes);
                    agrees::<Value>(&bytes);
                    args_agree::<(Record, u32, String)>(
                        &corrupt(&mut rng, as_args),
                        &["r", "n", "s"],
                    );
                }
            }
            // A record falls back only for a half float in `score`/`ratio`,
            // a name key over 256 bytes, or an i128 beyond 64 bits.
            assert!(
                taken * 2 > whole,
                "the fast decoder took only {taken} of {whole} records"
            );
            assert!(
                taken_args * 2 > whole,
                "the fast decoder took only {taken_args} of {whole} argument lists"
            );
        }

        #[test]
        fn edge_cases_decode_alike() {
            let text = |n: usize| cbor(&"x".repeat(n));
            // The length rule for borrowed strings, at its edge.
            for n in [255, 256, 257] {
                assert!(agrees::<String>(&text(n)));
                agrees::<Shape>(&text(n));
                assert_eq!(from_cbor::<String>(&text(n)).unwrap().len(), n);
            }
            // Non-minimal heads, f32 and f64 floats, undefined as none.
            assert!(agrees::<u64>(&[0x18, 0x05]));
            assert!(agrees::<u64>(&[0x1b, 0, 0, 0, 0, 0, 0, 0, 0x07]));
            assert!(agrees::<f64>(&[0xfa, 0x3f, 0xc0, 0, 0]));
            assert!(agrees::<f64>(&cbor(&0.1f64)));
            assert!(agrees::<Option<u8>>(&[0xf7]));
            // Outside the subset: decoded by ciborium, never by the fast path.
            for bytes in [
                &[0xf9, 0x3e, 0x00][..],   // half float
                &[0xc1, 0x01],             // tag 1
                &[0x9f, 0x01, 0xff],       // indefinite array
                &[0x7f, 0x61, 0x61, 0xff], // indefinite text
                &[0xf8, 0x14],             // two-byte simple value
            ] {
                assert!(!agrees::<Value>(bytes), "{bytes:02x?}");
                assert!(from_cbor::<Value>(bytes).is_ok(), "{bytes:02x?}");
            }
            // Nesting: 256 levels decode, 257 are refused, alike.
            let nested = |depth: usize| [vec![0x81; depth], vec![0x01]].concat();
            assert!(agrees::<Value>(&nested(256)));
            assert!(!agrees::<Value>(&nested(257)));
            assert!(from_cbor::<Value>(&nested(257)).is_err());
            assert!(args_agree::<(Value,)>(&nested(256), &["v"]));
            assert!(!args_agree::<(Value,)>(&nested(257), &["v"]));
            // A visitor that stops early hands the input to the reference.
            assert!(!agrees::<(u8,)>(&cbor(&(1u8, 2u8))));
            // Unit variant with a value, newtype variant without one.
            assert!(!agrees::<Shape>(&cbor(&BTreeMap::from([("Unit", 1)]))));
            assert!(!agrees::<Shape>(&cbor(&"Newtype")));
            assert!(agrees::<Shape>(&cbor(&Shape::Unit)));
            assert!(agrees::<Shape>(&cbor(&Shape::Tuple(1, "a".into()))));
            assert!(agrees::<Shape>(&cbor(&Shape::Struct {
                a: None,
                b: vec![]
            })));
            // A struct variant written as an array, a tuple variant as a
            // map: the reference refuses both, so the fast path must too
            // (ciborium's streaming deserializer takes the first).
            let struct_as_array = [
                0x81, 0xa1, 0x66, 0x53, 0x74, 0x72, 0x75, 0x63, 0x74, 0x82, 0xf6, 0x80,
            ];
            assert!(!args_agree::<(Shape,)>(&struct_as_array, &["shape"]));
            assert!(decode_args::<(Shape,)>(&struct_as_array, &["shape"]).is_err());
            assert!(!agrees::<Shape>(&struct_as_array[1..]));
            assert!(from_cbor::<Shape>(&struct_as_array[1..]).is_err());
            let tuple_as_map = cbor(&BTreeMap::from([("Tuple", BTreeMap::from([("0", 1)]))]));
            assert!(!agrees::<Shape>(&tuple_as_map));
            // Integers are read at the width the type asks for; out of
            // range is the reference's error.
            assert!(agrees::<i8>(&cbor(&-128i64)));
            assert!(!agrees::<i8>(&cbor(&-129i64)));
            assert!(!agrees::<u8>(&cbor(&256u64)));
            assert!(agrees::<u128>(&cbor(&u64::MAX)));
            assert!(!agrees::<u128>(&cbor(&-1i64)));
        }
    }
}
