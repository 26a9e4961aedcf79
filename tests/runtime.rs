//! The runtime's contracts, driven through the C ABI of a test library.
//!
//! The library below is declared with the same macros a user writes; its
//! `extern "C"` entry points (prefix `rt`) are called from Rust exactly as a
//! C host would call them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hostcall::status::*;
use hostcall_testkit::*;

mod lib {
    use std::time::Duration;

    use hostcall::{Bytes, Event, Record, host_fn};
    use serde::{Deserialize, Serialize};

    host_fn! {
        /// Echoes text back (the host decides when).
        pub fn echo(text: String) -> String;
        /// Answers with the thread the host fn ran on, as a number.
        pub fn whereami() -> u64;
    }

    /// A counter event.
    #[derive(Debug, Serialize, Deserialize, Record, Event)]
    #[hostcall(event = "tick")]
    pub struct Tick {
        pub n: u32,
    }

    #[hostcall::handler]
    pub async fn echo_once(text: String) -> Result<String, String> {
        echo(text).await.map_err(|e| e.to_string())
    }

    /// Passes the host call's own error through (`?`), so its kind reaches
    /// the host as an outcome code.
    #[hostcall::handler]
    pub async fn echo_or_why(text: String, timeout_ms: u64) -> Result<String, hostcall::HostError> {
        let reply = echo(text)
            .with_timeout(Duration::from_millis(timeout_ms))
            .await?;
        Ok(reply)
    }

    /// Races the host against a timer; the loser is dropped.
    #[hostcall::handler]
    pub async fn echo_or_give_up(text: String, wait_ms: u64) -> Result<String, String> {
        tokio::select! {
            reply = echo(text) => reply.map_err(|e| e.to_string()),
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => Err("moved on".to_owned()),
        }
    }

    #[hostcall::handler]
    pub async fn echo_within(text: String, timeout_ms: u64) -> Result<String, String> {
        echo(text)
            .with_timeout(Duration::from_millis(timeout_ms))
            .await
            .map_err(|e| e.to_string())
    }

    #[hostcall::handler]
    pub async fn echo_patiently(text: String) -> Result<String, String> {
        echo(text)
            .without_timeout()
            .await
            .map_err(|e| e.to_string())
    }

