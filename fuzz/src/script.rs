//! The scripts of the `requests` target: what a fuzz input means.
//!
//! An input is one config byte, then up to [`MAX_OPS`] operations, each an
//! opcode byte and its operands. Every byte string decodes to some script
//! (an exhausted input reads as zeros, and the script ends at the first
//! opcode past the end), so the fuzzer never wastes an input on a parse
//! error. [`encode`] writes a script back as bytes: the seed generator
//! builds its scripts as [`Op`]s, and the round-trip test below keeps the two
//! directions in step.

/// The most operations one input runs, so that each input stays fast.
pub const MAX_OPS: usize = 64;

/// The most texts in a `login_many`/`first_profile` request the script
/// builds.
pub const MAX_TEXTS: usize = 4;

/// The longest text the script builds.
pub const MAX_TEXT: usize = 32;

/// The methods `demo` declares, in declaration order; not `crash`, which
/// kills the process by design (isolation's tests call it, in a helper).
pub const METHODS: [&str; 8] = [
    "version",
    "add",
    "login",
    "login_many",
    "first_profile",
    "ping_host",
    "panic_with",
    "sign_in",
];

/// The context's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// NULL/0: the defaults.
    Default,
    /// `spin_us: 0`.
    NoSpin,
    /// `max_pending_requests: 3`: `call` may return `HC_ERR_OVERLOADED`.
    FewPending,
    /// `host_call_timeout_ms: 1`: host calls time out (and are cancelled).
    Timeout,
    /// `max_in_flight: 1`: a second host call in flight fails as overloaded.
    OneInFlight,
}

const CONFIGS: [Config; 5] = [
    Config::Default,
    Config::NoSpin,
    Config::FewPending,
    Config::Timeout,
    Config::OneInFlight,
];

impl Config {
    /// The CBOR map given to `demo_new` (empty for the defaults).
    pub fn cbor(self) -> Vec<u8> {
        let entries: &[(&str, u64)] = match self {
            Config::Default => return Vec::new(),
            Config::NoSpin => &[("spin_us", 0)],
            Config::FewPending => &[("max_pending_requests", 3)],
            Config::Timeout => &[("host_call_timeout_ms", 1), ("spin_us", 0)],
            Config::OneInFlight => &[("max_in_flight", 1)],
        };
        let map: std::collections::BTreeMap<&str, u64> = entries.iter().copied().collect();
        hostcall::wire::to_cbor(&map).expect("a map of integers encodes")
    }
}

/// Which method a `Call` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One of [`METHODS`], by index.
    Declared(u8),
    /// A name the library does not declare.
    Unknown,
    /// The empty name.
    Empty,
    /// A name that is not UTF-8.
    NotUtf8,
    /// A NULL `method` pointer.
    Null,
}

/// A method's arguments, built well-formed by the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `version`: no arguments.
    None,
    /// `add`: two integers.
    Ints(i64, i64),
    /// `login`, `ping_host`, `panic_with` (and the undeclared names): one text.
    Text(String),
    /// `login_many`, `first_profile`: a list of texts.
    Texts(Vec<String>),
}

impl Args {
    /// The CBOR request: an array of the arguments.
    pub fn cbor(&self) -> Vec<u8> {
        let encoded = match self {
            Args::None => hostcall::wire::to_cbor(&()),
            Args::Ints(a, b) => hostcall::wire::to_cbor(&(a, b)),
            Args::Text(s) => hostcall::wire::to_cbor(&(s,)),
            Args::Texts(v) => hostcall::wire::to_cbor(&(v,)),
        };
        let encoded = encoded.expect("plain values encode");
        // `()` encodes as null; a handler without arguments takes `[]`.
        if matches!(self, Args::None) {
            vec![0x80]
        } else {
            encoded
        }
    }
}

