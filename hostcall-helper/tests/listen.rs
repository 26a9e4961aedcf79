//! A long-running helper (`--socket PATH`, `--tcp ADDR`) and the contexts
//! that reach it (`isolation: "socket"` / `"tcp"`, `address`): many
//! contexts share one helper, each with its own context in it; the
//! helper's death fails every pending request of every one of them; they
//! reconnect when a helper serves the address again.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ciborium::Value;
use common::{add_when_served, answer_from_threads, answer_later, helper, library};
use demo::Profile;
use hostcall::isolation::protocol::{self, Down, PROTOCOL_VERSION, Up};
use hostcall::status::*;
use hostcall_testkit::{Client, EntryPoints, complete, next_id};

fn demo_abi() -> &'static EntryPoints {
    &demo::__HOSTCALL_ENTRY_POINTS
}

/// How long a test waits for a helper to say it is ready.
const READY: Duration = Duration::from_secs(20);

/// A helper started with `args`, killed when dropped.
struct Served {
    child: Child,
    /// The place it printed: the socket's path or the TCP address.
    address: String,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let mut child = Command::new(helper())
            .arg("--library")
            .arg(library())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the helper starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(READY)
            .expect("the helper says where it listens");
        assert!(line.ends_with('\n'), "{line:?}: the helper ended early");
        Served {
            child,
            address: line.trim_end().to_owned(),
        }
    }

    fn socket(path: &Path) -> Served {
        let served = Served::start(&["--socket", &path.display().to_string()]);
        assert_eq!(served.address, path.display().to_string());
        served
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh socket path for `name`.
fn socket_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("listen");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.sock"));
    let _ = std::fs::remove_file(&path);
    path
}

fn config(mode: &str, address: &str, extra: &[(&str, Value)]) -> Vec<u8> {
    let text = |s: &str| Value::Text(s.to_owned());
    let mut entries = vec![
        (text("isolation"), text(mode)),
        (text("address"), text(address)),
    ];
    for (key, value) in extra {
        entries.push((text(key), value.clone()));
    }
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(entries), &mut out).unwrap();
    out
}

fn connect(mode: &str, address: &str) -> Client {
    Client::new(demo_abi(), &config(mode, address, &[])).expect("the context connects")
}

fn profile(user_id: &str, name: &str) -> Vec<u8> {
    hostcall::wire::to_cbor(&Profile {
        user_id: user_id.into(),
        name: name.into(),
        age: 30,
    })
    .unwrap()
}

/// Registers `fetch_profile` answering inline with names `<host>-<user>`.
fn answer_inline(client: &Client, host: &'static str) {
    let (abi, ctx) = (client.abi, client.ctx);
    let (status, _) = client.register(
        "fetch_profile",
        Box::new(move |token, request| {
            let (user_id,): (String,) = hostcall::wire::from_cbor(request).unwrap();
            let name = format!("{host}-{user_id}");
            assert_eq!(
                complete(abi, ctx, token, true, &profile(&user_id, &name)),
                HC_OK
            );
        }),
        false,
    );
    assert_eq!(status, HC_OK);
}

#[test]
fn contexts_share_a_socket_helper_each_with_its_own_host_fns() {
    let path = socket_path("share");
    let _served = Served::socket(&path);
    let address = path.display().to_string();
    let clients: Vec<Client> = (0..3).map(|_| connect("socket", &address)).collect();
    for (client, host) in clients.iter().zip(["a", "b", "c"]) {
        answer_inline(client, host);
    }
    for round in 0..20 {
        for (client, host) in clients.iter().zip(["a", "b", "c"]) {
            assert_eq!(client.call("add", &(round, 1)).value::<i64>(), round + 1);
            let session: demo::Session = client.call("login", &(format!("u{round}"),)).value();
            assert_eq!(session.greeting, format!("Hello, {host}-u{round}"));
        }
    }
    // One context ending leaves the others, and the helper, serving.
    assert_eq!(clients[1].destroy(), HC_OK);
    for client in [&clients[0], &clients[2]] {
        assert_eq!(client.call("add", &(2, 2)).value::<i64>(), 4);
    }
    let late = connect("socket", &address);
    assert_eq!(late.call("add", &(3, 3)).value::<i64>(), 6);
}

