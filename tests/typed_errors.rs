//! Library-declared error types both ways, the request a host call serves
//! (`<lib>_host_call_origin`) and the cancellable native entry points,
//! driven through the C ABI of a test library (prefix `te`).

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use hostcall::status::*;
use hostcall_testkit::*;

mod lib {
    use hostcall::host_fn;
    use serde::{Deserialize, Serialize};

    /// Every variant shape.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, hostcall::Error)]
    pub enum Problem {
        /// Unit.
        Empty,
        /// One field.
        Message(String),
        /// Two fields.
        Pair(String, u64),
        /// Named fields.
        Limit {
            /// The limit.
            max: u32,
            /// What was asked.
            asked: u32,
        },
    }

    /// The host's typed error.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, hostcall::Error)]
    pub enum Lookup {
        /// Not there.
        Missing {
            /// What was looked up.
            key: String,
        },
        /// Refused, with a code.
        Refused(u32),
    }

    host_fn! {
        /// Looks `key` up; fails with a typed `Lookup`.
        pub fn find(key: String) -> Result<String, Lookup>;
        /// Echoes; fails with text only.
        pub fn echo(text: String) -> String;
    }

    /// Fails with the variant `which` names.
    #[hostcall::handler]
    pub fn fail_as(which: String) -> Result<u32, Problem> {
        match which.as_str() {
            "empty" => Err(Problem::Empty),
            "message" => Err(Problem::Message("m".to_owned())),
            "pair" => Err(Problem::Pair("p".to_owned(), 7)),
            "limit" => Err(Problem::Limit { max: 3, asked: 9 }),
            _ => Ok(1),
        }
    }

    /// A native entry point with a typed error.
    #[hostcall::handler]
    pub fn halve(n: i64) -> Result<i64, Problem> {
        if n % 2 == 0 {
            Ok(n / 2)
        } else {
            Err(Problem::Pair("odd".to_owned(), n.unsigned_abs()))
        }
    }

    /// Awaits `find` and reports what the Rust side saw, as text: the value,
    /// `typed:<Debug of the Lookup>`, or `host:<outcome>:<HostError>`.
    #[hostcall::handler]
    pub async fn lookup(key: String) -> String {
        match find(key).await {
            Ok(Ok(value)) => format!("ok:{value}"),
            Ok(Err(typed)) => format!("typed:{typed:?}"),
            Err(error) => format!("host:{}:{error}", error.outcome()),
        }
    }

    /// Passes the host call's error through, typed error and all: a typed
    /// error becomes this handler's `Problem`, anything else its text.
    #[hostcall::handler]
    pub async fn lookup_or_fail(key: String) -> Result<String, Problem> {
        match find(key).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Lookup::Missing { key })) => Err(Problem::Message(key)),
            Ok(Err(Lookup::Refused(code))) => Err(Problem::Limit {
                max: 0,
                asked: code,
            }),
            Err(error) => Err(Problem::Message(error.to_string())),
        }
    }

    /// Awaits `echo`, with its text error passed through.
    #[hostcall::handler]
    pub async fn relay(text: String) -> Result<String, hostcall::HostError> {
        echo(text).await
    }

    /// Awaits `echo` from a task it spawns: a host call made for no request.
    #[hostcall::handler]
    pub async fn relay_spawned(text: String) -> Result<String, String> {
        tokio::task::spawn_local(async move { echo(text).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| e.to_string())?
    }

    /// A native entry point awaiting the host.
    #[hostcall::handler]
    pub async fn relay_native(text: String) -> Result<String, String> {
        echo(text).await.map_err(|e| e.to_string())
    }

    hostcall::export! {
        prefix = "te",
        handlers = [fail_as, halve, lookup, lookup_or_fail, relay, relay_spawned, relay_native],
        host_fns = [find, echo],
        events = [],
    }
}

use lib::{Lookup, Problem};

use lib::__HOSTCALL_ENTRY_POINTS as ABI;

const HOST_WAIT: Duration = Duration::from_secs(30);

fn client() -> Client {
    Client::new(&ABI, &[]).expect("context")
}

fn complete_raw(client: &Client, token: u64, ret: i32, payload: &[u8]) -> i32 {
    complete_with(client.abi, client.ctx, token, ret, payload)
}

