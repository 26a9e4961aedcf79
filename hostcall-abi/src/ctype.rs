//! How the Rust types of the ABI's signatures are spelled in C.
//!
//! The signatures in [`crate::entry_points`] and [`crate::callbacks`] are
//! written once, in Rust; their C form is derived here, so the header cannot
//! disagree with the symbols. A type this module does not know is a bug in
//! the ABI list, caught by the tests below.

/// The C spelling of a Rust type as `stringify!` prints it: `*const c_char`
/// → `const char *`, `Option<FFICallBack>` → `FFICallBack` (a nullable
/// function pointer), `()` → `void`.
pub fn c_spelling(rust: &str) -> Option<String> {
    let rust: String = rust.split_whitespace().collect();
    if let Some(inner) = rust.strip_prefix("*const") {
        return Some(format!("const {} *", c_spelling(inner)?.trim_end()));
    }
    if let Some(inner) = rust.strip_prefix("*mut") {
        return Some(format!("{} *", c_spelling(inner)?.trim_end()));
    }
    if let Some(inner) = rust
        .strip_prefix("Option<")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        return inner.starts_with("FFI").then(|| inner.to_owned());
    }
    let c = match rust.as_str() {
        "()" => "void",
        "c_char" => "char",
        "c_void" => "void",
        "c_int" => "int",
        "bool" => "bool",
        "usize" => "size_t",
        "u8" => "uint8_t",
        "u16" => "uint16_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "i8" => "int8_t",
        "i16" => "int16_t",
        "i32" => "int32_t",
        "i64" => "int64_t",
        "f32" => "float",
        "f64" => "double",
        other if other.starts_with("FFI") => other,
        _ => return None,
    };
    Some(c.to_owned())
}

/// A C declaration of `name` with type `c`: `const char *msg`, `size_t len`.
pub fn declare(c: &str, name: &str) -> String {
    if c.ends_with('*') {
        format!("{c}{name}")
    } else {
        format!("{c} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_of_the_abi_has_a_c_spelling() {
        for sig in crate::ENTRY_POINTS.iter().chain(crate::CALLBACKS) {
            for param in sig.params {
                assert!(
                    c_spelling(param.rust).is_some(),
                    "{}: {}",
                    sig.name,
                    param.rust
                );
            }
            assert!(c_spelling(sig.ret).is_some(), "{}: {}", sig.name, sig.ret);
        }
    }

    #[test]
    fn pointers_and_options_read_as_c() {
        assert_eq!(c_spelling("*const c_char").unwrap(), "const char *");
        assert_eq!(c_spelling("* mut c_void").unwrap(), "void *");
        assert_eq!(c_spelling("*mut usize").unwrap(), "size_t *");
        assert_eq!(c_spelling("Option < FFIHostFn >").unwrap(), "FFIHostFn");
        assert_eq!(c_spelling("Option<u8>"), None);
        assert_eq!(c_spelling("String"), None);
        assert_eq!(declare("const char *", "msg"), "const char *msg");
        assert_eq!(declare("size_t", "len"), "size_t len");
    }
}
