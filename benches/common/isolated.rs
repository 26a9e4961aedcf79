//! The config of an isolated `demo` context (docs/isolation.md): the
//! library in `hostcall-helper`, over a socketpair.
//!
//! The helper is `target/<profile>/hostcall-helper` (`cargo build --release
//! -p hostcall-helper`; scripts/test.sh builds it before the benches' smoke
//! run); the library file is the `libdemo.so` Cargo built beside this bench
//! binary (the bench links `demo` as an rlib, so the file the library was
//! loaded from is the bench itself, which the helper cannot load).

use std::path::PathBuf;

use ciborium::Value;

/// `{"isolation": "process", "helper_path": …, "library_path": …}`.
pub fn config() -> Vec<u8> {
    let exe = std::env::current_exe().expect("the bench knows its path");
    let deps = exe.parent().expect("benches live in target/<profile>/deps");
    let library = deps.join("libdemo.so");
    let helper: PathBuf = deps
        .parent()
        .expect("deps/ lives in target/<profile>")
        .join("hostcall-helper");
    assert!(
        helper.is_file(),
        "{} is missing: the isolated benches need it (cargo build --release -p hostcall-helper)",
        helper.display()
    );
    assert!(library.is_file(), "{} is missing", library.display());
    let text = |s: &str| Value::Text(s.to_owned());
    let map = Value::Map(vec![
        (text("isolation"), text("process")),
        (text("helper_path"), text(&helper.display().to_string())),
        (text("library_path"), text(&library.display().to_string())),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).expect("a map of text encodes");
    out
}
