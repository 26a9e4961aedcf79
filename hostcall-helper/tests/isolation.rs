//! The reference library served by `hostcall-helper`: what a host sees of
//! an isolated context (config `isolation: "process"`), driven through the
//! same C ABI an in-process context has.
//!
//! The host side is `demo` linked into this test; the helper loads the
//! build's `libdemo.so`, the same code, so the interface hashes agree.

mod common;

use std::path::PathBuf;

use ciborium::Value;
use common::{add_when_served, answer_from_threads, answer_later, config, helper};
use demo::Profile;
use hostcall::status::*;
use hostcall_testkit::{Client, EntryPoints, complete, next_id};

fn demo_abi() -> &'static EntryPoints {
    &demo::__HOSTCALL_ENTRY_POINTS
}

fn isolated(extra: &[(&str, Value)]) -> Client {
    Client::new(demo_abi(), &config(extra)).expect("an isolated context starts")
}

fn profile(user_id: &str) -> Vec<u8> {
    hostcall::wire::to_cbor(&Profile {
        user_id: user_id.into(),
        name: format!("Name of {user_id}"),
        age: 30,
    })
    .unwrap()
}

/// Registers `fetch_profile` answering inline from inside the host fn.
fn answer_inline(client: &Client) {
    let (abi, ctx) = (client.abi, client.ctx);
    let (status, _) = client.register(
        "fetch_profile",
        Box::new(move |token, request| {
            let (user_id,): (String,) = hostcall::wire::from_cbor(request).unwrap();
            assert_eq!(complete(abi, ctx, token, true, &profile(&user_id)), HC_OK);
        }),
        false,
    );
    assert_eq!(status, HC_OK);
}

#[test]
fn calls_and_host_calls_cross_the_process() {
    let client = isolated(&[]);
    assert_eq!(client.call("add", &(2, 3)).value::<i64>(), 5);
    let overflow = client.call("add", &(i64::MAX, 1));
    assert_eq!(overflow.ret, RET_ERR);
    assert!(
        overflow.text().contains("integer overflow"),
        "{}",
        overflow.text()
    );
    let bad = client.call("add", &("two", 3));
    assert_eq!(bad.ret, RET_INVALID_ARG, "{}", bad.text());
    let unregistered = client.call("login", &("ann",));
    assert_eq!(unregistered.ret, RET_ERR);
    assert!(
        unregistered
            .text()
            .contains("host fn 'fetch_profile' not registered"),
        "{}",
        unregistered.text()
    );

    answer_inline(&client);
    let session: demo::Session = client.call("login", &("ann",)).value();
    assert_eq!(session.greeting, "Hello, Name of ann");

    let id = next_id();
    assert_eq!(client.call_raw("nope", &[0x80], id), HC_ERR_UNKNOWN_METHOD);
    let panicked = client.call("panic_with", &("boom",));
    assert_eq!(panicked.ret, RET_PANIC, "{}", panicked.text());
    assert!(panicked.text().contains("boom"));
    // The context goes on after a panic, in the helper as in process.
    assert_eq!(client.call("add", &(1, 1)).value::<i64>(), 2);
}

#[test]
fn host_calls_answered_later_from_other_threads() {
    let client = isolated(&[]);
    let (pool, _host) = answer_later(&client);
    let ids: Vec<u64> = (0..50).map(|_| next_id()).collect();
    for (n, id) in ids.iter().enumerate() {
        let args = hostcall::wire::to_cbor(&(format!("u{n}"),)).unwrap();
        assert_eq!(client.call_raw("login", &args, *id), HC_OK);
    }
    pool.wait_len(ids.len());
    let workers = answer_from_threads(&client, &pool, 4, profile);
    for (n, id) in ids.iter().enumerate() {
        let session: demo::Session = client.sink.wait_for(*id, 1)[0].value();
        assert_eq!(session.user_id, format!("u{n}"));
    }
    pool.close();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn cancelling_a_request_cancels_its_host_call_in_the_host() {
    let client = isolated(&[]);
    let (pool, host) = answer_later(&client);
    let id = next_id();
    let (status, call_id) =
        client.call_cancellable_raw("login", &hostcall::wire::to_cbor(&("ann",)).unwrap(), id);
    assert_eq!(status, HC_OK);
    let (token, _) = pool.wait_len(1)[0].clone();
    assert_eq!(client.cancel(call_id), HC_OK);
    assert_eq!(client.sink.wait_for(id, 1)[0].ret, RET_CANCELLED);
    assert_eq!(host.wait_cancelled(1), vec![token]);
    // Answering the cancelled call now is refused, as in process.
    assert_eq!(
        client.complete(token, true, &profile("ann")),
        HC_ERR_UNKNOWN_TOKEN
    );
}

#[test]
fn events_reach_the_hosts_listeners() {
    let client = isolated(&[]);
    answer_inline(&client);
    let listener = next_id();
    assert_ne!(client.listen("progress", listener), 0);
    let sessions: Vec<demo::Session> = client.call("login_many", &(vec!["a", "b", "c"],)).value();
    assert_eq!(sessions.len(), 3);
    let events = client.sink.wait_for(listener, 3);
    let last: demo::Progress = events[2].value();
    assert_eq!((last.done, last.total), (3, 3));
}

#[test]
fn destroy_answers_pending_requests_and_cancels_their_host_calls() {
    let client = isolated(&[]);
    let (pool, host) = answer_later(&client);
    let ids: Vec<u64> = (0..5).map(|_| next_id()).collect();
    for id in &ids {
        assert_eq!(
            client.call_raw("login", &hostcall::wire::to_cbor(&("x",)).unwrap(), *id),
            HC_OK
        );
    }
    pool.wait_len(ids.len());
    assert_eq!(client.destroy(), HC_OK);
    for id in &ids {
        let replies = client.sink.wait_for(*id, 1);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].ret, RET_SHUTTING_DOWN, "{}", replies[0].text());
    }
    assert_eq!(host.wait_cancelled(ids.len()).len(), ids.len());
    assert_eq!(client.destroy(), HC_ERR_INVALID_CONTEXT);
}

