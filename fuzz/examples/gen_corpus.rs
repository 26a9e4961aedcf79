//! Writes the committed seed corpus: `fuzz/corpus/<target>/<name>`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```
//!
//! Deterministic: the same files every run, named for what they hold. Each
//! target's directory is emptied first, so the corpus is exactly this set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ciborium::Value;
use hostcall::Bytes;
use hostcall_fuzz::script::{
    self, Abuse, Args, CallId, CallRef, CancelMode, Config, EventName, HostFnName, ListenerRef,
    Method, Native, Op, Payload, Plan, Request, Ret, Script, TokenRef,
};
use hostcall_fuzz::types::{Record, STRUCT_AS_ARRAY, Shape, Tree, lying_tree};
use serde::Serialize;

fn cbor<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    hostcall::wire::to_cbor(value).expect("seed values encode")
}

/// One target's seeds, by name.
struct Seeds {
    dir: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
}

impl Seeds {
    fn new(target: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        Self {
            dir,
            files: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: &str, bytes: Vec<u8>) {
        let previous = self.files.insert(name.to_owned(), bytes);
        assert!(previous.is_none(), "two seeds named {name}");
    }

    fn write(self) {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).expect("clear the old seeds");
        }
        std::fs::create_dir_all(&self.dir).expect("create the corpus directory");
        let (count, total) = (
            self.files.len(),
            self.files.values().map(Vec::len).sum::<usize>(),
        );
        for (name, bytes) in self.files {
            std::fs::write(self.dir.join(name), bytes).expect("write a seed");
        }
        println!("{}: {count} files, {total} bytes", self.dir.display());
    }
}

fn record(shape: Shape, big: i128) -> Record {
    Record {
        name: "Ada".into(),
        age: 36,
        tags: vec!["a".into(), "é".into()],
        score: 0.1,
        ratio: 1.5,
        data: Bytes(vec![0, 1, 0xff]),
        shape,
        extra: Some(BTreeMap::from([("k".into(), -5)])),
        big,
        small: -128,
        wide: u64::MAX,
        unit: (),
    }
}

