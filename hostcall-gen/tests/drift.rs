//! The checked-in `demo.h` must be exactly what `hostcall-gen` writes from
//! the built `libdemo.so`. This test regenerates it: on drift it rewrites the
//! file (so the fix is one commit away) and fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `libdemo.so` as cargo built it for this test run (a dev-dependency is
/// built with all its crate types, next to the test binary).
fn libdemo() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    let lib = deps.join("libdemo.so");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// Writes each generated file under `dir` if it differs from what is
/// there, and fails naming the files that had drifted (so the fix is one
/// review and one commit away).
fn regenerate(dir: &Path, files: Vec<(String, String)>) {
    let mut stale = Vec::new();
    for (name, fresh) in files {
        let path = dir.join(&name);
        if std::fs::read_to_string(&path).unwrap_or_default() != fresh {
            std::fs::create_dir_all(path.parent().expect("a file has a directory"))
                .expect("create the directory");
            std::fs::write(&path, &fresh).expect("rewrite the generated file");
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "{} were out of date and have been regenerated; review and commit them",
        stale.join(", ")
    );
}

fn demo() -> hostcall_gen::LibraryDesc {
    let desc = hostcall_gen::load(&libdemo(), "demo").expect("description loads");
    assert_eq!(desc.prefix, "demo");
    desc
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn demo_header_matches_the_built_library() {
    regenerate(
        &repo("examples/demo/include"),
        vec![("demo.h".to_owned(), hostcall_gen::c::header(&demo()))],
    );
}

#[test]
fn go_package_matches_the_built_library() {
    let files =
        hostcall_gen::go::package(&demo(), hostcall_gen::go::DEFAULT_RUNTIME).expect("Go package");
    regenerate(&repo("bindings/go/demo"), files);
}

#[test]
fn kotlin_binding_matches_the_built_library() {
    let files =
        hostcall_gen::kotlin::binding(&demo(), &hostcall_gen::kotlin::default_package("demo"));
    regenerate(&repo("bindings/kotlin/demo"), files);
}

#[test]
fn the_command_checks_for_drift() {
    let run = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_hostcall-gen"))
            .arg("c")
            .arg("--lib")
            .arg(libdemo())
            .arg("--out")
            .arg(out)
            .arg("--check")
            .output()
            .expect("hostcall-gen runs")
    };
    let stale = std::env::temp_dir().join(format!("hostcall-gen-stale-{}.h", std::process::id()));
    std::fs::write(&stale, "/* stale */\n").unwrap();
    let output = run(&stale);
    std::fs::remove_file(&stale).ok();
    assert!(!output.status.success(), "a stale header must fail --check");
    assert!(String::from_utf8_lossy(&output.stderr).contains("out of date"));

    let fresh = std::env::temp_dir().join(format!("hostcall-gen-fresh-{}.h", std::process::id()));
    let desc = hostcall_gen::load(&libdemo(), "demo").unwrap();
    std::fs::write(&fresh, hostcall_gen::c::header(&desc)).unwrap();
    let output = run(&fresh);
    std::fs::remove_file(&fresh).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_wrong_prefix_is_a_clear_error() {
    let err = hostcall_gen::load(&libdemo(), "nope").unwrap_err();
    assert!(err.contains("nope_hostcall_description"), "{err}");
}
