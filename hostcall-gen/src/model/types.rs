//! Types as every backend sees them: a scalar of the ABI's native table,
//! a list, an optional value or a named record.

use hostcall::describe::TypeDesc;
use hostcall_abi::native::Scalar;

use super::Name;

/// A type that crosses the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// A scalar (integers, floats, bool, text, bytes, unit).
    Scalar(Scalar),
    /// A CBOR array of one element type.
    List(Box<Type>),
    /// The value or CBOR null.
    Optional(Box<Type>),
    /// A record, by name (see [`super::Model::records`]).
    Record(Name),
}

impl Type {
    /// Lowers a described type.
    pub fn of(desc: &TypeDesc) -> Self {
        let scalar = match desc {
            TypeDesc::Unit => Scalar::Unit,
            TypeDesc::Bool => Scalar::Bool,
            TypeDesc::I8 => Scalar::I8,
            TypeDesc::I16 => Scalar::I16,
            TypeDesc::I32 => Scalar::I32,
            TypeDesc::I64 => Scalar::I64,
            TypeDesc::U8 => Scalar::U8,
            TypeDesc::U16 => Scalar::U16,
            TypeDesc::U32 => Scalar::U32,
            TypeDesc::U64 => Scalar::U64,
            TypeDesc::F32 => Scalar::F32,
            TypeDesc::F64 => Scalar::F64,
            TypeDesc::String => Scalar::Text,
            TypeDesc::Bytes => Scalar::Bytes,
            TypeDesc::List(inner) => return Type::List(Box::new(Type::of(inner))),
            TypeDesc::Optional(inner) => return Type::Optional(Box::new(Type::of(inner))),
            TypeDesc::Record(name) => return Type::Record(Name::new(name)),
        };
        Type::Scalar(scalar)
    }

    /// The scalar this type is, if it is one.
    pub fn scalar(&self) -> Option<Scalar> {
        match self {
            Type::Scalar(s) => Some(*s),
            _ => None,
        }
    }

    /// Whether this is `()`.
    pub fn is_unit(&self) -> bool {
        self.scalar() == Some(Scalar::Unit)
    }

    /// Its wire form as the docs write it: `text`, `[Session]`,
    /// `uint32 | null`.
    pub fn wire(&self) -> String {
        match self {
            Type::Scalar(s) => scalar_wire(*s).to_owned(),
            Type::List(inner) => format!("[{}]", inner.wire()),
            Type::Optional(inner) => format!("{} | null", inner.wire()),
            Type::Record(name) => name.wire.clone(),
        }
    }
}

fn scalar_wire(scalar: Scalar) -> &'static str {
    match scalar {
        Scalar::Unit => "null",
        Scalar::Bool => "bool",
        Scalar::I8 => "int8",
        Scalar::I16 => "int16",
        Scalar::I32 => "int32",
        Scalar::I64 => "int64",
        Scalar::U8 => "uint8",
        Scalar::U16 => "uint16",
        Scalar::U32 => "uint32",
        Scalar::U64 => "uint64",
        Scalar::F32 => "float32",
        Scalar::F64 => "float64",
        Scalar::Text => "text",
        Scalar::Bytes => "bytes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_read_as_cbor_shapes() {
        let list = Type::of(&TypeDesc::List(Box::new(TypeDesc::String)));
        assert_eq!(list.wire(), "[text]");
        let optional = Type::of(&TypeDesc::Optional(Box::new(TypeDesc::Record("P".into()))));
        assert_eq!(optional.wire(), "P | null");
    }
}
