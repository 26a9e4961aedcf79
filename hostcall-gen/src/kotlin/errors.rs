//! Library-declared error types in Kotlin: each a sealed exception class
//! (`SignInError` → `SignInException`, UniFFI's convention) with one
//! subclass per variant, and its codec for the externally tagged CBOR the
//! library reads and writes (`"EmptyUserId"`, `{"Unavailable": text}`,
//! `{"Suspended": [text, uint64]}`, `{"NotFound": {user_id: text}}`).
//!
//! Everything here is computed from the model's [`ErrorType`]s; the
//! template only lays the pieces out.
//!
//! * A unit variant is a class without parameters (not an `object`: an
//!   exception carries its own stack trace and suppressed list, so a
//!   singleton would share them between throws); all its instances are
//!   equal.
//! * A struct variant's fields are `val`s with the fields' Kotlin names; a
//!   tuple variant's are `v1`, `v2`, … (UniFFI's names). A field named like
//!   a member every exception has (`message`, `cause`, …) gets the suffix
//!   `Value`.
//! * `equals`/`hashCode` compare the fields (byte arrays by content),
//!   `toString` shows them (`SignInException.NotFound(userId=u1)`), and the
//!   message is the variant's name in words and its fields (`not found:
//!   userId=u1`, `unavailable: db down`, `empty user id`).

use crate::model::{ErrorType, Field, Type, Variant, VariantShape};
use hostcall_abi::native::Scalar;

use super::names::{member, type_name};
use super::types::{decode, encode, kotlin_type};
use super::{field_local, kdoc};

/// Members of `Throwable` a field's property must not take.
const THROWABLE_MEMBERS: &[&str] = &[
    "message",
    "cause",
    "stackTrace",
    "localizedMessage",
    "suppressed",
];

/// The Kotlin class of error type `name`: `SignInError` → `SignInException`,
/// `Failure` → `FailureException`; a name already ending in `Exception` is
/// kept.
pub fn exception_name(e: &ErrorType) -> String {
    let name = type_name(&e.name);
    if let Some(stem) = name.strip_suffix("Error") {
        format!("{stem}Exception")
    } else if name.ends_with("Exception") {
        name
    } else {
        format!("{name}Exception")
    }
}

/// One error type, ready for the template.
pub struct KError {
    /// `SignInException`.
    pub class: String,
    /// The type's KDoc.
    pub doc: String,
    pub variants: Vec<KVariant>,
    /// Whether any variant is a unit variant (the bare-text wire form).
    pub has_unit: bool,
    /// The top-level `Keys` of its struct variants: `(name, keys)`.
    pub keys: Vec<(String, String)>,
}

/// One variant.
pub struct KVariant {
    /// `NotFound`.
    pub class: String,
    /// Its wire tag.
    pub tag: String,
    /// A unit variant (its wire form is the bare tag).
    pub unit: bool,
    /// The class declaration, KDoc to closing brace, indented for the sealed class.
    pub declaration: String,
    /// The `when` branch of the decoder reading the value after the tag (map form).
    pub decode: String,
    /// The `when` branch of the encoder.
    pub encode: String,
}

/// A field's Kotlin property.
fn property(v: &Variant, index: usize, f: &Field) -> String {
    if v.shape == VariantShape::Tuple {
        return format!("v{}", index + 1);
    }
    let m = member(&f.name);
    if THROWABLE_MEMBERS.contains(&m.as_str()) {
        format!("{m}Value")
    } else {
        m
    }
}

fn is_bytes(ty: &Type) -> bool {
    match ty {
        Type::Scalar(Scalar::Bytes) => true,
        Type::Optional(inner) => is_bytes(inner),
        _ => false,
    }
}

/// A field's value inside a string template.
fn show(ty: &Type, p: &str) -> String {
    if is_bytes(ty) {
        format!("${{{p}.contentToString()}}")
    } else {
        format!("${{{p}}}")
    }
}

/// A KDoc of `doc` plus a line, or just the line.
fn doc_with(doc: &str, line: &str) -> String {
    if doc.is_empty() {
        line.to_owned()
    } else {
        format!("{doc}\n\n{line}")
    }
}

