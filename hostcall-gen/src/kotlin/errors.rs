//! Library-declared error types in Kotlin: each a sealed exception class
//! (`SignInError` → `SignInException`, UniFFI's convention) with one
//! subclass per variant, and its codec for the externally tagged CBOR the
//! library reads and writes (`"EmptyUserId"`, `{"Unavailable": text}`,
//! `{"Suspended": [text, uint64]}`, `{"NotFound": {user_id: text}}`).
//!
//! Everything here is computed from the model's [`ErrorType`]s into a view
//! ([`KError`], [`KVariant`], [`KField`]: names, doc texts, the message,
//! each field's expressions); the macros of `templates/kotlin/errors.kt`
//! lay the classes and codecs out.
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

use super::field_local;
use super::names::{member, type_name};
use super::types::{decode, encode, kotlin_type};

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

/// One error type, ready for the macros of `kotlin/errors.kt`.
pub struct KError {
    /// `SignInException`.
    pub class: String,
    /// The type's doc text, for its KDoc.
    pub doc: String,
    pub variants: Vec<KVariant>,
    /// Whether any variant is a unit variant (the bare-text wire form).
    pub has_unit: bool,
}

/// One variant. Exactly one of the shape flags is set.
pub struct KVariant {
    /// `NotFound`.
    pub class: String,
    /// Its wire tag.
    pub tag: String,
    /// Its doc text with its wire form, for its KDoc.
    pub doc: String,
    /// A unit variant (its wire form is the bare tag).
    pub is_unit: bool,
    /// A one-field tuple variant (its value carried bare).
    pub is_newtype: bool,
    /// A tuple variant of any other number of fields (an array).
    pub is_tuple: bool,
    /// A struct variant (a map keyed by the fields' wire names).
    pub is_struct: bool,
    /// The exception's message, a Kotlin string template's contents:
    /// `not found: userId=${userId}`.
    pub message: String,
    /// The `Keys` of a struct variant's fields: `keysOfSignInExceptionNotFound`.
    pub keys: String,
    pub fields: Vec<KField>,
}

/// One field of a variant: its property and the expressions using it.
pub struct KField {
    /// The property: `userId`, `messageValue`, `v1`.
    pub property: String,
    /// Its Kotlin type.
    pub ty: String,
    /// Its doc text, for its KDoc (a tuple field's says which it is).
    pub doc: String,
    /// The name on the wire (a struct variant's map key).
    pub wire: String,
    /// Whether its type is optional (a struct variant may omit it).
    pub optional: bool,
    /// Its part of `equals`: `userId == other.userId`.
    pub equals: String,
    /// Its argument of `Objects.hash`: `userId`.
    pub hash: String,
    /// Its value inside a string template: `${userId}`.
    pub shown: String,
    /// The decoder's local holding it until read: `String?`.
    pub local: String,
    /// The expression reading it (the reader is `r`).
    pub decode: String,
    /// The statement writing it from the variant `v` (the writer is `w`).
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

/// A doc text plus a line, or just the line.
fn doc_with(doc: &str, line: &str) -> String {
    if doc.is_empty() {
        line.to_owned()
    } else {
        format!("{doc}\n\n{line}")
    }
}

fn field(v: &Variant, index: usize, f: &Field) -> KField {
    let p = property(v, index, f);
    let bytes = is_bytes(&f.ty);
    let doc = if v.shape == VariantShape::Tuple {
        doc_with(
            &f.doc,
            &format!("The variant's field {} (`.{index}` in Rust).", index + 1),
        )
    } else {
        f.doc.clone()
    };
    KField {
        ty: kotlin_type(&f.ty),
        doc,
        wire: f.name.wire.clone(),
        optional: matches!(f.ty, Type::Optional(_)),
        equals: if bytes {
            format!("{p}.contentEquals(other.{p})")
        } else {
            format!("{p} == other.{p}")
        },
        hash: if bytes {
            format!("{p}.contentHashCode()")
        } else {
            p.clone()
        },
        shown: if bytes {
            format!("${{{p}.contentToString()}}")
        } else {
            format!("${{{p}}}")
        },
        local: field_local(f),
        decode: decode(&f.ty),
        encode: encode(&f.ty, &format!("v.{p}"), 0),
        property: p,
    }
}

fn variant(class: &str, v: &Variant) -> KVariant {
    let vclass = type_name(&v.name);
    let fields: Vec<KField> = v
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field(v, i, f))
        .collect();
    let lead = v.name.phrase();
    let message = match v.shape {
        _ if fields.is_empty() => lead,
        _ if v.is_newtype() => format!("{lead}: {}", fields[0].shown),
        _ => {
            let shown: Vec<String> = fields
                .iter()
                .map(|f| format!("{}={}", f.property, f.shown))
                .collect();
            format!("{lead}: {}", shown.join(", "))
        }
    };
    KVariant {
        keys: format!("keysOf{class}{vclass}"),
        class: vclass,
        tag: v.name.wire.clone(),
        doc: doc_with(&v.doc, &format!("Wire form: `{}`.", v.wire())),
        is_unit: v.shape == VariantShape::Unit,
        is_newtype: v.is_newtype(),
        is_tuple: v.shape == VariantShape::Tuple && !v.is_newtype(),
        is_struct: v.shape == VariantShape::Struct,
        message,
        fields,
    }
}

