//! Footprint: memory per in-flight host call, and the CPU an idle context
//! burns. A plain `main` (not criterion); run by `cargo bench` like the
//! others, quick with `-- --test` or `HOSTCALL_BENCH_QUICK=1`.
//!
//! **Memory.** A counting global allocator (wrapping `System`) tracks the
//! bytes and blocks currently allocated, in every thread. For each scenario
//! the host fn only records its tokens (they stay pending); the figure is
//! `(heap once the host has seen all N tokens − heap before the first
//! request) / N`. A warm-up round on a throwaway context first keeps
//! process-wide one-off allocations out. *Fresh* is measured on a new
//! context (so it includes the in-flight table growing to N); *reused* is a
//! second round on the same context after the first round was completed.
//!
//! Scenarios: `demo` `login` × N (one pending fetch each), one `demo`
//! `login_many` of N ids, and — to compare with the naive design
//! (`common::naive`) — the bench library's `pump(1)` × N and `hold(N)`, on
//! hostcall and on the naive design.
//!
//! **Idle CPU.** Process CPU time (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`,
//! cross-checked with `/proc/self/stat`) over a window in which the main
//! thread sleeps (the one place the benches sleep: measuring idleness is
//! the point). Scenarios: no context; an idle `demo` context; the same just
//! after a burst of 10,000 requests one at a time; one with one
//! host call pending and the host idle (the loop may spin briefly before it
//! parks); the naive design idle and with one call pending.
//!
//! Prints a summary and writes `target/hostcall-bench/footprint.json`
//! (`footprint-quick.json` in quick mode, which the report ignores).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cbor::{self, Writer};
use common::naive::Naive;
use common::{BENCH_ABI, Context, DEMO_ABI, Replies, Stash};
use hostcall::status::HC_OK;

/// The global allocator: `System`, counting live bytes and blocks.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

/// Live blocks by size (the last bucket holds every larger size).
const SIZES: usize = 4097;
static LIVE_BY_SIZE: [AtomicIsize; SIZES] = [const { AtomicIsize::new(0) }; SIZES];

/// Allocation calls (`alloc`, `alloc_zeroed`, `realloc`), in every thread
/// and in the calling thread.
static ALLOC_CALLS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static MY_ALLOC_CALLS: Cell<u64> = const { Cell::new(0) };
}

#[inline]
fn count_call() {
    ALLOC_CALLS.fetch_add(1, Ordering::Relaxed);
    // A thread being torn down has no counter left; its calls count only in
    // the total.
    let _ = MY_ALLOC_CALLS.try_with(|n| n.set(n.get() + 1));
}

