//! The library's description of itself: the one source of truth the
//! generators read.
//!
//! Every type that crosses the boundary implements [`Describe`]. The macros
//! record, for each handler, host fn and event, how to describe its argument
//! and result types; [`Library`](crate::library::Library) walks those descriptions once into a
//! [`LibraryDesc`], which the library exports (as CBOR) through
//! `<lib>_hostcall_description`. `hostcall-gen` reads it from the built
//! library and writes the C header and the language bindings.

use serde::{Deserialize, Serialize};

/// The shape of a value on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeDesc {
    /// No value: CBOR null.
    Unit,
    /// CBOR true/false.
    Bool,
    /// Signed integers.
    I8,
    /// Signed integers.
    I16,
    /// Signed integers.
    I32,
    /// Signed integers.
    I64,
    /// Unsigned integers.
    U8,
    /// Unsigned integers.
    U16,
    /// Unsigned integers.
    U32,
    /// Unsigned integers.
    U64,
    /// Floating point.
    F32,
    /// Floating point.
    F64,
    /// UTF-8 text.
    String,
    /// A byte string ([`crate::wire::Bytes`]).
    Bytes,
    /// A CBOR array of one element type.
    List(Box<TypeDesc>),
    /// The value or CBOR null.
    Optional(Box<TypeDesc>),
    /// A record (CBOR map keyed by field name), named in [`LibraryDesc::records`].
    Record(String),
}

impl TypeDesc {
    /// True for types the native (zero-serialization) ABI can carry directly.
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            TypeDesc::List(_) | TypeDesc::Optional(_) | TypeDesc::Record(_)
        )
    }
}

/// A named, typed value: a handler or host fn argument, or a record field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDesc {
    /// The name as it appears on the wire (record field) or in docs (argument).
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// The type.
    pub ty: TypeDesc,
}

/// A handler (host → library) or a host fn (library → host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnDesc {
    /// The wire name.
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Arguments in declaration order (the order of the request CBOR array).
    pub args: Vec<FieldDesc>,
    /// The result type.
    pub ret: TypeDesc,
    /// Whether the result may instead be an error text (`RET_ERR`).
    pub fallible: bool,
    /// Whether the library exports a native entry point for it
    /// (`<prefix>_native_<name>`; handlers only).
    #[serde(default)]
    pub native: bool,
    /// The library-declared error type it fails with (`RET_ERR_TYPED`),
    /// named in [`LibraryDesc::error_types`]; `None` when its errors are
    /// text (`RET_ERR`). Left out of the CBOR when `None`, so a library
    /// without error types describes itself (and hashes) as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An event the library emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDesc {
    /// The name listeners subscribe to.
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// The payload type.
    pub payload: TypeDesc,
}

/// A record type: a CBOR map keyed by field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDesc {
    /// The type name.
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldDesc>,
}

/// The fields a variant of an error type carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantShape {
    /// No fields (`NotFound`): on the wire, the variant's name as text.
    Unit,
    /// Positional fields (`Io(String)`); their names are `"0"`, `"1"`, …
    /// On the wire, `{name: value}` for one field, `{name: [values…]}` for
    /// several.
    Tuple,
    /// Named fields (`Locked { until_unix_s: u64 }`): on the wire,
    /// `{name: {field: value, …}}`.
    Struct,
}

/// One variant of an error type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantDesc {
    /// The variant's name (its wire tag).
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// How its fields are laid out.
    pub shape: VariantShape,
    /// Its fields, in declaration order (none for a unit variant).
    pub fields: Vec<FieldDesc>,
}

/// A library-declared error type (`#[derive(hostcall::Error)]` on an enum):
/// the error a handler returns or a host fn completes with, as
/// `RET_ERR_TYPED` and the CBOR of the value.
///
/// # Wire form
/// Serde's externally tagged enum: a unit variant is its name as a CBOR
/// text string (`"Banned"`); any other variant is a map of one entry from
/// its name to its fields — the value for a one-field tuple variant, an
/// array for a tuple variant of several, a map keyed by field name for a
/// struct variant (`{"Locked": {"until_unix_s": 1700000000}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorTypeDesc {
    /// The type name.
    pub name: String,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Variants, in declaration order.
    pub variants: Vec<VariantDesc>,
}

