//! What the isolation tests share: where the helper and the library are,
//! an isolated config, a queueing host fn, this process's helpers.
//!
//! The host side of every test is `demo` linked into the test binary; the
//! helper loads the build's `libdemo.so`, the same code, so the interface
//! hashes agree.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::sync::Arc;

use ciborium::Value;
use hostcall::status::{HC_OK, RET_OK, RET_PROCESS_DIED};
use hostcall_testkit::{Client, HostImpl, TokenPool, complete};

/// The helper Cargo built for these tests.
pub fn helper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hostcall-helper"))
}

/// The `libdemo.so` Cargo built as the tests' dependency (in `deps/`;
/// the one beside the helper is only as fresh as the last `cargo build`).
pub fn library() -> PathBuf {
    let path = helper().parent().unwrap().join("deps").join("libdemo.so");
    assert!(path.is_file(), "{} is built with the tests", path.display());
    path
}

/// An isolated config (the helper and library above) with `extra` keys,
/// which replace those of the same name.
pub fn config(extra: &[(&str, Value)]) -> Vec<u8> {
    let text = |s: &str| Value::Text(s.to_owned());
    let mut entries = vec![
        (text("isolation"), text("process")),
        (text("helper_path"), text(&helper().display().to_string())),
        (text("library_path"), text(&library().display().to_string())),
    ];
    entries.retain(|(key, _)| extra.iter().all(|(k, _)| key.as_text() != Some(k)));
    for (key, value) in extra {
        entries.push((text(key), value.clone()));
    }
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(entries), &mut out).unwrap();
    out
}

/// Registers `fetch_profile` (with a cancel notifier) that queues its
/// tokens and never answers by itself.
pub fn answer_later(client: &Client) -> (Arc<TokenPool>, Arc<HostImpl>) {
    let pool = Arc::new(TokenPool::default());
    let queued = Arc::clone(&pool);
    let (status, host) = client.register(
        "fetch_profile",
        Box::new(move |token, request| queued.push(token, request)),
        true,
    );
    assert_eq!(status, HC_OK);
    (pool, host)
}

/// The pids of this process's children named `name` (any name: `None`).
pub fn children(name: Option<&str>) -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so split
            // after its closing parenthesis.
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let ppid = tail.split_whitespace().nth(1)?;
            (ppid == me && name.is_none_or(|name| comm == name)).then_some(pid)
        })
        .collect()
}

/// `add(a, b)` once a helper serves it again: a call made while none does
/// fails with `RET_PROCESS_DIED`, its text containing `meanwhile`, and the
/// next attempt of the context (at most the longest back-off, 1 s, away)
/// is awaited by the next call. Up to 20 tries.
pub fn add_when_served(client: &Client, a: i64, b: i64, meanwhile: &str) -> i64 {
    for _ in 0..20 {
        let reply = client.call("add", &(a, b));
        if reply.ret == RET_OK {
            return reply.value();
        }
        assert_eq!(reply.ret, RET_PROCESS_DIED, "{}", reply.text());
        assert!(reply.text().contains(meanwhile), "{}", reply.text());
    }
    panic!("add was not served in 20 tries");
}

/// Starts `threads` host threads that answer the `fetch_profile` calls
/// queued in `pool` with `answer(user_id)`, until the pool is closed.
pub fn answer_from_threads(
    client: &Client,
    pool: &Arc<TokenPool>,
    threads: usize,
    answer: fn(&str) -> Vec<u8>,
) -> Vec<std::thread::JoinHandle<()>> {
    let (abi, ctx) = (client.abi, client.ctx);
    (0..threads)
        .map(|_| {
            let pool = Arc::clone(pool);
            std::thread::spawn(move || {
                while let Some((token, request)) = pool.take(|n| n - 1) {
                    let (user_id,): (String,) = hostcall::wire::from_cbor(&request).unwrap();
                    assert_eq!(complete(abi, ctx, token, true, &answer(&user_id)), HC_OK);
                }
            })
        })
        .collect()
}
