//! The model's types in Kotlin: declared types, the CBOR codec
//! expressions, and how a native entry point's scalars cross JNI.

use hostcall_abi::native::{Conversion, Reply, Scalar};

use super::names::type_name;
use crate::model::Type;

/// The Kotlin type of a model type.
pub fn kotlin_type(ty: &Type) -> String {
    match ty {
        Type::Scalar(s) => scalar_type(*s).into(),
        Type::List(inner) => format!("List<{}>", kotlin_type(inner)),
        Type::Optional(inner) => format!("{}?", kotlin_type(inner)),
        Type::Record(name) => type_name(name),
    }
}

fn scalar_type(scalar: Scalar) -> &'static str {
    match scalar {
        Scalar::Unit => "Unit",
        Scalar::Bool => "Boolean",
        Scalar::I8 => "Byte",
        Scalar::I16 => "Short",
        Scalar::I32 => "Int",
        Scalar::I64 => "Long",
        Scalar::U8 => "UByte",
        Scalar::U16 => "UShort",
        Scalar::U32 => "UInt",
        Scalar::U64 => "ULong",
        Scalar::F32 => "Float",
        Scalar::F64 => "Double",
        Scalar::Text => "String",
        Scalar::Bytes => "ByteArray",
    }
}

/// Statements writing `value` (an expression) with the writer `w`.
pub fn encode(ty: &Type, value: &str, depth: usize) -> String {
    match ty {
        Type::Scalar(s) => match s {
            Scalar::Unit => "w.nil()".into(),
            Scalar::Bool => format!("w.bool({value})"),
            Scalar::I8 | Scalar::I16 | Scalar::I32 => format!("w.int({value}.toLong())"),
            Scalar::I64 => format!("w.int({value})"),
            Scalar::U8 | Scalar::U16 | Scalar::U32 => format!("w.uint({value}.toULong())"),
            Scalar::U64 => format!("w.uint({value})"),
            Scalar::F32 => format!("w.double({value}.toDouble())"),
            Scalar::F64 => format!("w.double({value})"),
            Scalar::Text => format!("w.text({value})"),
            Scalar::Bytes => format!("w.bytes({value})"),
        },
        Type::List(inner) => {
            let e = format!("e{depth}");
            format!(
                "w.array({value}.size); for ({e} in {value}) {{ {} }}",
                encode(inner, &e, depth + 1)
            )
        }
        Type::Optional(inner) => {
            let e = format!("o{depth}");
            format!(
                "{value}.let {{ {e} -> if ({e} == null) w.nil() else {{ {} }} }}",
                encode(inner, &e, depth + 1)
            )
        }
        Type::Record(name) => format!("w.write{}({value})", type_name(name)),
    }
}

/// An expression reading one value of `ty` from the reader `r`.
pub fn decode(ty: &Type) -> String {
    match ty {
        Type::Scalar(s) => match s {
            Scalar::Unit => "Unit.also { r.nil() }",
            Scalar::Bool => "r.bool()",
            Scalar::I8 => "r.i8()",
            Scalar::I16 => "r.i16()",
            Scalar::I32 => "r.i32()",
            Scalar::I64 => "r.int()",
            Scalar::U8 => "r.u8()",
            Scalar::U16 => "r.u16()",
            Scalar::U32 => "r.u32()",
            Scalar::U64 => "r.uint()",
            Scalar::F32 => "r.double().toFloat()",
            Scalar::F64 => "r.double()",
            Scalar::Text => "r.text()",
            Scalar::Bytes => "r.bytes()",
        }
        .into(),
        Type::List(inner) => format!("List(r.array()) {{ {} }}", decode(inner)),
        Type::Optional(inner) => format!("(if (r.nil()) null else {})", decode(inner)),
        Type::Record(name) => format!("r.read{}()", type_name(name)),
    }
}