/// The request bytes of a `Call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The method's arguments, well-formed.
    WellFormed(Args),
    /// Fuzzer bytes.
    Raw(Vec<u8>),
    /// NULL and 0.
    Empty,
    /// Well-formed, less its last byte.
    Truncated(Args),
    /// NULL with a non-zero length: `HC_ERR_NULL_ARG`.
    NullWithLen,
    /// Well-formed, with a NULL callback: `HC_ERR_NULL_ARG`.
    NullCallback(Args),
}

/// A native entry point and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// `demo_native_version`.
    Version,
    /// `demo_native_add`.
    Add(i64, i64),
    /// `demo_native_ping_host`, with raw (maybe not UTF-8) text.
    PingHost(Vec<u8>),
    /// `demo_native_panic_with`, with raw (maybe not UTF-8) text.
    PanicWith(Vec<u8>),
}

/// How a native call misuses the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abuse {
    /// Not at all.
    None,
    /// A NULL callback: `HC_ERR_NULL_ARG`.
    NullCallback,
    /// A NULL text pointer with a non-zero length (text entry points only;
    /// the others ignore it).
    NullText,
}

/// Which token a completion names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRef {
    /// The `n`th token the host fns were given (modulo their number).
    Recorded(u8),
    /// A token of generation 0 (below 2^24), which no context ever issues.
    Invented(u32),
}

/// The `ret` of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `RET_OK`.
    Ok,
    /// `RET_ERR`.
    Err,
    /// `RET_ERR_TYPED`: accepted; a typed error for `find_account`, a
    /// malformed reply for the host fns without an error type.
    Typed,
    /// None of them: `HC_ERR_INVALID_ARG`, and the token stays completable.
    Invalid(i32),
}

impl Ret {
    /// The value passed to `demo_host_complete`.
    pub fn code(self) -> i32 {
        match self {
            Ret::Ok => 0,
            Ret::Err => 1,
            Ret::Typed => 9,
            Ret::Invalid(n) => n,
        }
    }
}

/// The payload of a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The result the host fn declares: a `Profile` with this name and age
    /// for `fetch_profile`, null for `notify`.
    Proper(String, u8),
    /// Fuzzer bytes.
    Raw(Vec<u8>),
    /// NULL and 0 (reads as CBOR null).
    Empty,
    /// UTF-8 error text.
    Text(String),
    /// NULL with a non-zero length: `HC_ERR_NULL_ARG`.
    NullWithLen,
    /// The other host fn's result: null for `fetch_profile` and
    /// `find_account`, a `Profile` for `notify`.
    Swapped(String, u8),
    /// An `AccountError` (`find_account`'s error type): variant (modulo 3:
    /// `NotFound`, `Locked`, `Suspended`), its text and its number.
    Account(u8, String, u64),
}

/// A completion made inline, from inside the host fn, for the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The outcome code.
    pub ret: Ret,
    /// The payload.
    pub payload: Payload,
    /// Complete the token a second time, at once.
    pub twice: bool,
}

/// Which host fn a registration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFnName {
    /// `fetch_profile`.
    FetchProfile,
    /// `notify`.
    Notify,
    /// `find_account`.
    FindAccount,
    /// A name the library does not declare: `HC_ERR_INVALID_ARG`.
    Undeclared,
    /// `fetch_profile` with a NULL `fn`: `HC_ERR_NULL_ARG`.
    NullFn,
}

/// Whether a registration has a cancel notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// `register_host_fn_cancellable` with a notifier.
    Cancellable,
    /// `register_host_fn`.
    Plain,
    /// `register_host_fn_cancellable` with a NULL notifier.
    NullCancel,
}

/// Which event a listener subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    /// `progress`.
    Progress,
    /// An event the library does not declare: returns 0.
    Undeclared,
    /// `progress` with a NULL callback: returns 0.
    NullCallback,
}

/// Which listener a removal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerRef {
    /// The `n`th listener added (modulo their number).
    Added(u8),
    /// An id never issued: see [`ListenerRef::invented_id`].
    Invented(u8),
}

