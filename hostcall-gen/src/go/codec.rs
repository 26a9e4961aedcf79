//! Generated CBOR codecs: Go statements that encode and decode a model
//! [`Type`] with the runtime's primitives (`bindings/go/hostcall/wire.go`)
//! instead of reflection.
//!
//! A record gets two methods, `appendCBOR` (its map, keys in the core
//! deterministic order `hostcall.Encode` uses: by length, then bytewise)
//! and `decodeCBOR`; arguments, results and events get the same statements
//! inline. Every decode is followed by the generated code's fallback: when
//! the `hostcall.Decoder` did not accept the payload whole (a form the fast
//! path does not read, a value out of its Go type's range, malformed
//! bytes), the same bytes go through `hostcall.Decode`, which decides. So a
//! payload decodes to what reflection gives, or fails as it does.
//!
//! Types the primitives do not cover ([`fast`] is false: unit, floats,
//! lists of `u8`, which reflection writes as a byte string, records with
//! more than 64 fields) keep the reflection codec.

use hostcall_abi::native::Scalar;

use super::names::{exported, go_type};
use crate::model::{Model, Name, Record, Type};

/// Whether the generated codec covers `ty`.
pub fn fast(model: &Model, ty: &Type) -> bool {
    fast_in(model, ty, &mut Vec::new())
}

fn fast_in<'a>(model: &'a Model, ty: &'a Type, visiting: &mut Vec<&'a Name>) -> bool {
    match ty {
        Type::Scalar(s) => !matches!(s, Scalar::Unit | Scalar::F32 | Scalar::F64),
        Type::List(inner) if inner.scalar() == Some(Scalar::U8) => false,
        Type::List(inner) | Type::Optional(inner) => fast_in(model, inner, visiting),
        Type::Record(name) => {
            if visiting.contains(&name) {
                return true; // decided where the cycle started
            }
            let Some(record) = model.record(name) else {
                return false;
            };
            if record.fields.len() > 64 {
                return false;
            }
            visiting.push(name);
            let fast = record
                .fields
                .iter()
                .all(|f| fast_in(model, &f.ty, visiting));
            visiting.pop();
            fast
        }
    }
}

/// Whether every type in `types` is covered.
pub fn all_fast<'a>(model: &Model, mut types: impl Iterator<Item = &'a Type>) -> bool {
    types.all(|t| fast(model, t))
}

/// Go statements appending `value` (an expression of `ty`'s Go type) to the
/// byte slice variable `buf`, each line prefixed by `indent`.
pub fn encode(ty: &Type, value: &str, buf: &str, indent: &str) -> String {
    let mut out = String::new();
    encode_into(&mut out, ty, value, buf, indent, 0);
    out
}

fn encode_into(out: &mut String, ty: &Type, value: &str, buf: &str, indent: &str, depth: usize) {
    let line = |out: &mut String, text: String| {
        out.push_str(indent);
        out.push_str(&text);
        out.push('\n');
    };
    match ty {
        Type::Scalar(s) => {
            let call = match s {
                Scalar::Bool => format!("hostcall.AppendBool({buf}, {value})"),
                Scalar::U8 | Scalar::U16 | Scalar::U32 => {
                    format!("hostcall.AppendUint({buf}, uint64({value}))")
                }
                Scalar::U64 => format!("hostcall.AppendUint({buf}, {value})"),
                Scalar::I8 | Scalar::I16 | Scalar::I32 => {
                    format!("hostcall.AppendInt({buf}, int64({value}))")
                }
                Scalar::I64 => format!("hostcall.AppendInt({buf}, {value})"),
                Scalar::Text => format!("hostcall.AppendText({buf}, {value})"),
                Scalar::Bytes => format!("hostcall.AppendBytes({buf}, {value})"),
                Scalar::Unit | Scalar::F32 | Scalar::F64 => {
                    unreachable!("not a fast type: {s:?}")
                }
            };
            line(out, format!("{buf} = {call}"));
        }
        Type::List(inner) => {
            let i = format!("i{depth}");
            line(
                out,
                format!("{buf} = hostcall.AppendArray({buf}, len({value}))"),
            );
            line(out, format!("for {i} := range {value} {{"));
            let inner_indent = format!("{indent}\t");
            encode_into(
                out,
                inner,
                &format!("{value}[{i}]"),
                buf,
                &inner_indent,
                depth + 1,
            );
            line(out, "}".to_owned());
        }
        Type::Optional(inner) => {
            line(out, format!("if {value} == nil {{"));
            line(out, format!("\t{buf} = hostcall.AppendNull({buf})"));
            line(out, "} else {".to_owned());
            let inner_indent = format!("{indent}\t");
            let deref = match **inner {
                // A method call takes the pointer as it is.
                Type::Record(_) => value.to_owned(),
                _ => format!("*{value}"),
            };
            encode_into(out, inner, &deref, buf, &inner_indent, depth + 1);
            line(out, "}".to_owned());
        }
        Type::Record(_) => line(out, format!("{buf} = {value}.appendCBOR({buf})")),
    }
}

