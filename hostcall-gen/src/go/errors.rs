//! Library error types in Go: an interface per error type, a struct per
//! variant, and the CBOR codec of the wire form (serde's externally tagged
//! enum), all computed here from the model's [`ErrorType`]s and rendered by
//! `templates/go/package.go`.
//!
//! For an error type `SignInError` with variants `EmptyUserId`,
//! `NotFound { user_id }`, `Suspended(String, u64)` and
//! `Unavailable(String)`:
//!
//! * `type SignInError interface { error; isSignInError() }`;
//! * `SignInErrorEmptyUserID struct{}`, `SignInErrorNotFound{UserID
//!   string}` (a struct variant's fields carry `cbor` and `json` tags, as
//!   record fields do), `SignInErrorSuspended{Field0 string; Field1
//!   uint64}` (tuple fields are `Field0`, `Field1`, … in order, a one-field
//!   tuple's too), each with value receivers;
//! * `Error()`: the variant's words in lower case, then its fields, e.g.
//!   `not found: user_id "u1"`, `suspended: "fraud", 17`, `empty user id`;
//! * `encodeSignInError(SignInError) ([]byte, error)` and
//!   `decodeSignInError([]byte) (SignInError, error)`.
//!
//! The model names error types and variants as Rust does (`SignInError`,
//! `EmptyUserId`: one word each, since [`crate::model::Name`] splits at
//! underscores); the Go names split them at case changes first, so Go's
//! initialisms apply (`EmptyUserID`).

use crate::model::{ErrorType, Variant, VariantShape};

use super::names::{exported, go_type};
use super::{align, comment};

/// An error type, ready for the template.
pub struct GoErrorType {
    /// The interface's doc comment.
    pub doc: String,
    /// The interface (`SignInError`).
    pub name: String,
    /// The marker method (`isSignInError`).
    pub marker: String,
    pub variants: Vec<GoVariant>,
    /// Whether the encoder's type switch binds the value (some variant
    /// is not a unit variant, so its case uses it).
    pub binds: bool,
}

/// One variant as a Go struct.
pub struct GoVariant {
    /// The doc comment.
    pub doc: String,
    /// The struct (`SignInErrorNotFound`).
    pub name: String,
    /// The struct's field lines (docs included, aligned); empty for a unit
    /// variant.
    pub fields: Vec<String>,
    /// `Error()`'s receiver: `e ` when the text uses it, else empty.
    pub receiver: &'static str,
    /// `Error()`'s Go expression.
    pub message: String,
    /// The wire tag (`NotFound`).
    pub tag: String,
    /// The Go value `hostcall.Encode` gets.
    pub encode: String,
    /// For a tuple variant of several fields: the unexported struct its
    /// body encodes as (a CBOR array), declared after the variant.
    pub wire: Option<WireStruct>,
    /// How the body decodes; none for a unit variant.
    pub decode: Option<Decode>,
}

/// How a variant's body decodes.
pub struct Decode {
    /// The type of the variable it decodes into.
    pub ty: String,
    /// The variant value returned, made of `value`.
    pub value: String,
}

/// The array form of a tuple variant's body.
pub struct WireStruct {
    pub name: String,
    /// Its field lines, aligned.
    pub fields: Vec<String>,
}

/// The Go interface of an error type.
pub fn type_name(e: &ErrorType) -> String {
    exported(&e.name)
}

/// The Go field names of a variant, with each field's model entry.
fn field_names(v: &Variant) -> Vec<String> {
    match v.shape {
        VariantShape::Struct => v.fields.iter().map(|f| exported(&f.name)).collect(),
        _ => (0..v.fields.len()).map(|i| format!("Field{i}")).collect(),
    }
}

pub fn error_type(e: &ErrorType) -> GoErrorType {
    let name = type_name(e);
    let variants: Vec<GoVariant> = e.variants.iter().map(|v| variant(&name, v)).collect();
    let lead = if e.doc.is_empty() {
        format!("{name} is an error type of the library.")
    } else {
        format!("{name}: {}", e.doc)
    };
    let list = variants
        .iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let first = &variants[0].name;
    let text = format!(
        "{lead}\n\nIts values are the types {list}. A call's error reaches them with \
         errors.As: var e {first}; errors.As(err, &e) for one of them, or any of \
         them with a {name} target."
    );
    GoErrorType {
        doc: comment(&crate::text::wrap(text, 76).join("\n"), ""),
        marker: format!("is{name}"),
        binds: e.variants.iter().any(|v| v.shape != VariantShape::Unit),
        variants,
        name,
    }
}

