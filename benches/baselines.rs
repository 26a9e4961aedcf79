//! Baselines, measured in the same run as the bridge (group `baselines/…`).
//!
//! * `direct_call`: an `extern "C"` call through a function pointer — the
//!   floor of any host call.
//! * `crossbeam_ping_pong`, `atomic_spin_ping_pong`, `condvar_ping_pong`: a
//!   round trip between two threads over a crossbeam channel, a spinning
//!   atomic, and a condition variable between sleeping threads — the floors
//!   of a cross-thread host call.
//! * `condvar_relay`: caller → relay → worker → relay → caller between
//!   threads sleeping on condition variables: the floor of a `login` whose
//!   host fn completes on a sleeping worker (`request_path/login_worker_latency`).
//! * `naive_*`: the design a user would otherwise write (`common::naive`: a
//!   tokio runtime + `LocalSet`, host calls in a `Mutex<HashMap<token,
//!   oneshot::Sender>>` completed directly from the host thread), measured in
//!   the same scenarios as `bridge/…`: inline round trip, sequential
//!   cross-thread with a sleeping (and with a spinning) host worker, and
//!   throughput with 10 000 requests in flight and one host thread;
//!   `naive_dashmap_throughput_1_host_thread` is the same with a `dashmap`
//!   token table instead of the `Mutex<HashMap>`.
//! * `wake_tokio_notify`, `wake_event_listener` (and `…_parked`): the loop
//!   thread's wake-up alone — a thread waiting in a current-thread tokio
//!   runtime, woken by a producer through tokio's `Notify` (what the inbox
//!   uses) or through `event_listener::Event`, answering through an atomic
//!   the producer spins on; back to back, and (`_parked`) each time after
//!   the thread had 200 µs to fall asleep, timed from the wake.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_main};
use crossbeam_utils::CachePadded;

use common::{Fixture, Mailbox, Side, Style};

/// The function the direct call calls.
extern "C" fn add_one(x: u64) -> u64 {
    x.wrapping_add(1)
}

fn direct_call(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("direct_call", |b| {
        let func: extern "C" fn(u64) -> u64 = add_one;
        let mut x = 0u64;
        b.iter(|| {
            x = black_box(func)(black_box(x));
            x
        });
    });
}

/// An echo thread answering over crossbeam channels.
struct ChannelEcho {
    to: Option<crossbeam_channel::Sender<u64>>,
    back: crossbeam_channel::Receiver<u64>,
    thread: Option<JoinHandle<()>>,
}

impl ChannelEcho {
    fn new() -> Self {
        let (to, rx) = crossbeam_channel::bounded::<u64>(1);
        let (tx, back) = crossbeam_channel::bounded::<u64>(1);
        let thread = std::thread::spawn(move || {
            while let Ok(v) = rx.recv() {
                if tx.send(v.wrapping_add(1)).is_err() {
                    return;
                }
            }
        });
        Self {
            to: Some(to),
            back,
            thread: Some(thread),
        }
    }

    #[inline]
    fn round_trip(&self, v: u64) -> u64 {
        self.to.as_ref().expect("live").send(v).expect("echo alive");
        self.back.recv().expect("echo alive")
    }
}

