//! `hostcall-gen`: turns a hostcall library's own description into bindings.
//!
//! 1. [`load`] opens the built library (`libdemo.so`), calls its exported
//!    `<prefix>_hostcall_description` and decodes the CBOR it returns into a
//!    [`LibraryDesc`] — the same structure the library built from its Rust
//!    declarations, so the Rust source stays the single source of truth.
//! 2. A language module renders the description: [`c::header`] writes the C
//!    header.
//! 3. The `hostcall-gen` binary writes the result to disk, or with `--check`
//!    compares it with what is there and fails on drift.

use std::path::Path;

pub use hostcall::LibraryDesc;

pub mod c;
pub mod go;
pub mod kotlin;

/// The prefix a library file implies: `path/libdemo.so` → `demo`.
pub fn prefix_of(path: &Path) -> Option<String> {
    let stem = path.file_name()?.to_str()?;
    let stem = stem.split('.').next()?;
    let stem = stem.strip_prefix("lib").unwrap_or(stem);
    (!stem.is_empty()).then(|| stem.to_owned())
}

/// Reads the description a built library exports.
pub fn load(path: &Path, prefix: &str) -> Result<LibraryDesc, String> {
    // SAFETY: loading a hostcall cdylib runs no initialisation code with
    // preconditions; the library stays loaded while we call into it below.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    let symbol = format!("{prefix}_hostcall_description");
    // SAFETY: `export!` defines this symbol with exactly this signature.
    let describe: libloading::Symbol<'_, unsafe extern "C" fn(*mut usize) -> *const u8> =
        unsafe { library.get(symbol.as_bytes()) }.map_err(|e| {
            format!(
                "{} exports no `{symbol}` (is it a hostcall library with prefix '{prefix}'?): {e}",
                path.display()
            )
        })?;
    let mut len = 0usize;
    // SAFETY: the function writes the length and returns a pointer to that
    // many bytes that live as long as the library is loaded.
    let bytes = unsafe {
        let ptr = describe(&mut len);
        if ptr.is_null() || len == 0 {
            return Err(format!(
                "{} returned no description; the library is defined inconsistently (see its last_error)",
                path.display()
            ));
        }
        std::slice::from_raw_parts(ptr, len).to_vec()
    };
    drop(library);
    ciborium::from_reader(bytes.as_slice())
        .map_err(|e| format!("{}: the description does not decode: {e}", path.display()))
}

/// Re-wraps doc text to `width` columns, for comments: lines of a paragraph
/// are joined, blank lines separate paragraphs.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_come_from_file_names() {
        assert_eq!(
            prefix_of(Path::new("target/debug/libdemo.so")).as_deref(),
            Some("demo")
        );
        assert_eq!(prefix_of(Path::new("demo.dll")).as_deref(), Some("demo"));
        assert_eq!(prefix_of(Path::new("lib.so")), None);
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("one\n\ntwo", 80), vec!["one", "", "two"]);
        assert_eq!(wrap("one\ntwo", 80), vec!["one two"]);
    }
}