#[test]
fn tcp_on_loopback_serves_host_calls_answered_from_other_threads() {
    let served = Served::start(&["--tcp", "127.0.0.1:0"]);
    assert!(
        served.address.starts_with("127.0.0.1:"),
        "{}",
        served.address
    );
    let client = connect("tcp", &served.address);
    let (pool, host) = answer_later(&client);
    // Cancelling a request cancels its host call in this host, over TCP.
    let args = hostcall::wire::to_cbor(&("late",)).unwrap();
    let id = next_id();
    let (status, call_id) = client.call_cancellable_raw("login", &args, id);
    assert_eq!(status, HC_OK);
    let (token, _) = pool.wait_len(1).remove(0);
    pool.drain();
    assert_eq!(client.cancel(call_id), HC_OK);
    assert_eq!(client.sink.wait_for(id, 1)[0].ret, RET_CANCELLED);
    assert_eq!(host.wait_cancelled(1), vec![token]);
    let ids: Vec<u64> = (0..200).map(|_| next_id()).collect();
    for (n, id) in ids.iter().enumerate() {
        let args = hostcall::wire::to_cbor(&(format!("u{n}"),)).unwrap();
        assert_eq!(client.call_raw("login", &args, *id), HC_OK);
    }
    pool.wait_len(ids.len());
    let workers = answer_from_threads(&client, &pool, 4, |user_id| {
        profile(user_id, &user_id.to_uppercase())
    });
    for (n, id) in ids.iter().enumerate() {
        let session: demo::Session = client.sink.wait_for(*id, 1)[0].value();
        assert_eq!(session.greeting, format!("Hello, U{n}"));
    }
    pool.close();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn a_crash_fails_the_pending_requests_of_every_context_and_they_reconnect() {
    let path = socket_path("crash");
    let mut served = Served::socket(&path);
    let address = path.display().to_string();
    let clients: Vec<Client> = (0..2).map(|_| connect("socket", &address)).collect();
    let hosts: Vec<_> = clients.iter().map(answer_later).collect();
    let mut pending = Vec::new();
    for client in &clients {
        for _ in 0..3 {
            let id = next_id();
            let args = hostcall::wire::to_cbor(&("x",)).unwrap();
            assert_eq!(client.call_raw("login", &args, id), HC_OK);
            pending.push((client, id));
        }
    }
    for (pool, _) in &hosts {
        pool.wait_len(3);
    }
    // A segfault in one context's handler takes the whole helper down.
    let crashed = clients[0].call("crash", &("segfault",));
    assert_eq!(crashed.ret, RET_PROCESS_DIED, "{}", crashed.text());
    let died = format!("library process died: its connection (socket {address}) ended");
    assert_eq!(crashed.text(), died);
    for (client, id) in pending {
        let replies = client.sink.wait_for(id, 1);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].ret, RET_PROCESS_DIED, "{}", replies[0].text());
        assert_eq!(replies[0].text(), died);
    }
    for (client, (pool, host)) in clients.iter().zip(&hosts) {
        assert_eq!(host.wait_cancelled(3).len(), 3);
        // Their tokens died with their calls.
        for (token, _) in pool.drain() {
            assert_eq!(
                client.complete(token, true, &profile("x", "X")),
                HC_ERR_UNKNOWN_TOKEN
            );
        }
    }
    served.kill();
    // Nobody serves the address: a call waits for a reconnection attempt,
    // then fails saying why.
    let waited = clients[1].call("add", &(1, 1));
    assert_eq!(waited.ret, RET_PROCESS_DIED, "{}", waited.text());
    assert!(
        waited
            .text()
            .starts_with("library process died, and could not be reached again:")
            && waited.text().contains(&address),
        "{}",
        waited.text()
    );
    // A new helper at the same address (the dead one's socket file is
    // stale: it replaces it); an attempt at most the longest back-off
    // (1 s) away reaches it, with the host fns registered again.
    let _served = Served::socket(&path);
    for (client, (pool, _)) in clients.iter().zip(&hosts) {
        assert_eq!(
            add_when_served(client, 3, 3, "could not be reached again"),
            6
        );
        let id = next_id();
        let args = hostcall::wire::to_cbor(&("again",)).unwrap();
        assert_eq!(client.call_raw("login", &args, id), HC_OK);
        let (token, _) = pool.wait_len(1).remove(0);
        assert_eq!(client.complete(token, true, &profile("again", "A")), HC_OK);
        let session: demo::Session = client.sink.wait_for(id, 1)[0].value();
        assert_eq!(session.greeting, "Hello, A");
    }
}