/// Go statements decoding a value of `ty` into `target` (an assignable
/// expression holding its zero value) with the `*hostcall.Decoder`
/// expression `dec`, each line prefixed by `indent`.
pub fn decode(ty: &Type, target: &str, dec: &str, indent: &str) -> String {
    let mut out = String::new();
    decode_into(&mut out, ty, target, dec, indent, 0);
    out
}

/// `dec` as the receiver of a method call: `&dec` is called as `dec`.
fn receiver(dec: &str) -> &str {
    dec.strip_prefix('&').unwrap_or(dec)
}

fn decode_into(out: &mut String, ty: &Type, target: &str, dec: &str, indent: &str, depth: usize) {
    let line = |out: &mut String, text: String| {
        out.push_str(indent);
        out.push_str(&text);
        out.push('\n');
    };
    let d = receiver(dec);
    match ty {
        Type::Scalar(s) => {
            let value = match s {
                Scalar::Bool => format!("{d}.Bool()"),
                Scalar::U8 => format!("uint8({d}.Uint(0xff))"),
                Scalar::U16 => format!("uint16({d}.Uint(0xffff))"),
                Scalar::U32 => format!("uint32({d}.Uint(0xffffffff))"),
                Scalar::U64 => format!("{d}.Uint(0xffffffffffffffff)"),
                Scalar::I8 => format!("int8({d}.Int(-0x80, 0x7f))"),
                Scalar::I16 => format!("int16({d}.Int(-0x8000, 0x7fff))"),
                Scalar::I32 => format!("int32({d}.Int(-0x80000000, 0x7fffffff))"),
                Scalar::I64 => {
                    format!("{d}.Int(-0x8000000000000000, 0x7fffffffffffffff)")
                }
                Scalar::Text => format!("{d}.Text()"),
                Scalar::Bytes => format!("{d}.Bytes()"),
                Scalar::Unit | Scalar::F32 | Scalar::F64 => {
                    unreachable!("not a fast type: {s:?}")
                }
            };
            line(out, format!("{target} = {value}"));
        }
        Type::List(inner) => {
            let i = format!("i{depth}");
            line(
                out,
                format!("{target} = make({}, {d}.Array())", go_type(ty)),
            );
            line(out, format!("for {i} := range {target} {{"));
            let inner_indent = format!("{indent}\t");
            decode_into(
                out,
                inner,
                &format!("{target}[{i}]"),
                dec,
                &inner_indent,
                depth + 1,
            );
            line(out, "}".to_owned());
        }
        Type::Optional(inner) => {
            let v = format!("v{depth}");
            line(out, format!("if !{d}.Null() {{"));
            line(out, format!("\tvar {v} {}", go_type(inner)));
            let inner_indent = format!("{indent}\t");
            decode_into(out, inner, &v, dec, &inner_indent, depth + 1);
            line(out, format!("\t{target} = &{v}"));
            line(out, "}".to_owned());
        }
        Type::Record(_) => line(out, format!("{target}.decodeCBOR({dec})")),
    }
}