fn cbor_differential() {
    let mut seeds = Seeds::new("cbor_differential");
    seeds.add("struct_as_array", STRUCT_AS_ARRAY.to_vec());
    seeds.add("struct_as_array_bare", STRUCT_AS_ARRAY[1..].to_vec());
    for depth in [1, 10, 127] {
        let tree = lying_tree(depth);
        seeds.add(
            &format!("lying_tree_{depth}_args"),
            [&[0x81][..], &tree].concat(),
        );
        seeds.add(&format!("lying_tree_{depth}"), tree);
    }
    let mut tree = Tree { kids: Vec::new() };
    for _ in 0..5 {
        tree = Tree {
            kids: vec![tree, Tree { kids: Vec::new() }],
        };
    }
    seeds.add("tree", cbor(&tree));
    seeds.add("tree_args", cbor(&(&tree,)));
    let shapes = [
        ("unit", Shape::Unit),
        ("newtype", Shape::Newtype(-7)),
        ("tuple", Shape::Tuple(3, "t".into())),
        (
            "struct",
            Shape::Struct {
                a: Some(true),
                b: vec![1, 65535],
            },
        ),
    ];
    for (name, shape) in &shapes {
        seeds.add(&format!("shape_{name}"), cbor(shape));
        seeds.add(&format!("shape_{name}_args"), cbor(&(shape,)));
    }
    seeds.add(
        "tuple_as_map",
        cbor(&BTreeMap::from([("Tuple", BTreeMap::from([("0", 1)]))])),
    );
    seeds.add("unit_with_value", cbor(&BTreeMap::from([("Unit", 1)])));
    let small = record(Shape::Unit, 1);
    let big = record(Shape::Tuple(1, "x".into()), -(1 << 100));
    seeds.add("record", cbor(&small));
    seeds.add("record_bignum", cbor(&big));
    seeds.add("record_args", cbor(&(&small, 7u32, "s")));
    seeds.add("vec_string", cbor(&["a", "bc", ""]));
    seeds.add("option_none", cbor(&Option::<i64>::None));
    seeds.add("option_some", cbor(&Some(-9i64)));
    seeds.add("undefined", vec![0xf7]);
    seeds.add(
        "map_of_values",
        cbor(&BTreeMap::from([
            ("a", Value::Null),
            ("b", Value::Bool(true)),
        ])),
    );
    seeds.add("triple", cbor(&(255u8, "s", Bytes(vec![1, 2]))));
    seeds.add("u8", cbor(&200u8));
    seeds.add("i8_min", cbor(&-128i64));
    seeds.add("i8_below", cbor(&-129i64));
    seeds.add("u64_max", cbor(&u64::MAX));
    seeds.add("negative_big", cbor(&(-1 - i128::from(u64::MAX))));
    seeds.add("f32", cbor(&1.5f32));
    seeds.add("f64", cbor(&0.1f64));
    seeds.add("half_float", vec![0xf9, 0x3e, 0x00]);
    seeds.add("bool", cbor(&true));
    seeds.add("text_256", cbor(&"x".repeat(256)));
    seeds.add("text_not_utf8", vec![0x62, 0xff, 0xfe]);
    seeds.add("bytes", cbor(&Bytes(vec![9; 20])));
    seeds.add("tag", vec![0xc1, 0x01]);
    seeds.add("indefinite_array", vec![0x9f, 0x01, 0xff]);
    seeds.add("indefinite_text", vec![0x7f, 0x61, 0x61, 0xff]);
    seeds.add("simple_value", vec![0xf8, 0x14]);
    seeds.add("trailing_byte", vec![0x01, 0x00]);
    seeds.add("nested_256", [vec![0x81; 256], vec![0x01]].concat());
    seeds.add("nested_257", [vec![0x81; 257], vec![0x01]].concat());
    seeds.add(
        "profile",
        cbor(&demo::Profile {
            user_id: "u1".into(),
            name: "Ada".into(),
            age: 36,
        }),
    );
    seeds.add(
        "session",
        cbor(&demo::Session {
            user_id: "u1".into(),
            greeting: "Hello, Ada".into(),
        }),
    );
    seeds.add("args_value", cbor(&(Value::Array(vec![Value::Null]),)));
    seeds.add("args_string_option", cbor(&("s", Some(5u32))));
    seeds.add("args_add", cbor(&(1i64, 2i64)));
    seeds.add("args_none", vec![0x80]);
    seeds.add("empty", Vec::new());
    seeds.write();
}

fn config() {
    let mut seeds = Seeds::new("config");
    let map = |entries: &[(&str, Value)]| {
        cbor(&Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::Text((*k).into()), v.clone()))
                .collect(),
        ))
    };
    let int = |n: i128| Value::Integer(n.try_into().unwrap());
    seeds.add("empty", Vec::new());
    seeds.add("empty_map", map(&[]));
    seeds.add(
        "all_keys",
        map(&[
            ("max_in_flight", int(3)),
            ("host_call_timeout_ms", int(250)),
            ("max_pending_requests", int(9)),
            ("spin_us", int(0)),
        ]),
    );
    seeds.add(
        "max_in_flight_max",
        map(&[("max_in_flight", int(16_777_215))]),
    );
    seeds.add(
        "max_in_flight_over",
        map(&[("max_in_flight", int(16_777_216))]),
    );
    seeds.add("max_in_flight_zero", map(&[("max_in_flight", int(0))]));
    seeds.add("negative", map(&[("max_in_flight", int(-1))]));
    seeds.add("spin_us_max", map(&[("spin_us", int(10_000))]));
    seeds.add("spin_us_over", map(&[("spin_us", int(10_001))]));
    seeds.add(
        "timeout_max",
        map(&[("host_call_timeout_ms", int(u64::MAX.into()))]),
    );
    seeds.add(
        "pending_big",
        // 2^64, as a bignum.
        map(&[(
            "max_pending_requests",
            Value::Tag(2, Box::new(Value::Bytes(vec![1, 0, 0, 0, 0, 0, 0, 0, 0]))),
        )]),
    );
    seeds.add("wrong_type", map(&[("spin_us", Value::Text("1".into()))]));
    seeds.add("unknown_key", map(&[("max_in_flite", int(1))]));
    seeds.add(
        "duplicate_key",
        map(&[("spin_us", int(1)), ("spin_us", int(2))]),
    );
    seeds.add("key_not_text", cbor(&Value::Map(vec![(int(1), int(1))])));
    seeds.add("not_a_map", cbor(&[1, 2]));
    seeds.add("truncated", vec![0xa1]);
    seeds.add("trailing", [map(&[]), vec![0x00]].concat());
    seeds.add("tagged", [vec![0xc1], map(&[])].concat());
    seeds.write();
}

