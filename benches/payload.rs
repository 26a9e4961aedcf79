//! The payload sweep (group `payload/…`): `bytes` echoed through demo's
//! handler `echo(data: Bytes) -> Bytes` at 100 B, 1 KiB, 10 KiB, 64 KiB and
//! 150 KiB, against memcpy bandwidth measured in the same run. Driven as a C
//! host drives it; every figure is counted in bytes (criterion's
//! `Throughput::Bytes`: the size echoed per call, counted once), so it reads
//! as GB/s, and its time is the time per call.
//!
//! For each size, in this order (baselines next to the figures they judge):
//!
//! * `memcpy_<size>`: one copy of the buffer into another, both allocated up
//!   front: the machine's copy bandwidth at that size.
//! * `memcpy_twice_<size>`: two copies (source to a, a to b): the least a
//!   round trip does, the bytes copied in and copied out.
//! * `alloc_copy_<size>`: `to_vec()` and drop: one copy into a fresh
//!   allocation, as the runtime copies an argument (`malloc` + copy + `free`).
//! * `native_echo_<size>`: `demo_native_echo(ctx, data, len, cb, ud)`, raw
//!   bytes both ways, one call outstanding at a time (the caller spins
//!   briefly for the reply, then sleeps). The reply callback copies the
//!   bytes out (they are valid only during the callback), as a host that
//!   keeps them must: the runtime copies the argument in, the host copies
//!   the result out.
//! * `native_echo_pipelined_<size>`: the same, batches of 16 calls issued
//!   back to back, then all 16 replies awaited; time per call.
//! * `cbor_echo_<size>` / `cbor_echo_pipelined_<size>`: `demo_call(ctx,
//!   "echo", [bytes], …)`: the host writes the CBOR request (a byte-string
//!   head and the bytes) into a reused buffer per call, the reply is a CBOR
//!   byte string whose bytes the callback copies out. Four copies at least:
//!   the host's encoding, the library's decoding, the library's encoding of
//!   the result, the host's copy out.
//!
//! Each call's first 8 bytes carry its number, and the replies' numbers are
//! summed and checked, so a reply that is stale or truncated fails the bench.
//!
//! `HOSTCALL_BENCH_INTERLEAVE=<rounds> cargo bench --bench payload` runs
//! every variant of a size once per round instead, in rotating order, and
//! prints the medians and the same-round ratios to memcpy (for a noisy
//! machine).

mod common;

use std::ffi::{c_char, c_int, c_void};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_main};

use common::cbor::{Reader, Writer};
use common::{Counter, DEMO_ABI};
use hostcall::status::{HC_OK, RET_OK};
use hostcall_testkit::payload;

/// The sizes swept, with the names their benches carry.
const SIZES: [(usize, &str); 5] = [
    (100, "100B"),
    (1024, "1KiB"),
    (10 * 1024, "10KiB"),
    (64 * 1024, "64KiB"),
    (150 * 1024, "150KiB"),
];

/// Calls issued back to back before waiting, in the pipelined benches.
const PIPELINE: u64 = 16;

/// The longest any wait for replies may take before the bench fails.
const LIMIT: Duration = Duration::from_secs(60);

/// The host's side of the echoes: replies counted, their call numbers
/// summed, and the host's copy of the last reply.
struct Echoes {
    done: Counter,
    stamps: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// The host's copy of the last reply (allocated once, at full size).
    out: Mutex<Vec<u8>>,
    len: usize,
}

impl Echoes {
    fn new(len: usize) -> Arc<Self> {
        Arc::new(Self {
            done: Counter::default(),
            stamps: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            out: Mutex::new(Vec::with_capacity(len)),
            len,
        })
    }

    /// A reply: `data` on success (already out of its CBOR, if any), else
    /// the error text in `problem`.
    fn record(&self, data: Option<&[u8]>, problem: impl FnOnce() -> String) {
        match data.filter(|d| d.len() == self.len) {
            Some(data) => {
                let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
                out.clear();
                out.extend_from_slice(data);
                let stamp = u64::from_le_bytes(out[..8].try_into().expect("8 bytes"));
                drop(out);
                self.stamps.fetch_add(stamp, Ordering::Relaxed);
            }
            None => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(problem);
            }
        }
        self.done.add(1);
    }

    /// Panics unless every reply was right and `stamps` sums their numbers.
    fn check(&self, stamps: u64) {
        let errors = self.errors.load(Ordering::Acquire);
        assert_eq!(
            errors,
            0,
            "an echo failed: {}",
            self.first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_default()
        );
        assert_eq!(
            self.stamps.load(Ordering::Acquire),
            stamps,
            "the replies' call numbers do not add up"
        );
    }
}