#[inline]
fn track(size: usize, blocks: isize) {
    LIVE_BYTES.fetch_add(size as isize * blocks, Ordering::Relaxed);
    LIVE_BLOCKS.fetch_add(blocks, Ordering::Relaxed);
    LIVE_BY_SIZE[size.min(SIZES - 1)].fetch_add(blocks, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, and only adds bookkeeping on atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            track(layout.size(), 1);
            count_call();
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded, as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            track(layout.size(), 1);
            count_call();
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        track(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `GlobalAlloc::realloc`'s
        // contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            track(layout.size(), -1);
            track(new_size, 1);
            count_call();
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The heap as the counting allocator sees it.
#[derive(Clone)]
struct Heap {
    bytes: isize,
    blocks: isize,
    by_size: Vec<isize>,
}

impl Heap {
    /// Room for a reading, allocated now so that reading allocates nothing.
    fn new() -> Self {
        Self {
            bytes: 0,
            blocks: 0,
            by_size: vec![0; SIZES],
        }
    }

    /// Reads the counters (allocation-free).
    fn read(&mut self) {
        self.bytes = LIVE_BYTES.load(Ordering::SeqCst);
        self.blocks = LIVE_BLOCKS.load(Ordering::SeqCst);
        for (slot, live) in self.by_size.iter_mut().zip(&LIVE_BY_SIZE) {
            *slot = live.load(Ordering::Relaxed);
        }
    }
}

/// Growth per call between two heap readings.
#[derive(Clone, Default)]
struct PerCall {
    bytes: f64,
    blocks: f64,
    /// `(block size, blocks per call)` for sizes that grew by at least one
    /// block per 20 calls, largest share first.
    sizes: Vec<(usize, f64)>,
}

impl PerCall {
    fn between(before: &Heap, after: &Heap, n: usize) -> Self {
        let per = |d: isize| d as f64 / n as f64;
        let mut sizes: Vec<(usize, f64)> = before
            .by_size
            .iter()
            .zip(&after.by_size)
            .enumerate()
            .map(|(size, (b, a))| (size, per(a - b)))
            .filter(|&(_, k)| k >= 0.05)
            .collect();
        sizes.sort_by(|x, y| (y.0 as f64 * y.1).total_cmp(&(x.0 as f64 * x.1)));
        sizes.truncate(6);
        Self {
            bytes: per(after.bytes - before.bytes),
            blocks: per(after.blocks - before.blocks),
            sizes,
        }
    }

    /// `1×216 B + 1×128 B …` (the last bucket reads `≥4096`).
    fn sizes_text(&self) -> String {
        self.sizes
            .iter()
            .map(|&(size, k)| {
                let size = if size == SIZES - 1 {
                    format!("≥{size}")
                } else {
                    size.to_string()
                };
                format!("{k:.2}×{size} B")
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    fn sizes_json(&self) -> String {
        let items: Vec<String> = self
            .sizes
            .iter()
            .map(|&(size, k)| format!("[{size}, {k:.3}]"))
            .collect();
        format!("[{}]", items.join(", "))
    }
}

/// One memory scenario's result.
struct Memory {
    key: &'static str,
    what: &'static str,
    n: usize,
    fresh: PerCall,
    reused: PerCall,
}

/// Which library a memory rig drives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lib {
    Demo,
    Bench,
    Naive,
}

enum RigDriver {
    Hostcall(Context),
    Naive(Naive),
}

/// A context (or naive runtime) whose host fn stashes every token.
struct Rig {
    // Drop order: the driver first, then what its callbacks point at.
    driver: RigDriver,
    lib: Lib,
    stash: Arc<Stash>,
    replies: Arc<Replies>,
    expected: u64,
}

/// `user-NNNNNN`, formatted without allocating.
fn user_id(i: usize, buf: &mut [u8; 24]) -> &str {
    let mut cursor = &mut buf[..];
    write!(cursor, "user-{i:06}").expect("fits");
    let left = cursor.len();
    let len = buf.len() - left;
    std::str::from_utf8(&buf[..len]).expect("ASCII")
}

impl Rig {
    fn new(lib: Lib, capacity: usize) -> Self {
        let stash = Stash::with_capacity(capacity);
        let user_data: *const std::ffi::c_void = Arc::as_ptr(&stash).cast();
        let driver = match lib {
            Lib::Demo => {
                let context = Context::new(&DEMO_ABI);
                context.register(c"fetch_profile", Stash::FN, Some(Stash::CANCEL), user_data);
                RigDriver::Hostcall(context)
            }
            Lib::Bench => {
                let context = Context::new(&BENCH_ABI);
                context.register(c"ping", Stash::FN, Some(Stash::CANCEL), user_data);
                RigDriver::Hostcall(context)
            }
            Lib::Naive => {
                let naive = Naive::new();
                naive.register(Stash::FN, user_data.cast_mut());
                RigDriver::Naive(naive)
            }
        };
        Self {
            driver,
            lib,
            stash,
            // Replies are only counted here; every payload is accepted.
            replies: Replies::new(|_| Some(0)),
            expected: 0,
        }
    }

    fn call(&mut self, method: &CStr, request: &[u8]) {
        match &self.driver {
            RigDriver::Hostcall(context) => context.call(method, request, &self.replies),
            RigDriver::Naive(naive) => naive
                .call(
                    method.to_str().expect("UTF-8"),
                    request,
                    common::on_reply,
                    Arc::as_ptr(&self.replies).cast_mut().cast(),
                )
                .expect("naive call"),
        }
        self.expected += 1;
    }

    /// Waits until every request so far has replied.
    fn wait_replies(&self) {
        self.replies.done.wait_for(self.expected);
    }

    /// A request that needs no host call, awaited: the loop has handled
    /// everything sent before it (registrations included).
    fn settle(&mut self) {
        match self.lib {
            Lib::Demo => self.call(c"version", &[0x80]),
            Lib::Bench | Lib::Naive => self.call(c"pump", cbor::one_uint(0).bytes()),
        }
        self.wait_replies();
    }

    /// `login` × n (demo) or `pump(1)` × n (bench, naive).
    fn each(&mut self, n: usize) {
        let mut buf = [0u8; 24];
        for i in 0..n {
            match self.lib {
                Lib::Demo => {
                    let mut request = Writer::<48>::new();
                    request.array(1).text(user_id(i, &mut buf));
                    self.call(c"login", request.bytes());
                }
                Lib::Bench | Lib::Naive => self.call(c"pump", cbor::one_uint(1).bytes()),
            }
        }
    }

    /// Completes every stashed token, then waits for all replies.
    fn complete_all(&mut self) {
        let tokens = self.stash.take_tokens();
        let mut buf = [0u8; 24];
        // One buffer for every payload: the allocation count below sees the
        // library's allocations, not this loop's.
        let mut payload = Vec::with_capacity(128);
        for (i, token) in tokens.into_iter().enumerate() {
            match &self.driver {
                RigDriver::Hostcall(context) => {
                    payload.clear();
                    match self.lib {
                        Lib::Demo => {
                            payload.extend_from_slice(cbor::profile(user_id(i, &mut buf)).bytes())
                        }
                        Lib::Bench | Lib::Naive => payload.extend_from_slice(cbor::uint(1).bytes()),
                    }
                    assert_eq!(context.complete(token, &payload), HC_OK);
                }
                RigDriver::Naive(naive) => {
                    assert!(naive.shared().complete(token, cbor::uint(1).bytes()));
                }
            }
        }
        self.wait_replies();
        self.replies.check();
    }

    /// Measures one round: `issue` makes `n` host calls pending.
    fn round(&mut self, n: usize, issue: impl FnOnce(&mut Self)) -> PerCall {
        self.settle();
        let seen = self.stash.seen.get();
        let (mut before, mut after) = (Heap::new(), Heap::new());
        before.read();
        issue(self);
        self.stash.seen.wait_for(seen + n as u64);
        after.read();
        PerCall::between(&before, &after, n)
    }
}

/// `n` calls each pending in its own request, fresh and reused.
fn measure_each(lib: Lib, n: usize) -> (PerCall, PerCall) {
    let mut rig = Rig::new(lib, n);
    let fresh = rig.round(n, |rig| rig.each(n));
    rig.complete_all();
    let reused = rig.round(n, |rig| rig.each(n));
    rig.complete_all();
    (fresh, reused)
}

/// One request holding `n` calls pending at once, fresh and reused.
fn measure_batch(lib: Lib, n: usize) -> (PerCall, PerCall) {
    let mut rig = Rig::new(lib, n);
    // The host encodes its request before the measurement starts.
    let request = match lib {
        Lib::Demo => {
            let ids: Vec<String> = (0..n).map(|i| format!("user-{i:06}")).collect();
            let mut out = Vec::new();
            ciborium::into_writer(&(ids,), &mut out).expect("encodes");
            out
        }
        Lib::Bench | Lib::Naive => cbor::one_uint(n as u64).bytes().to_vec(),
    };
    let method = if lib == Lib::Demo {
        c"login_many"
    } else {
        c"hold"
    };
    let fresh = rig.round(n, |rig| rig.call(method, &request));
    rig.complete_all();
    let reused = rig.round(n, |rig| rig.call(method, &request));
    rig.complete_all();
    (fresh, reused)
}

fn memory(n: usize) -> Vec<Memory> {
    // Warm-up: one small round of everything, on throwaway contexts.
    for lib in [Lib::Demo, Lib::Bench, Lib::Naive] {
        measure_each(lib, 1000.min(n));
        measure_batch(lib, 1000.min(n));
    }
    let scenarios: [(&str, &str, Lib, bool); 6] = [
        (
            "demo_login_each",
            "demo: N `login` requests, one pending fetch each",
            Lib::Demo,
            false,
        ),
        (
            "demo_login_many",
            "demo: one `login_many` of N ids",
            Lib::Demo,
            true,
        ),
        (
            "bench_pump_each",
            "hostcall: N `pump(1)` requests",
            Lib::Bench,
            false,
        ),
        (
            "naive_pump_each",
            "naive design: N `pump(1)` requests",
            Lib::Naive,
            false,
        ),
        (
            "bench_hold",
            "hostcall: one `hold(N)` (a task per call)",
            Lib::Bench,
            true,
        ),
        (
            "naive_hold",
            "naive design: one `hold(N)` (a task per call)",
            Lib::Naive,
            true,
        ),
    ];
    scenarios
        .into_iter()
        .map(|(key, what, lib, batch)| {
            let (fresh, reused) = if batch {
                measure_batch(lib, n)
            } else {
                measure_each(lib, n)
            };
            Memory {
                key,
                what,
                n,
                fresh,
                reused,
            }
        })
        .collect()
}

/// Allocation calls per request in steady state, by thread.
struct Allocs {
    key: &'static str,
    what: &'static str,
    n: usize,
    /// On the thread that calls and completes (the host's).
    host: f64,
    /// On every other thread: the loop's (the host fn runs there too).
    library: f64,
}

/// `n` requests issued, then every host call completed, on a context that
/// already did the same once (its table grown, its buffers kept): the
/// allocation calls of the second round, per request.
fn allocations(n: usize) -> Vec<Allocs> {
    let scenarios = [
        (
            "demo_login",
            "demo: `login`, N in flight, completed by the host thread",
            Lib::Demo,
        ),
        (
            "bench_pump",
            "hostcall: `pump(1)`, N in flight, completed by the host thread",
            Lib::Bench,
        ),
    ];
    scenarios
        .into_iter()
        .map(|(key, what, lib)| {
            let mut rig = Rig::new(lib, n);
            let issue_and_complete = |rig: &mut Rig| {
                let seen = rig.stash.seen.get();
                rig.each(n);
                rig.stash.seen.wait_for(seen + n as u64);
                rig.complete_all();
            };
            issue_and_complete(&mut rig);
            rig.settle();
            let total = ALLOC_CALLS.load(Ordering::SeqCst);
            let mine = MY_ALLOC_CALLS.with(Cell::get);
            issue_and_complete(&mut rig);
            let total = ALLOC_CALLS.load(Ordering::SeqCst) - total;
            let mine = MY_ALLOC_CALLS.with(Cell::get) - mine;
            Allocs {
                key,
                what,
                n,
                host: mine as f64 / n as f64,
                library: (total - mine) as f64 / n as f64,
            }
        })
        .collect()
}

/// Process CPU time from `/proc/self/stat` (utime + stime; clock ticks,
/// assumed 100 Hz).
fn proc_stat_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may
    // contain spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One idle-CPU reading.
struct Idle {
    key: &'static str,
    what: &'static str,
    percent: f64,
    proc_stat_percent: Option<f64>,
}

/// CPU use of the whole process over `window`, the main thread asleep.
fn cpu_over(window: Duration) -> (f64, Option<f64>) {
    let (cpu0, stat0, t0) = (
        common::interleave::process_cpu(),
        proc_stat_cpu(),
        Instant::now(),
    );
    std::thread::sleep(window);
    let (cpu1, stat1, elapsed) = (
        common::interleave::process_cpu(),
        proc_stat_cpu(),
        t0.elapsed(),
    );
    let percent = |used: Duration| 100.0 * used.as_secs_f64() / elapsed.as_secs_f64();
    let stat = stat0.zip(stat1).map(|(a, b)| percent(b.saturating_sub(a)));
    (percent(cpu1.saturating_sub(cpu0)), stat)
}

fn idle_cpu(window: Duration) -> Vec<Idle> {
    let mut out = Vec::new();
    let mut record = |key, what, (percent, proc_stat_percent): (f64, Option<f64>)| {
        out.push(Idle {
            key,
            what,
            percent,
            proc_stat_percent,
        });
    };

    record(
        "no_context",
        "no context (the process itself)",
        cpu_over(window),
    );

    // A demo context that has served one request and has nothing to do.
    let mut rig = Rig::new(Lib::Demo, 1);
    rig.settle();
    record(
        "idle_context",
        "demo context, nothing to do",
        cpu_over(window),
    );

    // The same context right after a burst of 10,000 requests one at a time
    // (its idle policy has learnt to watch for the next one): the watch must
    // stop once nothing comes.
    for _ in 0..10_000 {
        rig.settle();
    }
    record(
        "idle_after_burst",
        "demo context, idle after 10,000 requests",
        cpu_over(window),
    );

    // One login waiting on the host, which does nothing.
    let mut request = Writer::<32>::new();
    request.array(1).text("user-000001");
    rig.call(c"login", request.bytes());
    rig.stash.seen.wait_for(1);
    record(
        "one_pending",
        "demo context, one host call pending, host idle",
        cpu_over(window),
    );
    rig.complete_all();
    drop(rig);

    let mut naive = Rig::new(Lib::Naive, 1);
    naive.settle();
    record(
        "naive_idle",
        "naive design, nothing to do",
        cpu_over(window),
    );
    naive.call(c"pump", cbor::one_uint(1).bytes());
    naive.stash.seen.wait_for(1);
    record(
        "naive_one_pending",
        "naive design, one host call pending, host idle",
        cpu_over(window),
    );
    naive.complete_all();
    out
}

/// Arguments that name what to run (criterion-style filters); options and
/// their values are skipped.
fn wanted() -> bool {
    const WITH_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--output-format",
        "--color",
        "--format",
        "--significance-level",
        "--noise-threshold",
        "--confidence-level",
        "--nresamples",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return false;
    }
    let mut filters = Vec::new();
    let mut skip = false;
    for arg in &args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if arg.starts_with('-') {
            skip = WITH_VALUE.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    filters.is_empty()
        || filters
            .iter()
            .any(|f| "footprint".contains(f) || f.contains("footprint"))
}

fn json(
    memory: &[Memory],
    allocs: &[Allocs],
    idle: &[Idle],
    window: Duration,
    quick: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{{");
    let _ = writeln!(out, "  \"quick\": {quick},");
    let _ = writeln!(out, "  \"allocations\": {{");
    for (i, a) in allocs.iter().enumerate() {
        let comma = if i + 1 < allocs.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "    \"{}\": {{\"what\": \"{}\", \"n\": {}, \"host_thread\": {:.3}, \"library_threads\": {:.3}}}{comma}",
            a.key,
            a.what.replace('`', ""),
            a.n,
            a.host,
            a.library
        );
    }
    let _ = writeln!(out, "  }},");
    let _ = writeln!(out, "  \"memory\": {{");
    for (i, m) in memory.iter().enumerate() {
        let comma = if i + 1 < memory.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "    \"{}\": {{\"what\": \"{}\", \"n\": {}, \"fresh_bytes_per_call\": {:.1}, \"fresh_allocs_per_call\": {:.2}, \"reused_bytes_per_call\": {:.1}, \"reused_allocs_per_call\": {:.2}, \"reused_blocks\": {}}}{comma}",
            m.key,
            m.what.replace('`', ""),
            m.n,
            m.fresh.bytes,
            m.fresh.blocks,
            m.reused.bytes,
            m.reused.blocks,
            m.reused.sizes_json()
        );
    }
    let _ = writeln!(out, "  }},");
    let _ = writeln!(out, "  \"idle_cpu\": {{");
    let _ = writeln!(out, "    \"window_s\": {:.3},", window.as_secs_f64());
    for (i, r) in idle.iter().enumerate() {
        let comma = if i + 1 < idle.len() { "," } else { "" };
        let stat = r
            .proc_stat_percent
            .map_or("null".to_owned(), |p| format!("{p:.3}"));
        let _ = writeln!(
            out,
            "    \"{}\": {{\"what\": \"{}\", \"percent\": {:.4}, \"proc_stat_percent\": {stat}}}{comma}",
            r.key, r.what, r.percent
        );
    }
    let _ = writeln!(out, "  }}");
    let _ = writeln!(out, "}}");
    out
}

fn main() {
    if !wanted() {
        return;
    }
    let quick = common::quick();
    let n = common::scaled(100_000, 2_000);
    let window = common::scaled(Duration::from_secs(2), Duration::from_millis(100));
    let started = Instant::now();

    println!(
        "footprint{}: memory per in-flight host call (N = {n}), idle CPU over {:.1} s",
        if quick { " (quick mode)" } else { "" },
        window.as_secs_f64()
    );
    let memory = memory(n);
    println!();
    println!(
        "  {:<50} {:>12} {:>10} {:>12} {:>10}",
        "memory per in-flight call", "fresh B", "allocs", "reused B", "allocs"
    );
    for m in &memory {
        println!(
            "  {:<50} {:>12.1} {:>10.2} {:>12.1} {:>10.2}",
            m.what, m.fresh.bytes, m.fresh.blocks, m.reused.bytes, m.reused.blocks
        );
        println!("  {:<50} reused: {}", "", m.reused.sizes_text());
    }

    let allocs = allocations(common::scaled(10_000, 1_000));
    println!();
    println!(
        "  {:<62} {:>10} {:>10}",
        "allocation calls per request, steady state", "host", "library"
    );
    for a in &allocs {
        println!("  {:<62} {:>10.2} {:>10.2}", a.what, a.host, a.library);
    }

    let idle = idle_cpu(window);
    println!();
    println!(
        "  {:<50} {:>12} {:>12}",
        "idle CPU (% of one core)", "clock", "/proc ticks"
    );
    for r in &idle {
        let stat = r
            .proc_stat_percent
            .map_or("-".to_owned(), |p| format!("{p:.2}"));
        println!("  {:<50} {:>12.4} {:>12}", r.what, r.percent, stat);
    }

    let dir = common::output_dir();
    let path = dir.join(if quick {
        "footprint-quick.json"
    } else {
        "footprint.json"
    });
    match std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, json(&memory, &allocs, &idle, window, quick)))
    {
        Ok(()) => println!(
            "\nwrote {} ({:.1} s)",
            path.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