/// How a native argument passed by value crosses JNI: (the `external
/// fun`'s Kotlin type, the JNI C type, the conversion of the Kotlin value
/// `m`, if any). Unsigned values cross as the signed type of their width.
pub fn jni_value(scalar: Scalar) -> (&'static str, &'static str, &'static str) {
    match scalar {
        Scalar::Bool => ("Boolean", "jboolean", ""),
        Scalar::I8 => ("Byte", "jbyte", ""),
        Scalar::I16 => ("Short", "jshort", ""),
        Scalar::I32 => ("Int", "jint", ""),
        Scalar::I64 => ("Long", "jlong", ""),
        Scalar::U8 => ("Byte", "jbyte", ".toByte()"),
        Scalar::U16 => ("Short", "jshort", ".toShort()"),
        Scalar::U32 => ("Int", "jint", ".toInt()"),
        Scalar::U64 => ("Long", "jlong", ".toLong()"),
        Scalar::F32 => ("Float", "jfloat", ""),
        Scalar::F64 => ("Double", "jdouble", ""),
        Scalar::Unit | Scalar::Text | Scalar::Bytes => {
            unreachable!("{scalar:?} is not passed by value (hostcall_abi::native)")
        }
    }
}

/// The Kotlin expression turning an argument `m` into the byte array a
/// text or bytes argument crosses JNI as.
pub fn jni_array(conversion: Conversion, m: &str) -> String {
    match conversion {
        Conversion::Text => format!("{m}.encodeToByteArray()"),
        Conversion::Bytes | Conversion::Value => m.to_owned(),
    }
}

/// The trampoline of `hostcall_jni.h` implementing a reply callback type.
pub fn trampoline(reply: Reply) -> &'static str {
    match reply {
        Reply::I64 => "hcj_on_reply_i64",
        Reply::U64 => "hcj_on_reply_u64",
        Reply::F64 => "hcj_on_reply_f64",
        Reply::Bool => "hcj_on_reply_bool",
        Reply::Bytes => "hcj_on_reply",
    }
}

/// The Kotlin expression turning a native `reply` into a result of
/// `scalar` (what the trampoline of its [`Reply`] delivers).
pub fn native_result(scalar: Scalar) -> &'static str {
    match scalar {
        Scalar::I8 => "reply.value.toByte()",
        Scalar::I16 => "reply.value.toShort()",
        Scalar::I32 => "reply.value.toInt()",
        Scalar::I64 => "reply.value",
        Scalar::U8 => "reply.value.toUByte()",
        Scalar::U16 => "reply.value.toUShort()",
        Scalar::U32 => "reply.value.toUInt()",
        Scalar::U64 => "reply.value.toULong()",
        Scalar::F32 => "Double.fromBits(reply.value).toFloat()",
        Scalar::F64 => "Double.fromBits(reply.value)",
        Scalar::Bool => "reply.value != 0L",
        Scalar::Text => "reply.data?.decodeToString() ?: \"\"",
        Scalar::Bytes => "reply.data ?: ByteArray(0)",
        Scalar::Unit => "Unit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The types of C parameters, names dropped: `const char *err` →
    /// `const char *`.
    fn param_types<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        params
            .into_iter()
            .map(|p| {
                let p = p.trim();
                p.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn every_trampoline_has_its_callback_types_signature() {
        let header = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bindings/kotlin/runtime/src/main/c/hostcall_jni.h"
        ))
        .expect("hostcall_jni.h");
        let abi = crate::model::Abi::new();
        let replies = [
            Reply::I64,
            Reply::U64,
            Reply::F64,
            Reply::Bool,
            Reply::Bytes,
        ];
        for reply in replies {
            let callback = abi
                .callbacks
                .iter()
                .find(|c| c.name == reply.callback())
                .expect("a callback type of the ABI");
            let head = format!("static inline void {}(", trampoline(reply));
            let params = header
                .split_once(&head)
                .and_then(|(_, rest)| rest.split_once(')'))
                .unwrap_or_else(|| panic!("hostcall_jni.h defines no {head}"))
                .0;
            assert_eq!(
                param_types(params.split(',')),
                param_types(callback.c_params.iter().map(String::as_str)),
                "{} implements {}",
                trampoline(reply),
                callback.name
            );
        }
    }

    #[test]
    fn types_and_codecs() {
        let optional = Type::Optional(Box::new(Type::Scalar(Scalar::U32)));
        assert_eq!(kotlin_type(&optional), "UInt?");
        assert_eq!(decode(&optional), "(if (r.nil()) null else r.u32())");
        let list = Type::List(Box::new(Type::Scalar(Scalar::Text)));
        assert_eq!(
            encode(&list, "xs", 0),
            "w.array(xs.size); for (e0 in xs) { w.text(e0) }"
        );
    }
}