/// Everything a generator needs to bind a library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryDesc {
    /// The C symbol prefix (`demo` → `demo_new`, `demo_call`, …).
    pub prefix: String,
    /// The library crate's version.
    pub version: String,
    /// The `hostcall` runtime version it was built with.
    pub runtime_version: String,
    /// A hash of the interface (everything except docs and versions); the
    /// generated bindings compare it at load time.
    pub interface_hash: u64,
    /// Handlers the host calls, in declaration order.
    pub handlers: Vec<FnDesc>,
    /// Host fns the library calls, in declaration order.
    pub host_fns: Vec<FnDesc>,
    /// Events the library emits.
    pub events: Vec<EventDesc>,
    /// Every record reachable from the above, in first-use order.
    pub records: Vec<RecordDesc>,
    /// The error types handlers and host fns fail with, in first-use order
    /// (left out of the CBOR when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_types: Vec<ErrorTypeDesc>,
}

impl LibraryDesc {
    /// The record named `name`.
    pub fn record(&self, name: &str) -> Option<&RecordDesc> {
        self.records.iter().find(|r| r.name == name)
    }

    /// The error type named `name`.
    pub fn error_type(&self, name: &str) -> Option<&ErrorTypeDesc> {
        self.error_types.iter().find(|e| e.name == name)
    }
}

/// A type that can cross the boundary and say what it looks like.
///
/// Implemented for `()`, `bool`, the integer and float types, `String`,
/// [`crate::wire::Bytes`], `Vec<T>` and `Option<T>`; `#[derive(hostcall::Record)]`
/// implements it for structs with named fields.
pub trait Describe {
    /// The wire shape of this type.
    fn describe() -> TypeDesc;
    /// Adds the records this type names (itself and its fields' records) to
    /// `records`. Scalars add nothing.
    fn register(records: &mut Records) {
        let _ = records;
    }
}

/// A library-declared error type: an enum that derives
/// `hostcall::Error` (and serde's `Serialize` and `Deserialize`, with no
/// container attributes, so its wire form is the one [`ErrorTypeDesc`]
/// documents).
///
/// A handler returning `Result<T, E>` with such an `E` replies
/// `RET_ERR_TYPED` and the CBOR of the error; a host fn declared
/// `-> Result<T, E>` yields `Ok(Err(e))` when the host completes with
/// `RET_ERR_TYPED`.
pub trait TypedError: serde::Serialize + serde::de::DeserializeOwned + 'static {
    /// The type's name in the description.
    const NAME: &'static str;
    /// Adds this type's description (and the records its fields name) to
    /// `records`.
    fn register(records: &mut Records);
}

/// How to describe a function's error type, captured as plain function
/// pointers so it can sit in a `static` definition.
#[derive(Clone, Copy)]
pub struct ErrorRef {
    /// [`TypedError::NAME`].
    pub name: &'static str,
    /// [`TypedError::register`].
    pub register: fn(&mut Records),
}

impl ErrorRef {
    /// The `ErrorRef` of `E`.
    pub const fn of<E: TypedError>() -> Self {
        Self {
            name: E::NAME,
            register: E::register,
        }
    }
}

impl std::fmt::Debug for ErrorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// How to describe one type, captured as plain function pointers so it can
/// sit in a `static` definition.
#[derive(Clone, Copy)]
pub struct TypeRef {
    /// [`Describe::describe`] of the type.
    pub describe: fn() -> TypeDesc,
    /// [`Describe::register`] of the type.
    pub register: fn(&mut Records),
}

impl TypeRef {
    /// The `TypeRef` of `T`.
    pub const fn of<T: Describe + ?Sized>() -> Self {
        Self {
            describe: T::describe,
            register: T::register,
        }
    }
}

impl std::fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.describe)().fmt(f)
    }
}

/// The set of records (and error types) met while describing a library.
#[derive(Debug, Default)]
pub struct Records {
    list: Vec<RecordDesc>,
    errors: Vec<ErrorTypeDesc>,
    conflicts: Vec<String>,
}