#[test]
fn without_restart_a_lost_helper_refuses_new_calls() {
    let path = socket_path("norestart");
    let mut served = Served::socket(&path);
    let address = path.display().to_string();
    let client = Client::new(
        demo_abi(),
        &config("socket", &address, &[("restart", Value::Bool(false))]),
    )
    .unwrap();
    assert_eq!(client.call("add", &(1, 1)).value::<i64>(), 2);
    served.kill();
    let id = next_id();
    let mut status = HC_OK;
    // Calls made before the loop has seen the connection end are answered
    // RET_PROCESS_DIED; after it, refused.
    for _ in 0..1000 {
        status = client.call_raw("add", &hostcall::wire::to_cbor(&(1, 2)).unwrap(), id);
        if status != HC_OK {
            break;
        }
        let ret = client.sink.wait_for(id, 1).last().unwrap().ret;
        assert!(ret == RET_PROCESS_DIED || ret == RET_OK, "{ret}");
    }
    assert_eq!(status, HC_ERR_SHUTTING_DOWN);
    let error = hostcall_testkit::last_error(demo_abi());
    assert!(
        error.contains("its connection (socket") && error.contains("restart: false"),
        "{error}"
    );
}

#[test]
fn what_is_wrong_is_named_when_a_context_cannot_connect() {
    let path = socket_path("nobody");
    let address = path.display().to_string();
    let error = Client::new(demo_abi(), &config("socket", &address, &[]))
        .err()
        .expect("refused");
    assert!(
        error.contains(&format!(
            "could not connect to the helper at socket {address}"
        )),
        "{error}"
    );
    // A closed TCP port: bind one, note it, free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = Client::new(demo_abi(), &config("tcp", &port.to_string(), &[]))
        .err()
        .expect("refused");
    assert!(
        error.contains(&format!("could not connect to the helper at tcp {port}")),
        "{error}"
    );
    // A helper of another build of the library: the handshake says so.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_address = fake.local_addr().unwrap().to_string();
    let answering = std::thread::spawn(move || {
        let (mut stream, _) = fake.accept().unwrap();
        let mut body = Vec::new();
        let hello = protocol::read::<Down>(&mut stream, &mut body).unwrap();
        let Down::Hello { interface_hash, .. } = hello else {
            panic!("{hello:?}")
        };
        let mut frame = Vec::new();
        let welcome = Up::Welcome {
            version: PROTOCOL_VERSION,
            interface_hash: interface_hash ^ 1,
        };
        protocol::encode(&welcome, &mut frame);
        stream.write_all(&frame).unwrap();
        // Held until the host has read the answer and hung up.
        let _ = stream.read_to_end(&mut body);
    });
    let error = Client::new(demo_abi(), &config("tcp", &fake_address, &[]))
        .err()
        .expect("refused");
    assert!(
        error.contains("the helper's library has interface hash")
            && error.contains(&format!("(tcp {fake_address})")),
        "{error}"
    );
    answering.join().unwrap();
}

/// Runs the helper with `args` to its end; its status and stderr.
fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(helper())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_listening_helper_refuses_a_bad_place_or_library_at_once() {
    let library = library().display().to_string();
    // A file that is not a socket is left alone.
    let path = socket_path("notasocket");
    std::fs::write(&path, b"keep me").unwrap();
    let place = path.display().to_string();
    let (status, stderr) = run_to_end(&["--library", &library, "--socket", &place]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    // A socket another helper accepts on.
    let path = socket_path("taken");
    let _served = Served::socket(&path);
    let place = path.display().to_string();
    let (status, stderr) = run_to_end(&["--library", &library, "--socket", &place]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("another helper already accepts"),
        "{stderr}"
    );
    // A library it cannot load: said before it listens.
    let (status, stderr) = run_to_end(&[
        "--library",
        "/nonexistent/libdemo.so",
        "--tcp",
        "127.0.0.1:0",
    ]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("could not load /nonexistent/libdemo.so"),
        "{stderr}"
    );
    // Both places at once.
    let (status, stderr) = run_to_end(&[
        "--library",
        &library,
        "--tcp",
        "127.0.0.1:0",
        "--socket",
        "/tmp/x.sock",
    ]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