fn describe(ret: c_int, bytes: &[u8], what: &str) -> String {
    if ret == RET_OK {
        format!("{what}: {} bytes", bytes.len())
    } else {
        format!("ret {ret}: {}", String::from_utf8_lossy(bytes))
    }
}

/// The reply callback of `demo_native_echo`: the raw bytes.
///
/// # Safety
/// `user_data` must point at a live [`Echoes`]; `msg` valid for `len` bytes.
unsafe extern "C" fn on_native_echo(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the caller's obligations above; the library passes a payload
    // valid for the duration of the callback.
    let (echoes, bytes) = unsafe { (&*user_data.cast::<Echoes>(), payload(msg, len)) };
    echoes.record((ret == RET_OK).then_some(bytes), || {
        describe(ret, bytes, "wrong length")
    });
}

/// The reply callback of `demo_call(…, "echo", …)`: a CBOR byte string.
///
/// # Safety
/// As [`on_native_echo`].
unsafe extern "C" fn on_cbor_echo(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: as in `on_native_echo`.
    let (echoes, bytes) = unsafe { (&*user_data.cast::<Echoes>(), payload(msg, len)) };
    let data = (ret == RET_OK)
        .then(|| {
            let mut r = Reader::new(bytes);
            r.bytes().filter(|_| r.done())
        })
        .flatten();
    echoes.record(data, || {
        describe(ret, bytes, "not one byte string of the right length")
    });
}

/// How a call travels.
#[derive(Clone, Copy)]
enum Path {
    /// `demo_native_echo`: raw bytes both ways.
    Native,
    /// `demo_call` with `[bytes]`, a CBOR byte string back.
    Cbor,
}

/// One size: a context, the host's data, its reused CBOR request buffer,
/// and the replies.
struct Rig {
    // Drop order: the context first, then what its callbacks point at.
    context: common::Context,
    echoes: Arc<Echoes>,
    data: Vec<u8>,
    request: Vec<u8>,
    expected: u64,
    stamps: u64,
    next: u64,
}

impl Rig {
    fn new(len: usize) -> Self {
        Self {
            context: common::Context::new(&DEMO_ABI),
            echoes: Echoes::new(len),
            data: (0..len).map(|i| (i * 7) as u8).collect(),
            request: Vec::with_capacity(len + 16),
            expected: 0,
            stamps: 0,
            next: 1,
        }
    }

    /// Issues one echo; its number goes in the first 8 bytes.
    #[inline]
    fn issue(&mut self, path: Path) {
        let stamp = self.next;
        self.next += 1;
        self.data[..8].copy_from_slice(&stamp.to_le_bytes());
        let user_data = Arc::as_ptr(&self.echoes).cast_mut().cast();
        match path {
            Path::Native => {
                // SAFETY: the handle is only looked up; `data` is valid for
                // its length during the call (the runtime copies it before
                // returning); `echoes` outlives the context (field order).
                let status = unsafe {
                    demo::demo_native_echo(
                        self.context.ctx().ptr(),
                        self.data.as_ptr(),
                        self.data.len(),
                        Some(on_native_echo),
                        user_data,
                    )
                };
                assert_eq!(status, HC_OK, "demo_native_echo refused");
            }
            Path::Cbor => {
                let mut head = Writer::<16>::new();
                head.array(1).bytes_head(self.data.len());
                self.request.clear();
                self.request.extend_from_slice(head.bytes());
                self.request.extend_from_slice(&self.data);
                self.context
                    .call_with(c"echo", &self.request, on_cbor_echo, user_data);
            }
        }
        self.expected += 1;
        self.stamps += stamp;
    }

    fn wait(&self) {
        assert!(
            self.echoes.done.wait_within(self.expected, LIMIT),
            "echo replies did not arrive within {LIMIT:?}"
        );
    }

    /// `iters` calls, `depth` issued back to back before each wait.
    fn run(&mut self, iters: u64, path: Path, depth: u64) -> Duration {
        let start = Instant::now();
        let mut i = 0;
        while i < iters {
            let end = (i + depth).min(iters);
            while i < end {
                self.issue(path);
                i += 1;
            }
            self.wait();
        }
        let elapsed = start.elapsed();
        self.echoes.check(self.stamps);
        elapsed
    }
}

