//! Go names and types: initialisms (`user_id` → `UserID`), reserved words,
//! and the Go type of each model [`Type`]. Built on [`Name::words`].

use hostcall_abi::native::Scalar;

use crate::model::{Name, Type, capitalized};

/// Words written in capitals in Go names (`user_id` → `UserID`).
const INITIALISMS: &[&str] = &[
    "api", "cpu", "db", "html", "http", "https", "id", "ip", "json", "mb", "os", "sql", "tcp",
    "ttl", "udp", "uri", "url", "utf8", "uuid", "xml",
];

/// Method names the generated `Context` already uses.
pub const RESERVED: &[&str] = &["Close", "Handle"];

/// Go keywords, and the generated code's own locals (`ctx`, `c`, `fn`, and
/// the codecs' `dec` and `slow`).
const KEYWORDS: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
    "ctx",
    "c",
    "fn",
    "dec",
    "slow",
];

/// One word of a Go name: initialisms in capitals (a plural keeps its
/// `s`), the first word of a local as it is, the others capitalised.
/// Initialisms are matched in any case (`Id` of `EmptyUserId` too).
fn word(word: &str, first: bool) -> String {
    let lower = word.to_ascii_lowercase();
    let (stem, plural) = match lower.strip_suffix('s') {
        Some(stem) if INITIALISMS.contains(&stem) => (stem, "s"),
        _ => (lower.as_str(), ""),
    };
    if INITIALISMS.contains(&stem) {
        if first {
            stem.to_owned() + plural
        } else {
            stem.to_ascii_uppercase() + plural
        }
    } else if first {
        word.to_owned()
    } else {
        capitalized(word)
    }
}

/// `login_many` → `LoginMany`, `user_id` → `UserID`.
pub fn exported(name: &Name) -> String {
    name.words.iter().map(|w| word(w, false)).collect()
}

/// `user_ids` → `userIDs`; a keyword or one of the generated code's locals
/// gets a trailing `_` (`type` → `type_`).
pub fn local(name: &Name) -> String {
    let mut words = name.words.iter();
    let first = words.next().map(|w| word(w, true)).unwrap_or_default();
    let name = first + &words.map(|w| word(w, false)).collect::<String>();
    if KEYWORDS.contains(&name.as_str()) {
        name + "_"
    } else {
        name
    }
}

/// The Go name of an ABI code: `Status` + `NULL_ARG` → `StatusNullArg`,
/// `OK` staying in capitals as Go writes it (`StatusOK`).
pub fn code(family: &str, short_name: &str) -> String {
    let words: String = short_name
        .split('_')
        .map(|w| match w {
            "OK" => "OK".to_owned(),
            w => capitalized(&w.to_ascii_lowercase()),
        })
        .collect();
    format!("{family}{words}")
}

/// The Go type of a model type.
pub fn go_type(ty: &Type) -> String {
    match ty {
        Type::Scalar(scalar) => scalar_type(*scalar).to_owned(),
        Type::List(inner) => format!("[]{}", go_type(inner)),
        Type::Optional(inner) => format!("*{}", go_type(inner)),
        Type::Record(name) => exported(name),
    }
}

fn scalar_type(scalar: Scalar) -> &'static str {
    match scalar {
        Scalar::Unit => "struct{}",
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
        Scalar::Text => "string",
        Scalar::Bytes => "[]byte",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(wire: &str) -> Name {
        Name::new(wire)
    }

    #[test]
    fn names_follow_go_conventions() {
        assert_eq!(exported(&n("login_many")), "LoginMany");
        assert_eq!(exported(&n("user_id")), "UserID");
        assert_eq!(exported(&n("user_ids")), "UserIDs");
        assert_eq!(local(&n("user_ids")), "userIDs");
        assert_eq!(local(&n("id")), "id");
        assert_eq!(local(&n("type")), "type_");
        assert_eq!(local(&n("ctx")), "ctx_");
        assert_eq!(
            go_type(&Type::List(Box::new(Type::Record(n("session"))))),
            "[]Session"
        );
        assert_eq!(
            go_type(&Type::Optional(Box::new(Type::Scalar(Scalar::Bytes)))),
            "*[]byte"
        );
    }

    #[test]
    fn codes_read_as_go_constants() {
        assert_eq!(code("Status", "OK"), "StatusOK");
        assert_eq!(code("Status", "NULL_ARG"), "StatusNullArg");
        assert_eq!(code("Outcome", "ERR"), "OutcomeErr");
    }
}