    /// Two host calls in sequence, then a third on a spawned local task.
    #[hostcall::handler]
    pub async fn echo_chain(text: String) -> Result<String, String> {
        let a = echo(text).await.map_err(|e| e.to_string())?;
        let b = echo(a).await.map_err(|e| e.to_string())?;
        tokio::task::spawn_local(async move { echo(b).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| e.to_string())?
    }

    #[hostcall::handler]
    pub async fn host_thread() -> Result<u64, String> {
        whereami().await.map_err(|e| e.to_string())
    }

    #[hostcall::handler]
    pub fn ticks(n: u32) -> Result<u32, String> {
        let mut delivered = 0;
        for i in 1..=n {
            delivered += hostcall::emit(&Tick { n: i }).map_err(|e| e.to_string())?;
        }
        Ok(u32::try_from(delivered).unwrap_or(u32::MAX))
    }

    #[hostcall::handler]
    pub async fn panic_after_await(text: String) -> String {
        let _ = echo(text).await;
        panic!("after await");
    }

    #[hostcall::handler]
    pub fn byte_count(data: Bytes, extra: Option<Vec<u8>>) -> u64 {
        (data.len() + extra.map_or(0, |e| e.len())) as u64
    }

    #[hostcall::handler(name = "renamed")]
    pub fn original_name() -> String {
        "renamed".to_owned()
    }

    /// Native entry point: every scalar kind in, a float out.
    #[hostcall::handler]
    pub fn mix(a: i8, b: u16, c: f32, flag: bool) -> f64 {
        let sum = f64::from(a) + f64::from(b) + f64::from(c);
        if flag { -sum } else { sum }
    }

    #[hostcall::handler]
    pub fn shout(text: String) -> String {
        text.to_uppercase()
    }

    #[hostcall::handler]
    pub fn reverse(data: Bytes) -> Bytes {
        Bytes(data.0.into_iter().rev().collect())
    }

    #[hostcall::handler]
    pub fn is_even(n: u64) -> Result<bool, String> {
        if n == 13 {
            Err("unlucky".to_owned())
        } else {
            Ok(n.is_multiple_of(2))
        }
    }

    #[hostcall::handler]
    pub fn count_down(n: u32) -> Result<u32, String> {
        n.checked_sub(1).ok_or_else(|| "already at zero".to_owned())
    }

    #[hostcall::handler]
    pub fn native_panic(n: i64) -> i64 {
        panic!("native {n}")
    }

    /// An async native entry point that awaits the host.
    #[hostcall::handler]
    pub async fn echo_native(text: String) -> Result<String, String> {
        echo(text).await.map_err(|e| e.to_string())
    }

    hostcall::export! {
        prefix = "rt",
        handlers = [echo_once, echo_or_why, echo_or_give_up, echo_within, echo_patiently, echo_chain,
                    host_thread, ticks, panic_after_await, byte_count, original_name,
                    mix, shout, reverse, is_even, count_down, native_panic, echo_native],
        host_fns = [echo, whereami],
        events = [Tick],
    }
}

/// The test library's entry points, the one table every test calls through.
use lib::__HOSTCALL_ENTRY_POINTS as ABI;

fn client() -> Client {
    Client::new(&ABI, &[]).expect("context")
}

fn client_with(entries: &[(&str, u64)]) -> Client {
    Client::new(&ABI, &config(entries)).expect("context")
}

/// A host `echo` that completes inline, inside the host fn.
fn echo_inline(client: &Client) -> Arc<HostImpl> {
    let (abi, ctx) = (client.abi, client.ctx);
    let (status, host) = client.register(
        "echo",
        Box::new(move |token, request| {
            let (text,): (String,) = hostcall::wire::from_cbor(request).unwrap();
            assert_eq!(complete(abi, ctx, token, true, &cbor(&text)), HC_OK);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    host
}

/// A host `echo` that queues tokens for the test to answer.
fn echo_pool(client: &Client) -> (Arc<TokenPool>, Arc<HostImpl>) {
    let pool = Arc::new(TokenPool::default());
    let sink = pool.clone();
    let (status, host) = client.register(
        "echo",
        Box::new(move |token, request| sink.push(token, request)),
        true,
    );
    assert_eq!(status, HC_OK);
    (pool, host)
}

fn echo_text(request: &[u8]) -> Vec<u8> {
    let (text,): (String,) = hostcall::wire::from_cbor(request).unwrap();
    cbor(&text)
}

#[test]
fn inline_and_cross_thread_completion_both_work() {
    let client = client();
    echo_inline(&client);
    assert_eq!(client.call("echo_once", &("hi",)).value::<String>(), "hi");
    assert_eq!(client.call("echo_chain", &("x",)).value::<String>(), "x");

    let client = client_with(&[]);
    let (pool, _) = echo_pool(&client);
    let id = next_id();
    assert_eq!(client.call_raw("echo_chain", &cbor(&("y",)), id), HC_OK);
    let (abi, ctx) = (client.abi, client.ctx);
    let answerer = std::thread::spawn(move || {
        for _ in 0..3 {
            let (token, request) = pool.take(|_| 0).unwrap();
            assert_eq!(complete(abi, ctx, token, true, &echo_text(&request)), HC_OK);
        }
    });
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "y");
    answerer.join().unwrap();
}

/// Takes the one token `pool` holds (bounded wait) and answers it.
fn answer_one(client: &Client, pool: &TokenPool) {
    let (token, request) = pool.wait_len(1).remove(0);
    assert_eq!(pool.drain().len(), 1, "exactly one host call was waiting");
    assert_eq!(client.complete(token, true, &echo_text(&request)), HC_OK);
}

#[test]
fn a_request_runs_the_host_fns_registered_before_it_not_after() {
    let client = client();
    let (before, _a) = echo_pool(&client);
    let id = next_id();
    assert_eq!(client.call_raw("echo_chain", &cbor(&("x",)), id), HC_OK);
    let (after, _b) = echo_pool(&client);
    // Both host calls the handler itself makes, the second after an await
    // (so after the re-registration was handled), run what was registered
    // when the request was handled.
    answer_one(&client, &before);
    answer_one(&client, &before);
    // A task the handler spawns is not the request: it sees the latest.
    answer_one(&client, &after);
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "x");
    assert!(before.drain().is_empty());
    // A request sent after the re-registration runs the new host fn.
    let id = next_id();
    assert_eq!(client.call_raw("echo_once", &cbor(&("y",)), id), HC_OK);
    answer_one(&client, &after);
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "y");
    assert!(before.drain().is_empty());
}

#[test]
fn host_fns_replies_and_events_run_on_the_one_loop_thread() {
    let client = client();
    let (abi, ctx) = (client.abi, client.ctx);
    let (status, _) = client.register(
        "whereami",
        Box::new(move |token, _| {
            let me = thread_number();
            assert_eq!(complete(abi, ctx, token, true, &cbor(&me)), HC_OK);
        }),
        false,
    );
    assert_eq!(status, HC_OK);
    let first = client.call("host_thread", &NO_ARGS);
    let second = client.call("host_thread", &NO_ARGS);
    let host_thread: u64 = first.value();
    assert_eq!(
        host_thread,
        second.value::<u64>(),
        "one loop thread per context"
    );
    assert_ne!(host_thread, thread_number(), "not the caller's thread");
    assert_eq!(
        first.thread, second.thread,
        "replies run on the loop thread"
    );
    let listener = client.listen("tick", 77);
    assert_ne!(listener, 0);
    assert_eq!(client.call("ticks", &(2u32,)).value::<u32>(), 2);
    let events = client.sink.wait_for(77, 2);
    assert!(events.iter().all(|e| e.thread == first.thread));
}

fn thread_number() -> u64 {
    thread_local!(static N: u64 = {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    });
    N.with(|n| *n)
}

#[test]
fn late_double_and_invented_tokens_are_refused_without_side_effects() {
    let client = client();
    let (pool, _) = echo_pool(&client);
    let (a, b) = (next_id(), next_id());
    assert_eq!(client.call_raw("echo_once", &cbor(&("a",)), a), HC_OK);
    assert_eq!(client.call_raw("echo_once", &cbor(&("b",)), b), HC_OK);
    let tokens = pool.wait_len(2);
    let (ta, tb) = (tokens[0].0, tokens[1].0);
    for invented in [0, 1, u64::MAX, ta ^ (1 << 40), ta + (1 << 24), tb + 1000] {
        assert_eq!(
            client.complete(invented, true, &cbor("x")),
            HC_ERR_UNKNOWN_TOKEN
        );
    }
    assert_eq!(client.complete(ta, true, &cbor("first")), HC_OK);
    assert_eq!(
        client.complete(ta, true, &cbor("double")),
        HC_ERR_UNKNOWN_TOKEN
    );
    let got_a = client.sink.wait_for(a, 1);
    assert_eq!(got_a[0].value::<String>(), "first");
    assert_eq!(client.complete(ta, false, b"late"), HC_ERR_UNKNOWN_TOKEN);
    assert_eq!(client.sink.count(b), 0, "b is untouched");
    assert_eq!(client.complete(tb, false, b"nope"), HC_OK);
    assert_eq!(client.sink.wait_for(b, 1)[0].text(), "nope");
    assert_eq!(client.sink.count(a), 1);
}

#[test]
fn a_bad_outcome_code_leaves_the_token_completable() {
    let client = client();
    let (pool, _) = echo_pool(&client);
    let id = next_id();
    assert_eq!(client.call_raw("echo_once", &cbor(&("z",)), id), HC_OK);
    let token = pool.wait_len(1)[0].0;
    assert_eq!(complete_raw(&client, token, 2, b"x"), HC_ERR_INVALID_ARG);
    assert_eq!(complete_raw(&client, token, -1, b"x"), HC_ERR_INVALID_ARG);
    assert_eq!(client.complete(token, true, &cbor("z")), HC_OK);
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "z");
}

