//! The native lowering: which handlers get a zero-serialization entry
//! point `<prefix>_native_<method>`, and its C signature.
//!
//! A handler gets one when every argument and its result is a [`Scalar`].
//! The decision and the signature are made here only: `#[handler]` asks
//! [`Scalar::from_rust`] about each type as written and emits the symbol
//! from [`Scalar::arg_params`] and [`Scalar::reply`]; `hostcall-gen` asks
//! the same functions about the described types and renders the prototype
//! (C spelling by [`crate::ctype`]) and each binding's call.
//!
//! 1. An integer, float or bool argument is passed as itself (`int32_t n`).
//! 2. A text or bytes argument is a pointer and a length (`const char *s,
//!    size_t s_len`), copied before the call returns.
//! 3. `()` is not an argument; as a result it is an empty payload.
//! 4. The reply callback follows the result: integers widen to
//!    `FFICallBackI64`/`U64`, floats to `FFICallBackF64`, bool to
//!    `FFICallBackBool`; text, bytes and `()` arrive raw through
//!    `FFICallBack`.
//! 5. After the arguments come the callback `cb` and `user_data`; the
//!    return value is a status code, as for `<prefix>_call`.

/// A type a native entry point carries directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `()`.
    Unit,
    /// `bool`.
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `String`: UTF-8 text.
    Text,
    /// `hostcall::Bytes`: a byte string.
    Bytes,
}

/// How an argument reaches the handler from its C parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The C value is the Rust value.
    Value,
    /// `(ptr, len)` of UTF-8, copied into a `String` (invalid UTF-8 is an
    /// error reply naming the argument).
    Text,
    /// `(ptr, len)` of bytes, copied into `Bytes`.
    Bytes,
}

/// Which callback type a native entry point replies through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `FFICallBackI64`: signed integers of any width.
    I64,
    /// `FFICallBackU64`: unsigned integers of any width.
    U64,
    /// `FFICallBackF64`: floats of either width.
    F64,
    /// `FFICallBackBool`.
    Bool,
    /// `FFICallBack` with the raw text or bytes (empty for `()`).
    Bytes,
}

impl Reply {
    /// The callback type's name (see [`crate::callbacks`]).
    pub fn callback(self) -> &'static str {
        match self {
            Reply::I64 => "FFICallBackI64",
            Reply::U64 => "FFICallBackU64",
            Reply::F64 => "FFICallBackF64",
            Reply::Bool => "FFICallBackBool",
            Reply::Bytes => "FFICallBack",
        }
    }
}

impl Scalar {
    /// The scalar a Rust type names as written: its last path segment, with
    /// no generic arguments (`single` tells whether the path had only that
    /// segment: `i32` is a scalar, `my::i32` is not; `String` and `Bytes`
    /// may be qualified). The decision is syntactic, so a type alias is
    /// not a scalar.
    pub fn from_rust(last_segment: &str, single: bool) -> Option<Scalar> {
        Some(match last_segment {
            "String" => Scalar::Text,
            "Bytes" => Scalar::Bytes,
            _ if !single => return None,
            "bool" => Scalar::Bool,
            "i8" => Scalar::I8,
            "i16" => Scalar::I16,
            "i32" => Scalar::I32,
            "i64" => Scalar::I64,
            "u8" => Scalar::U8,
            "u16" => Scalar::U16,
            "u32" => Scalar::U32,
            "u64" => Scalar::U64,
            "f32" => Scalar::F32,
            "f64" => Scalar::F64,
            _ => return None,
        })
    }