fn variant(class: &str, v: &Variant) -> KVariant {
    let vclass = type_name(&v.name);
    let tag = &v.name.wire;
    let props: Vec<String> = v
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| property(v, i, f))
        .collect();
    let shown: Vec<String> = v
        .fields
        .iter()
        .zip(&props)
        .map(|(f, p)| format!("{p}={}", show(&f.ty, p)))
        .collect();
    let lead = v.name.phrase();
    let message = match v.shape {
        VariantShape::Unit => lead,
        _ if v.is_newtype() => format!("{lead}: {}", show(&v.fields[0].ty, &props[0])),
        _ => format!("{lead}: {}", shown.join(", ")),
    };
    let mut d = kdoc(
        &doc_with(&v.doc, &format!("Wire form: `{}`.", v.wire())),
        "    ",
    );
    if v.fields.is_empty() {
        d += &format!("    class {vclass} : {class}(\"{message}\") {{\n");
        d += &format!("        override fun equals(other: Any?): Boolean = other is {vclass}\n");
        d += &format!("        override fun hashCode(): Int = \"{tag}\".hashCode()\n");
        d += &format!("        override fun toString(): String = \"{class}.{vclass}\"\n");
    } else {
        d += &format!("    class {vclass}(\n");
        for ((f, p), i) in v.fields.iter().zip(&props).zip(0..) {
            let fdoc = if v.shape == VariantShape::Tuple {
                doc_with(
                    &f.doc,
                    &format!("The variant's field {} (`.{i}` in Rust).", i + 1),
                )
            } else {
                f.doc.clone()
            };
            d += &kdoc(&fdoc, "        ");
            d += &format!("        val {p}: {},\n", kotlin_type(&f.ty));
        }
        d += &format!("    ) : {class}(\"{message}\") {{\n");
        let eq: Vec<String> = v
            .fields
            .iter()
            .zip(&props)
            .map(|(f, p)| {
                if is_bytes(&f.ty) {
                    format!("{p}.contentEquals(other.{p})")
                } else {
                    format!("{p} == other.{p}")
                }
            })
            .collect();
        let hash: Vec<String> = v
            .fields
            .iter()
            .zip(&props)
            .map(|(f, p)| {
                if is_bytes(&f.ty) {
                    format!("{p}.contentHashCode()")
                } else {
                    p.clone()
                }
            })
            .collect();
        d += &format!(
            "        override fun equals(other: Any?): Boolean = other is {vclass} && {}\n",
            eq.join(" && ")
        );
        d += &format!(
            "        override fun hashCode(): Int = Objects.hash(\"{tag}\", {})\n",
            hash.join(", ")
        );
        d += &format!(
            "        override fun toString(): String = \"{class}.{vclass}({})\"\n",
            shown.join(", ")
        );
    }
    d += "    }";

    let what = format!("{class}.{vclass}");
    let decode = match v.shape {
        VariantShape::Unit => format!(
            "\"{tag}\" -> {{\n            if (!r.nil()) throw CborException(\"{what}: a unit variant carries no value\")\n            {class}.{vclass}()\n        }}"
        ),
        _ if v.is_newtype() => format!(
            "\"{tag}\" -> {class}.{vclass}({})",
            decode_value(&v.fields[0].ty)
        ),
        VariantShape::Tuple => {
            let mut b = format!(
                "\"{tag}\" -> {{\n            if (r.array() != {n}) throw CborException(\"{what}: expected {n} fields\")\n",
                n = v.fields.len()
            );
            for (f, p) in v.fields.iter().zip(&props) {
                b += &format!("            val {p} = {}\n", decode_value(&f.ty));
            }
            b += &format!(
                "            {class}.{vclass}({})\n        }}",
                props.join(", ")
            );
            b
        }
        VariantShape::Struct => {
            let mut b = format!("\"{tag}\" -> {{\n");
            for (f, p) in v.fields.iter().zip(&props) {
                b += &format!("            var {p}: {} = null\n", field_local(f));
            }
            b += "            repeat(r.map()) {\n";
            b += &format!(
                "                when (r.key({})) {{\n",
                keys_name(class, &vclass)
            );
            for (i, (f, p)) in v.fields.iter().zip(&props).enumerate() {
                b += &format!("                    {i} -> {p} = {}\n", decode(&f.ty));
            }
            b += "                    else -> r.skip()\n                }\n            }\n";
            b += &format!("            {class}.{vclass}(\n");
            for (f, p) in v.fields.iter().zip(&props) {
                if matches!(f.ty, Type::Optional(_)) {
                    b += &format!("                {p} = {p},\n");
                } else {
                    b += &format!(
                        "                {p} = {p} ?: throw CborException(\"{what}: missing field '{}'\"),\n",
                        f.name.wire
                    );
                }
            }
            b += "            )\n        }";
            b
        }
    };

    let encode = match v.shape {
        VariantShape::Unit => format!("is {class}.{vclass} -> w.text(\"{tag}\")"),
        _ if v.is_newtype() => format!(
            "is {class}.{vclass} -> {{\n            w.map(1).text(\"{tag}\")\n            {}\n        }}",
            encode(&v.fields[0].ty, &format!("v.{}", props[0]), 0)
        ),
        VariantShape::Tuple => {
            let mut b = format!(
                "is {class}.{vclass} -> {{\n            w.map(1).text(\"{tag}\").array({})\n",
                v.fields.len()
            );
            for (f, p) in v.fields.iter().zip(&props) {
                b += &format!("            {}\n", encode(&f.ty, &format!("v.{p}"), 0));
            }
            b + "        }"
        }
        VariantShape::Struct => {
            let mut b = format!(
                "is {class}.{vclass} -> {{\n            w.map(1).text(\"{tag}\").map({})\n",
                v.fields.len()
            );
            for (f, p) in v.fields.iter().zip(&props) {
                b += &format!("            w.text(\"{}\")\n", f.name.wire);
                b += &format!("            {}\n", encode(&f.ty, &format!("v.{p}"), 0));
            }
            b + "        }"
        }
    };
    KVariant {
        class: vclass,
        tag: tag.clone(),
        unit: v.shape == VariantShape::Unit,
        declaration: d,
        decode,
        encode,
    }
}