fn script(config: Config, ops: Vec<Op>) -> Vec<u8> {
    let script = Script { config, ops };
    let bytes = script::encode(&script);
    assert_eq!(script::decode(&bytes), script, "the script round-trips");
    bytes
}

fn call(method: u8, args: Args) -> Op {
    Op::Call {
        method: Method::Declared(method),
        request: Request::WellFormed(args),
    }
}

fn text(s: &str) -> Args {
    Args::Text(s.into())
}

fn texts(v: &[&str]) -> Args {
    Args::Texts(v.iter().map(|s| (*s).into()).collect())
}

fn profile(name: &str) -> Payload {
    Payload::Proper(name.into(), 30)
}

fn inline(ret: Ret, payload: Payload) -> Op {
    Op::Inline(Plan {
        ret,
        payload,
        twice: false,
    })
}

fn complete(n: u8, ret: Ret, payload: Payload) -> Op {
    Op::Complete {
        token: TokenRef::Recorded(n),
        ret,
        payload,
        twice: false,
    }
}

fn requests() {
    use Config::*;
    let mut seeds = Seeds::new("requests");
    seeds.add(
        "version",
        script(Default, vec![call(0, Args::None), Op::Sync]),
    );
    seeds.add(
        "version_empty",
        script(
            NoSpin,
            vec![Op::Call {
                method: Method::Declared(0),
                request: Request::Empty,
            }],
        ),
    );
    seeds.add(
        "add",
        script(
            Default,
            vec![
                call(1, Args::Ints(2, 3)),
                call(1, Args::Ints(i64::MAX, 1)),
                call(1, Args::Ints(i64::MIN, -1)),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "add_bad_requests",
        script(
            Default,
            vec![
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::Truncated(Args::Ints(1, 2)),
                },
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::Raw(cbor(&(1i64, "two"))),
                },
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::Raw(vec![0x82, 0x01]),
                },
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::Empty,
                },
            ],
        ),
    );
    let cancellable = |method: u8, args: Args| Op::CallCancellable {
        method: Method::Declared(method),
        request: Request::WellFormed(args),
        id: CallId::Given,
    };
    seeds.add(
        "sign_in_typed",
        script(
            Default,
            vec![
                inline(
                    Ret::Typed,
                    Payload::Account(1, String::new(), 1_893_456_000),
                ),
                cancellable(7, text("locked")),
                cancellable(7, text("")),
                call(7, text("plain")),
                cancellable(7, text("nf")),
                Op::Sync,
                Op::Origin(TokenRef::Recorded(0)),
                Op::Complete {
                    token: TokenRef::Recorded(1),
                    ret: Ret::Typed,
                    payload: Payload::Account(2, "spam".into(), u64::MAX),
                    twice: true,
                },
                Op::Complete {
                    token: TokenRef::Recorded(2),
                    ret: Ret::Typed,
                    payload: Payload::Raw(vec![0x6b, b'E', b'm', b'p', b't', b'y']),
                    twice: false,
                },
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "typed_untyped_host_fns",
        script(
            Default,
            vec![
                inline(Ret::Typed, Payload::Account(0, "x".into(), 0)),
                cancellable(2, text("u1")),
                cancellable(5, text("hi")),
                Op::Sync,
                Op::CompleteAll {
                    ret: Ret::Typed,
                    payload: Payload::Empty,
                },
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "cancel",
        script(
            Default,
            vec![
                cancellable(2, text("held")),
                Op::NativeCancellable {
                    entry: Native::PingHost(b"held".to_vec()),
                    abuse: Abuse::None,
                    id: CallId::Given,
                },
                Op::NativeCancellable {
                    entry: Native::Add(1, 2),
                    abuse: Abuse::None,
                    id: CallId::Null,
                },
                Op::Sync,
                Op::Cancel(CallRef::Issued(0)),
                Op::Cancel(CallRef::Issued(1)),
                Op::Cancel(CallRef::Issued(1)),
                Op::Cancel(CallRef::Invented(3)),
                Op::CompleteAll {
                    ret: Ret::Ok,
                    payload: Payload::Empty,
                },
                Op::NativeCancellable {
                    entry: Native::Version,
                    abuse: Abuse::None,
                    id: CallId::Given,
                },
                Op::Cancel(CallRef::Issued(2)),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "login_inline",
        script(
            Default,
            vec![
                inline(Ret::Ok, profile("Ada")),
                call(2, text("u1")),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "login_later",
        script(
            NoSpin,
            vec![
                call(2, text("u1")),
                Op::Sync,
                complete(0, Ret::Ok, profile("Ada")),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "login_error_and_malformed",
        script(
            Default,
            vec![
                inline(Ret::Err, Payload::Text("no such user".into())),
                call(2, text("u1")),
                inline(Ret::Ok, Payload::Raw(vec![0xa1])),
                call(2, text("u2")),
                inline(Ret::Ok, Payload::Swapped("x".into(), 1)),
                call(2, text("u3")),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "login_many_progress",
        script(
            Default,
            vec![
                Op::Listen(EventName::Progress),
                call(3, texts(&["a", "b", "c"])),
                Op::Sync,
                Op::CompleteAll {
                    ret: Ret::Ok,
                    payload: profile("P"),
                },
                Op::Sync,
                Op::Unlisten(ListenerRef::Added(0)),
            ],
        ),
    );
    seeds.add(
        "login_many_fails",
        script(
            Default,
            vec![
                Op::Listen(EventName::Progress),
                call(3, texts(&["a", "b", "c"])),
                Op::Sync,
                complete(1, Ret::Err, Payload::Text("down".into())),
                Op::Sync,
                Op::CompleteAll {
                    ret: Ret::Ok,
                    payload: profile("P"),
                },
            ],
        ),
    );
    seeds.add(
        "first_profile_cancels",
        script(
            NoSpin,
            vec![
                call(4, texts(&["a", "b", "c", "d"])),
                Op::Sync,
                complete(2, Ret::Ok, profile("Third")),
                Op::Sync,
                complete(0, Ret::Ok, profile("Late")),
            ],
        ),
    );
    seeds.add(
        "first_profile_empty",
        script(Default, vec![call(4, texts(&[])), Op::Sync]),
    );
    seeds.add(
        "ping_host",
        script(
            Default,
            vec![
                inline(Ret::Ok, Payload::Empty),
                call(5, text("hello")),
                call(5, text("again")),
                Op::Sync,
                complete(1, Ret::Err, Payload::Raw(vec![0xff, 0xfe])),
            ],
        ),
    );
    seeds.add(
        "panic_with",
        script(Default, vec![call(6, text("boom")), Op::Sync]),
    );
    seeds.add(
        "unknown_methods",
        script(
            Default,
            vec![
                Op::Call {
                    method: Method::Unknown,
                    request: Request::Empty,
                },
                Op::Call {
                    method: Method::Empty,
                    request: Request::Empty,
                },
                Op::Call {
                    method: Method::NotUtf8,
                    request: Request::Empty,
                },
                Op::Call {
                    method: Method::Null,
                    request: Request::Empty,
                },
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::NullWithLen,
                },
                Op::Call {
                    method: Method::Declared(0),
                    request: Request::NullCallback(Args::None),
                },
            ],
        ),
    );
    seeds.add(
        "natives",
        script(
            Default,
            vec![
                Op::Native {
                    entry: Native::Version,
                    abuse: Abuse::None,
                },
                Op::Native {
                    entry: Native::Add(40, 2),
                    abuse: Abuse::None,
                },
                Op::Native {
                    entry: Native::Add(i64::MAX, 1),
                    abuse: Abuse::None,
                },
                inline(Ret::Ok, Payload::Empty),
                Op::Native {
                    entry: Native::PingHost(b"hi".to_vec()),
                    abuse: Abuse::None,
                },
                Op::Native {
                    entry: Native::PanicWith(b"boom".to_vec()),
                    abuse: Abuse::None,
                },
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "natives_abused",
        script(
            Default,
            vec![
                Op::Native {
                    entry: Native::PingHost(vec![0xff]),
                    abuse: Abuse::None,
                },
                Op::Native {
                    entry: Native::PanicWith(vec![0xc3]),
                    abuse: Abuse::None,
                },
                Op::Native {
                    entry: Native::PingHost(b"x".to_vec()),
                    abuse: Abuse::NullText,
                },
                Op::Native {
                    entry: Native::Add(1, 1),
                    abuse: Abuse::NullCallback,
                },
                Op::Native {
                    entry: Native::Version,
                    abuse: Abuse::NullCallback,
                },
            ],
        ),
    );
    seeds.add(
        "tokens_abused",
        script(
            NoSpin,
            vec![
                call(2, text("u1")),
                Op::Sync,
                complete(0, Ret::Invalid(2), profile("A")),
                complete(0, Ret::Ok, Payload::NullWithLen),
                Op::Complete {
                    token: TokenRef::Recorded(0),
                    ret: Ret::Ok,
                    payload: profile("A"),
                    twice: true,
                },
                Op::Complete {
                    token: TokenRef::Invented(5),
                    ret: Ret::Ok,
                    payload: profile("A"),
                    twice: false,
                },
                Op::Inline(Plan {
                    ret: Ret::Ok,
                    payload: profile("B"),
                    twice: true,
                }),
                call(2, text("u2")),
                Op::Inline(Plan {
                    ret: Ret::Invalid(-1),
                    payload: Payload::Empty,
                    twice: true,
                }),
                call(5, text("m")),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "reregister",
        script(
            Default,
            vec![
                call(2, text("u1")),
                Op::Sync,
                Op::Register {
                    host_fn: HostFnName::FetchProfile,
                    cancel: CancelMode::Plain,
                },
                call(2, text("u2")),
                Op::Register {
                    host_fn: HostFnName::Notify,
                    cancel: CancelMode::NullCancel,
                },
                call(5, text("m")),
                Op::Register {
                    host_fn: HostFnName::Undeclared,
                    cancel: CancelMode::Cancellable,
                },
                Op::Register {
                    host_fn: HostFnName::NullFn,
                    cancel: CancelMode::Cancellable,
                },
                Op::Sync,
                complete(1, Ret::Ok, profile("A")),
            ],
        ),
    );
    seeds.add(
        "listeners",
        script(
            Default,
            vec![
                Op::Listen(EventName::Progress),
                Op::Listen(EventName::Undeclared),
                Op::Listen(EventName::NullCallback),
                Op::Listen(EventName::Progress),
                Op::Unlisten(ListenerRef::Added(0)),
                Op::Unlisten(ListenerRef::Added(0)),
                Op::Unlisten(ListenerRef::Invented(0)),
                Op::Unlisten(ListenerRef::Invented(9)),
                inline(Ret::Ok, profile("A")),
                call(3, texts(&["a"])),
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "destroy_early",
        script(
            Default,
            vec![
                call(2, text("u1")),
                Op::Sync,
                Op::Destroy,
                call(0, Args::None),
                complete(0, Ret::Ok, profile("A")),
                Op::Native {
                    entry: Native::Add(1, 2),
                    abuse: Abuse::None,
                },
                Op::Listen(EventName::Progress),
                Op::Unlisten(ListenerRef::Added(0)),
                Op::Register {
                    host_fn: HostFnName::Notify,
                    cancel: CancelMode::Cancellable,
                },
            ],
        ),
    );
    seeds.add(
        "timeouts",
        script(
            Timeout,
            vec![
                call(2, text("u1")),
                call(3, texts(&["a", "b"])),
                Op::Sync,
                Op::Yield,
                Op::Sync,
                complete(0, Ret::Ok, profile("A")),
            ],
        ),
    );
    seeds.add(
        "few_pending",
        script(
            FewPending,
            vec![
                call(2, text("u1")),
                call(2, text("u2")),
                call(2, text("u3")),
                call(0, Args::None),
                Op::Native {
                    entry: Native::Version,
                    abuse: Abuse::None,
                },
                Op::CompleteAll {
                    ret: Ret::Ok,
                    payload: profile("A"),
                },
                Op::Sync,
            ],
        ),
    );
    seeds.add(
        "one_in_flight",
        script(
            OneInFlight,
            vec![
                call(3, texts(&["a", "b", "c"])),
                Op::Sync,
                Op::CompleteAll {
                    ret: Ret::Ok,
                    payload: profile("A"),
                },
            ],
        ),
    );
    seeds.add(
        "raw_requests",
        script(
            Default,
            vec![
                Op::Call {
                    method: Method::Declared(2),
                    request: Request::Raw(vec![0x81, 0x62, 0xff, 0xfe]),
                },
                Op::Call {
                    method: Method::Declared(3),
                    request: Request::Raw(lying_tree(3)),
                },
                Op::Call {
                    method: Method::Declared(4),
                    request: Request::Raw(vec![
                        0x81, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    ]),
                },
                Op::Call {
                    method: Method::Declared(6),
                    request: Request::Raw(cbor(&("a", "b"))),
                },
                Op::Call {
                    method: Method::Declared(5),
                    request: Request::Truncated(text("hello")),
                },
            ],
        ),
    );
    seeds.write();
}

/// Seeds of `frames`: one frame of each message both ways, a burst of
/// several, and the malformed cases the decoder must refuse (length 0, a
/// length past the input, a length past the limit, junk, trailing bytes).
fn frames() {
    use hostcall::isolation::protocol::{self, Down, PROTOCOL_VERSION, Up};
    let mut seeds = Seeds::new("frames");
    let frame = |message: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        message(&mut out);
        out
    };
    let bytes = |b: &[u8]| Bytes(b.to_vec());
    let ups = [
        (
            "welcome",
            Up::Welcome {
                version: PROTOCOL_VERSION,
                interface_hash: 0x0123_4567_89ab_cdef,
            },
        ),
        (
            "refused",
            Up::Refused {
                reason: "no such library".into(),
            },
        ),
        (
            "reply",
            Up::Reply {
                id: 7,
                ret: 0,
                payload: bytes(&[0x05]),
            },
        ),
        (
            "host_call",
            Up::HostCall {
                token: 1 << 40,
                index: 0,
                args: bytes(&[0x81, 0x63, b'a', b'n', b'n']),
                origin: 3,
            },
        ),
        ("host_cancel", Up::HostCancel { token: 9 }),
        (
            "event",
            Up::Event {
                index: 0,
                payload: bytes(&[0xa0]),
            },
        ),
    ];
    let downs = [
        (
            "hello",
            Down::Hello {
                version: PROTOCOL_VERSION,
                prefix: "demo".into(),
                interface_hash: 1,
                config: bytes(&[0xa0]),
                host_fns: vec!["fetch_profile".into()],
                events: vec!["progress".into()],
            },
        ),
        (
            "call",
            Down::Call {
                id: 1,
                method: "add".into(),
                args: bytes(&[0x82, 0x01, 0x02]),
                cancellable: true,
            },
        ),
        ("cancel", Down::Cancel { id: 1 }),
        (
            "register",
            Down::Register {
                index: 2,
                cancellable: false,
            },
        ),
        (
            "complete",
            Down::Complete {
                token: 5,
                ret: 1,
                payload: bytes(b"no"),
            },
        ),
    ];
    let mut burst = Vec::new();
    for (name, message) in &ups {
        seeds.add(
            &format!("up_{name}"),
            frame(&|out| protocol::encode(message, out)),
        );
        protocol::encode(message, &mut burst);
    }
    for (name, message) in &downs {
        seeds.add(
            &format!("down_{name}"),
            frame(&|out| protocol::encode(message, out)),
        );
        protocol::encode(message, &mut burst);
    }
    seeds.add("burst", burst);
    seeds.add("length_zero", vec![0, 0, 0, 0]);
    seeds.add("length_past_input", vec![0xff, 0xff, 0x00, 0x00, 0xa0]);
    seeds.add("length_past_limit", vec![0xff, 0xff, 0xff, 0xff]);
    seeds.add("junk", vec![3, 0, 0, 0, 0xff, 0xff, 0xff]);
    let mut trailing = frame(&|out| protocol::encode(&Down::Cancel { id: 1 }, out));
    trailing.push(0);
    trailing[0] += 1;
    seeds.add("trailing", trailing);
    seeds.write();
}

fn main() {
    cbor_differential();
    config();
    requests();
    frames();
}
