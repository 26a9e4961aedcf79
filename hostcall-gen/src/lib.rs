//! `hostcall-gen`: turns a hostcall library's own description into bindings.
//!
//! 1. [`load`] opens the built library (`libdemo.so`), calls its exported
//!    `<prefix>_hostcall_description` and decodes the CBOR it returns into a
//!    [`LibraryDesc`] — the same structure the library built from its Rust
//!    declarations, so the Rust source stays the single source of truth.
//! 2. [`Model::lower`] lowers it into the binding model, the one thing
//!    backends read (see [`model`]).
//! 3. A backend renders the model with its templates (`templates/<lang>/`,
//!    checked at compile time by askama): [`c`], [`go`], [`kotlin`], [`swift`].
//! 4. The `hostcall-gen` binary writes the files ([`write`]), or with
//!    `--check` prints how they differ from what is there ([`drift`]) and
//!    fails; so does the drift test, which never rewrites anything.

use std::path::Path;

pub use hostcall::LibraryDesc;

pub mod c;
pub mod go;
pub mod kotlin;
pub mod model;
pub mod swift;
mod text;

pub use model::Model;

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

/// Generated files: `(path relative to the output directory, contents)`.
pub type Files = Vec<(String, String)>;

/// Writes each `(relative path, contents)` under `dir`.
pub fn write(dir: &Path, files: &[(String, String)]) -> Result<(), String> {
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The files under `dir` that differ from what would be generated, each
/// with a unified diff (checked in → generated). Writes nothing.
pub fn drift(dir: &Path, files: &[(String, String)]) -> Vec<(std::path::PathBuf, String)> {
    files
        .iter()
        .filter_map(|(name, fresh)| {
            let path = dir.join(name);
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            (current != *fresh).then(|| {
                let diff = similar::TextDiff::from_lines(&current, fresh)
                    .unified_diff()
                    .context_radius(2)
                    .header("checked in", "generated")
                    .to_string();
                (path, diff)
            })
        })
        .collect()
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
}
