//! Fault injection under load: the helper of an isolated context is killed
//! (SIGKILL) at random moments while 8 host threads make 100,000 calls,
//! and every call is accounted for — exactly one reply each, its real
//! result or `RET_PROCESS_DIED`, none lost, none doubled. Repeated with
//! fresh contexts and other random schedules, and once more with a helper
//! listening on a unix socket (`isolation: "socket"`), which the test
//! starts again after each kill, as a service manager would.
//!
//! A test binary of its own: the killer finds "the helper" as this
//! process's child named `hostcall-helper`, so no other test's helper may
//! be running beside it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ciborium::Value;
use common::{add_when_served, answer_later, children, config, helper, library};
use hostcall::status::*;
use hostcall_testkit::{Client, complete, next_id};

const THREADS: usize = 8;
const CALLS: usize = 100_000;
/// Calls a thread has outstanding at once.
const WINDOW: usize = 250;
const ROUNDS: u64 = 3;
/// Kills per round: the context restarts a helper that dies young after a
/// back-off that doubles up to 1 s, so more kills mostly add waiting.
const KILLS: usize = 12;

/// A small deterministic generator (xorshift), so a failing round can be
/// replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Where the round's helper runs.
enum Mode {
    /// Started by the context (`isolation: "process"`).
    Spawned,
    /// Listening at this socket, started by the test (`isolation: "socket"`).
    Socket(PathBuf),
}

/// Starts a helper listening at `path`; returns once it accepts.
fn listen(path: &Path) -> Child {
    let mut child = Command::new(helper())
        .arg("--library")
        .arg(library())
        .arg("--socket")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the helper starts");
    let mut line = String::new();
    // The helper prints its path when it accepts, or exits (end-of-file).
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.ends_with('\n'), "the helper did not start listening");
    child
}