    /// The Rust type of a value argument (`i32`), as [`crate::ctype`] reads it.
    fn rust(self) -> &'static str {
        match self {
            Scalar::Unit => "()",
            Scalar::Bool => "bool",
            Scalar::I8 => "i8",
            Scalar::I16 => "i16",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Text => "*const c_char",
            Scalar::Bytes => "*const u8",
        }
    }

    /// Steps 1–3: the C parameters an argument `name` of this type becomes,
    /// as `(name, Rust type)` pairs, and how they become the Rust value;
    /// `None` for `()`, which is no argument.
    pub fn arg_params(self, name: &str) -> Option<(Conversion, Vec<(String, &'static str)>)> {
        match self {
            Scalar::Unit => None,
            Scalar::Text | Scalar::Bytes => Some((
                if self == Scalar::Text {
                    Conversion::Text
                } else {
                    Conversion::Bytes
                },
                vec![
                    (name.to_owned(), self.rust()),
                    (format!("{name}_len"), "usize"),
                ],
            )),
            _ => Some((Conversion::Value, vec![(name.to_owned(), self.rust())])),
        }
    }

    /// Step 4: the callback a result of this type arrives through.
    pub fn reply(self) -> Reply {
        match self {
            Scalar::I8 | Scalar::I16 | Scalar::I32 | Scalar::I64 => Reply::I64,
            Scalar::U8 | Scalar::U16 | Scalar::U32 | Scalar::U64 => Reply::U64,
            Scalar::F32 | Scalar::F64 => Reply::F64,
            Scalar::Bool => Reply::Bool,
            Scalar::Text | Scalar::Bytes | Scalar::Unit => Reply::Bytes,
        }
    }

    /// What a successful reply carries, for documentation.
    pub fn reply_payload(self) -> &'static str {
        match self {
            Scalar::Text => "RET_OK with the text (UTF-8, not CBOR)",
            Scalar::Bytes => "RET_OK with the raw bytes (not CBOR)",
            Scalar::Unit => "RET_OK with an empty payload",
            _ => "the value",
        }
    }
}

/// Step 5: the whole C parameter list of a native entry point, as
/// `(name, Rust type)` pairs, or `None` when an argument has no native form.
pub fn entry_params<'a>(
    args: impl IntoIterator<Item = (&'a str, Option<Scalar>)>,
    result: Scalar,
) -> Option<Vec<(String, &'static str)>> {
    let mut params = vec![("ctx".to_owned(), "*mut c_void")];
    for (name, scalar) in args {
        params.extend(scalar?.arg_params(name)?.1);
    }
    params.push(("cb".to_owned(), callback_param(result.reply())));
    params.push(("user_data".to_owned(), "*mut c_void"));
    Some(params)
}

/// The suffix of a native entry point's cancellable form
/// (`<prefix>_native_<method>_cancellable`).
pub const CANCELLABLE_SUFFIX: &str = "_cancellable";

/// The parameter the cancellable form adds after `user_data`: where the
/// request's call id is written, as `call_cancellable` writes it.
pub const CALL_ID_PARAM: (&str, &str) = ("call_id", "*mut u64");

/// The whole C parameter list of a native entry point's cancellable form:
/// [`entry_params`] and [`CALL_ID_PARAM`].
pub fn cancellable_entry_params<'a>(
    args: impl IntoIterator<Item = (&'a str, Option<Scalar>)>,
    result: Scalar,
) -> Option<Vec<(String, &'static str)>> {
    let mut params = entry_params(args, result)?;
    params.push((CALL_ID_PARAM.0.to_owned(), CALL_ID_PARAM.1));
    Some(params)
}

fn callback_param(reply: Reply) -> &'static str {
    match reply {
        Reply::I64 => "Option<FFICallBackI64>",
        Reply::U64 => "Option<FFICallBackU64>",
        Reply::F64 => "Option<FFICallBackF64>",
        Reply::Bool => "Option<FFICallBackBool>",
        Reply::Bytes => "Option<FFICallBack>",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctype::{c_spelling, declare};

    fn c(params: &[(String, &str)]) -> String {
        params
            .iter()
            .map(|(n, t)| declare(&c_spelling(t).unwrap(), n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn signatures_follow_the_steps() {
        let params = entry_params(
            [("name", Some(Scalar::Text)), ("n", Some(Scalar::U16))],
            Scalar::I32,
        )
        .unwrap();
        assert_eq!(
            c(&params),
            "void *ctx, const char *name, size_t name_len, uint16_t n, \
             FFICallBackI64 cb, void *user_data"
        );
        assert!(entry_params([("x", None)], Scalar::Unit).is_none());
        assert!(entry_params([("x", Some(Scalar::Unit))], Scalar::Unit).is_none());
        assert_eq!(Scalar::Bytes.reply().callback(), "FFICallBack");
        assert_eq!(callback_param(Reply::Bytes), "Option<FFICallBack>");
    }

    #[test]
    fn only_plain_names_are_scalars() {
        assert_eq!(Scalar::from_rust("i32", true), Some(Scalar::I32));
        assert_eq!(Scalar::from_rust("i32", false), None);
        assert_eq!(Scalar::from_rust("String", false), Some(Scalar::Text));
        assert_eq!(Scalar::from_rust("Bytes", true), Some(Scalar::Bytes));
        assert_eq!(Scalar::from_rust("Id", true), None);
    }
}
