//! The completion bridge (group `bridge/…`), driven through the C ABI of the
//! bench library in `common` (prefix `bench`).
//!
//! * `inline_round_trip`: `pump(iters)` with a `ping` host fn that completes
//!   inside the host fn; time per host call. Compare `baselines/direct_call`
//!   and `baselines/naive_inline_round_trip`.
//! * `cross_thread_sleeping_host` / `cross_thread_spinning_host`: one call
//!   outstanding, completed by a host worker thread that sleeps on a
//!   condition variable / spins on an atomic for the token; time per host
//!   call. Compare `baselines/condvar_ping_pong` / `crossbeam_ping_pong`.
//! * `throughput_1_host_thread` / `throughput_4_host_threads`: 10 000
//!   `pump(100)` requests in flight (1M host calls), the host fn queueing
//!   tokens that 1 or 4 host threads drain; criterion reports completions
//!   per second, the time is per 1M.
//! * `teardown`: destroying a context with 100 000 host calls pending (set up
//!   untimed; only `bench_destroy` is timed); elements = pending calls.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_main};

use common::{BENCH_ABI, Context, Fixture, Replies, Side, Stash, Style};
use hostcall::status::HC_OK;

/// `pump` through a bench-library context, host answering in `style`: time
/// per host call.
fn sequential(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, style: Style) {
    let mut fixture = None;
    group.bench_function(name, |b| {
        let fixture = fixture.get_or_insert_with(|| Fixture::new(Side::Bridge, style));
        b.iter_custom(|iters| fixture.pump(iters));
    });
}

fn throughput(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, threads: usize) {
    let (requests, per_request) = common::throughput_shape(group);
    let mut fixture = None;
    group.bench_function(name, |b| {
        let fixture =
            fixture.get_or_insert_with(|| Fixture::new(Side::Bridge, Style::Queue { threads }));
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| fixture.throughput(requests, per_request))
                .sum()
        });
    });
}

/// Sets up a context with `pending` host calls really pending (the host fn
/// has seen every token), then times `bench_destroy` alone.
fn teardown_once(pending: u32) -> Duration {
    let stash = Stash::with_capacity(pending as usize);
    let replies = Replies::uint();
    let mut context = Context::new(&BENCH_ABI);
    context.register(
        c"ping",
        Stash::FN,
        Some(Stash::CANCEL),
        Arc::as_ptr(&stash).cast(),
    );
    context.call(
        c"hold",
        common::cbor::one_uint(u64::from(pending)).bytes(),
        &replies,
    );
    stash.seen.wait_for(u64::from(pending));

    let start = Instant::now();
    let status = context.destroy();
    let elapsed = start.elapsed();

    assert_eq!(status, HC_OK);
    assert_eq!(
        stash.cancelled(),
        u64::from(pending),
        "every call cancelled"
    );
    assert_eq!(
        (replies.done.get(), replies.errors()),
        (1, 1),
        "one reply: context shutting down"
    );
    elapsed
}

fn teardown(group: &mut BenchmarkGroup<'_, WallTime>) {
    let pending = common::scaled(100_000, 10_000);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(u64::from(pending)));
    group.bench_function("teardown", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| teardown_once(pending)).sum());
    });
}

fn bridge(c: &mut Criterion) {
    common::cbor::self_check();
    let mut group = c.benchmark_group("bridge");
    sequential(&mut group, "inline_round_trip", Style::Inline);
    sequential(&mut group, "cross_thread_sleeping_host", Style::Sleeping);
    sequential(&mut group, "cross_thread_spinning_host", Style::Spinning);
    throughput(&mut group, "throughput_1_host_thread", 1);
    throughput(&mut group, "throughput_4_host_threads", 4);
    teardown(&mut group);
    group.finish();
}

/// What `criterion_group!` would write, minus its undocumented `pub fn`.
fn benches() {
    let mut criterion = common::criterion().configure_from_args();
    bridge(&mut criterion);
}

criterion_main!(benches);