/// The crash kinds of `demo`'s `crash` handler and the signal each dies of.
/// A stack overflow on the library's loop thread is a plain SIGSEGV: the
/// guard-page handler that would report it belongs to the helper's own
/// Rust runtime, which does not know the library's threads.
const CRASHES: &[(&str, &str)] = &[
    ("segfault", "signal 11 (SIGSEGV)"),
    ("abort", "signal 6 (SIGABRT)"),
    ("stack_overflow", "signal 11 (SIGSEGV)"),
    ("oom", "signal 6 (SIGABRT)"),
];

#[test]
fn a_crash_fails_every_pending_request_and_the_helper_restarts() {
    // The address-space limit makes `oom` fail fast instead of eating the
    // machine's memory.
    let client = isolated(&[("limit_address_space_mb", Value::Integer(1024.into()))]);
    let (pool, host) = answer_later(&client);
    let mut cancelled = 0;
    for (kind, signal) in CRASHES {
        let ids: Vec<u64> = (0..3).map(|_| next_id()).collect();
        for id in &ids {
            let args = hostcall::wire::to_cbor(&("x",)).unwrap();
            assert_eq!(client.call_raw("login", &args, *id), HC_OK);
        }
        pool.wait_len(ids.len());
        let crashed = client.call("crash", &(kind,));
        assert_eq!(crashed.ret, RET_PROCESS_DIED, "{kind}: {}", crashed.text());
        assert_eq!(
            crashed.text(),
            format!("library process died: {signal}"),
            "{kind}"
        );
        for id in &ids {
            let replies = client.sink.wait_for(*id, 1);
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0].ret, RET_PROCESS_DIED, "{}", replies[0].text());
        }
        cancelled += ids.len();
        assert_eq!(host.wait_cancelled(cancelled).len(), cancelled);
        // The pool's tokens died with their calls.
        for (token, _) in pool.drain() {
            assert_eq!(
                client.complete(token, true, &profile("x")),
                HC_ERR_UNKNOWN_TOKEN
            );
        }
        // A new helper serves the calls that follow, with the host fn
        // still registered.
        assert_eq!(client.call("add", &(40, 2)).value::<i64>(), 42);
    }
    let unknown = client.call("crash", &("gently",));
    assert_eq!(unknown.ret, RET_ERR);
}

#[test]
fn without_restart_a_dead_library_refuses_new_calls() {
    let client = isolated(&[("restart", Value::Bool(false))]);
    let crashed = client.call("crash", &("abort",));
    assert_eq!(crashed.ret, RET_PROCESS_DIED, "{}", crashed.text());
    let id = next_id();
    let mut status = HC_OK;
    // The loop records the death after it answered the request; the next
    // call may still be accepted (and answered RET_PROCESS_DIED) just
    // before that.
    for _ in 0..1000 {
        status = client.call_raw("add", &hostcall::wire::to_cbor(&(1, 2)).unwrap(), id);
        if status != HC_OK {
            break;
        }
        assert_eq!(
            client.sink.wait_for(id, 1).last().unwrap().ret,
            RET_PROCESS_DIED
        );
    }
    assert_eq!(status, HC_ERR_SHUTTING_DOWN);
    let error = hostcall_testkit::last_error(demo_abi());
    assert!(
        error.contains("library process died: signal 6 (SIGABRT)") && error.contains("restart"),
        "{error}"
    );
    assert_eq!(client.destroy(), HC_OK);
}