fn complete_raw(client: &Client, token: u64, ret: i32, payload: &[u8]) -> i32 {
    complete_with(client.abi, client.ctx, token, ret, payload)
}

#[test]
fn a_select_that_moves_on_cancels_the_host_call() {
    let client = client();
    let (pool, host) = echo_pool(&client);
    let reply = client.call("echo_or_give_up", &("slow", 20u64));
    assert_eq!(reply.ret, RET_ERR);
    assert_eq!(reply.text(), "moved on");
    let token = pool.wait_len(1)[0].0;
    assert_eq!(host.wait_cancelled(1), vec![token]);
    assert_eq!(
        client.complete(token, true, &cbor("too late")),
        HC_ERR_UNKNOWN_TOKEN
    );
}

#[test]
fn timeouts_cancel_like_a_drop_and_can_be_overridden_per_call() {
    let client = client_with(&[("host_call_timeout_ms", 30)]);
    let (pool, host) = echo_pool(&client);
    let reply = client.call("echo_once", &("t",));
    assert_eq!(reply.ret, RET_ERR);
    assert_eq!(reply.text(), "host fn 'echo' timed out after 30 ms");
    let token = pool.drain()[0].0;
    assert_eq!(host.wait_cancelled(1), vec![token]);
    assert_eq!(
        client.complete(token, true, &cbor("late")),
        HC_ERR_UNKNOWN_TOKEN
    );

    let reply = client.call("echo_within", &("t", 10u64));
    assert_eq!(reply.text(), "host fn 'echo' timed out after 10 ms");
    pool.drain();

    // Without a timeout the call outlives the context default.
    let id = next_id();
    assert_eq!(client.call_raw("echo_patiently", &cbor(&("p",)), id), HC_OK);
    let token = pool.wait_len(1)[0].0;
    // The context default would have fired long before this second timeout.
    let reply = client.call("echo_within", &("marker", 100u64));
    assert_eq!(reply.ret, RET_ERR);
    assert_eq!(
        client.sink.count(id),
        0,
        "the patient call is still waiting"
    );
    assert_eq!(client.complete(token, true, &cbor("p")), HC_OK);
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "p");
}

#[test]
fn unregistered_host_fns_fail_at_once() {
    let client = client();
    let reply = client.call("echo_once", &("x",));
    assert_eq!(reply.ret, RET_ERR);
    assert_eq!(reply.text(), "host fn 'echo' not registered");
}

#[test]
fn max_in_flight_refuses_the_extra_call_at_once() {
    let client = client_with(&[("max_in_flight", 1)]);
    let (pool, _) = echo_pool(&client);
    let first = next_id();
    assert_eq!(client.call_raw("echo_once", &cbor(&("1",)), first), HC_OK);
    let token = pool.wait_len(1)[0].0;
    let reply = client.call("echo_once", &("2",));
    assert_eq!(
        reply.text(),
        "host fn 'echo' overloaded: 1 host calls already in flight (max_in_flight)"
    );
    assert_eq!(client.complete(token, true, &cbor("1")), HC_OK);
    assert_eq!(client.sink.wait_for(first, 1)[0].value::<String>(), "1");
}

#[test]
fn max_pending_requests_bounds_the_queue() {
    let client = client_with(&[("max_pending_requests", 2)]);
    let (pool, _) = echo_pool(&client);
    let (a, b) = (next_id(), next_id());
    assert_eq!(client.call_raw("echo_once", &cbor(&("a",)), a), HC_OK);
    assert_eq!(client.call_raw("echo_once", &cbor(&("b",)), b), HC_OK);
    let extra = next_id();
    assert_eq!(
        client.call_raw("echo_once", &cbor(&("c",)), extra),
        HC_ERR_OVERLOADED
    );
    assert!(last_error(client.abi).contains("max_pending_requests"));
    for (token, request) in pool.wait_len(2) {
        assert_eq!(client.complete(token, true, &echo_text(&request)), HC_OK);
    }
    client.sink.wait_all([a, b]);
    let reply = client.call("echo_or_give_up", &("c", 0u64));
    assert_eq!(reply.text(), "moved on", "room again once replies went out");
    assert_eq!(client.sink.count(extra), 0, "a refused call never replies");
}