/// The memcpy baselines at `len` bytes.
fn copy_benches(group: &mut BenchmarkGroup<'_, WallTime>, len: usize, name: &str) {
    let source: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut a = vec![0u8; len];
    let mut b = vec![0u8; len];
    group.bench_function(format!("memcpy_{name}"), |bench| {
        bench.iter(|| {
            a.copy_from_slice(black_box(&source));
            black_box(&mut a);
        });
    });
    group.bench_function(format!("memcpy_twice_{name}"), |bench| {
        bench.iter(|| {
            a.copy_from_slice(black_box(&source));
            b.copy_from_slice(black_box(&a));
            black_box(&mut b);
        });
    });
    group.bench_function(format!("alloc_copy_{name}"), |bench| {
        bench.iter(|| black_box(black_box(&source[..]).to_vec()));
    });
}

fn echo_benches(group: &mut BenchmarkGroup<'_, WallTime>, len: usize, name: &str) {
    let mut rig = Rig::new(len);
    for (path, label) in [(Path::Native, "native"), (Path::Cbor, "cbor")] {
        group.bench_function(format!("{label}_echo_{name}"), |b| {
            b.iter_custom(|iters| rig.run(iters, path, 1));
        });
        group.bench_function(format!("{label}_echo_pipelined_{name}"), |b| {
            b.iter_custom(|iters| rig.run(iters, path, PIPELINE));
        });
    }
}

fn payload_sweep(c: &mut Criterion) {
    common::cbor::self_check();
    let mut group = c.benchmark_group("payload");
    for (len, name) in SIZES {
        group.throughput(Throughput::Bytes(len as u64));
        copy_benches(&mut group, len, name);
        echo_benches(&mut group, len, name);
    }
    group.finish();
}

/// `HOSTCALL_BENCH_INTERLEAVE=<rounds>`: every variant once per round, in
/// rotating order; medians and same-round ratios to memcpy, printed.
fn interleaved(rounds: usize) {
    use common::interleave::Variant;
    for (len, name) in SIZES {
        let copies = (64 << 20) / len as u64;
        let source: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut a = vec![0u8; len];
        let (mut a2, mut b2) = (vec![0u8; len], vec![0u8; len]);
        let source2 = source.clone();
        let source3 = source.clone();
        let mut variants = vec![
            Variant {
                name: format!("memcpy_{name}"),
                units: copies * len as u64,
                baseline: None,
                run: Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..copies {
                        a.copy_from_slice(black_box(&source));
                        black_box(&mut a);
                    }
                    start.elapsed()
                }),
            },
            Variant {
                name: format!("memcpy_twice_{name}"),
                units: copies * len as u64,
                baseline: Some(0),
                run: Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..copies {
                        a2.copy_from_slice(black_box(&source2));
                        b2.copy_from_slice(black_box(&a2));
                        black_box(&mut b2);
                    }
                    start.elapsed()
                }),
            },
            Variant {
                name: format!("alloc_copy_{name}"),
                units: copies * len as u64,
                baseline: Some(0),
                run: Box::new(move || {
                    let start = Instant::now();
                    for _ in 0..copies {
                        black_box(black_box(&source3[..]).to_vec());
                    }
                    start.elapsed()
                }),
            },
        ];
        let calls = 400;
        for (path, label) in [(Path::Native, "native"), (Path::Cbor, "cbor")] {
            for (depth, kind) in [(1, ""), (PIPELINE, "pipelined_")] {
                let mut rig = Rig::new(len);
                variants.push(Variant {
                    name: format!("{label}_echo_{kind}{name}"),
                    units: calls * len as u64,
                    baseline: Some(0),
                    run: Box::new(move || rig.run(calls, path, depth)),
                });
            }
        }
        common::interleave::run(&format!("payload {name}"), rounds, variants, "bytes");
    }
}

/// What `criterion_group!` would write, minus its undocumented `pub fn`.
fn benches() {
    if let Some(rounds) = common::interleave::rounds() {
        return interleaved(rounds);
    }
    let mut criterion = common::criterion().configure_from_args();
    payload_sweep(&mut criterion);
}

criterion_main!(benches);