fn round(seed: u64, mode: &Mode) {
    println!("round with seed {seed}");
    let mut listening = match mode {
        Mode::Spawned => None,
        Mode::Socket(path) => Some(listen(path)),
    };
    let settings = match mode {
        Mode::Spawned => config(&[]),
        Mode::Socket(path) => hostcall_testkit::cbor(&std::collections::BTreeMap::from([
            ("isolation", Value::Text("socket".into())),
            ("address", Value::Text(path.display().to_string())),
        ])),
    };
    let client = Arc::new(Client::new(&demo::__HOSTCALL_ENTRY_POINTS, &settings).unwrap());
    // `fetch_profile` is answered by two host threads, from a pool.
    let (pool, _host) = answer_later(&client);
    let (abi, ctx) = (client.abi, client.ctx);
    let answerers: Vec<_> = (0..2)
        .map(|_| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                while let Some((token, request)) = pool.take(|n| n - 1) {
                    let (user_id,): (String,) = hostcall::wire::from_cbor(&request).unwrap();
                    let profile = hostcall::wire::to_cbor(&demo::Profile {
                        name: user_id.to_uppercase(),
                        user_id,
                        age: 1,
                    })
                    .unwrap();
                    // The token may have died with its helper meanwhile.
                    let status = complete(abi, ctx, token, true, &profile);
                    assert!(
                        status == HC_OK || status == HC_ERR_UNKNOWN_TOKEN,
                        "{status}"
                    );
                }
            })
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (done, kills) = (Arc::clone(&done), Arc::clone(&kills));
        let path = match mode {
            Mode::Spawned => None,
            Mode::Socket(path) => Some(path.clone()),
        };
        let mut listening = listening.take();
        std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            while !done.load(Ordering::Relaxed) && kills.load(Ordering::Relaxed) < KILLS {
                // The fault schedule itself, not a synchronisation: a
                // random moment of the helper's life, or of a restart.
                std::thread::sleep(Duration::from_millis(1 + rng.next() % 80));
                if let (Some(child), Some(path)) = (listening.as_mut(), &path) {
                    let _ = child.kill();
                    let _ = child.wait();
                    kills.fetch_add(1, Ordering::Relaxed);
                    // Down for a random while, then served again.
                    std::thread::sleep(Duration::from_millis(rng.next() % 20));
                    *child = listen(path);
                    continue;
                }
                for pid in children(Some("hostcall-helper")) {
                    // SAFETY: sends a signal to our own child.
                    if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                        kills.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            listening
        })
    };

    let (ok, died) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let callers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (client, ok, died) = (Arc::clone(&client), Arc::clone(&ok), Arc::clone(&died));
            std::thread::spawn(move || {
                let mut ids = Vec::with_capacity(CALLS / THREADS);
                for start in (0..CALLS / THREADS).step_by(WINDOW) {
                    let batch: Vec<(u64, usize)> = (start..(start + WINDOW).min(CALLS / THREADS))
                        .map(|n| (next_id(), n))
                        .collect();
                    for &(id, n) in &batch {
                        let status = if n % 2 == 0 {
                            let args = hostcall::wire::to_cbor(&(n as i64, t as i64)).unwrap();
                            client.call_raw("add", &args, id)
                        } else {
                            let args = hostcall::wire::to_cbor(&(format!("u{t}-{n}"),)).unwrap();
                            client.call_raw("login", &args, id)
                        };
                        assert_eq!(status, HC_OK, "call {n} of thread {t} refused");
                    }
                    for &(id, n) in &batch {
                        let reply = client.sink.wait_for(id, 1).remove(0);
                        match reply.ret {
                            RET_OK if n % 2 == 0 => {
                                assert_eq!(reply.value::<i64>(), (n + t) as i64);
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            RET_OK => {
                                let session: demo::Session = reply.value();
                                assert_eq!(session.user_id, format!("u{t}-{n}"));
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            RET_PROCESS_DIED => {
                                assert!(
                                    reply.text().starts_with("library process died"),
                                    "{}",
                                    reply.text()
                                );
                                died.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                panic!("call {n} of thread {t}: outcome {other}: {}", reply.text())
                            }
                        }
                    }
                    ids.extend(batch.iter().map(|&(id, _)| id));
                }
                ids
            })
        })
        .collect();
    let ids: Vec<u64> = callers
        .into_iter()
        .flat_map(|caller| caller.join().unwrap())
        .collect();
    done.store(true, Ordering::Relaxed);
    let listening = killer.join().unwrap();
    // The context still works once the killing stops (after at most the
    // longest back-off: a call made meanwhile may fail for want of one).
    assert_eq!(add_when_served(&client, 1, 2, "library process died"), 3);
    assert_eq!(client.destroy(), HC_OK);
    if let Some(mut child) = listening {
        let _ = child.kill();
        let _ = child.wait();
    }
    pool.close();
    for answerer in answerers {
        answerer.join().unwrap();
    }
    // Destroyed: nothing more can arrive. Exactly one reply each.
    let got = client.sink.snapshot();
    assert_eq!(ids.len(), CALLS);
    for id in &ids {
        assert_eq!(got.get(id).map_or(0, Vec::len), 1, "call {id}");
    }
    let (ok, died, kills) = (
        ok.load(Ordering::Relaxed),
        died.load(Ordering::Relaxed),
        kills.load(Ordering::Relaxed),
    );
    println!("seed {seed}: {kills} kills, {ok} results, {died} RET_PROCESS_DIED");
    assert_eq!(ok + died, CALLS);
    assert!(
        kills >= 3,
        "the schedule killed the helper only {kills} times"
    );
    assert!(ok > 0 && died > 0, "{ok} results, {died} deaths");
}

#[test]
fn every_call_ends_once_while_the_helper_is_killed_at_random() {
    let base = std::env::var("HOSTCALL_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let seed = |n: u64| base.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    for n in 0..ROUNDS {
        round(seed(n), &Mode::Spawned);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults");
    std::fs::create_dir_all(&dir).unwrap();
    round(seed(ROUNDS), &Mode::Socket(dir.join("faults.sock")));
}
