//! The helper's command line: what it says when it is not started by a
//! context, or started wrongly.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

fn helper() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hostcall-helper"))
}

#[test]
fn run_by_hand_it_says_who_starts_it() {
    let out = helper()
        .args(["--library", "/nonexistent/libdemo.so"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin is not a socket"), "{stderr}");
}

#[test]
fn a_bad_log_level_or_prefix_is_refused() {
    let run = |args: &[&str]| {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let child = helper()
            .args(args)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the hello: the helper reads end-of-file.
        drop(ours);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--library", "libdemo.so", "--log-level", "loud"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--log-level must be off, error, warn, info, debug or trace, not 'loud'"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--library", "demo.so"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("cannot tell the prefix of demo.so"),
        "{stderr}"
    );
    // The host closed the connection before its hello: a clean end.
    let (code, stderr) = run(&["--library", "libdemo.so"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn help_names_the_options() {
    let out = helper().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--library",
        "--prefix",
        "--log-level",
        "--limit-address-space",
        "--limit-cpu-seconds",
        "--limit-open-files",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}