fn variant(type_name: &str, v: &Variant) -> GoVariant {
    let name = format!("{type_name}{}", exported(&v.name));
    let names = field_names(v);
    let tag = v.name.wire.clone();
    let lead = format!(
        "{name} is the {type_name} `{tag}`, on the wire {}",
        v.wire()
    );
    let doc = if v.doc.is_empty() {
        format!("{lead}.")
    } else {
        format!("{lead}: {}", v.doc)
    };

    // The struct's fields: docs break gofmt's alignment runs.
    let mut fields = Vec::new();
    let mut run: Vec<Vec<String>> = Vec::new();
    for (field, go) in v.fields.iter().zip(&names) {
        if !field.doc.is_empty() {
            fields.extend(align(&run).into_iter().map(|l| format!("\t{l}")));
            run.clear();
            fields.push(comment(&field.doc, "\t"));
        }
        let mut row = vec![go.clone(), go_type(&field.ty)];
        if v.shape == VariantShape::Struct {
            row.push(format!("`cbor:\"{0}\" json:\"{0}\"`", field.name.wire));
        }
        run.push(row);
    }
    fields.extend(align(&run).into_iter().map(|l| format!("\t{l}")));

    // Literal text and Go expressions, adjacent literals merged.
    let mut parts: Vec<(bool, String)> = vec![(true, v.name.phrase())];
    let mut push = |literal: bool, text: String| match parts.last_mut() {
        Some((true, last)) if literal => last.push_str(&text),
        _ => parts.push((literal, text)),
    };
    for (i, (field, go)) in v.fields.iter().zip(&names).enumerate() {
        let sep = if i == 0 { ": " } else { ", " };
        let label = match v.shape {
            VariantShape::Struct => format!("{} ", field.name.wire),
            _ => String::new(),
        };
        push(true, format!("{sep}{label}"));
        push(false, format!("hostcall.Show(e.{go})"));
    }
    let message = parts
        .into_iter()
        .map(|(literal, text)| if literal { format!("\"{text}\"") } else { text })
        .collect::<Vec<_>>()
        .join(" + ");
    let receiver = if v.fields.is_empty() { "" } else { "e " };

    let wire_name = format!("{}Wire", lower_first(&name));
    let inits = |from: &str| {
        names
            .iter()
            .map(|n| format!("{n}: {from}.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (encode, wire, decode) = match v.shape {
        VariantShape::Unit => (format!("\"{tag}\""), None, None),
        VariantShape::Tuple if v.is_newtype() => (
            format!("map[string]any{{\"{tag}\": e.Field0}}"),
            None,
            Some(Decode {
                ty: go_type(&v.fields[0].ty),
                value: format!("{name}{{Field0: value}}"),
            }),
        ),
        VariantShape::Tuple => {
            let mut rows = vec![vec![
                "_".to_owned(),
                "struct{}".to_owned(),
                "`cbor:\",toarray\"`".to_owned(),
            ]];
            rows.extend(
                v.fields
                    .iter()
                    .zip(&names)
                    .map(|(f, n)| vec![n.clone(), go_type(&f.ty)]),
            );
            (
                format!("map[string]any{{\"{tag}\": {wire_name}{{{}}}}}", inits("e")),
                Some(WireStruct {
                    name: wire_name.clone(),
                    fields: align(&rows).into_iter().map(|l| format!("\t{l}")).collect(),
                }),
                Some(Decode {
                    value: format!("{name}{{{}}}", inits("value")),
                    ty: wire_name,
                }),
            )
        }
        VariantShape::Struct => (
            format!("map[string]any{{\"{tag}\": e}}"),
            None,
            Some(Decode {
                ty: name.clone(),
                value: "value".to_owned(),
            }),
        ),
    };
    GoVariant {
        doc: comment(&crate::text::wrap(doc, 76).join("\n"), ""),
        name,
        fields,
        receiver,
        message,
        tag,
        encode,
        wire,
        decode,
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, Name, Type};
    use hostcall_abi::native::Scalar;

    fn variant(name: &str, shape: VariantShape, fields: &[(&str, Scalar)]) -> Variant {
        Variant {
            name: Name::new(name),
            doc: String::new(),
            shape,
            fields: fields
                .iter()
                .map(|(n, s)| Field {
                    name: Name::new(n),
                    doc: String::new(),
                    ty: Type::Scalar(*s),
                })
                .collect(),
        }
    }

    fn of(variants: Vec<Variant>) -> GoErrorType {
        error_type(&ErrorType {
            name: Name::new("StoreError"),
            doc: String::new(),
            variants,
        })
    }

    #[test]
    fn variants_render_by_shape() {
        let e = of(vec![
            variant("Gone", VariantShape::Unit, &[]),
            variant("Busy", VariantShape::Tuple, &[("0", Scalar::Text)]),
            variant(
                "Moved",
                VariantShape::Tuple,
                &[("0", Scalar::Text), ("1", Scalar::U32)],
            ),
            variant(
                "Quota",
                VariantShape::Struct,
                &[("used", Scalar::U64), ("max_bytes", Scalar::U64)],
            ),
        ]);
        assert_eq!(e.name, "StoreError");
        assert!(e.binds);
        let [gone, busy, moved, quota] = &e.variants[..] else {
            panic!("four variants")
        };
        assert_eq!(gone.name, "StoreErrorGone");
        assert_eq!(gone.message, "\"gone\"");
        assert_eq!(gone.encode, "\"Gone\"");
        assert!(gone.decode.is_none() && gone.receiver.is_empty());
        assert_eq!(busy.message, "\"busy: \" + hostcall.Show(e.Field0)");
        assert_eq!(busy.encode, "map[string]any{\"Busy\": e.Field0}");
        assert_eq!(
            moved.message,
            "\"moved: \" + hostcall.Show(e.Field0) + \", \" + hostcall.Show(e.Field1)"
        );
        assert_eq!(moved.wire.as_ref().unwrap().name, "storeErrorMovedWire");
        assert_eq!(
            quota.message,
            "\"quota: used \" + hostcall.Show(e.Used) + \", max_bytes \" + hostcall.Show(e.MaxBytes)"
        );
        assert!(quota.fields[0].contains("`cbor:\"used\" json:\"used\"`"));
    }

    #[test]
    fn a_type_of_unit_variants_does_not_bind_the_value() {
        let units = of(vec![
            variant("A", VariantShape::Unit, &[]),
            variant("B", VariantShape::Unit, &[]),
        ]);
        assert!(!units.binds);
        // An empty struct variant has no fields but encodes the value.
        let empty = of(vec![variant("C", VariantShape::Struct, &[])]);
        assert!(empty.binds);
        assert_eq!(empty.variants[0].message, "\"c\"");
    }

    #[test]
    fn camel_case_names_follow_go_initialisms() {
        assert_eq!(exported(&Name::new("EmptyUserId")), "EmptyUserID");
        assert_eq!(exported(&Name::new("HTTPError")), "HTTPError");
    }
}