/// How a call names its call id (`demo_call_cancellable`, a native
/// `_cancellable` form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallId {
    /// A valid pointer.
    Given,
    /// NULL: `HC_ERR_NULL_ARG`.
    Null,
}

/// Which request a `cancel_call` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRef {
    /// The `n`th cancellable call accepted (modulo their number).
    Issued(u8),
    /// An id never issued: see [`CallRef::invented_id`].
    Invented(u8),
}

impl CallRef {
    /// The id of an invented request: 0, a thousand and more (a script
    /// makes far fewer requests), or near `u64::MAX`.
    pub fn invented_id(n: u8) -> u64 {
        match n % 3 {
            0 if n == 0 => 0,
            0 | 1 => 1000 + u64::from(n),
            _ => u64::MAX - u64::from(n),
        }
    }
}

impl ListenerRef {
    /// The id of an invented listener: 0, or near `u64::MAX`.
    pub fn invented_id(n: u8) -> u64 {
        if n == 0 { 0 } else { u64::MAX - u64::from(n) }
    }
}

/// One operation of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `demo_call`.
    Call {
        /// The method.
        method: Method,
        /// The request.
        request: Request,
    },
    /// `demo_call_cancellable`.
    CallCancellable {
        /// The method.
        method: Method,
        /// The request.
        request: Request,
        /// The call id pointer.
        id: CallId,
    },
    /// A native entry point's `_cancellable` form.
    NativeCancellable {
        /// Which, with its arguments.
        entry: Native,
        /// How it misuses the ABI.
        abuse: Abuse,
        /// The call id pointer.
        id: CallId,
    },
    /// `demo_cancel_call`.
    Cancel(CallRef),
    /// `demo_host_call_origin` of a token from the script's thread (never
    /// the loop thread): always 0.
    Origin(TokenRef),
    /// A native entry point.
    Native {
        /// Which, with its arguments.
        entry: Native,
        /// How it misuses the ABI.
        abuse: Abuse,
    },
    /// `demo_host_complete` from the script's thread.
    Complete {
        /// The token.
        token: TokenRef,
        /// The outcome code.
        ret: Ret,
        /// The payload.
        payload: Payload,
        /// Complete it a second time, at once.
        twice: bool,
    },
    /// Completes every token not yet answered.
    CompleteAll {
        /// The outcome code.
        ret: Ret,
        /// The payload.
        payload: Payload,
    },
    /// Queues an inline completion for the next host fn call.
    Inline(Plan),
    /// Registers (again) a host fn.
    Register {
        /// The name.
        host_fn: HostFnName,
        /// With or without a cancel notifier.
        cancel: CancelMode,
    },
    /// `demo_add_event_listener`.
    Listen(EventName),
    /// `demo_remove_event_listener`.
    Unlisten(ListenerRef),
    /// Calls `version` and waits for its reply: lets the loop catch up.
    Sync,
    /// Yields the script's thread.
    Yield,
    /// Destroys the context now; later operations meet a dead handle.
    Destroy,
}

/// A decoded script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The context's config.
    pub config: Config,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

/// Reads an input; past its end every read gives zeros.
struct Reader<'a> {
    input: &'a [u8],
}

