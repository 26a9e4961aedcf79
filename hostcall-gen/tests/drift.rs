//! Every generated file checked in must be exactly what `hostcall-gen`
//! writes from the built `libdemo.so` (and, for the runtime files, from the
//! ABI list). On drift a test fails with the diff and rewrites nothing;
//! `scripts/generate.sh` regenerates the files.

use std::path::{Path, PathBuf};
use std::process::Command;

use hostcall_gen::Model;
use hostcall_gen::model::Abi;

/// `libdemo.so` as cargo built it for this test run (a dev-dependency is
/// built with all its crate types, next to the test binary).
fn libdemo() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    let lib = deps.join("libdemo.so");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// Fails, showing each file's diff, if any generated file under `dir`
/// differs from what is checked in.
fn assert_current(dir: &Path, files: &[(String, String)]) {
    let stale = hostcall_gen::drift(dir, files);
    let report: Vec<String> = stale
        .iter()
        .map(|(path, diff)| format!("{}:\n{diff}", path.display()))
        .collect();
    assert!(
        stale.is_empty(),
        "generated files are out of date; run scripts/generate.sh, review and commit:\n{}",
        report.join("\n")
    );
}

fn demo() -> Model {
    let desc = hostcall_gen::load(&libdemo(), "demo").expect("description loads");
    assert_eq!(desc.prefix, "demo");
    Model::lower(&desc).expect("the description lowers")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn demo_headers_match_the_built_library() {
    assert_current(
        &repo("examples/demo/include"),
        &hostcall_gen::c::files(&demo()),
    );
}

#[test]
fn go_package_matches_the_built_library() {
    let files =
        hostcall_gen::go::package(&demo(), hostcall_gen::go::DEFAULT_RUNTIME).expect("Go package");
    assert_current(&repo("bindings/go/demo"), &files);
}

#[test]
fn go_runtime_constants_match_the_abi_list() {
    let files = hostcall_gen::go::runtime_files(&Abi::new());
    assert_current(&repo("bindings/go/hostcall"), &files);
}

#[test]
fn kotlin_binding_matches_the_built_library() {
    let files =
        hostcall_gen::kotlin::binding(&demo(), &hostcall_gen::kotlin::default_package("demo"));
    assert_current(&repo("bindings/kotlin/demo"), &files);
}

#[test]
fn kotlin_runtime_status_codes_match_the_abi_list() {
    let files = hostcall_gen::kotlin::runtime_files(&Abi::new());
    assert_current(&repo("bindings/kotlin/runtime"), &files);
}

#[test]
fn swift_package_matches_the_built_library() {
    let files = hostcall_gen::swift::package(&demo());
    assert_current(&repo("bindings/swift"), &files);
}

#[test]
fn swift_runtime_status_codes_match_the_abi_list() {
    let files = hostcall_gen::swift::runtime_files(&Abi::new());
    assert_current(&repo("bindings/swift"), &files);
}

#[test]
fn the_abi_header_is_the_same_for_every_library() {
    let from_library = hostcall_gen::c::files(&demo());
    let alone = hostcall_gen::c::abi_header(&Abi::new());
    assert!(
        from_library
            .iter()
            .any(|(name, text)| name == hostcall_gen::c::ABI_HEADER && *text == alone)
    );
}

#[test]
fn the_command_checks_for_drift_without_writing() {
    let dir = std::env::temp_dir().join(format!("hostcall-gen-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |check: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hostcall-gen"));
        command
            .arg("c")
            .arg("--lib")
            .arg(libdemo())
            .arg("--out")
            .arg(&dir);
        if check {
            command.arg("--check");
        }
        command.output().expect("hostcall-gen runs")
    };
    let header = dir.join("demo.h");
    std::fs::write(&header, "/* stale */\n").unwrap();
    let output = run(true);
    assert!(!output.status.success(), "a stale header must fail --check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("out of date") && stderr.contains("-/* stale */"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&header).unwrap(), "/* stale */\n");

    let output = run(false);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(true);
    std::fs::remove_dir_all(&dir).ok();
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