#[test]
fn a_host_call_error_passed_through_keeps_its_kind() {
    let client = client();
    let reply = client.call("echo_or_why", &("x", 60_000u64));
    assert_eq!(
        (reply.ret, reply.text().as_str()),
        (RET_NOT_REGISTERED, "host fn 'echo' not registered")
    );
    // A host that never answers: the call times out, and says so.
    let (status, _host) = client.register("echo", Box::new(|_token, _request| {}), true);
    assert_eq!(status, HC_OK);
    let reply = client.call("echo_or_why", &("x", 1u64));
    assert_eq!(reply.ret, RET_TIMED_OUT, "{}", reply.text());
    assert!(reply.text().contains("timed out"), "{}", reply.text());
    // A handler whose own error is a string keeps RET_ERR, whatever it says.
    let client = client_with(&[("max_in_flight", 1)]);
    let (started, calls) = std::sync::mpsc::channel();
    let started = std::sync::Mutex::new(started);
    let (status, _host) = client.register(
        "echo",
        // Nowhere once the test has stopped listening: its context's loop
        // may start a host call after that.
        Box::new(move |token, _request| {
            let _ = started.lock().unwrap().send(token);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    let first = next_id();
    let held = hostcall::wire::to_cbor(&("held",)).unwrap();
    assert_eq!(client.call_raw("echo_once", &held, first), HC_OK);
    calls
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first call reaches the host");
    let reply = client.call("echo_or_why", &("x", 60_000u64));
    assert_eq!(reply.ret, RET_OVERLOADED, "{}", reply.text());
    assert!(reply.text().contains("overloaded"), "{}", reply.text());
    let reply = client.call("echo_once", &("x",));
    assert_eq!(reply.ret, RET_ERR, "{}", reply.text());
    assert!(reply.text().contains("overloaded"), "{}", reply.text());
    assert_eq!(client.destroy(), HC_OK);
    let held = client.sink.wait_for(first, 1).remove(0);
    assert_eq!(held.ret, RET_SHUTTING_DOWN);
}

#[test]
fn panics_become_error_replies_and_the_context_lives_on() {
    let client = client();
    echo_inline(&client);
    let reply = client.call("panic_after_await", &("x",));
    assert_eq!(reply.ret, RET_PANIC);
    assert_eq!(
        reply.text(),
        "handler 'panic_after_await' panicked: after await"
    );
    assert_eq!(
        client.call("echo_once", &("still here",)).value::<String>(),
        "still here"
    );
}

#[test]
fn requests_are_decoded_strictly() {
    let client = client();
    let reply = client.call(
        "byte_count",
        &(hostcall::Bytes(vec![1, 2, 3]), Some(vec![9u8])),
    );
    assert_eq!(reply.value::<u64>(), 4);
    let reply = client.call("byte_count", &(hostcall::Bytes(vec![]), None::<Vec<u8>>));
    assert_eq!(reply.value::<u64>(), 0);
    let reply = client.call("byte_count", &("not bytes", ()));
    assert_eq!(reply.ret, RET_INVALID_ARG);
    assert!(
        reply
            .text()
            .starts_with("bad request for 'byte_count': argument 1 (`data`)"),
        "{}",
        reply.text()
    );
    assert_eq!(
        client.call("renamed", &NO_ARGS).value::<String>(),
        "renamed"
    );
    assert_eq!(
        client.call_raw("original_name", &[], next_id()),
        HC_ERR_UNKNOWN_METHOD
    );
}

#[test]
fn registering_an_undeclared_host_fn_is_refused() {
    let client = client();
    let (status, _) = client.register("ehco", Box::new(|_, _| {}), false);
    assert_eq!(status, HC_ERR_INVALID_ARG);
    let message = last_error(client.abi);
    assert!(
        message.contains("declares no host fn 'ehco' (declared: echo, whereami)"),
        "{message}"
    );
}

#[test]
fn destroy_with_calls_pending_replies_to_everyone_and_cancels_every_host_call() {
    let client = client();
    let (pool, host) = echo_pool(&client);
    let ids: Vec<u64> = (0..50).map(|_| next_id()).collect();
    for id in &ids {
        assert_eq!(client.call_raw("echo_chain", &cbor(&("p",)), *id), HC_OK);
    }
    let held = pool.wait_len(ids.len());
    assert_eq!(client.destroy(), HC_OK);
    // Destroy has returned: every reply is already in.
    for id in &ids {
        let got = client.sink.wait_for(*id, 1);
        assert_eq!(got.len(), 1, "exactly one reply");
        assert_eq!(
            (got[0].ret, got[0].text().as_str()),
            (RET_SHUTTING_DOWN, "context shutting down")
        );
    }
    let mut cancelled = host.cancelled_tokens();
    cancelled.sort_unstable();
    let mut expected: Vec<u64> = held.iter().map(|(t, _)| *t).collect();
    expected.sort_unstable();
    assert_eq!(cancelled, expected, "every pending host call was cancelled");
    for (token, _) in held {
        assert_eq!(
            client.complete(token, true, &cbor("late")),
            HC_ERR_INVALID_CONTEXT
        );
    }
    assert_eq!(
        client.call_raw("echo_once", &cbor(&("x",)), next_id()),
        HC_ERR_INVALID_CONTEXT
    );
    assert_eq!(client.destroy(), HC_ERR_INVALID_CONTEXT);
    assert_eq!(client.unlisten(1), HC_ERR_INVALID_CONTEXT);
}

#[test]
fn destroy_from_inside_a_host_fn_is_deferred_not_deadlocked() {
    let client = client();
    let (abi, ctx) = (client.abi, client.ctx);
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = statuses.clone();
    let (status, host) = client.register(
        "echo",
        Box::new(move |_token, _| {
            let mut seen = seen.lock().unwrap();
            seen.push(destroy(abi, ctx));
            seen.push(destroy(abi, ctx));
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    let reply = client.call("echo_once", &("x",));
    assert_eq!(
        (reply.ret, reply.text().as_str()),
        (RET_SHUTTING_DOWN, "context shutting down")
    );
    assert_eq!(
        *statuses.lock().unwrap(),
        vec![HC_OK, HC_ERR_INVALID_CONTEXT]
    );
    assert_eq!(host.wait_cancelled(1).len(), 1);
    assert_eq!(
        client.call_raw("echo_once", &cbor(&("y",)), next_id()),
        HC_ERR_INVALID_CONTEXT
    );
}

#[test]
fn destroy_from_inside_a_reply_callback_is_deferred() {
    let client = client();
    echo_inline(&client);
    let (abi, ctx) = (client.abi, client.ctx);
    let status = Arc::new(AtomicUsize::new(usize::MAX));
    let seen = status.clone();
    let id = next_id();
    let request = cbor(&("x",));
    assert_eq!(
        client.call_then(
            "echo_once",
            &request,
            id,
            Some(Box::new(
                move |_| seen.store(destroy(abi, ctx) as usize, Ordering::SeqCst)
            )),
        ),
        HC_OK
    );
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "x");
    assert_eq!(status.load(Ordering::SeqCst), HC_OK as usize);
    assert_eq!(
        client.call_raw("echo_once", &request, next_id()),
        HC_ERR_INVALID_CONTEXT
    );
}

#[test]
fn calls_made_from_inside_callbacks_go_through() {
    let client = Arc::new(client());
    echo_inline(&client);
    let inner = next_id();
    let again = client.clone();
    let outer = next_id();
    assert_eq!(
        client.call_then(
            "echo_once",
            &cbor(&("outer",)),
            outer,
            Some(Box::new(move |_| {
                assert_eq!(
                    again.call_raw("echo_once", &cbor(&("inner",)), inner),
                    HC_OK
                );
            })),
        ),
        HC_OK
    );
    assert_eq!(client.sink.wait_for(inner, 1)[0].value::<String>(), "inner");
}

#[test]
fn listeners_can_be_removed_and_never_run_afterwards() {
    let client = client();
    let keep = client.listen("tick", 1);
    let drop_me = client.listen("tick", 2);
    assert_ne!(keep, drop_me);
    assert_eq!(client.call("ticks", &(3u32,)).value::<u32>(), 6);
    assert_eq!(client.unlisten(drop_me), HC_OK);
    assert_eq!(client.unlisten(drop_me), HC_ERR_INVALID_ARG);
    assert_eq!(client.unlisten(0), HC_ERR_INVALID_ARG);
    assert_eq!(client.call("ticks", &(2u32,)).value::<u32>(), 2);
    let kept: Vec<u32> = client
        .sink
        .wait_for(1, 5)
        .iter()
        .map(|e| e.value::<lib::Tick>().n)
        .collect();
    assert_eq!(kept, vec![1, 2, 3, 1, 2]);
    assert_eq!(client.sink.count(2), 3);
    assert_eq!(client.listen("tock", 3), 0);
    assert!(last_error(client.abi).contains("emits no event 'tock' (events: tick)"));
}

#[test]
fn removing_a_running_listener_waits_for_it_to_return() {
    let client = Arc::new(client());
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let finished = Arc::new(AtomicUsize::new(0));
    let done = finished.clone();
    let release_rx = std::sync::Mutex::new(release_rx);
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let event = std::ffi::CString::new("tick").unwrap();
    let target = Box::new(Target {
        sink: client.sink.clone(),
        id: 5,
        then: Some(Box::new(move |_| {
            entered_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            done.fetch_add(1, Ordering::SeqCst);
        })),
    });
    // SAFETY: the target outlives the listener (it is removed below, and
    // removal waits for the running invocation).
    let listener = unsafe {
        lib::rt_add_event_listener(
            client.ctx.ptr(),
            event.as_ptr(),
            Some(on_callback),
            &*target as *const Target as *mut std::ffi::c_void,
        )
    };
    let call = next_id();
    assert_eq!(client.call_raw("ticks", &cbor(&(1u32,)), call), HC_OK);
    entered_rx.recv().unwrap();
    let remover = {
        let client = client.clone();
        let finished = finished.clone();
        std::thread::spawn(move || {
            assert_eq!(client.unlisten(listener), HC_OK);
            finished.load(Ordering::SeqCst)
        })
    };
    release_tx.send(()).unwrap();
    assert_eq!(
        remover.join().unwrap(),
        1,
        "remove returned only after the callback finished"
    );
    client.sink.wait_for(call, 1);
    drop(target);
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    let err = Client::new(&ABI, &config(&[("max_in_flite", 3)]))
        .err()
        .unwrap();
    assert!(err.contains("unknown config key 'max_in_flite'"), "{err}");
    let err = Client::new(&ABI, &[0xff, 0x00]).err().unwrap();
    assert!(err.contains("config"), "{err}");
}

#[test]
fn stale_and_foreign_handles_are_refused() {
    let first = client();
    let stale = first.ctx;
    assert_eq!(first.destroy(), HC_OK);
    let second = client();
    echo_inline(&second);
    assert_eq!(
        destroy(&ABI, stale),
        HC_ERR_INVALID_CONTEXT,
        "a stale handle never names the new context"
    );
    assert_eq!(
        second.call("echo_once", &("alive",)).value::<String>(),
        "alive"
    );
    for garbage in [1usize, 0xdead_beef, usize::MAX, 0x1234_0000_0001] {
        assert_eq!(destroy(&ABI, Ctx(garbage)), HC_ERR_INVALID_CONTEXT);
        assert_eq!(
            complete(&ABI, Ctx(garbage), 1, true, &[]),
            HC_ERR_INVALID_CONTEXT
        );
    }
    assert_eq!(destroy(&ABI, Ctx(0)), HC_ERR_NULL_ARG);
}

#[test]
fn host_calls_and_events_outside_a_context_fail_cleanly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let error = runtime.block_on(lib::echo("x".to_owned())).unwrap_err();
    assert!(
        matches!(error, hostcall::HostError::NoContext { name: "echo" }),
        "{error}"
    );
    assert_eq!(
        hostcall::emit(&lib::Tick { n: 1 }),
        Err(hostcall::EmitError::NoContext)
    );
}

#[test]
fn many_host_threads_complete_in_random_order_with_late_and_double_completions() {
    use rand::{Rng, SeedableRng};
    const CALLS: usize = 20_000;
    const THREADS: usize = 8;
    let client = client();
    let (pool, _) = echo_pool(&client);
    let ids: Vec<u64> = (0..CALLS).map(|_| next_id()).collect();
    let (abi, ctx) = (client.abi, client.ctx);
    let refused = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|seed| {
            let (pool, refused) = (pool.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
                let mut done = Vec::new();
                while let Some((token, request)) = pool.take(|n| rng.random_range(0..n)) {
                    let ok = rng.random_bool(0.9);
                    let payload = if ok {
                        echo_text(&request)
                    } else {
                        b"host says no".to_vec()
                    };
                    assert_eq!(complete(abi, ctx, token, ok, &payload), HC_OK);
                    done.push(token);
                    if rng.random_bool(0.05) {
                        // A double completion, or a late one for an earlier token.
                        let stale = done[rng.random_range(0..done.len())];
                        assert_eq!(
                            complete(abi, ctx, stale, true, &payload),
                            HC_ERR_UNKNOWN_TOKEN
                        );
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done
            })
        })
        .collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            client.call_raw("echo_once", &cbor(&(i.to_string(),)), *id),
            HC_OK
        );
    }
    client.sink.wait_all(ids.iter().copied());
    pool.close();
    let mut tokens = HashSet::new();
    for worker in workers {
        for token in worker.join().unwrap() {
            assert!(tokens.insert(token), "token {token:#x} completed twice");
        }
    }
    assert_eq!(tokens.len(), CALLS);
    let replies = client.sink.snapshot();
    for (i, id) in ids.iter().enumerate() {
        let got = &replies[id];
        assert_eq!(got.len(), 1, "request {i} got {} replies", got.len());
        match got[0].ret {
            RET_OK => assert_eq!(got[0].value::<String>(), i.to_string()),
            _ => assert_eq!(got[0].text(), "host says no"),
        }
    }
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the run exercised stale completions"
    );
}

#[test]
fn destroy_in_the_middle_of_concurrent_completions_accounts_for_every_reply() {
    use rand::{Rng, SeedableRng};
    for round in 0..5u64 {
        let client = client();
        let (pool, _) = echo_pool(&client);
        let ids: Vec<u64> = (0..2_000).map(|_| next_id()).collect();
        let (abi, ctx) = (client.abi, client.ctx);
        let workers: Vec<_> = (0..4)
            .map(|seed| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(round * 10 + seed);
                    let mut invalid = 0;
                    while let Some((token, request)) = pool.take(|n| rng.random_range(0..n)) {
                        match complete(abi, ctx, token, true, &echo_text(&request)) {
                            HC_OK => {}
                            HC_ERR_INVALID_CONTEXT => invalid += 1,
                            other => panic!("unexpected status {other}"),
                        }
                    }
                    invalid
                })
            })
            .collect();
        for id in &ids {
            assert_eq!(client.call_raw("echo_once", &cbor(&("v",)), *id), HC_OK);
        }
        // Destroy once some replies are in and many calls are still pending.
        client.sink.wait_for(ids[ids.len() / 4], 1);
        assert_eq!(client.destroy(), HC_OK);
        let replies = client.sink.snapshot();
        for id in &ids {
            let got = &replies[id];
            assert_eq!(got.len(), 1, "exactly one reply per request");
            assert!(
                got[0].ret == RET_OK || got[0].text() == "context shutting down",
                "{}",
                got[0].text()
            );
        }
        pool.close();
        for worker in workers {
            worker.join().unwrap();
        }
    }
}