impl Reader<'_> {
    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.input.split_first() {
            Some((&b, rest)) => {
                self.input = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.input.len());
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        taken.to_vec()
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn i64(&mut self) -> i64 {
        let k = self.u8();
        let small = i64::from(k >> 2);
        match k & 3 {
            0 => small - 32,
            1 => {
                let mut b = [0; 8];
                b.iter_mut().for_each(|b| *b = self.u8());
                i64::from_le_bytes(b)
            }
            2 => i64::MAX - small,
            _ => i64::MIN + small,
        }
    }

    fn raw(&mut self) -> Vec<u8> {
        let len = usize::from(self.u8());
        self.bytes(len)
    }

    fn text(&mut self) -> String {
        let len = usize::from(self.u8()) % (MAX_TEXT + 1);
        String::from_utf8_lossy(&self.bytes(len)).into_owned()
    }

    fn texts(&mut self) -> Vec<String> {
        let n = usize::from(self.u8()) % (MAX_TEXTS + 1);
        (0..n).map(|_| self.text()).collect()
    }

    fn args(&mut self, method: Method) -> Args {
        match method {
            Method::Declared(0) => Args::None,
            Method::Declared(1) => Args::Ints(self.i64(), self.i64()),
            Method::Declared(3 | 4) => Args::Texts(self.texts()),
            _ => Args::Text(self.text()),
        }
    }

    fn ret(&mut self) -> Ret {
        let b = self.u8();
        if b & 0x08 != 0 {
            return Ret::Typed;
        }
        match b % 8 {
            0..=2 => Ret::Ok,
            3..=5 => Ret::Err,
            6 => Ret::Invalid(2),
            _ => Ret::Invalid(-1),
        }
    }

    fn payload(&mut self) -> Payload {
        let b = self.u8();
        if b & 0x08 != 0 {
            return Payload::Account((b & 0x07) % 3, self.text(), self.i64() as u64);
        }
        match b % 6 {
            0 => Payload::Proper(self.text(), self.u8()),
            1 => Payload::Raw(self.raw()),
            2 => Payload::Empty,
            3 => Payload::Text(self.text()),
            4 => Payload::NullWithLen,
            _ => Payload::Swapped(self.text(), self.u8()),
        }
    }

    fn op(&mut self) -> Op {
        let opcode = self.u8();
        match opcode % 16 {
            0..=2 | 14 => {
                // Bit 7 of the method byte: `sign_in`, the method added last.
                let m = self.u8();
                let method = match m % 11 {
                    _ if m & 0x80 != 0 => Method::Declared(7),
                    m @ 0..=6 => Method::Declared(m),
                    7 => Method::Unknown,
                    8 => Method::Empty,
                    9 => Method::NotUtf8,
                    _ => Method::Null,
                };
                // Bits 4 and 5 of the request byte: cancellable, NULL call id.
                let r = self.u8();
                let cancellable = r & 0x10 != 0;
                let id = if r & 0x20 != 0 {
                    CallId::Null
                } else {
                    CallId::Given
                };
                let request = match r % 8 {
                    0..=2 => Request::WellFormed(self.args(method)),
                    3 => Request::Raw(self.raw()),
                    4 => Request::Empty,
                    5 => Request::Truncated(self.args(method)),
                    6 => Request::NullWithLen,
                    _ => Request::NullCallback(self.args(method)),
                };
                if cancellable {
                    Op::CallCancellable {
                        method,
                        request,
                        id,
                    }
                } else {
                    Op::Call { method, request }
                }
            }
            3 => {
                let entry = match self.u8() % 4 {
                    0 => Native::Version,
                    1 => Native::Add(self.i64(), self.i64()),
                    2 => Native::PingHost(self.raw()),
                    _ => Native::PanicWith(self.raw()),
                };
                // Bits 4 and 5 of the abuse byte: cancellable, NULL call id.
                let a = self.u8();
                let abuse = match a % 4 {
                    0 | 1 => Abuse::None,
                    2 => Abuse::NullCallback,
                    _ => Abuse::NullText,
                };
                if a & 0x10 != 0 {
                    let id = if a & 0x20 != 0 {
                        CallId::Null
                    } else {
                        CallId::Given
                    };
                    Op::NativeCancellable { entry, abuse, id }
                } else {
                    Op::Native { entry, abuse }
                }
            }
            4 | 5 => {
                let t = self.u8();
                let token = if t & 0x80 != 0 {
                    TokenRef::Invented(self.u32() & 0x00ff_ffff)
                } else {
                    TokenRef::Recorded(t & 0x3f)
                };
                Op::Complete {
                    token,
                    ret: self.ret(),
                    payload: self.payload(),
                    twice: t & 0x40 != 0,
                }
            }
            6 => Op::CompleteAll {
                ret: self.ret(),
                payload: self.payload(),
            },
            7 => {
                let twice = self.u8() & 1 != 0;
                Op::Inline(Plan {
                    ret: self.ret(),
                    payload: self.payload(),
                    twice,
                })
            }
            8 => {
                let h = self.u8();
                let host_fn = match h % 4 {
                    _ if h & 0x80 != 0 => HostFnName::FindAccount,
                    0 => HostFnName::FetchProfile,
                    1 => HostFnName::Notify,
                    2 => HostFnName::Undeclared,
                    _ => HostFnName::NullFn,
                };
                let cancel = match ((h & 0x7f) >> 2) % 3 {
                    0 => CancelMode::Cancellable,
                    1 => CancelMode::Plain,
                    _ => CancelMode::NullCancel,
                };
                Op::Register { host_fn, cancel }
            }
            9 => Op::Listen(match self.u8() % 3 {
                0 => EventName::Progress,
                1 => EventName::Undeclared,
                _ => EventName::NullCallback,
            }),
            10 => {
                let u = self.u8();
                Op::Unlisten(if u & 0x80 != 0 {
                    ListenerRef::Invented(u & 0x7f)
                } else {
                    ListenerRef::Added(u)
                })
            }
            11 => Op::Sync,
            12 => {
                let c = self.u8();
                Op::Cancel(if c & 0x80 != 0 {
                    CallRef::Invented(c & 0x7f)
                } else {
                    CallRef::Issued(c)
                })
            }
            13 => Op::Yield,
            _ if opcode == 0xff => Op::Destroy,
            15 => {
                let t = self.u8();
                Op::Origin(if t & 0x80 != 0 {
                    TokenRef::Invented(self.u32() & 0x00ff_ffff)
                } else {
                    TokenRef::Recorded(t & 0x7f)
                })
            }
            _ => Op::Sync,
        }
    }
}