impl Records {
    /// Adds a record and returns `true` when it is new; the caller then
    /// registers the records its fields name. Adding before recursing is what
    /// stops recursion through self-referencing records. Two different
    /// records with one name are a conflict, reported by [`Records::finish`].
    pub fn add(&mut self, record: RecordDesc) -> bool {
        match self.list.iter().find(|r| r.name == record.name) {
            Some(existing) => {
                if existing.fields != record.fields {
                    self.conflicts.push(format!(
                        "two different records are named `{}`; rename one of them",
                        record.name
                    ));
                }
                false
            }
            None => {
                self.list.push(record);
                true
            }
        }
    }

    /// Adds an error type and returns `true` when it is new; the caller
    /// then registers the records its variants' fields name. Two different
    /// error types with one name are a conflict, as for records.
    pub fn add_error(&mut self, error: ErrorTypeDesc) -> bool {
        match self.errors.iter().find(|e| e.name == error.name) {
            Some(existing) => {
                if existing.variants != error.variants {
                    self.conflicts.push(format!(
                        "two different error types are named `{}`; rename one of them",
                        error.name
                    ));
                }
                false
            }
            None => {
                if self.list.iter().any(|r| r.name == error.name) {
                    self.conflicts.push(format!(
                        "`{}` names both a record and an error type; rename one of them",
                        error.name
                    ));
                }
                self.errors.push(error);
                true
            }
        }
    }

    /// The records and the error types, each in first-use order, or the
    /// conflicts found.
    pub fn finish(self) -> Result<(Vec<RecordDesc>, Vec<ErrorTypeDesc>), Vec<String>> {
        if self.conflicts.is_empty() {
            Ok((self.list, self.errors))
        } else {
            Err(self.conflicts)
        }
    }
}

macro_rules! scalar {
    ($($t:ty => $d:ident),* $(,)?) => {
        $(impl Describe for $t {
            fn describe() -> TypeDesc {
                TypeDesc::$d
            }
        })*
    };
}

scalar! {
    () => Unit, bool => Bool,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64,
    f32 => F32, f64 => F64,
    String => String, crate::wire::Bytes => Bytes,
}

impl Describe for str {
    fn describe() -> TypeDesc {
        TypeDesc::String
    }
}

impl<T: Describe + ?Sized> Describe for &T {
    fn describe() -> TypeDesc {
        T::describe()
    }
    fn register(records: &mut Records) {
        T::register(records);
    }
}

impl<T: Describe> Describe for Vec<T> {
    fn describe() -> TypeDesc {
        TypeDesc::List(Box::new(T::describe()))
    }
    fn register(records: &mut Records) {
        T::register(records);
    }
}

impl<T: Describe> Describe for Option<T> {
    fn describe() -> TypeDesc {
        TypeDesc::Optional(Box::new(T::describe()))
    }
    fn register(records: &mut Records) {
        T::register(records);
    }
}

/// FNV-1a, 64-bit: a stable, dependency-free hash for the interface checksum.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_describe_their_elements() {
        assert_eq!(
            <Vec<Option<String>>>::describe(),
            TypeDesc::List(Box::new(TypeDesc::Optional(Box::new(TypeDesc::String))))
        );
        assert!(TypeDesc::I64.is_scalar());
        assert!(!TypeDesc::Record("P".into()).is_scalar());
    }

    #[test]
    fn conflicting_records_are_reported() {
        let mut records = Records::default();
        let record = |ty| RecordDesc {
            name: "P".into(),
            doc: String::new(),
            fields: vec![FieldDesc {
                name: "x".into(),
                doc: String::new(),
                ty,
            }],
        };
        assert!(records.add(record(TypeDesc::U8)));
        assert!(!records.add(record(TypeDesc::U8)));
        assert_eq!(records.finish().unwrap().0.len(), 1);
        let mut records = Records::default();
        records.add(record(TypeDesc::U8));
        records.add(record(TypeDesc::String));
        assert!(records.finish().unwrap_err()[0].contains("`P`"));
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
