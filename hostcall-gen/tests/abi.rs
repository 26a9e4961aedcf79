//! The ABI list (`hostcall_abi`) and what the built library really exports
//! agree: every `demo_*` symbol in `libdemo.so`'s dynamic symbol table is an
//! entry point of the list or a native entry point of the model, and each
//! of those is exported. The header, the test tables and the bindings'
//! constants are rendered from the same list (see drift.rs).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use hostcall_gen::Model;

fn libdemo() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let lib = exe.parent().expect("deps directory").join("libdemo.so");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// The defined dynamic symbols of a shared library, by `nm -D`.
fn exported(lib: &PathBuf) -> BTreeSet<String> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(lib)
        .output()
        .expect("nm (binutils) is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_library_exports_exactly_the_listed_entry_points() {
    let lib = libdemo();
    let model = Model::lower(&hostcall_gen::load(&lib, "demo").expect("description loads"))
        .expect("the description lowers");
    let mut expected: BTreeSet<String> = hostcall_abi::ENTRY_POINTS
        .iter()
        .map(|e| format!("demo_{}", e.name))
        .collect();
    expected.extend(
        model
            .handlers
            .iter()
            .filter_map(|f| f.native.as_ref().map(|n| n.symbol.clone())),
    );
    let actual: BTreeSet<String> = exported(&lib)
        .into_iter()
        .filter(|s| s.starts_with("demo_"))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn the_typed_table_holds_the_exported_symbols() {
    let table = demo::__HOSTCALL_ENTRY_POINTS;
    let mut len = 0usize;
    // SAFETY: `len` is valid for a write; the description lives as long as
    // the process.
    let description = unsafe { (table.hostcall_description)(&mut len) };
    assert!(!description.is_null() && len > 0);
    // SAFETY: no obligations.
    let hash = unsafe { (table.interface_hash)() };
    let model = Model::lower(&hostcall_gen::load(&libdemo(), "demo").unwrap()).unwrap();
    assert_eq!(hash, model.interface_hash);
}
