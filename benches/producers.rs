//! Submit-path scaling (group `producers/…`): does total throughput hold
//! as more host threads push into one context at once? Driven through the
//! C ABI of `demo`, as C host threads would; hand-written CBOR.
//!
//! * `submit_<N>_threads` (N = 1, 2, 4, 8): N host threads call
//!   `demo_call(ctx, "add", [a, b], …)` at once, each with its own replies:
//!   each thread issues 256 calls back to back, waits for its 256 replies,
//!   and repeats. Counted in calls, so criterion's rate is the total calls/s
//!   of all N threads. Every request crosses the context's inbox (a
//!   lock-free queue all producers push into) to the one loop thread.
//! * `complete_<K>_threads` (K = 1, 2, 4, 8): one `login_many` of 10 000
//!   ids (500 when quick) puts 10 000 `fetch_profile` host calls in flight;
//!   the host fn deals the tokens round robin to K completer threads (one
//!   token queue each, so the host side shares no lock between them), which
//!   complete them concurrently with `demo_host_complete` and a CBOR
//!   `Profile`. Counted in completions: the time runs from the request to
//!   the `login_many` reply (every session built).
//!
//! The target (issue 13): throughput does not fall as threads are added;
//! `scripts/bench-report.py` shows each N against 1 thread. On a 2-core
//! machine 4 and 8 threads oversubscribe the cores (the loop thread is one
//! more), which is part of what is measured. Every wait is bounded: a
//! missing reply fails the bench after a minute.

mod common;

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_main};

use common::cbor::{Reader, Writer};
use common::{Counter, DEMO_ABI, Replies, TokenQueue};
use hostcall::status::HC_OK;
use hostcall_testkit::{Ctx, EntryPoints, complete, last_error};

/// The thread counts swept.
const THREADS: [usize; 4] = [1, 2, 4, 8];

/// Calls each submitting thread issues back to back before it waits.
const BATCH: u64 = 256;

/// The longest any wait may take before the bench fails.
const LIMIT: Duration = Duration::from_secs(60);

/// The user id every `login_many` asks for.
const USER_ID: &str = "user-000042";

/// Reads `add`'s CBOR integer result.
fn read_add(bytes: &[u8]) -> Option<u64> {
    common::cbor::read_int(bytes).and_then(|v| u64::try_from(v).ok())
}

/// Reads `login_many`'s array of sessions: its length.
fn read_sessions(bytes: &[u8]) -> Option<u64> {
    Reader::new(bytes).array()
}

fn wait(counter: &Counter, total: u64, what: &str) {
    assert!(
        counter.wait_within(total, LIMIT),
        "{what}: not done within {LIMIT:?}"
    );
}

/// One submitting thread's replies and what they must add up to.
struct Producer {
    replies: Arc<Replies>,
    expected: u64,
    sum: u64,
    next: u64,
}

impl Producer {
    fn new() -> Self {
        Self {
            replies: Replies::new(read_add),
            expected: 0,
            sum: 0,
            next: 0,
        }
    }

    /// `rounds` times: `BATCH` calls of `add(i, 1)`, then their replies.
    fn run(&mut self, context: &common::Context, rounds: u64) {
        for _ in 0..rounds {
            for _ in 0..BATCH {
                let i = self.next;
                self.next += 1;
                let mut request = Writer::<24>::new();
                request.array(2).int(i as i64).int(1);
                context.call(c"add", request.bytes(), &self.replies);
                self.sum = self.sum.wrapping_add(i + 1);
            }
            self.expected += BATCH;
            wait(&self.replies.done, self.expected, "add replies");
        }
    }

    fn check(&self) {
        self.replies.check();
        assert_eq!(self.replies.sum(), self.sum, "add results do not add up");
    }
}

/// A context and its submitting threads' replies.
struct SubmitRig {
    // Drop order: the context first, then the replies it points at.
    context: common::Context,
    producers: Vec<Producer>,
}

impl SubmitRig {
    fn new(threads: usize) -> Self {
        Self {
            context: common::Context::new(&DEMO_ABI),
            producers: (0..threads).map(|_| Producer::new()).collect(),
        }
    }

    /// Starts one thread per producer, releases them together, and times
    /// them from the release until the last one has its last reply.
    fn run(&mut self, rounds: u64) -> Duration {
        let threads = self.producers.len() as u64;
        let (ready, go, finished) = (Counter::default(), Counter::default(), Counter::default());
        let context = &self.context;
        let elapsed = std::thread::scope(|scope| {
            for producer in &mut self.producers {
                let (ready, go, finished) = (&ready, &go, &finished);
                std::thread::Builder::new()
                    .name("producer".to_owned())
                    .spawn_scoped(scope, move || {
                        ready.add(1);
                        wait(go, 1, "the start");
                        producer.run(context, rounds);
                        finished.add(1);
                    })
                    .expect("spawn a producer");
            }
            wait(&ready, threads, "producers starting");
            let start = Instant::now();
            go.add(1);
            wait(&finished, threads, "producers");
            start.elapsed()
        });
        for producer in &self.producers {
            producer.check();
        }
        elapsed
    }
}

