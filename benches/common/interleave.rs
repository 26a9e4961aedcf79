//! Interleaved measurement for a noisy machine: every variant runs once per
//! round, in a rotating order, for a number of rounds; each variant's figure
//! is the median over rounds, and its ratio to its baseline is the median of
//! the per-round ratios (both measured within the same second or so). Run
//! with `HOSTCALL_BENCH_INTERLEAVE=<rounds>` instead of criterion's pass.
//!
//! Beside wall time it records the process's CPU time per run: CPU per unit
//! that stays flat while the wall time grows says the time went waiting
//! (scheduling), not working (contention makes the work itself dearer).

use std::time::Duration;

/// One thing measured: `units` (bytes, calls, completions) per run.
pub struct Variant<'a> {
    /// The name printed.
    pub name: String,
    /// Units of work one run does.
    pub units: u64,
    /// Index of the variant this one is judged against, if any.
    pub baseline: Option<usize>,
    /// One run; returns its wall time.
    pub run: Box<dyn FnMut() -> Duration + 'a>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Runs `rounds` rounds of every variant and prints, per variant, the
/// median time per run, the median rate (units/s), and the median of the
/// per-round rate ratios to its baseline with their range.
pub fn run(title: &str, rounds: usize, mut variants: Vec<Variant<'_>>, unit: &str) {
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    let mut cpu = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let before = process_cpu();
            let elapsed = (variants[i].run)();
            let used = process_cpu().saturating_sub(before);
            times[i].push(elapsed.as_secs_f64());
            cpu[i].push(used.as_secs_f64() * 1e9 / variants[i].units as f64);
        }
    }
    println!(
        "\n{title}: {rounds} interleaved rounds; medians; ratio = rate / baseline rate, same round [min .. max]"
    );
    let rate_head = format!("{unit}/s");
    let cpu_head = format!("CPU ns/{unit} (incl. untimed setup)");
    println!(
        "{:<40} {:>12} {rate_head:>14} {:>9}  {:<18} {cpu_head}",
        "variant", "per run", "ratio", "range"
    );
    for i in 0..n {
        let rate = |t: f64| variants[i].units as f64 / t;
        let mut rates: Vec<f64> = times[i].iter().map(|&t| rate(t)).collect();
        let mut per_run = times[i].clone();
        let (ratio, range) = match variants[i].baseline {
            Some(b) => {
                let mut ratios: Vec<f64> = (0..rounds)
                    .map(|r| {
                        (variants[i].units as f64 / times[i][r])
                            / (variants[b].units as f64 / times[b][r])
                    })
                    .collect();
                let m = median(&mut ratios);
                (
                    format!("{m:.3}"),
                    format!("[{:.3} .. {:.3}]", ratios[0], ratios[rounds - 1]),
                )
            }
            None => ("—".to_owned(), String::new()),
        };
        println!(
            "{:<40} {:>12} {:>14.4e} {:>9}  {:<18} {:.3}",
            variants[i].name,
            format!("{:.1} µs", median(&mut per_run) * 1e6),
            median(&mut rates),
            ratio,
            range,
            median(&mut cpu[i])
        );
    }
}

/// `HOSTCALL_BENCH_INTERLEAVE=<rounds>`, if set.
pub fn rounds() -> Option<usize> {
    std::env::var("HOSTCALL_BENCH_INTERLEAVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r| r > 0)
}

/// The process's CPU time so far (all threads, including exited ones):
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`; zero where unavailable.
pub fn process_cpu() -> Duration {
    cpu_clock(2)
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`); zero
/// where unavailable.
pub fn thread_cpu() -> Duration {
    cpu_clock(3)
}

/// The CPU clock of the calling thread, for [`clock_time`] to read from
/// another thread (`pthread_getcpuclockid(pthread_self())`); `None` where
/// unavailable.
pub fn this_thread_clock() -> Option<i32> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        unsafe extern "C" {
            fn pthread_self() -> u64;
            fn pthread_getcpuclockid(thread: u64, clock: *mut i32) -> i32;
        }
        let mut clock = 0i32;
        // SAFETY: `pthread_self` has no preconditions; `clock` is a valid,
        // writable `clockid_t` (an `int` on Linux).
        if unsafe { pthread_getcpuclockid(pthread_self(), &mut clock) } == 0 {
            return Some(clock);
        }
    }
    None
}

/// The time of CPU clock `clock` (from [`this_thread_clock`]).
pub fn clock_time(clock: i32) -> Duration {
    cpu_clock(clock)
}

fn cpu_clock(clock: i32) -> Duration {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        #[repr(C)]
        struct Timespec {
            tv_sec: i64,
            tv_nsec: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout:
        // two 64-bit fields); the call only writes it.
        if unsafe { clock_gettime(clock, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}