/// Decodes an input into a script.
pub fn decode(input: &[u8]) -> Script {
    let mut reader = Reader { input };
    let config = CONFIGS[usize::from(reader.u8()) % CONFIGS.len()];
    let mut ops = Vec::new();
    while !reader.is_empty() && ops.len() < MAX_OPS {
        ops.push(reader.op());
    }
    Script { config, ops }
}

/// Writes the bytes [`decode`] reads back as `ops`.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, b: u8) {
        self.out.push(b);
    }

    fn i64(&mut self, n: i64) {
        if (-32..32).contains(&n) {
            self.u8(((n + 32) as u8) << 2);
        } else {
            self.u8(1);
            self.out.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        let len = u8::try_from(bytes.len()).expect("raw bytes are at most 255 long");
        self.u8(len);
        self.out.extend_from_slice(bytes);
    }

    fn text(&mut self, s: &str) {
        assert!(
            s.len() <= MAX_TEXT,
            "script texts are at most {MAX_TEXT} bytes"
        );
        self.raw(s.as_bytes());
    }

    fn args(&mut self, args: &Args) {
        match args {
            Args::None => {}
            Args::Ints(a, b) => {
                self.i64(*a);
                self.i64(*b);
            }
            Args::Text(s) => self.text(s),
            Args::Texts(v) => {
                assert!(v.len() <= MAX_TEXTS);
                self.u8(v.len() as u8);
                v.iter().for_each(|s| self.text(s));
            }
        }
    }

    fn ret(&mut self, ret: Ret) {
        self.u8(match ret {
            Ret::Ok => 0,
            Ret::Err => 3,
            Ret::Typed => 8,
            Ret::Invalid(2) => 6,
            Ret::Invalid(-1) => 7,
            Ret::Invalid(n) => panic!("scripts cannot say ret {n}"),
        });
    }

    fn payload(&mut self, payload: &Payload) {
        match payload {
            Payload::Proper(name, age) => {
                self.u8(0);
                self.text(name);
                self.u8(*age);
            }
            Payload::Raw(bytes) => {
                self.u8(1);
                self.raw(bytes);
            }
            Payload::Empty => self.u8(2),
            Payload::Text(s) => {
                self.u8(3);
                self.text(s);
            }
            Payload::NullWithLen => self.u8(4),
            Payload::Swapped(name, age) => {
                self.u8(5);
                self.text(name);
                self.u8(*age);
            }
            Payload::Account(kind, text, num) => {
                self.u8(0x08 | (kind % 3));
                self.text(text);
                self.i64(*num as i64);
            }
        }
    }

    fn call(&mut self, method: Method, request: &Request, flags: u8) {
        self.u8(0);
        self.u8(match method {
            Method::Declared(7) => 0x80,
            Method::Declared(m) => m,
            Method::Unknown => 7,
            Method::Empty => 8,
            Method::NotUtf8 => 9,
            Method::Null => 10,
        });
        match request {
            Request::WellFormed(args) => {
                self.u8(flags);
                self.args(args);
            }
            Request::Raw(bytes) => {
                self.u8(3 | flags);
                self.raw(bytes);
            }
            Request::Empty => self.u8(4 | flags),
            Request::Truncated(args) => {
                self.u8(5 | flags);
                self.args(args);
            }
            Request::NullWithLen => self.u8(6 | flags),
            Request::NullCallback(args) => {
                self.u8(7 | flags);
                self.args(args);
            }
        }
    }

    fn native(&mut self, entry: &Native, abuse: Abuse, flags: u8) {
        self.u8(3);
        match entry {
            Native::Version => self.u8(0),
            Native::Add(a, b) => {
                self.u8(1);
                self.i64(*a);
                self.i64(*b);
            }
            Native::PingHost(bytes) => {
                self.u8(2);
                self.raw(bytes);
            }
            Native::PanicWith(bytes) => {
                self.u8(3);
                self.raw(bytes);
            }
        }
        self.u8(flags
            | match abuse {
                Abuse::None => 0,
                Abuse::NullCallback => 2,
                Abuse::NullText => 3,
            });
    }

    fn op(&mut self, op: &Op) {
        let id_flags = |id: &CallId| 0x10 | if *id == CallId::Null { 0x20 } else { 0 };
        match op {
            Op::Call { method, request } => self.call(*method, request, 0),
            Op::CallCancellable {
                method,
                request,
                id,
            } => self.call(*method, request, id_flags(id)),
            Op::NativeCancellable { entry, abuse, id } => self.native(entry, *abuse, id_flags(id)),
            Op::Cancel(which) => {
                self.u8(12);
                self.u8(match which {
                    CallRef::Issued(n) => n & 0x7f,
                    CallRef::Invented(n) => 0x80 | (n & 0x7f),
                });
            }
            Op::Origin(token) => {
                self.u8(15);
                match token {
                    TokenRef::Recorded(n) => self.u8(n & 0x7f),
                    TokenRef::Invented(n) => {
                        self.u8(0x80);
                        self.out.extend_from_slice(&n.to_le_bytes());
                    }
                }
            }
            Op::Native { entry, abuse } => self.native(entry, *abuse, 0),
            Op::Complete {
                token,
                ret,
                payload,
                twice,
            } => {
                self.u8(4);
                let twice = if *twice { 0x40 } else { 0 };
                match token {
                    TokenRef::Recorded(n) => self.u8((n & 0x3f) | twice),
                    TokenRef::Invented(n) => {
                        self.u8(0x80 | twice);
                        self.out.extend_from_slice(&n.to_le_bytes());
                    }
                }
                self.ret(*ret);
                self.payload(payload);
            }
            Op::CompleteAll { ret, payload } => {
                self.u8(6);
                self.ret(*ret);
                self.payload(payload);
            }
            Op::Inline(plan) => {
                self.u8(7);
                self.u8(u8::from(plan.twice));
                self.ret(plan.ret);
                self.payload(&plan.payload);
            }
            Op::Register { host_fn, cancel } => {
                self.u8(8);
                let name = match host_fn {
                    HostFnName::FindAccount => 0x80,
                    HostFnName::FetchProfile => 0,
                    HostFnName::Notify => 1,
                    HostFnName::Undeclared => 2,
                    HostFnName::NullFn => 3,
                };
                let cancel = match cancel {
                    CancelMode::Cancellable => 0,
                    CancelMode::Plain => 1,
                    CancelMode::NullCancel => 2,
                };
                self.u8(name | cancel << 2);
            }
            Op::Listen(event) => {
                self.u8(9);
                self.u8(match event {
                    EventName::Progress => 0,
                    EventName::Undeclared => 1,
                    EventName::NullCallback => 2,
                });
            }
            Op::Unlisten(listener) => {
                self.u8(10);
                self.u8(match listener {
                    ListenerRef::Added(n) => n & 0x7f,
                    ListenerRef::Invented(n) => 0x80 | (n & 0x7f),
                });
            }
            Op::Sync => self.u8(11),
            Op::Yield => self.u8(13),
            Op::Destroy => self.u8(0xff),
        }
    }
}