#[test]
fn what_is_missing_is_named_when_the_context_cannot_start() {
    let missing = |key: &str, value: &str| {
        Client::new(demo_abi(), &config(&[(key, Value::Text(value.into()))]))
            .err()
            .expect("refused")
    };
    let error = missing("helper_path", "/nonexistent/hostcall-helper");
    assert!(
        error.contains("HC_ERR_INVALID_ARG")
            && error.contains("the helper /nonexistent/hostcall-helper does not exist"),
        "{error}"
    );
    let error = missing("library_path", "/nonexistent/libdemo.so");
    assert!(
        error.contains("/nonexistent/libdemo.so does not exist"),
        "{error}"
    );
    // A file that is no hostcall library of this prefix: the helper says so.
    let error = missing("library_path", &helper().display().to_string());
    assert!(error.contains("the helper refused"), "{error}");
    let error = Client::new(
        demo_abi(),
        &hostcall_testkit::cbor(&std::collections::BTreeMap::from([("restart", false)])),
    )
    .err()
    .expect("refused");
    assert!(error.contains("applies only with isolation"), "{error}");
}

#[test]
fn native_entry_points_cross_the_process_as_cbor() {
    use hostcall_testkit::{on_callback, on_i64};
    let client = isolated(&[]);
    let ids: Vec<u64> = (0..5).map(|_| next_id()).collect();
    let ud = |id| client.user_data(id);
    let ctx = client.ctx.ptr();
    let data = [3u8, 0, 2];
    let mut call_id = 0;
    // SAFETY: every pointer is valid for its length; the user data belongs
    // to `client`, which outlives the context.
    unsafe {
        assert_eq!(
            demo::demo_native_add(ctx, 40, 2, Some(on_i64), ud(ids[0])),
            HC_OK
        );
        assert_eq!(
            demo::demo_native_add(ctx, i64::MAX, 1, Some(on_i64), ud(ids[1])),
            HC_OK
        );
        assert_eq!(
            demo::demo_native_echo(
                ctx,
                data.as_ptr(),
                data.len(),
                Some(on_callback),
                ud(ids[2])
            ),
            HC_OK
        );
        assert_eq!(
            demo::demo_native_version(ctx, Some(on_callback), ud(ids[3])),
            HC_OK
        );
        let name = "héllo";
        assert_eq!(
            demo::demo_native_panic_with_cancellable(
                ctx,
                name.as_ptr().cast(),
                name.len(),
                Some(on_callback),
                ud(ids[4]),
                &mut call_id
            ),
            HC_OK
        );
    }
    let got = |i: usize| client.sink.wait_for(ids[i], 1).remove(0);
    assert_eq!((got(0).ret, got(0).text()), (RET_OK, "42".to_owned()));
    assert_eq!(got(1).ret, RET_ERR);
    assert!(
        got(1).text().contains("integer overflow"),
        "{}",
        got(1).text()
    );
    assert_eq!(got(2).bytes, data, "bytes come back raw, not CBOR");
    assert_eq!(
        got(3).text(),
        env!("CARGO_PKG_VERSION"),
        "text comes back raw"
    );
    assert_eq!(got(4).ret, RET_PANIC);
    assert!(got(4).text().contains("héllo"), "{}", got(4).text());
    assert_ne!(call_id, 0);
}

#[test]
fn calls_wait_for_a_restart_and_fail_when_it_cannot_start() {
    // A copy of the helper that the test can take away and put back.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("restart");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("hostcall-helper");
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(helper(), &copy).unwrap();
    let client = isolated(&[("helper_path", Value::Text(copy.display().to_string()))]);
    assert_eq!(client.call("add", &(1, 1)).value::<i64>(), 2);
    // The helper dies and cannot be started again: a call made meanwhile
    // waits for the attempt, then fails saying why.
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(client.call("crash", &("abort",)).ret, RET_PROCESS_DIED);
    let waited = client.call("add", &(2, 2));
    assert_eq!(waited.ret, RET_PROCESS_DIED, "{}", waited.text());
    assert!(
        waited
            .text()
            .starts_with("library process died, and could not be started again:")
            && waited.text().contains("does not exist (helper_path)"),
        "{}",
        waited.text()
    );
    // Put back (whole, by a rename), an attempt at most the longest
    // back-off (1 s) away starts it, and the calls waiting for it are
    // served. An attempt can still fail meanwhile (a parallel test's fork
    // may hold the new file open for writing: ETXTBSY); the next one
    // starts it.
    let staged = dir.join("hostcall-helper.new");
    std::fs::copy(helper(), &staged).unwrap();
    std::fs::rename(&staged, &copy).unwrap();
    assert_eq!(
        add_when_served(&client, 3, 3, "could not be started again"),
        6
    );
}

#[test]
fn the_limits_apply_before_the_library_is_loaded() {
    // Only the descriptors the helper holds already: loading the library
    // needs one more, so the helper refuses, naming why.
    let error = Client::new(
        demo_abi(),
        &config(&[("limit_open_files", Value::Integer(4.into()))]),
    )
    .err()
    .expect("refused");
    assert!(
        error.contains("the helper refused: could not load")
            && error.contains("Too many open files"),
        "{error}"
    );
    // An address space too small to map the library.
    let error = Client::new(
        demo_abi(),
        &config(&[("limit_address_space_mb", Value::Integer(8.into()))]),
    )
    .err()
    .expect("refused");
    assert!(
        error.contains("the helper refused: could not load")
            && error.contains("failed to map segment"),
        "{error}"
    );
}