/// An expression reading one value (the reader is `r`).
fn decode_value(ty: &Type) -> String {
    decode(ty)
}

/// The top-level `Keys` of a struct variant.
fn keys_name(class: &str, variant: &str) -> String {
    format!("keysOf{class}{variant}")
}

/// The template's view of every error type.
pub fn errors(types: &[ErrorType]) -> Vec<KError> {
    types
        .iter()
        .map(|e| {
            let class = exception_name(e);
            let variants: Vec<KVariant> = e.variants.iter().map(|v| variant(&class, v)).collect();
            let keys = e
                .variants
                .iter()
                .filter(|v| v.shape == VariantShape::Struct)
                .map(|v| {
                    let names: Vec<String> =
                        v.fields.iter().map(|f| format!("\"{}\"", f.name.wire)).collect();
                    (keys_name(&class, &type_name(&v.name)), names.join(", "))
                })
                .collect();
            let doc = doc_with(
                &e.doc,
                &format!(
                    "The library's error type `{}`: thrown by the handlers that fail with it, one\nsubclass per variant; thrown by a host fn that declares it, answered as that\ntyped error (`RET_ERR_TYPED`). Catch a subclass, or this class and `when`\nover it (the subclasses are all known).",
                    e.name.wire
                ),
            );
            KError {
                class,
                doc: kdoc(&doc, ""),
                has_unit: e.variants.iter().any(|v| v.shape == VariantShape::Unit),
                variants,
                keys,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: Name::new(name),
            doc: String::new(),
            ty,
        }
    }

    fn text() -> Type {
        Type::Scalar(Scalar::Text)
    }

    fn error_type() -> ErrorType {
        ErrorType {
            name: Name::new("SignInError"),
            doc: String::new(),
            variants: vec![
                Variant {
                    name: Name::new("EmptyUserId"),
                    doc: String::new(),
                    shape: VariantShape::Unit,
                    fields: vec![],
                },
                Variant {
                    name: Name::new("Failed"),
                    doc: String::new(),
                    shape: VariantShape::Struct,
                    fields: vec![
                        field("message", text()),
                        field("raw", Type::Scalar(Scalar::Bytes)),
                    ],
                },
                Variant {
                    name: Name::new("Suspended"),
                    doc: String::new(),
                    shape: VariantShape::Tuple,
                    fields: vec![field("0", text()), field("1", Type::Scalar(Scalar::U64))],
                },
            ],
        }
    }

    #[test]
    fn exception_names_follow_uniffi() {
        let mut e = error_type();
        assert_eq!(exception_name(&e), "SignInException");
        e.name = Name::new("Failure");
        assert_eq!(exception_name(&e), "FailureException");
        e.name = Name::new("BadException");
        assert_eq!(exception_name(&e), "BadException");
    }

    #[test]
    fn fields_get_kotlin_names_that_do_not_clash_with_throwable() {
        let errors = errors(&[error_type()]);
        let e = &errors[0];
        assert!(e.has_unit);
        let failed = &e.variants[1].declaration;
        assert!(failed.contains("val messageValue: String,"), "{failed}");
        assert!(
            failed.contains("raw.contentEquals(other.raw)"),
            "byte arrays compare by content: {failed}"
        );
        let suspended = &e.variants[2].declaration;
        assert!(suspended.contains("val v1: String,"), "{suspended}");
        assert!(suspended.contains("val v2: ULong,"), "{suspended}");
        assert!(
            suspended.contains(": SignInException(\"suspended: v1=${v1}, v2=${v2}\")"),
            "{suspended}"
        );
        assert!(
            e.variants[0]
                .declaration
                .contains("class EmptyUserId : SignInException(\"empty user id\")"),
            "{}",
            e.variants[0].declaration
        );
        assert_eq!(
            e.keys,
            vec![(
                "keysOfSignInExceptionFailed".to_owned(),
                "\"message\", \"raw\"".to_owned()
            )]
        );
    }
}