/// A host fn `name` that sends each call's token to the test.
fn held(client: &Client, name: &str) -> (Arc<HostImpl>, mpsc::Receiver<u64>) {
    let (tokens, calls) = mpsc::channel();
    let tokens = Mutex::new(tokens);
    let (status, host) = client.register(
        name,
        // Nowhere once the test has stopped listening: its context's loop
        // may start a host call after that.
        Box::new(move |token, _request| {
            let _ = tokens.lock().unwrap().send(token);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    (host, calls)
}

#[test]
fn a_typed_error_reply_is_the_cbor_of_the_variant() {
    let client = client();
    for (which, expected) in [
        ("empty", Problem::Empty),
        ("message", Problem::Message("m".to_owned())),
        ("pair", Problem::Pair("p".to_owned(), 7)),
        ("limit", Problem::Limit { max: 3, asked: 9 }),
    ] {
        let reply = client.call("fail_as", &(which,));
        assert_eq!(reply.ret, RET_ERR_TYPED, "{which}");
        assert_eq!(reply.typed_error::<Problem>(), expected, "{which}");
    }
    // The documented wire form: serde's externally tagged enum.
    let empty = client.call("fail_as", &("empty",));
    assert_eq!(empty.bytes, cbor("Empty"));
    let message = client.call("fail_as", &("message",));
    let as_map: std::collections::BTreeMap<String, String> =
        hostcall::wire::from_cbor(&message.bytes).unwrap();
    assert_eq!(as_map["Message"], "m");
    let pair = client.call("fail_as", &("pair",));
    let as_map: std::collections::BTreeMap<String, (String, u64)> =
        hostcall::wire::from_cbor(&pair.bytes).unwrap();
    assert_eq!(as_map["Pair"], ("p".to_owned(), 7));
    let limit = client.call("fail_as", &("limit",));
    let as_map: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u32>> =
        hostcall::wire::from_cbor(&limit.bytes).unwrap();
    assert_eq!(as_map["Limit"]["max"], 3);
    assert_eq!(as_map["Limit"]["asked"], 9);
    let ok = client.call("fail_as", &("none",));
    assert_eq!((ok.ret, ok.value::<u32>()), (RET_OK, 1));
}

#[test]
fn a_native_typed_error_arrives_as_cbor_in_the_error_bytes() {
    let client = client();
    let (even, odd) = (next_id(), next_id());
    // SAFETY: the user data belongs to `client`, which outlives the context.
    unsafe {
        assert_eq!(
            lib::te_native_halve(client.ctx.ptr(), 8, Some(on_i64), client.user_data(even)),
            HC_OK
        );
        assert_eq!(
            lib::te_native_halve(client.ctx.ptr(), -5, Some(on_i64), client.user_data(odd)),
            HC_OK
        );
    }
    let even = client.sink.wait_for(even, 1).remove(0);
    assert_eq!((even.ret, even.text()), (RET_OK, "4".to_owned()));
    let odd = client.sink.wait_for(odd, 1).remove(0);
    assert_eq!(odd.ret, RET_ERR_TYPED);
    assert_eq!(
        odd.typed_error::<Problem>(),
        Problem::Pair("odd".to_owned(), 5)
    );
}

#[test]
fn the_host_completes_with_a_typed_error_the_rust_code_matches_on() {
    let client = client();
    let (_host, calls) = held(&client, "find");
    let cases: Vec<(i32, Vec<u8>, String)> = vec![
        (RET_OK, cbor("v"), "ok:v".to_owned()),
        (
            RET_ERR_TYPED,
            cbor(&Lookup::Missing { key: "k".into() }),
            "typed:Missing { key: \"k\" }".to_owned(),
        ),
        (
            RET_ERR_TYPED,
            cbor(&Lookup::Refused(42)),
            "typed:Refused(42)".to_owned(),
        ),
        (
            RET_ERR,
            b"db down".to_vec(),
            format!("host:{RET_ERR}:db down"),
        ),
    ];
    for (ret, payload, expected) in cases {
        let id = next_id();
        assert_eq!(client.call_raw("lookup", &cbor(&("k",)), id), HC_OK);
        let token = calls.recv_timeout(HOST_WAIT).expect("the host call starts");
        assert_eq!(complete_raw(&client, token, ret, &payload), HC_OK);
        let reply = client.sink.wait_for(id, 1).remove(0);
        assert_eq!((reply.ret, reply.value::<String>()), (RET_OK, expected));
    }
}

#[test]
fn malformed_or_unexpected_typed_errors_are_bad_replies() {
    let client = client();
    let (_find, find_calls) = held(&client, "find");
    // Not a `Lookup`: a variant that does not exist, then not CBOR at all.
    for payload in [cbor(&("Gone",)), b"\xff\xff".to_vec(), cbor("Missing")] {
        let id = next_id();
        assert_eq!(client.call_raw("lookup", &cbor(&("k",)), id), HC_OK);
        let token = find_calls.recv_timeout(HOST_WAIT).unwrap();
        assert_eq!(complete_raw(&client, token, RET_ERR_TYPED, &payload), HC_OK);
        let text = client.sink.wait_for(id, 1).remove(0).value::<String>();
        assert!(
            text.starts_with(&format!("host:{RET_INVALID_ARG}:"))
                && text.contains("malformed reply: not a valid Lookup"),
            "{text}"
        );
    }
    // A host fn that declares no error type cannot be completed with one;
    // passed through, the failure keeps its kind.
    let (_echo, echo_calls) = held(&client, "echo");
    let id = next_id();
    assert_eq!(client.call_raw("relay", &cbor(&("x",)), id), HC_OK);
    let token = echo_calls.recv_timeout(HOST_WAIT).unwrap();
    assert_eq!(
        complete_raw(&client, token, RET_ERR_TYPED, &cbor(&Lookup::Refused(1))),
        HC_OK
    );
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(reply.ret, RET_INVALID_ARG);
    assert!(
        reply.text().contains("declares no error type"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_handler_maps_the_hosts_typed_error_into_its_own() {
    let client = client();
    let (_host, calls) = held(&client, "find");
    let cases = [
        (
            RET_ERR_TYPED,
            cbor(&Lookup::Missing { key: "k".into() }),
            Problem::Message("k".into()),
        ),
        (
            RET_ERR_TYPED,
            cbor(&Lookup::Refused(5)),
            Problem::Limit { max: 0, asked: 5 },
        ),
        (
            RET_ERR,
            b"db down".to_vec(),
            Problem::Message("db down".into()),
        ),
    ];
    for (ret, payload, expected) in cases {
        let id = next_id();
        assert_eq!(client.call_raw("lookup_or_fail", &cbor(&("k",)), id), HC_OK);
        let token = calls.recv_timeout(HOST_WAIT).unwrap();
        assert_eq!(complete_raw(&client, token, ret, &payload), HC_OK);
        let reply = client.sink.wait_for(id, 1).remove(0);
        assert_eq!(reply.ret, RET_ERR_TYPED);
        assert_eq!(reply.typed_error::<Problem>(), expected);
    }
}

#[test]
fn the_description_lists_error_types_and_leaves_them_out_when_absent() {
    let desc = lib::__HOSTCALL_LIBRARY.description().expect("consistent");
    let names: Vec<&str> = desc.error_types.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Problem", "Lookup"]);
    let problem = desc.error_type("Problem").unwrap();
    use hostcall::describe::VariantShape;
    let shapes: Vec<(&str, &VariantShape, usize)> = problem
        .variants
        .iter()
        .map(|v| (v.name.as_str(), &v.shape, v.fields.len()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("Empty", &VariantShape::Unit, 0),
            ("Message", &VariantShape::Tuple, 1),
            ("Pair", &VariantShape::Tuple, 2),
            ("Limit", &VariantShape::Struct, 2),
        ]
    );
    assert_eq!(problem.variants[3].fields[1].name, "asked");
    let error_of = |name: &str| {
        desc.handlers
            .iter()
            .chain(&desc.host_fns)
            .find(|f| f.name == name)
            .unwrap()
            .error
            .clone()
    };
    assert_eq!(error_of("fail_as").as_deref(), Some("Problem"));
    assert_eq!(error_of("find").as_deref(), Some("Lookup"));
    assert_eq!(error_of("relay"), None, "HostError is text, not a type");
    assert_eq!(error_of("echo"), None);
    // A library without error types describes itself without the keys, so
    // its interface hash is what it was before they existed.
    let plain = hostcall::LibraryDesc {
        error_types: Vec::new(),
        handlers: desc
            .handlers
            .iter()
            .cloned()
            .map(|mut f| {
                f.error = None;
                f
            })
            .collect(),
        host_fns: Vec::new(),
        ..desc.clone()
    };
    let bytes = hostcall::wire::to_cbor(&plain).unwrap();
    let value: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
    let keys = |v: &ciborium::Value| -> Vec<String> {
        v.as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_owned())
            .collect()
    };
    let top = keys(&value);
    assert!(!top.contains(&"error_types".to_owned()), "{top:?}");
    assert!(top.contains(&"records".to_owned()), "{top:?}");
    let handlers = value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("handlers"))
        .unwrap()
        .1
        .as_array()
        .unwrap();
    for handler in handlers {
        let keys = keys(handler);
        assert!(!keys.contains(&"error".to_owned()), "{keys:?}");
        assert!(keys.contains(&"fallible".to_owned()), "{keys:?}");
    }
}

/// A host fn `echo` that records `host_call_origin` for its own token, for
/// another token, and (through `probe`) from another thread while it runs;
/// then completes inline.
struct OriginProbe {
    seen: Mutex<Vec<(u64, u64, u64)>>,
}

fn origin_echo(client: &Client) -> Arc<OriginProbe> {
    let probe = Arc::new(OriginProbe {
        seen: Mutex::new(Vec::new()),
    });
    let (abi, ctx, record) = (client.abi, client.ctx, Arc::clone(&probe));
    let (status, _host) = client.register(
        "echo",
        Box::new(move |token, request| {
            // SAFETY: `ctx` is compared, never dereferenced.
            let own = unsafe { (abi.host_call_origin)(ctx.ptr(), token) };
            // SAFETY: as above.
            let other = unsafe { (abi.host_call_origin)(ctx.ptr(), token ^ 1) };
            let elsewhere = std::thread::scope(|s| {
                s.spawn(|| {
                    // SAFETY: as above.
                    unsafe { (abi.host_call_origin)(ctx.ptr(), token) }
                })
                .join()
                .unwrap()
            });
            record.seen.lock().unwrap().push((own, other, elsewhere));
            let (text,): (String,) = hostcall::wire::from_cbor(request).unwrap();
            assert_eq!(complete(abi, ctx, token, true, &cbor(&text)), HC_OK);
        }),
        true,
    );
    assert_eq!(status, HC_OK);
    probe
}

#[test]
fn a_host_fn_learns_the_request_it_serves() {
    let client = client();
    let probe = origin_echo(&client);
    // A cancellable request: its call id.
    let id = next_id();
    let (status, call_id) = client.call_cancellable_raw("relay", &cbor(&("a",)), id);
    assert_eq!(status, HC_OK);
    assert_eq!(client.sink.wait_for(id, 1)[0].value::<String>(), "a");
    // A plain request, and a task the library spawned: no request.
    assert_eq!(client.call("relay", &("b",)).value::<String>(), "b");
    let spawned = next_id();
    let (status, _) = client.call_cancellable_raw("relay_spawned", &cbor(&("c",)), spawned);
    assert_eq!(status, HC_OK);
    assert_eq!(client.sink.wait_for(spawned, 1)[0].value::<String>(), "c");
    // A native call, cancellable and not.
    let (native, native_plain) = (next_id(), next_id());
    let mut native_id = 0;
    // SAFETY: valid pointers for their lengths; the user data belongs to
    // `client`; `native_id` is valid for a write.
    unsafe {
        assert_eq!(
            lib::te_native_relay_native_cancellable(
                client.ctx.ptr(),
                "d".as_ptr().cast(),
                1,
                Some(on_callback),
                client.user_data(native),
                &mut native_id,
            ),
            HC_OK
        );
        assert_eq!(
            lib::te_native_relay_native(
                client.ctx.ptr(),
                "e".as_ptr().cast(),
                1,
                Some(on_callback),
                client.user_data(native_plain),
            ),
            HC_OK
        );
    }
    assert_eq!(client.sink.wait_for(native, 1)[0].text(), "d");
    assert_eq!(client.sink.wait_for(native_plain, 1)[0].text(), "e");
    assert!(call_id != 0 && native_id > call_id);
    assert_eq!(
        *probe.seen.lock().unwrap(),
        vec![
            (call_id, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (native_id, 0, 0),
            (0, 0, 0)
        ],
        "(own token, another token, another thread)"
    );
    // Outside any invocation, and for a context that is not the loop's.
    // SAFETY: `ctx` is compared, never dereferenced.
    unsafe {
        assert_eq!((ABI.host_call_origin)(client.ctx.ptr(), 1), 0);
        assert_eq!((ABI.host_call_origin)(std::ptr::null_mut(), 1), 0);
    }
}

#[test]
fn a_cancellable_native_call_is_withdrawn_like_any_other() {
    let client = client();
    let (host, calls) = held(&client, "echo");
    let id = next_id();
    let mut call_id = 0;
    // SAFETY: as in the test above.
    let status = unsafe {
        lib::te_native_relay_native_cancellable(
            client.ctx.ptr(),
            "x".as_ptr().cast(),
            1,
            Some(on_callback),
            client.user_data(id),
            &mut call_id,
        )
    };
    assert_eq!(status, HC_OK);
    let token = calls.recv_timeout(HOST_WAIT).expect("the host call starts");
    assert_eq!(client.cancel(call_id), HC_OK);
    let reply = client.sink.wait_for(id, 1).remove(0);
    assert_eq!(
        (reply.ret, reply.text().as_str()),
        (RET_CANCELLED, "request 'relay_native' cancelled")
    );
    assert_eq!(host.wait_cancelled(1), vec![token]);
    assert_eq!(client.cancel(call_id), HC_ERR_UNKNOWN_TOKEN);
    // NULL `call_id` is refused before anything runs.
    // SAFETY: as above; a NULL `call_id` is checked.
    let status = unsafe {
        lib::te_native_halve_cancellable(
            client.ctx.ptr(),
            2,
            Some(on_i64),
            client.user_data(next_id()),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, HC_ERR_NULL_ARG);
}
