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

/// The helper reading a malformed frame from its host: before the hello it
/// refuses (status 3), after it ends the session (status 4) — never a
/// crash, and the library's context is destroyed on the way out.
#[test]
fn a_malformed_frame_from_the_host_ends_the_session() {
    use hostcall::isolation::protocol::{self, Down, PROTOCOL_VERSION, Up};
    let library = std::path::Path::new(env!("CARGO_BIN_EXE_hostcall-helper"))
        .parent()
        .unwrap()
        .join("deps")
        .join("libdemo.so");
    let start = || {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let child = helper()
            .arg("--library")
            .arg(&library)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (ours, child)
    };
    let junk = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
    let mut body = Vec::new();

    let (ours, child) = start();
    hostcall::isolation::sink::send_all(&ours, &junk).unwrap();
    match protocol::read::<Up>(&mut &ours, &mut body) {
        Ok(Up::Refused { reason }) => assert!(reason.contains("malformed frame"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(ours);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(3));

    let (ours, child) = start();
    // SAFETY: takes no arguments.
    let interface_hash = unsafe { (demo::__HOSTCALL_ENTRY_POINTS.interface_hash)() };
    let mut frames = Vec::new();
    protocol::encode(
        &Down::Hello {
            version: PROTOCOL_VERSION,
            prefix: "demo".into(),
            interface_hash,
            config: hostcall::wire::Bytes(Vec::new()),
            host_fns: Vec::new(),
            events: Vec::new(),
        },
        &mut frames,
    );
    frames.extend_from_slice(&junk);
    hostcall::isolation::sink::send_all(&ours, &frames).unwrap();
    match protocol::read::<Up>(&mut &ours, &mut body) {
        Ok(Up::Welcome { version, .. }) => assert_eq!(version, PROTOCOL_VERSION),
        other => panic!("expected a welcome, got {other:?}"),
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
}