fn submit_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    for threads in THREADS {
        let mut rig = SubmitRig::new(threads);
        group.throughput(Throughput::Elements(threads as u64 * BATCH));
        group.bench_function(format!("submit_{threads}_threads"), |b| {
            b.iter_custom(|rounds| rig.run(rounds));
        });
    }
}

/// The host side of `fetch_profile`: tokens dealt to completer threads.
struct Completers {
    abi: &'static EntryPoints,
    ctx: Ctx,
    queues: Vec<TokenQueue>,
    next: AtomicUsize,
    profile: Vec<u8>,
}

impl Completers {
    fn worker(&self, index: usize) {
        let mut batch = Vec::new();
        while self.queues[index].take(&mut batch) {
            for (token, _) in batch.drain(..) {
                let status = complete(self.abi, self.ctx, token, true, &self.profile);
                assert_eq!(status, HC_OK, "host_complete: {}", last_error(self.abi));
            }
        }
    }
}

/// `fetch_profile(user_id)`: queues the token for the next completer.
///
/// # Safety
/// `user_data` must point at a live [`Completers`].
unsafe extern "C" fn deal_token(
    token: u64,
    _req: *const c_char,
    _len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Completers` that outlives the context.
    let completers = unsafe { &*user_data.cast::<Completers>() };
    // Only the loop thread calls this: the counter is never contended.
    let next = completers.next.fetch_add(1, Ordering::Relaxed);
    completers.queues[next % completers.queues.len()].push(token, 0);
}

/// A context whose `fetch_profile` tokens go to K completer threads.
struct CompleteRig {
    // Drop order: the context first, then what its host fn points at.
    context: common::Context,
    completers: Arc<Completers>,
    workers: Vec<JoinHandle<()>>,
    replies: Arc<Replies>,
    request: Vec<u8>,
    ids: u64,
    expected: u64,
}

impl CompleteRig {
    fn new(threads: usize, ids: u64) -> Self {
        let context = common::Context::new(&DEMO_ABI);
        let completers = Arc::new(Completers {
            abi: context.abi(),
            ctx: context.ctx(),
            queues: (0..threads).map(|_| TokenQueue::default()).collect(),
            next: AtomicUsize::new(0),
            profile: common::cbor::profile(USER_ID).bytes().to_vec(),
        });
        context.register(
            c"fetch_profile",
            deal_token,
            None,
            Arc::as_ptr(&completers).cast(),
        );
        let workers = (0..threads)
            .map(|index| {
                completers.queues[index].add_workers(1);
                let completers = Arc::clone(&completers);
                std::thread::Builder::new()
                    .name(format!("completer-{index}"))
                    .spawn(move || completers.worker(index))
                    .expect("spawn a completer")
            })
            .collect();
        // `[[user_id; ids]]`, written by hand once.
        let mut head = Writer::<24>::new();
        head.array(1).array(ids as usize);
        let mut id = Writer::<32>::new();
        id.text(USER_ID);
        let mut request = head.bytes().to_vec();
        for _ in 0..ids {
            request.extend_from_slice(id.bytes());
        }
        Self {
            context,
            completers,
            workers,
            replies: Replies::new(read_sessions),
            request,
            ids,
            expected: 0,
        }
    }

    /// `iters` `login_many` calls, one at a time; each waits for its reply.
    fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.context
                .call(c"login_many", &self.request, &self.replies);
            self.expected += 1;
            wait(&self.replies.done, self.expected, "login_many");
        }
        let elapsed = start.elapsed();
        self.replies.check();
        assert_eq!(
            self.replies.sum(),
            self.expected * self.ids,
            "login_many returned the wrong number of sessions"
        );
        elapsed
    }
}

impl Drop for CompleteRig {
    fn drop(&mut self) {
        // Every reply arrived, so no token is left to complete: the
        // completers are idle and exit once stopped.
        for queue in &self.completers.queues {
            queue.stop();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn complete_benches(group: &mut BenchmarkGroup<'_, WallTime>) {
    let ids = common::scaled(10_000, 500);
    for threads in THREADS {
        let mut rig = CompleteRig::new(threads, ids);
        group.throughput(Throughput::Elements(ids));
        group.bench_function(format!("complete_{threads}_threads"), |b| {
            b.iter_custom(|iters| rig.run(iters));
        });
    }
}

fn producers(c: &mut Criterion) {
    common::cbor::self_check();
    let mut group = c.benchmark_group("producers");
    group.sample_size(30);
    submit_benches(&mut group);
    complete_benches(&mut group);
    group.finish();
}

/// What `criterion_group!` would write, minus its undocumented `pub fn`.
fn benches() {
    let mut criterion = common::criterion().configure_from_args();
    producers(&mut criterion);
}

criterion_main!(benches);
