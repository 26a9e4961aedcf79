//! The request path through the C ABI of the reference library `demo`
//! (group `request_path/…`), driven exactly as a C host drives it: the CBOR
//! request is written per call into a stack buffer, `demo_call` is given a
//! reply callback, and the callback decodes the CBOR result.
//!
//! * `add_cbor_latency`: `add(a, b)`, one call outstanding at a time (the
//!   caller spins briefly for the reply, then sleeps).
//! * `add_cbor_pipelined`: batches of 1024 `add` calls issued back to back,
//!   then all replies awaited; time per call.
//! * `login_inline_latency` / `login_inline_pipelined`: `login(id)`, whose
//!   handler awaits the host fn `fetch_profile`, which the host completes
//!   inline (inside the host fn) with a CBOR `Profile`; the reply is a CBOR
//!   `Session`. CBOR both ways.
//! * `add_native_latency` / `add_native_pipelined`: the same `add` through
//!   the native typed entry point `demo_native_add`: no CBOR on either side.
//! * `login_worker_latency`: `login` one at a time, `fetch_profile` handing
//!   its token to a host worker thread that sleeps on a condition variable
//!   and completes it; the caller sleeps on a condition variable for its
//!   reply. Compare with `baselines/condvar_relay` (the same four hand-offs,
//!   caller → loop → worker → loop → caller, between plain threads).
//! * `login_10k_worker`: 10,000 `login`s issued back to back, the worker
//!   completing whatever has queued each time it wakes (batches); time per
//!   login.
//!
//! Each login bench also runs as `…_no_spin` on a context with `spin_us: 0`
//! (the loop sleeps as soon as it is idle), the same-run baseline of the
//! loop's idle watching (docs/threading.md, "CPU use"), and as `…_process`
//! on a context isolated in a helper process (`isolation: "process"`,
//! docs/isolation.md), beside the in-process figure of the same run; the
//! inline and 10k logins also as `…_socket` and `…_tcp`, served by a
//! helper already running (`hostcall-helper --socket` / `--tcp
//! 127.0.0.1:0`) that the bench starts. With
//! `HOSTCALL_BENCH_INTERLEAVE=<rounds>` the login benches run interleaved
//! instead (`common::interleave`), with CPU time per login.

mod common;

use std::ffi::{CStr, c_char, c_void};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_main};

use common::cbor::{Reader, Writer};
use common::handoff::TokenQueue;
use common::{DEMO_ABI, Replies};
use hostcall::status::{HC_OK, RET_OK};
use hostcall_testkit::{Ctx, EntryPoints, complete, payload};

/// Calls issued back to back before waiting, in the pipelined benches.
const PIPELINE: u64 = 1024;

/// The user id every `login` asks for.
const USER_ID: &str = "user-000042";

/// The request of `add(a, b)`: `[a, b]`.
#[inline]
fn add_request(a: i64, b: i64) -> Writer<24> {
    let mut w = Writer::new();
    w.array(2).int(a).int(b);
    w
}

/// The request of `login(user_id)`: `[user_id]`.
#[inline]
fn login_request(user_id: &str) -> Writer<64> {
    let mut w = Writer::new();
    w.array(1).text(user_id);
    w
}

/// Reads `add`'s CBOR integer result.
fn read_add(bytes: &[u8]) -> Option<u64> {
    common::cbor::read_int(bytes).map(|v| v as u64)
}

/// Reads `login`'s `Session` map and checks the greeting.
fn read_session(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader::new(bytes);
    if r.map()? != 2 {
        return None;
    }
    let mut greeting = None;
    for _ in 0..2 {
        match r.text()? {
            "user_id" => {
                (r.text()? == USER_ID).then_some(())?;
            }
            "greeting" => greeting = Some(r.text()?),
            _ => return None,
        }
    }
    let greeting = greeting?;
    (r.done() && greeting.starts_with("Hello, ")).then_some(greeting.len() as u64)
}

/// The host side of `fetch_profile`: answers inline with a `Profile`.
struct ProfileHost {
    abi: &'static EntryPoints,
    ctx: Ctx,
}