#[test]
fn contexts_are_independent_and_can_come_and_go_concurrently() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..20 {
                    let client = client();
                    echo_inline(&client);
                    assert_eq!(client.call("echo_once", &("c",)).value::<String>(), "c");
                    assert_eq!(client.destroy(), HC_OK);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn native_entry_points_carry_plain_values_both_ways() {
    let client = client();
    echo_inline(&client);
    let ud = |id| client.user_data(id);
    let ctx = client.ctx.ptr();
    let ids: Vec<u64> = (0..9).map(|_| next_id()).collect();
    // SAFETY: every pointer is valid for its length; user data outlives the
    // context (it belongs to `client`).
    unsafe {
        assert_eq!(
            lib::rt_native_mix(ctx, -3, 10, 0.5, false, Some(on_f64), ud(ids[0])),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_mix(ctx, -3, 10, 0.5, true, Some(on_f64), ud(ids[1])),
            HC_OK
        );
        let text = "héllo";
        assert_eq!(
            lib::rt_native_shout(
                ctx,
                text.as_ptr().cast(),
                text.len(),
                Some(on_callback),
                ud(ids[2])
            ),
            HC_OK
        );
        let data = [1u8, 2, 3];
        assert_eq!(
            lib::rt_native_reverse(
                ctx,
                data.as_ptr(),
                data.len(),
                Some(on_callback),
                ud(ids[3])
            ),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_is_even(ctx, 8, Some(on_bool), ud(ids[4])),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_is_even(ctx, 13, Some(on_bool), ud(ids[5])),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_count_down(ctx, 0, Some(on_u64), ud(ids[6])),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_native_panic(ctx, 5, Some(on_i64), ud(ids[7])),
            HC_OK
        );
        let text = "via host";
        assert_eq!(
            lib::rt_native_echo_native(
                ctx,
                text.as_ptr().cast(),
                text.len(),
                Some(on_callback),
                ud(ids[8])
            ),
            HC_OK
        );
    }
    let got = |i: usize| client.sink.wait_for(ids[i], 1).remove(0);
    assert_eq!((got(0).ret, got(0).text()), (RET_OK, "7.5".to_owned()));
    assert_eq!(got(1).text(), "-7.5");
    assert_eq!(got(2).text(), "HÉLLO", "text comes back raw, not CBOR");
    assert_eq!(got(3).bytes, vec![3, 2, 1]);
    assert_eq!(got(4).text(), "true");
    assert_eq!((got(5).ret, got(5).text()), (RET_ERR, "unlucky".to_owned()));
    assert_eq!(
        (got(6).ret, got(6).text()),
        (RET_ERR, "already at zero".to_owned())
    );
    assert_eq!(
        (got(7).ret, got(7).text()),
        (
            RET_PANIC,
            "handler 'native_panic' panicked: native 5".to_owned()
        )
    );
    assert_eq!((got(8).ret, got(8).text()), (RET_OK, "via host".to_owned()));
}

#[test]
fn native_entry_points_refuse_bad_arguments_like_call_does() {
    let client = client();
    let ctx = client.ctx.ptr();
    let (null, bad) = (next_id(), next_id());
    let invalid = [0xffu8, 0xfe];
    // SAFETY: pointers are valid for their lengths (or NULL); user data
    // belongs to `client`.
    unsafe {
        assert_eq!(
            lib::rt_native_shout(
                ctx,
                std::ptr::null(),
                3,
                Some(on_callback),
                client.user_data(null)
            ),
            HC_ERR_NULL_ARG
        );
        assert_eq!(
            lib::rt_native_shout(
                ctx,
                invalid.as_ptr().cast(),
                2,
                Some(on_callback),
                client.user_data(bad)
            ),
            HC_OK
        );
        assert_eq!(
            lib::rt_native_is_even(ctx, 1, None, std::ptr::null_mut()),
            HC_ERR_NULL_ARG
        );
        assert_eq!(
            lib::rt_native_is_even(std::ptr::null_mut(), 1, Some(on_bool), std::ptr::null_mut()),
            HC_ERR_NULL_ARG
        );
        assert_eq!(
            lib::rt_native_is_even(
                0x1234_0000_0001 as *mut _,
                1,
                Some(on_bool),
                std::ptr::null_mut()
            ),
            HC_ERR_INVALID_CONTEXT
        );
        let empty = lib::rt_native_shout(
            ctx,
            std::ptr::null(),
            0,
            Some(on_callback),
            client.user_data(null),
        );
        assert_eq!(empty, HC_OK, "NULL with length 0 is the empty string");
    }
    let reply = client.sink.wait_for(bad, 1).remove(0);
    assert_eq!(reply.ret, RET_INVALID_ARG);
    assert!(
        reply
            .text()
            .starts_with("bad request for 'shout': argument `text` is not valid UTF-8"),
        "{}",
        reply.text()
    );
    let empty = client.sink.wait_for(null, 1);
    assert_eq!(
        (empty.len(), empty[0].ret, empty[0].text()),
        (1, RET_OK, String::new())
    );
}

#[test]
fn native_replies_pending_at_destroy_say_shutting_down() {
    let client = client();
    let (pool, _) = echo_pool(&client);
    let id = next_id();
    let text = "held";
    // SAFETY: valid pointers; user data belongs to `client`.
    let status = unsafe {
        lib::rt_native_echo_native(
            client.ctx.ptr(),
            text.as_ptr().cast(),
            text.len(),
            Some(on_callback),
            client.user_data(id),
        )
    };
    assert_eq!(status, HC_OK);
    pool.wait_len(1);
    assert_eq!(client.destroy(), HC_OK);
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(
        (reply.ret, reply.text()),
        (RET_SHUTTING_DOWN, "context shutting down".to_owned())
    );
}

#[test]
fn the_description_marks_which_handlers_are_native() {
    let desc = lib::__HOSTCALL_LIBRARY.description().unwrap();
    let native: Vec<&str> = desc
        .handlers
        .iter()
        .filter(|h| h.native)
        .map(|h| h.name.as_str())
        .collect();
    let not_native: Vec<&str> = desc
        .handlers
        .iter()
        .filter(|h| !h.native)
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(
        not_native,
        ["byte_count"],
        "Option and Vec arguments need CBOR"
    );
    assert!(
        native.contains(&"echo_once") && native.contains(&"mix") && native.contains(&"reverse")
    );
}

/// A host `echo` that never answers by itself: each call's token goes to
/// the returned channel (or nowhere once the test has dropped it: a test's
/// locals go before its context, whose loop may still start a host call).
fn echo_held(client: &Client) -> (Arc<HostImpl>, std::sync::mpsc::Receiver<u64>) {
    let (tokens, calls) = std::sync::mpsc::channel();
    let tokens = std::sync::Mutex::new(tokens);
    let (status, host) = client.register(
        "echo",
        Box::new(move |token, _request| {
            let _ = tokens.lock().unwrap().send(token);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    (host, calls)
}

const HOST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn a_withdrawn_request_cancels_its_host_calls_and_replies_cancelled_once() {
    let client = client();
    let (host, calls) = echo_held(&client);
    let id = next_id();
    let request = hostcall::wire::to_cbor(&("x",)).unwrap();
    let (status, call_id) = client.call_cancellable_raw("echo_once", &request, id);
    assert_eq!(status, HC_OK);
    assert_ne!(call_id, 0);
    let token = calls.recv_timeout(HOST_WAIT).expect("the host call starts");

    assert_eq!(client.cancel(call_id), HC_OK);
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(
        (reply.ret, reply.text().as_str()),
        (RET_CANCELLED, "request 'echo_once' cancelled")
    );
    assert_eq!(
        host.wait_cancelled(1),
        vec![token],
        "its host call is cancelled"
    );
    assert_eq!(client.cancel(call_id), HC_ERR_UNKNOWN_TOKEN, "only once");
    assert_eq!(
        client.complete(token, true, &cbor(&"late")),
        HC_ERR_UNKNOWN_TOKEN
    );
    // Nothing more arrives: a call after it replies in order behind it.
    let (status, call_id2) = client.call_cancellable_raw("echo_once", &request, next_id());
    assert_eq!(status, HC_OK);
    assert!(call_id2 > call_id, "ids are never reused");
    assert_eq!(client.sink.count(id), 1);
    assert_eq!(host.cancelled_tokens(), vec![token]);
}

#[test]
fn a_request_that_replied_cannot_be_withdrawn() {
    let client = client();
    echo_inline(&client);
    let id = next_id();
    let request = hostcall::wire::to_cbor(&("done",)).unwrap();
    let (status, call_id) = client.call_cancellable_raw("echo_once", &request, id);
    assert_eq!(status, HC_OK);
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(reply.value::<String>(), "done");
    assert_eq!(client.cancel(call_id), HC_ERR_UNKNOWN_TOKEN);
    assert_eq!(client.cancel(0), HC_ERR_UNKNOWN_TOKEN);
    assert_eq!(client.cancel(u64::MAX), HC_ERR_UNKNOWN_TOKEN);
    // A synchronous handler replies inline: nothing to withdraw either.
    let id = next_id();
    let sync = hostcall::wire::to_cbor(&(3i64, 4i64)).unwrap();
    let (status, call_id) = client.call_cancellable_raw("mix", &sync, id);
    assert_eq!(status, HC_OK, "{}", last_error(&ABI));
    client.sink.wait_for(id, 1);
    assert_eq!(client.cancel(call_id), HC_ERR_UNKNOWN_TOKEN);
    assert_eq!(client.destroy(), HC_OK);
    assert_eq!(client.cancel(call_id), HC_ERR_INVALID_CONTEXT);
}

#[test]
fn a_host_fn_can_withdraw_the_request_it_serves() {
    let client = Arc::new(client());
    // The id reaches the host fn through a channel: `call_cancellable`
    // returns it to this thread, which may be after the loop already runs
    // the request (the host fn waits for it; this thread waits for nothing).
    let (publish, ids) = std::sync::mpsc::channel::<u64>();
    let ids = std::sync::Mutex::new(ids);
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (inner, seen) = (Arc::clone(&client), Arc::clone(&statuses));
    let (status, host) = client.register(
        "echo",
        Box::new(move |_token, _request| {
            let call_id = ids.lock().unwrap().recv_timeout(HOST_WAIT).unwrap();
            // On the loop thread, inside the host fn: withdraw the caller.
            seen.lock().unwrap().push(inner.cancel(call_id));
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    let id = next_id();
    let request = hostcall::wire::to_cbor(&("x",)).unwrap();
    let (status, call_id) = client.call_cancellable_raw("echo_once", &request, id);
    assert_eq!(status, HC_OK);
    publish.send(call_id).unwrap();
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(
        (reply.ret, reply.text().as_str()),
        (RET_CANCELLED, "request 'echo_once' cancelled")
    );
    assert_eq!(*statuses.lock().unwrap(), vec![HC_OK]);
    assert_eq!(
        host.wait_cancelled(1).len(),
        1,
        "its host call is cancelled"
    );
    assert_eq!(client.cancel(call_id), HC_ERR_UNKNOWN_TOKEN);
}

#[test]
fn withdrawals_racing_replies_and_destroy_end_every_request_once() {
    use rand::Rng;
    const REQUESTS: usize = 2000;
    let client = Arc::new(client_with(&[("max_pending_requests", REQUESTS as u64)]));
    // The host answers each call from a pool thread, racing the cancels.
    let (tokens, calls) = std::sync::mpsc::channel::<u64>();
    let stop = tokens.clone();
    let tokens = std::sync::Mutex::new(tokens);
    let (status, host) = client.register(
        "echo",
        // Nowhere once the test has stopped listening: its context's loop
        // may start a host call after that.
        Box::new(move |token, _request| {
            let _ = tokens.lock().unwrap().send(token);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    const STOP: u64 = u64::MAX;
    let answerer = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || {
            while let Ok(token) = calls.recv_timeout(HOST_WAIT) {
                if token == STOP {
                    return;
                }
                // Unknown once cancelled, invalid once destroyed.
                let status = client.complete(token, true, &cbor(&"answer"));
                assert!(
                    [HC_OK, HC_ERR_UNKNOWN_TOKEN, HC_ERR_INVALID_CONTEXT].contains(&status),
                    "{status}"
                );
            }
        })
    };
    let request = hostcall::wire::to_cbor(&("x",)).unwrap();
    let mut calls = Vec::new();
    for _ in 0..REQUESTS {
        let id = next_id();
        let (status, call_id) = client.call_cancellable_raw("echo_once", &request, id);
        assert_eq!(status, HC_OK);
        calls.push((id, call_id));
    }
    // Four threads cancel a random half, twice each (the second is late).
    let cancelled: Vec<Vec<(u64, i32)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (client, calls) = (&client, &calls);
                scope.spawn(move || {
                    let mut rng = rand::rng();
                    let mut out = Vec::new();
                    for (i, (id, call_id)) in calls.iter().enumerate() {
                        if i % 4 == t && rng.random_bool(0.5) {
                            out.push((*id, client.cancel(*call_id)));
                            out.push((*id, client.cancel(*call_id)));
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut withdrawn = HashSet::new();
    for (id, status) in cancelled.into_iter().flatten() {
        assert!(
            status == HC_OK || status == HC_ERR_UNKNOWN_TOKEN,
            "{status}"
        );
        if status == HC_OK {
            assert!(withdrawn.insert(id), "a second cancel succeeded for {id}");
        }
    }
    for (id, _) in &calls {
        let reply = client.sink.wait_for(*id, 1).remove(0);
        if withdrawn.contains(id) {
            assert_eq!(reply.ret, RET_CANCELLED, "{}", reply.text());
        } else {
            assert_eq!(reply.value::<String>(), "answer");
        }
    }
    // Every request released its pending count: as many again are admitted.
    let more: Vec<u64> = (0..REQUESTS)
        .map(|_| {
            let id = next_id();
            assert_eq!(client.call_raw("echo_once", &request, id), HC_OK);
            id
        })
        .collect();
    // Destroy with those pending, cancelling some at the same time.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for (_, call_id) in calls.iter().take(50) {
                let status = client.cancel(*call_id);
                assert!(
                    status == HC_ERR_UNKNOWN_TOKEN || status == HC_ERR_INVALID_CONTEXT,
                    "{status}"
                );
            }
        });
        assert_eq!(client.destroy(), HC_OK);
    });
    for id in more {
        let replies = client.sink.wait_for(id, 1);
        assert_eq!(replies.len(), 1);
    }
    stop.send(STOP).unwrap();
    answerer.join().unwrap();
    // Each host call was cancelled at most once.
    let tokens = host.cancelled_tokens();
    let unique: HashSet<_> = tokens.iter().collect();
    assert_eq!(unique.len(), tokens.len());
    // Nothing arrived twice.
    for (id, _) in &calls {
        assert_eq!(client.sink.count(*id), 1);
    }
}
