//! Helpers that misbehave before or after the handshake: a silent one, one
//! that speaks another protocol version or serves another build of the
//! library, one that sends a malformed frame. Each is a small shell script
//! standing in for `hostcall-helper`; the context must fail with a clear
//! error, or fail the pending requests, and never hang.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ciborium::Value;
use hostcall::isolation::protocol::{self, PROTOCOL_VERSION, Up};
use hostcall::status::*;
use hostcall_testkit::Client;

fn demo_hash() -> u64 {
    // SAFETY: takes no arguments.
    unsafe { (demo::__HOSTCALL_ENTRY_POINTS.interface_hash)() }
}

/// A directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("handshake")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fake helper: writes `frames` (raw bytes) to the connection, then
/// waits until the host closes it (reading it to its end).
fn fake_helper(name: &str, frames: &[u8]) -> PathBuf {
    fake_helper_then(name, frames, "exec cat >/dev/null")
}

/// Held while a fake helper is written and while a context starts one: a
/// child forked by one test (between its fork and its exec) would hold
/// another test's script open for writing, and exec-ing that script then
/// fails with ETXTBSY ("Text file busy").
static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn spawning() -> std::sync::MutexGuard<'static, ()> {
    SPAWNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A context of `demo` with `config`, started under [`SPAWNING`].
fn start(config: &[u8]) -> Result<Client, String> {
    let _spawning = spawning();
    Client::new(&demo::__HOSTCALL_ENTRY_POINTS, config)
}

/// As [`fake_helper`], then runs `then` (a shell command).
fn fake_helper_then(name: &str, frames: &[u8], then: &str) -> PathBuf {
    let _spawning = spawning();
    let dir = scratch(name);
    let data = dir.join("frames.bin");
    std::fs::write(&data, frames).unwrap();
    let script = dir.join("hostcall-helper");
    let mut file = std::fs::File::create(&script).unwrap();
    writeln!(file, "#!/bin/sh\ncat '{}'\n{then}", data.display()).unwrap();
    drop(file);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn config(helper: &Path, extra: &[(&str, Value)]) -> Vec<u8> {
    // Any existing file will do for the library: the fake never loads it.
    let library = PathBuf::from(env!("CARGO_BIN_EXE_hostcall-helper"));
    let mut entries = vec![
        (
            Value::Text("isolation".into()),
            Value::Text("process".into()),
        ),
        (
            Value::Text("helper_path".into()),
            Value::Text(helper.display().to_string()),
        ),
        (
            Value::Text("library_path".into()),
            Value::Text(library.display().to_string()),
        ),
    ];
    for (key, value) in extra {
        entries.push((Value::Text((*key).into()), value.clone()));
    }
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(entries), &mut out).unwrap();
    out
}

fn frame(message: &Up) -> Vec<u8> {
    let mut out = Vec::new();
    protocol::encode(message, &mut out);
    out
}

fn refused(helper: &Path, extra: &[(&str, Value)]) -> String {
    let started = std::time::Instant::now();
    let error = start(&config(helper, extra))
        .err()
        .expect("the context must not start");
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    error
}

#[test]
fn a_silent_helper_times_out() {
    let helper = fake_helper("silent", &[]);
    let error = refused(
        &helper,
        &[("handshake_timeout_ms", Value::Integer(300.into()))],
    );
    assert!(
        error.contains("did not answer the handshake within 300ms (handshake_timeout_ms)"),
        "{error}"
    );
}

#[test]
fn another_protocol_version_is_refused() {
    let helper = fake_helper(
        "version",
        &frame(&Up::Welcome {
            version: PROTOCOL_VERSION + 1,
            interface_hash: demo_hash(),
        }),
    );
    let error = refused(&helper, &[]);
    assert!(
        error.contains(&format!(
            "the helper speaks protocol version {}, this library {PROTOCOL_VERSION}",
            PROTOCOL_VERSION + 1
        )),
        "{error}"
    );
}

#[test]
fn another_build_of_the_library_is_refused() {
    let helper = fake_helper(
        "hash",
        &frame(&Up::Welcome {
            version: PROTOCOL_VERSION,
            interface_hash: demo_hash() ^ 1,
        }),
    );
    let error = refused(&helper, &[]);
    assert!(error.contains("interface hash"), "{error}");
}

#[test]
fn a_refusal_is_passed_on() {
    let helper = fake_helper(
        "refused",
        &frame(&Up::Refused {
            reason: "no such library".into(),
        }),
    );
    let error = refused(&helper, &[]);
    assert!(
        error.contains("the helper refused: no such library"),
        "{error}"
    );
}

#[test]
fn a_malformed_frame_in_the_handshake_is_an_error() {
    let helper = fake_helper("garbage", &[3, 0, 0, 0, 0xff, 0xff, 0xff]);
    let error = refused(&helper, &[]);
    assert!(error.contains("malformed frame"), "{error}");
}

#[test]
fn a_malformed_frame_later_fails_the_pending_requests() {
    let mut frames = frame(&Up::Welcome {
        version: PROTOCOL_VERSION,
        interface_hash: demo_hash(),
    });
    // A frame of length 0 right after the welcome.
    frames.extend_from_slice(&[0, 0, 0, 0]);
    let helper = fake_helper("late", &frames);
    let client = start(&config(&helper, &[("restart", Value::Bool(false))]))
        .expect("the handshake itself was fine");
    // The request reaches the dying helper (and is answered
    // RET_PROCESS_DIED), or comes after the death was recorded (and is
    // refused); either way the reason is the frame.
    let id = hostcall_testkit::next_id();
    let args = hostcall::wire::to_cbor(&(1, 2)).unwrap();
    let why = match client.call_raw("add", &args, id) {
        HC_OK => {
            let reply = client.sink.wait_for(id, 1).remove(0);
            assert_eq!(reply.ret, RET_PROCESS_DIED, "{}", reply.text());
            reply.text()
        }
        status => {
            assert_eq!(status, HC_ERR_SHUTTING_DOWN);
            hostcall_testkit::last_error(client.abi)
        }
    };
    assert!(why.contains("malformed frame: length 0"), "{why}");
    assert_eq!(client.destroy(), HC_OK);
}

#[test]
fn a_helper_that_stops_reading_is_taken_for_dead() {
    let welcome = frame(&Up::Welcome {
        version: PROTOCOL_VERSION,
        interface_hash: demo_hash(),
    });
    // Handshakes, then never reads again (and never exits by itself).
    let helper = fake_helper_then("deaf", &welcome, "exec sleep 600");
    let client = start(&config(
        &helper,
        &[
            ("restart", Value::Bool(false)),
            ("handshake_timeout_ms", Value::Integer(300.into())),
        ],
    ))
    .expect("the handshake itself was fine");
    // Far more than the socket buffers hold: the write blocks, past the
    // timeout, and the helper is killed.
    let data = hostcall::wire::Bytes(vec![7; 16 << 20]);
    let reply = client.call("echo", &(data,));
    assert_eq!(reply.ret, RET_PROCESS_DIED, "{}", reply.text());
    assert_eq!(reply.text(), "library process died: signal 9 (SIGKILL)");
    assert_eq!(client.destroy(), HC_OK);
}