impl Drop for ChannelEcho {
    fn drop(&mut self) {
        drop(self.to.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn crossbeam_ping_pong(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut echo = None;
    group.bench_function("crossbeam_ping_pong", |b| {
        let echo = echo.get_or_insert_with(ChannelEcho::new);
        b.iter(|| echo.round_trip(black_box(1)));
    });
}

/// An echo thread spinning on one atomic: odd = a ping for it, even = the
/// pong back.
struct SpinEcho {
    ball: Arc<CachePadded<AtomicU64>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SpinEcho {
    fn new() -> Self {
        let ball = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (Arc::clone(&ball), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            loop {
                let v = b.load(Ordering::Acquire);
                if v & 1 == 1 {
                    b.store(v + 1, Ordering::Release);
                } else if s.load(Ordering::Relaxed) {
                    return;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        Self {
            ball,
            stop,
            thread: Some(thread),
        }
    }

    fn run(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let v = self.ball.load(Ordering::Relaxed);
            self.ball.store(v + 1, Ordering::Release);
            while self.ball.load(Ordering::Acquire) != v + 2 {
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    }
}

impl Drop for SpinEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn atomic_spin_ping_pong(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut echo = None;
    group.bench_function("atomic_spin_ping_pong", |b| {
        let echo = echo.get_or_insert_with(SpinEcho::new);
        b.iter_custom(|iters| echo.run(iters));
    });
}

/// An echo thread; both sides sleep on a condition variable while waiting.
struct CondvarEcho {
    to: Arc<Mailbox<Option<u64>>>,
    back: Arc<Mailbox<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl CondvarEcho {
    fn new() -> Self {
        let to = Arc::new(Mailbox::<Option<u64>>::default());
        let back = Arc::new(Mailbox::<u64>::default());
        let (rx, tx) = (Arc::clone(&to), Arc::clone(&back));
        let thread = std::thread::spawn(move || {
            while let Some(v) = rx.take() {
                tx.put(v.wrapping_add(1));
            }
        });
        Self {
            to,
            back,
            thread: Some(thread),
        }
    }

    #[inline]
    fn round_trip(&self, v: u64) -> u64 {
        self.to.put(Some(v));
        self.back.take()
    }
}

impl Drop for CondvarEcho {
    fn drop(&mut self) {
        self.to.put(None);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn condvar_ping_pong(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut echo = None;
    group.bench_function("condvar_ping_pong", |b| {
        let echo = echo.get_or_insert_with(CondvarEcho::new);
        b.iter(|| echo.round_trip(black_box(1)));
    });
}

/// A relay of threads that sleep on condition variables along the path of a
/// `login` whose host fn completes on a worker thread: caller → "loop" →
/// "worker" → "loop" → caller, four hand-offs, each a condvar wake-up.
struct CondvarRelay {
    to_loop: Arc<Mailbox<Option<u64>>>,
    back: Arc<Mailbox<u64>>,
    threads: Vec<JoinHandle<()>>,
}

impl CondvarRelay {
    fn new() -> Self {
        let to_loop = Arc::new(Mailbox::<Option<u64>>::default());
        let to_worker = Arc::new(Mailbox::<Option<u64>>::default());
        let from_worker = Arc::new(Mailbox::<u64>::default());
        let back = Arc::new(Mailbox::<u64>::default());
        let worker = {
            let (rx, tx) = (Arc::clone(&to_worker), Arc::clone(&from_worker));
            std::thread::spawn(move || {
                while let Some(v) = rx.take() {
                    tx.put(v.wrapping_add(1));
                }
            })
        };
        let relay = {
            let (rx, back) = (Arc::clone(&to_loop), Arc::clone(&back));
            std::thread::spawn(move || {
                while let Some(v) = rx.take() {
                    to_worker.put(Some(v));
                    back.put(from_worker.take());
                }
                to_worker.put(None);
            })
        };
        Self {
            to_loop,
            back,
            threads: vec![relay, worker],
        }
    }

    #[inline]
    fn round_trip(&self, v: u64) -> u64 {
        self.to_loop.put(Some(v));
        self.back.take()
    }
}

impl Drop for CondvarRelay {
    fn drop(&mut self) {
        self.to_loop.put(None);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn condvar_relay(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut relay = None;
    group.bench_function("condvar_relay", |b| {
        let relay = relay.get_or_insert_with(CondvarRelay::new);
        b.iter(|| relay.round_trip(black_box(1)));
    });
}

/// `pump` on the naive design, host answering in `style`: time per host call.
fn naive_sequential(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, style: Style) {
    let mut fixture = None;
    group.bench_function(name, |b| {
        let fixture = fixture.get_or_insert_with(|| Fixture::new(Side::Naive, style));
        b.iter_custom(|iters| fixture.pump(iters));
    });
}

fn naive_throughput(group: &mut BenchmarkGroup<'_, WallTime>) {
    let (requests, per_request) = common::throughput_shape(group);
    let mut fixture = None;
    group.bench_function("naive_throughput_1_host_thread", |b| {
        let fixture =
            fixture.get_or_insert_with(|| Fixture::new(Side::Naive, Style::Queue { threads: 1 }));
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| fixture.throughput(requests, per_request))
                .sum()
        });
    });
}

fn naive_dashmap_throughput(group: &mut BenchmarkGroup<'_, WallTime>) {
    let (requests, per_request) = common::throughput_shape(group);
    let mut fixture = None;
    group.bench_function("naive_dashmap_throughput_1_host_thread", |b| {
        let fixture = fixture
            .get_or_insert_with(|| Fixture::new(Side::NaiveDashMap, Style::Queue { threads: 1 }));
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| fixture.throughput(requests, per_request))
                .sum()
        });
    });
}

/// A thread asleep in a current-thread tokio runtime until a producer
/// stores a request and wakes it; it answers by storing the request back
/// into `ack`, which the producer spins on. `listen` is the wake-up
/// primitive under test: it returns a future that completes once woken
/// (created before `request` is checked, so no wake is lost).
struct WakeEcho {
    request: Arc<AtomicU64>,
    ack: Arc<CachePadded<AtomicU64>>,
    stop: Arc<AtomicBool>,
    wake: Box<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
}

impl WakeEcho {
    fn new<L, F>(listen: L, wake: impl Fn() + Send + Sync + 'static) -> Self
    where
        L: Fn() -> F + Send + 'static,
        F: std::future::Future<Output = ()>,
    {
        let request = Arc::new(AtomicU64::new(0));
        let ack = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, a, s) = (Arc::clone(&request), Arc::clone(&ack), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime");
            runtime.block_on(async move {
                let mut seen = 0;
                loop {
                    let woken = listen();
                    let v = r.load(Ordering::Acquire);
                    if s.load(Ordering::Acquire) {
                        return;
                    }
                    if v != seen {
                        seen = v;
                        a.store(v, Ordering::Release);
                        continue;
                    }
                    woken.await;
                }
            });
        });
        Self {
            request,
            ack,
            stop,
            wake: Box::new(wake),
            thread: Some(thread),
        }
    }

    fn round_trip(&self, v: u64) {
        self.request.store(v, Ordering::Release);
        (self.wake)();
        while self.ack.load(Ordering::Acquire) != v {
            std::hint::spin_loop();
        }
    }

    /// `iters` round trips, each after the echo thread had `PARK_GAP` to
    /// fall asleep (the producer spins through the gap, untimed): the
    /// wake-up of a parked thread, timed from the wake to the answer.
    fn parked_round_trips(&self, iters: u64, first: u64) -> Duration {
        let mut total = Duration::ZERO;
        for v in first..first + iters {
            let gap = Instant::now();
            while gap.elapsed() < PARK_GAP {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            self.round_trip(v);
            total += start.elapsed();
        }
        total
    }
}

/// Long enough for a thread with nothing to do to be asleep in the kernel
/// (it parks within a few microseconds of its last task).
const PARK_GAP: Duration = Duration::from_micros(200);

impl Drop for WakeEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        (self.wake)();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The echo of `wake_tokio_notify*`: tokio's `Notify`, as the inbox uses it.
fn notify_echo() -> WakeEcho {
    let notify = Arc::new(tokio::sync::Notify::new());
    let listen = Arc::clone(&notify);
    WakeEcho::new(
        move || {
            let listen = Arc::clone(&listen);
            async move { listen.notified().await }
        },
        move || notify.notify_one(),
    )
}

/// The echo of `wake_event_listener*`.
fn event_listener_echo() -> WakeEcho {
    let event = Arc::new(event_listener::Event::new());
    let listen = Arc::clone(&event);
    WakeEcho::new(
        move || listen.listen(),
        move || {
            event.notify(1);
        },
    )
}

/// Each primitive twice: woken back to back (the echo thread is usually
/// still between polls, no system call) and woken from sleep.
fn wake(group: &mut BenchmarkGroup<'_, WallTime>) {
    type MakeEcho = fn() -> WakeEcho;
    let echoes: [(&str, MakeEcho); 2] = [
        ("wake_tokio_notify", notify_echo),
        ("wake_event_listener", event_listener_echo),
    ];
    for (name, make) in echoes {
        let echo = make();
        let mut v = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                v += 1;
                echo.round_trip(v)
            });
        });
        group.bench_function(format!("{name}_parked"), |b| {
            b.iter_custom(|iters| {
                let first = v + 1;
                v += iters;
                echo.parked_round_trips(iters, first)
            });
        });
    }
}

fn baselines(c: &mut Criterion) {
    common::cbor::self_check();
    let mut group = c.benchmark_group("baselines");
    direct_call(&mut group);
    crossbeam_ping_pong(&mut group);
    atomic_spin_ping_pong(&mut group);
    condvar_ping_pong(&mut group);
    condvar_relay(&mut group);
    naive_sequential(&mut group, "naive_inline_round_trip", Style::Inline);
    naive_sequential(
        &mut group,
        "naive_cross_thread_sleeping_host",
        Style::Sleeping,
    );
    naive_sequential(
        &mut group,
        "naive_cross_thread_spinning_host",
        Style::Spinning,
    );
    // Before the throughput benches: those set the group's throughput.
    wake(&mut group);
    naive_throughput(&mut group);
    naive_dashmap_throughput(&mut group);
    group.finish();
}

/// What `criterion_group!` would write, minus its undocumented `pub fn`.
fn benches() {
    let mut criterion = common::criterion().configure_from_args();
    baselines(&mut criterion);
}

criterion_main!(benches);
