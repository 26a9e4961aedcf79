//! How big and how long the benches run: quick mode, criterion's settings,
//! the throughput scenario's shape, where the JSON goes.

use std::sync::OnceLock;
use std::time::Duration;

/// Whether to run small: `HOSTCALL_BENCH_QUICK=1`, or criterion's test mode
/// (`cargo bench -- --test`, or a bench binary run without `--bench`).
pub fn quick() -> bool {
    static QUICK: OnceLock<bool> = OnceLock::new();
    *QUICK.get_or_init(|| {
        let env = std::env::var("HOSTCALL_BENCH_QUICK")
            .is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        let args: Vec<String> = std::env::args().collect();
        let test = args.iter().any(|a| a == "--test");
        let bench = args.iter().any(|a| a == "--bench");
        env || test || !bench
    })
}

/// `full` normally, `small` in quick mode.
pub fn scaled<T>(full: T, small: T) -> T {
    if quick() { small } else { full }
}

/// The criterion settings of every bench binary: short warm-up, 2 s
/// measurements, fewer bootstrap resamples (the whole run fits in minutes).
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .nresamples(20_000)
}

/// Where the benches' own JSON goes: `target/hostcall-bench/`.
pub fn output_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("hostcall-bench")
}

/// The throughput scenario: `(requests, host calls per request)` — 10 000
/// `pump(100)` requests in flight at once, 1M host calls (small when quick).
/// Sets `group` up for it: few long flat samples, counted in host calls.
pub fn throughput_shape(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) -> (u32, u32) {
    let (requests, per_request) = scaled((10_000, 100), (200, 10));
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(3))
        .throughput(criterion::Throughput::Elements(
            u64::from(requests) * u64::from(per_request),
        ));
    (requests, per_request)
}