/// `fetch_profile(user_id)`, completed inside the host fn.
///
/// # Safety
/// `user_data` must point at a live `ProfileHost`; `req` valid for `len`.
unsafe extern "C" fn fetch_profile_inline(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `ProfileHost` that outlives the context; the
    // request is valid during this call.
    let (host, req) = unsafe { (&*user_data.cast::<ProfileHost>(), payload(req, len)) };
    let mut r = Reader::new(req);
    assert_eq!(r.array(), Some(1), "fetch_profile takes [user_id]");
    let user_id = r.text().expect("user_id is text");
    let profile = common::cbor::profile(user_id);
    let status = complete(host.abi, host.ctx, token, true, profile.bytes());
    assert_eq!(status, HC_OK, "fetch_profile completion refused");
}

/// The host side of `fetch_profile` on a worker thread: the host fn queues
/// its token, the worker (asleep on a condition variable while the queue is
/// empty) completes every queued token with a `Profile`.
struct WorkerHost {
    queue: Arc<TokenQueue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHost {
    fn start(abi: &'static EntryPoints, ctx: Ctx) -> Box<Self> {
        let queue = Arc::new(TokenQueue::default());
        queue.add_workers(1);
        let worker_queue = Arc::clone(&queue);
        let thread = std::thread::spawn(move || {
            let profile = common::cbor::profile(USER_ID);
            let mut batch = Vec::new();
            while worker_queue.take(&mut batch) {
                for (token, _) in batch.drain(..) {
                    let status = complete(abi, ctx, token, true, profile.bytes());
                    assert_eq!(status, HC_OK, "fetch_profile completion refused");
                }
            }
        });
        Box::new(Self {
            queue,
            thread: Some(thread),
        })
    }
}

impl Drop for WorkerHost {
    fn drop(&mut self) {
        self.queue.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `fetch_profile(user_id)`, handed to the worker.
///
/// # Safety
/// `user_data` must point at a live `WorkerHost`.
unsafe extern "C" fn fetch_profile_to_worker(
    token: u64,
    _req: *const c_char,
    _len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `WorkerHost` that outlives the context.
    let host = unsafe { &*user_data.cast::<WorkerHost>() };
    host.queue.push(token, 0);
}

/// Who completes `fetch_profile`.
#[derive(Clone, Copy)]
enum Host {
    Inline,
    Worker,
}

/// The config map `{"spin_us": us}`.
fn spin_config(us: u64) -> Writer<24> {
    let mut w = Writer::new();
    w.map(1).text("spin_us").uint(us);
    w
}

/// A `demo` context, its replies, and (for `login`) its host.
struct Rig {
    // Drop order: the context first, then what its callbacks point at.
    context: common::Context,
    replies: Arc<Replies>,
    _host: Option<Box<ProfileHost>>,
    _worker: Option<Box<WorkerHost>>,
    expected: u64,
}

impl Rig {
    fn add() -> Self {
        Self {
            context: common::Context::new(&DEMO_ABI),
            replies: Replies::new(read_add),
            _host: None,
            _worker: None,
            expected: 0,
        }
    }

    /// `login` on a context configured by `config` (empty: defaults), its
    /// host fn completed as `host` says.
    fn login(config: &[u8], host: Host) -> Self {
        let context = common::Context::with_config(&DEMO_ABI, config);
        let (inline, worker) = match host {
            Host::Inline => {
                let host = Box::new(ProfileHost {
                    abi: context.abi(),
                    ctx: context.ctx(),
                });
                context.register(
                    c"fetch_profile",
                    fetch_profile_inline,
                    None,
                    std::ptr::from_ref(&*host).cast(),
                );
                (Some(host), None)
            }
            Host::Worker => {
                let worker = WorkerHost::start(context.abi(), context.ctx());
                context.register(
                    c"fetch_profile",
                    fetch_profile_to_worker,
                    None,
                    std::ptr::from_ref(&*worker).cast(),
                );
                (None, Some(worker))
            }
        };
        Self {
            context,
            replies: Replies::new(read_session),
            _host: inline,
            _worker: worker,
            expected: 0,
        }
    }

    #[inline]
    fn issue(&mut self, method: &CStr, request: &[u8]) {
        self.context.call(method, request, &self.replies);
        self.expected += 1;
    }

    /// `iters` calls, one outstanding at a time: issue, wait, repeat.
    fn one_at_a_time<const N: usize>(
        &mut self,
        iters: u64,
        method: &CStr,
        request: impl Fn(u64) -> Writer<N>,
    ) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            self.issue(method, request(i).bytes());
            self.replies.done.wait_for(self.expected);
        }
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }

    /// `iters` logins one at a time, the caller asleep on a condition
    /// variable for each reply (no spin).
    fn logins_sleeping(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.issue(c"login", login_request(black_box(USER_ID)).bytes());
            self.replies
                .done
                .wait_spinning(self.expected, Duration::ZERO);
        }
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }

