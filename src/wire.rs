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

use std::fmt;

use ciborium::Value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
pub fn to_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    ciborium::into_writer(value, &mut out).map_err(|e| match e {
        ciborium::ser::Error::Value(msg) => msg,
        ciborium::ser::Error::Io(e) => e.to_string(),
    })?;
    Ok(out)
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
    let mut rest = bytes;
    // ciborium's `from_reader` zeroes a 4 KiB scratch buffer on every call;
    // the scratch only stages text and byte strings chunk by chunk, so a small
    // one decodes the same values without the cost.
    let mut scratch = [0u8; 256];
    let value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch).map_err(describe_de_error)?;
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
    let values = match read_exact::<Value>(bytes)? {
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
}