/// Encodes a script as the bytes [`decode`] reads back.
pub fn encode(script: &Script) -> Vec<u8> {
    assert!(script.ops.len() <= MAX_OPS);
    let mut writer = Writer { out: Vec::new() };
    writer.u8(CONFIGS.iter().position(|c| *c == script.config).unwrap() as u8);
    script.ops.iter().for_each(|op| writer.op(op));
    writer.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_decodes() {
        for input in [&[][..], &[0], &[0xff; 40], &[3, 0, 1, 0x80]] {
            let script = decode(input);
            assert!(script.ops.len() <= MAX_OPS);
        }
    }

    #[test]
    fn scripts_round_trip() {
        let script = Script {
            config: Config::Timeout,
            ops: vec![
                Op::Call {
                    method: Method::Declared(1),
                    request: Request::WellFormed(Args::Ints(-3, i64::MAX)),
                },
                Op::Call {
                    method: Method::Declared(3),
                    request: Request::Truncated(Args::Texts(vec!["a".into(), "é".into()])),
                },
                Op::Call {
                    method: Method::Null,
                    request: Request::Raw(vec![1, 2, 3]),
                },
                Op::Native {
                    entry: Native::PingHost(vec![0xff]),
                    abuse: Abuse::NullText,
                },
                Op::Complete {
                    token: TokenRef::Invented(77),
                    ret: Ret::Invalid(-1),
                    payload: Payload::Proper("x".into(), 9),
                    twice: true,
                },
                Op::Inline(Plan {
                    ret: Ret::Err,
                    payload: Payload::Text("no".into()),
                    twice: false,
                }),
                Op::Register {
                    host_fn: HostFnName::Notify,
                    cancel: CancelMode::NullCancel,
                },
                Op::CallCancellable {
                    method: Method::Declared(7),
                    request: Request::WellFormed(Args::Text("".into())),
                    id: CallId::Null,
                },
                Op::NativeCancellable {
                    entry: Native::Add(1, -1),
                    abuse: Abuse::None,
                    id: CallId::Given,
                },
                Op::Cancel(CallRef::Issued(3)),
                Op::Cancel(CallRef::Invented(9)),
                Op::Origin(TokenRef::Recorded(2)),
                Op::Origin(TokenRef::Invented(12)),
                Op::Complete {
                    token: TokenRef::Recorded(1),
                    ret: Ret::Typed,
                    payload: Payload::Account(2, "why".into(), u64::MAX),
                    twice: false,
                },
                Op::Register {
                    host_fn: HostFnName::FindAccount,
                    cancel: CancelMode::Plain,
                },
                Op::Unlisten(ListenerRef::Invented(5)),
                Op::Sync,
                Op::Destroy,
            ],
        };
        assert_eq!(decode(&encode(&script)), script);
    }
}