    /// `iters` calls in batches of [`PIPELINE`] issued back to back, every
    /// reply of a batch awaited before the next.
    fn pipelined<const N: usize>(
        &mut self,
        iters: u64,
        method: &CStr,
        request: impl Fn(u64) -> Writer<N>,
    ) -> Duration {
        self.batched(iters, PIPELINE, method, request)
    }

    /// `iters` calls in batches of `batch` issued back to back, every
    /// reply of a batch awaited before the next.
    fn batched<const N: usize>(
        &mut self,
        iters: u64,
        batch: u64,
        method: &CStr,
        request: impl Fn(u64) -> Writer<N>,
    ) -> Duration {
        let start = Instant::now();
        let mut i = 0;
        while i < iters {
            let end = (i + batch).min(iters);
            while i < end {
                self.issue(method, request(i).bytes());
                i += 1;
            }
            self.replies.done.wait_for(self.expected);
        }
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }
}

fn add_cbor_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut rig = None;
    group.bench_function("add_cbor_latency", |b| {
        let rig = rig.get_or_insert_with(Rig::add);
        b.iter_custom(|iters| {
            rig.one_at_a_time(iters, c"add", |i| add_request(black_box(i as i64), 1))
        });
    });
    group.bench_function("add_cbor_pipelined", |b| {
        let rig = rig.get_or_insert_with(Rig::add);
        b.iter_custom(|iters| {
            rig.pipelined(iters, c"add", |i| add_request(black_box(i as i64), 1))
        });
    });
}

/// The contexts the login benches run on, by suffix: in process, with
/// `spin_us: 0`, isolated in a helper the context starts, and reaching a
/// helper listening on a unix socket or on TCP (started here, killed when
/// this is dropped).
struct LoginConfigs {
    no_spin: Writer<24>,
    process: Vec<u8>,
    socket: common::isolated::Listening,
    tcp: common::isolated::Listening,
}

impl LoginConfigs {
    fn new() -> Self {
        Self {
            no_spin: spin_config(0),
            process: common::isolated::config(),
            socket: common::isolated::Listening::socket(),
            tcp: common::isolated::Listening::tcp(),
        }
    }

    fn each(&self) -> [(&'static str, &[u8]); 5] {
        [
            ("", &[][..]),
            ("_no_spin", self.no_spin.bytes()),
            ("_process", &self.process[..]),
            ("_socket", self.socket.config()),
            ("_tcp", self.tcp.config()),
        ]
    }
}

fn login_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    let configs = LoginConfigs::new();
    for (suffix, config) in configs.each() {
        let mut rig = None;
        group.bench_function(format!("login_inline_latency{suffix}"), |b| {
            let rig = rig.get_or_insert_with(|| Rig::login(config, Host::Inline));
            b.iter_custom(|iters| {
                rig.one_at_a_time(iters, c"login", |_| login_request(black_box(USER_ID)))
            });
        });
        if suffix.is_empty() {
            group.bench_function("login_inline_pipelined", |b| {
                let rig = rig.get_or_insert_with(|| Rig::login(config, Host::Inline));
                b.iter_custom(|iters| {
                    rig.pipelined(iters, c"login", |_| login_request(black_box(USER_ID)))
                });
            });
        }
        if matches!(suffix, "_socket" | "_tcp") {
            continue;
        }
        let mut rig = None;
        group.bench_function(format!("login_worker_latency{suffix}"), |b| {
            let rig = rig.get_or_insert_with(|| Rig::login(config, Host::Worker));
            b.iter_custom(|iters| rig.logins_sleeping(iters));
        });
    }
}

/// 10,000 logins in flight at once, completed by one worker in batches:
/// the throughput a host with one completing thread gets.
fn login_throughput_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    const IN_FLIGHT: u64 = 10_000;
    let configs = LoginConfigs::new();
    group.throughput(criterion::Throughput::Elements(IN_FLIGHT));
    for (suffix, config) in configs.each() {
        let mut rig = None;
        group.bench_function(format!("login_10k_worker{suffix}"), |b| {
            let rig = rig.get_or_insert_with(|| Rig::login(config, Host::Worker));
            b.iter_custom(|iters| {
                rig.batched(iters * IN_FLIGHT, IN_FLIGHT, c"login", |_| {
                    login_request(black_box(USER_ID))
                })
            });
        });
    }
}

