//! Kotlin spellings of the model's names, and the JNI mangling of the
//! `external fun`s' C names.

use std::fmt::Write;

use crate::model::{Function, Name};

const KEYWORDS: &[&str] = &[
    "as",
    "break",
    "class",
    "continue",
    "do",
    "else",
    "false",
    "for",
    "fun",
    "if",
    "in",
    "interface",
    "is",
    "null",
    "object",
    "package",
    "return",
    "super",
    "this",
    "throw",
    "true",
    "try",
    "typealias",
    "typeof",
    "val",
    "var",
    "when",
    "while",
];

/// `login_many` → `loginMany`; Kotlin keywords get backticks.
pub fn member(name: &Name) -> String {
    let name = name.lower_camel();
    if KEYWORDS.contains(&name.as_str()) {
        format!("`{name}`")
    } else {
        name
    }
}

/// [`member`] without backticks: the name as a C identifier or inside
/// another name (JNI parameters, `native<Name>`).
pub fn bare(name: &Name) -> String {
    member(name).trim_matches('`').to_owned()
}

/// The member calling a handler: [`member`], except that `close` would
/// clash with `AutoCloseable.close()`.
pub fn handler_member(name: &Name) -> String {
    let m = member(name);
    if m == "close" { "closeCall".into() } else { m }
}

/// The member registering host fn `name`: [`member`], with a suffix if one
/// of `handlers` already has that name.
pub fn host_fn_member(handlers: &[Function], name: &Name) -> String {
    let m = member(name);
    if handlers.iter().any(|h| handler_member(&h.name) == m) {
        format!("{}HostFn", m.trim_matches('`'))
    } else {
        m
    }
}

/// `session` → `Session`: records and the class.
pub fn type_name(name: &Name) -> String {
    name.upper_camel()
}

/// JNI mangling of one name component.
pub fn jni_mangle(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            '_' => out.push_str("_1"),
            '.' | '/' => out.push('_'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c => {
                let _ = write!(out, "_0{:04x}", c as u32);
            }
        }
    }
    out
}

/// A C string literal of `s` (names are identifiers, but be safe).
pub fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Type;
    use hostcall_abi::native::Scalar;

    #[test]
    fn names_follow_kotlin_conventions() {
        assert_eq!(member(&Name::new("login_many")), "loginMany");
        assert_eq!(member(&Name::new("user_id")), "userId");
        assert_eq!(member(&Name::new("when")), "`when`");
        assert_eq!(bare(&Name::new("when")), "when");
        assert_eq!(type_name(&Name::new("demo")), "Demo");
        assert_eq!(jni_mangle("dev.hostcall.my_lib"), "dev_hostcall_my_1lib");
        assert_eq!(handler_member(&Name::new("close")), "closeCall");
        assert_eq!(c_string("a\"b\\c\u{e9}"), "\"a\\\"b\\\\c\\303\\251\"");
    }

    fn function(name: &str) -> Function {
        Function {
            name: Name::new(name),
            doc: String::new(),
            args: vec![],
            ret: Type::Scalar(Scalar::Unit),
            fallible: false,
            error: None,
            native: None,
        }
    }

    #[test]
    fn a_host_fn_named_like_a_handler_gets_a_suffix() {
        let handlers = [function("notify")];
        assert_eq!(
            host_fn_member(&handlers, &Name::new("notify")),
            "notifyHostFn"
        );
        assert_eq!(host_fn_member(&handlers, &Name::new("fetch")), "fetch");
    }
}