/// A record's codec methods.
pub struct RecordCodec {
    /// The body of `appendCBOR(b []byte) []byte`, `return b` excluded.
    pub encode: String,
    /// The body of `decodeCBOR(d *hostcall.Decoder)`.
    pub decode: String,
}

/// The codec of `record`, if [`fast`] covers it.
pub fn record(model: &Model, record: &Record) -> Option<RecordCodec> {
    if !fast(model, &Type::Record(record.name.clone())) {
        return None;
    }
    // hostcall.Encode's order: the keys' encodings bytewise, which for text
    // keys is by length, then bytewise.
    let mut sorted: Vec<_> = record.fields.iter().enumerate().collect();
    sorted.sort_by(|(_, a), (_, b)| {
        let (a, b) = (&a.name.wire, &b.name.wire);
        a.len()
            .cmp(&b.len())
            .then_with(|| a.as_bytes().cmp(b.as_bytes()))
    });
    let mut encode = format!("\tb = hostcall.AppendMap(b, {})\n", record.fields.len());
    for (_, field) in &sorted {
        encode.push_str(&format!(
            "\tb = hostcall.AppendText(b, {:?})\n",
            field.name.wire
        ));
        let value = format!("v.{}", exported(&field.name));
        encode.push_str(&self::encode(&field.ty, &value, "b", "\t"));
    }
    let mut decode = String::new();
    if !record.fields.is_empty() {
        decode.push_str("\tvar seen uint64\n");
    }
    decode.push_str("\tfor n := d.Map(); n > 0; n-- {\n\t\tswitch string(d.Key()) {\n");
    for (index, field) in record.fields.iter().enumerate() {
        let bit = format!("{:#x}", 1u64 << index);
        decode.push_str(&format!("\t\tcase {:?}:\n", field.name.wire));
        decode.push_str(&format!(
            "\t\t\tif seen&{bit} != 0 {{\n\t\t\t\td.Fail()\n\t\t\t}}\n\t\t\tseen |= {bit}\n"
        ));
        let target = format!("v.{}", exported(&field.name));
        decode.push_str(&self::decode(&field.ty, &target, "d", "\t\t\t"));
    }
    decode.push_str("\t\tdefault:\n\t\t\td.Fail()\n\t\t\treturn\n\t\t}\n\t}\n");
    Some(RecordCodec { encode, decode })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    fn optional(t: Type) -> Type {
        Type::Optional(Box::new(t))
    }

    #[test]
    fn nested_types_nest_their_loops_and_checks() {
        let ty = list(optional(Type::Scalar(Scalar::U16)));
        assert_eq!(
            encode(&ty, "x", "b", "\t"),
            "\tb = hostcall.AppendArray(b, len(x))\n\
             \tfor i0 := range x {\n\
             \t\tif x[i0] == nil {\n\
             \t\t\tb = hostcall.AppendNull(b)\n\
             \t\t} else {\n\
             \t\t\tb = hostcall.AppendUint(b, uint64(*x[i0]))\n\
             \t\t}\n\
             \t}\n"
        );
        assert_eq!(
            decode(&ty, "out", "&dec", "\t"),
            "\tout = make([]*uint16, dec.Array())\n\
             \tfor i0 := range out {\n\
             \t\tif !dec.Null() {\n\
             \t\t\tvar v1 uint16\n\
             \t\t\tv1 = uint16(dec.Uint(0xffff))\n\
             \t\t\tout[i0] = &v1\n\
             \t\t}\n\
             \t}\n"
        );
        let record = optional(Type::Record(Name::new("profile")));
        assert_eq!(
            decode(&record, "v.P", "d", ""),
            "if !d.Null() {\n\tvar v0 Profile\n\tv0.decodeCBOR(d)\n\tv.P = &v0\n}\n"
        );
        assert_eq!(
            encode(&record, "v.P", "b", ""),
            "if v.P == nil {\n\tb = hostcall.AppendNull(b)\n} else {\n\tb = v.P.appendCBOR(b)\n}\n"
        );
    }
}