/// The typed reply callback of `demo_native_add`: no CBOR to decode.
///
/// # Safety
/// `user_data` must point at a live [`Replies`]; `err` must be valid for
/// `err_len` bytes when non-null.
unsafe extern "C" fn on_native_add(
    ret: std::ffi::c_int,
    value: i64,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the caller's obligations above; the library passes the error
    // text valid for the duration of the callback.
    let (replies, error) = unsafe { (&*user_data.cast::<Replies>(), payload(err, err_len)) };
    let value = (ret == RET_OK).then_some(value as u64);
    replies.record_value(ret, value, error);
}

impl Rig {
    /// `demo_native_add(ctx, a, b, cb, user_data)`: typed arguments in, a
    /// typed value out, no CBOR on either side.
    #[inline]
    fn issue_native_add(&mut self, a: i64, b: i64) {
        // SAFETY: the handle is only looked up; `replies` outlives the
        // context (see the field order of `Rig`).
        let status = unsafe {
            demo::demo_native_add(
                self.context.ctx().ptr(),
                a,
                b,
                Some(on_native_add),
                Arc::as_ptr(&self.replies).cast_mut().cast(),
            )
        };
        assert_eq!(status, HC_OK, "demo_native_add refused");
        self.expected += 1;
    }
}

/// The native typed entry point `demo_native_add`, benched the same two ways
/// as the CBOR `add` above (`add_native_latency`, `add_native_pipelined`).
fn native_add_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut rig = None;
    group.bench_function("add_native_latency", |b| {
        let rig = rig.get_or_insert_with(Rig::add);
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                rig.issue_native_add(black_box(i as i64), 1);
                rig.replies.done.wait_for(rig.expected);
            }
            let elapsed = start.elapsed();
            rig.replies.check();
            elapsed
        });
    });
    group.bench_function("add_native_pipelined", |b| {
        let rig = rig.get_or_insert_with(Rig::add);
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut i = 0;
            while i < iters {
                let end = (i + PIPELINE).min(iters);
                while i < end {
                    rig.issue_native_add(black_box(i as i64), 1);
                    i += 1;
                }
                rig.replies.done.wait_for(rig.expected);
            }
            let elapsed = start.elapsed();
            rig.replies.check();
            elapsed
        });
    });
}

fn request_path(c: &mut Criterion) {
    common::cbor::self_check();
    let mut group = c.benchmark_group("request_path");
    add_cbor_benches(&mut group);
    native_add_benches(&mut group);
    login_benches(&mut group);
    // Last: it sets the group's throughput.
    login_throughput_benches(&mut group);
    group.finish();
}

/// `HOSTCALL_BENCH_INTERLEAVE=<rounds>`: the login variants once per round
/// in rotating order, each against the same on a `spin_us: 0` context;
/// medians, same-round ratios and CPU per login, printed.
fn interleaved(rounds: usize) {
    use common::interleave::Variant;
    let no_spin = spin_config(0);
    let mut variants = Vec::new();
    for (suffix, config) in [("", &[][..]), ("_no_spin", no_spin.bytes())] {
        let baseline = |i: usize| (!suffix.is_empty()).then_some(i);
        let mut inline = Rig::login(config, Host::Inline);
        variants.push(Variant {
            name: format!("login_inline_latency{suffix}"),
            units: 5_000,
            baseline: baseline(0),
            run: Box::new(move || {
                inline.one_at_a_time(5_000, c"login", |_| login_request(black_box(USER_ID)))
            }),
        });
        let mut worker = Rig::login(config, Host::Worker);
        variants.push(Variant {
            name: format!("login_worker_latency{suffix}"),
            units: 1_000,
            baseline: baseline(1),
            run: Box::new(move || worker.logins_sleeping(1_000)),
        });
        let mut batch = Rig::login(config, Host::Worker);
        variants.push(Variant {
            name: format!("login_10k_worker{suffix}"),
            units: 30_000,
            baseline: baseline(2),
            run: Box::new(move || {
                batch.batched(30_000, 10_000, c"login", |_| {
                    login_request(black_box(USER_ID))
                })
            }),
        });
    }
    common::interleave::run("request_path login", rounds, variants, "login");
}

/// What `criterion_group!` would write, minus its undocumented `pub fn`.
fn benches() {
    if let Some(rounds) = common::interleave::rounds() {
        return interleaved(rounds);
    }
    let mut criterion = common::criterion().configure_from_args();
    request_path(&mut criterion);
}

criterion_main!(benches);