/// The templates' view of every error type.
pub fn errors(types: &[ErrorType]) -> Vec<KError> {
    types
        .iter()
        .map(|e| {
            let class = exception_name(e);
            let doc = doc_with(
                &e.doc,
                &format!(
                    "The library's error type `{}`: thrown by the handlers that fail with it, one\nsubclass per variant; thrown by a host fn that declares it, answered as that\ntyped error (`RET_ERR_TYPED`). Catch a subclass, or this class and `when`\nover it (the subclasses are all known).",
                    e.name.wire
                ),
            );
            KError {
                variants: e.variants.iter().map(|v| variant(&class, v)).collect(),
                class,
                doc,
                has_unit: e.variants.iter().any(|v| v.shape == VariantShape::Unit),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kotlin::kdoc;
    use crate::model::Name;
    use askama::Template;

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

    /// The macros of `kotlin/errors.kt` alone, rendering each error type.
    #[derive(Template)]
    #[template(
        source = r#"{%- import "kotlin/errors.kt" as err %}
{%- for e in errors %}
{%- call err::exception(e) %}{% endcall %}
{%- call err::writer(e) %}{% endcall %}
{%- call err::reader(e) %}{% endcall %}
{%- endfor %}"#,
        ext = "txt",
        escape = "none"
    )]
    struct Probe {
        errors: Vec<KError>,
    }

    fn render(types: &[ErrorType]) -> String {
        Probe {
            errors: errors(types),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn fields_get_kotlin_names_that_do_not_clash_with_throwable() {
        let errors = errors(&[error_type()]);
        let e = &errors[0];
        assert!(e.has_unit);
        let failed = &e.variants[1];
        assert!(failed.is_struct && !failed.is_unit && !failed.is_tuple);
        assert_eq!(failed.fields[0].property, "messageValue");
        assert_eq!(failed.fields[0].wire, "message");
        assert_eq!(
            failed.fields[1].equals, "raw.contentEquals(other.raw)",
            "byte arrays compare by content"
        );
        assert_eq!(failed.fields[1].hash, "raw.contentHashCode()");
        assert_eq!(failed.keys, "keysOfSignInExceptionFailed");
        let suspended = &e.variants[2];
        assert!(suspended.is_tuple && !suspended.is_newtype);
        let props: Vec<_> = suspended.fields.iter().map(|f| &f.property).collect();
        assert_eq!(props, ["v1", "v2"]);
        assert_eq!(suspended.message, "suspended: v1=${v1}, v2=${v2}");
        assert!(e.variants[0].is_unit);
        assert_eq!(e.variants[0].message, "empty user id");

        let kt = render(&[error_type()]);
        assert!(kt.contains("        val messageValue: String,\n"), "{kt}");
        assert!(kt.contains("&& raw.contentEquals(other.raw)"), "{kt}");
        assert!(kt.contains("        val v1: String,\n"), "{kt}");
        assert!(kt.contains("        val v2: ULong,\n"), "{kt}");
        assert!(
            kt.contains(") : SignInException(\"suspended: v1=${v1}, v2=${v2}\") {"),
            "{kt}"
        );
        assert!(
            kt.contains("    class EmptyUserId : SignInException(\"empty user id\") {"),
            "{kt}"
        );
        assert!(
            kt.contains("\nprivate val keysOfSignInExceptionFailed = Keys(\"message\", \"raw\")\n"),
            "{kt}"
        );
    }

    #[test]
    fn each_shape_has_its_wire_form() {
        let mut e = error_type();
        e.variants.push(Variant {
            name: Name::new("Unavailable"),
            doc: String::new(),
            shape: VariantShape::Tuple,
            fields: vec![field("0", text())],
        });
        let kt = render(&[e]);
        let writer = &kt[kt.find("fun CborWriter.").unwrap()..kt.find("fun CborReader.").unwrap()];
        let reader = &kt[kt.find("fun CborReader.").unwrap()..];
        // A unit variant: its bare tag, or a map of it to null.
        assert!(
            writer.contains("is SignInException.EmptyUserId -> w.text(\"EmptyUserId\")\n"),
            "{writer}"
        );
        assert!(
            reader.contains("            \"EmptyUserId\" -> SignInException.EmptyUserId()\n"),
            "{reader}"
        );
        assert!(
            reader.contains("if (!r.nil()) throw CborException(\"SignInException.EmptyUserId: a unit variant carries no value\")"),
            "{reader}"
        );
        // A struct variant: a map keyed by the fields' wire names.
        assert!(
            writer.contains("            w.map(1).text(\"Failed\").map(2)\n            w.text(\"message\")\n            w.text(v.messageValue)\n            w.text(\"raw\")\n            w.bytes(v.raw)\n        }\n"),
            "{writer}"
        );
        assert!(
            reader.contains("                when (r.key(keysOfSignInExceptionFailed)) {\n                    0 -> messageValue = r.text()\n                    1 -> raw = r.bytes()\n"),
            "{reader}"
        );
        assert!(
            reader.contains("                raw = raw ?: throw CborException(\"SignInException.Failed: missing field 'raw'\"),\n"),
            "{reader}"
        );
        // A tuple variant: an array.
        assert!(
            writer.contains("            w.map(1).text(\"Suspended\").array(2)\n            w.text(v.v1)\n            w.uint(v.v2)\n"),
            "{writer}"
        );
        assert!(
            reader.contains("            if (r.array() != 2) throw CborException(\"SignInException.Suspended: expected 2 fields\")\n            val v1 = r.text()\n            val v2 = r.uint()\n            SignInException.Suspended(v1, v2)\n"),
            "{reader}"
        );
        // A newtype variant: its one value bare.
        assert!(
            writer.contains(
                "            w.map(1).text(\"Unavailable\")\n            w.text(v.v1)\n        }\n"
            ),
            "{writer}"
        );
        assert!(
            reader.contains("        \"Unavailable\" -> SignInException.Unavailable(r.text())\n"),
            "{reader}"
        );
        assert!(
            kt.contains(") : SignInException(\"unavailable: ${v1}\") {"),
            "{kt}"
        );
    }
}
