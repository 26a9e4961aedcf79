//! Whether the machine has a core to spare for a watching loop thread.
//!
//! A loop thread that watches its inbox keeps a core busy. That is only
//! worth it while no other thread is waiting for a core: on a machine with
//! more runnable threads than cores, the watch takes the core the host's
//! own threads (or the very thread about to send the next message) need,
//! and every watch that loses its core costs a scheduler time slice rather
//! than a wake-up. Go's scheduler asks the same question before it lets an
//! M spin (it keeps at most as many spinning Ms as there are idle Ps).
//!
//! On Linux the answer comes from the kernel's count of runnable threads
//! (the fourth field of `/proc/loadavg`, `running/total`, computed when the
//! file is read), compared with the cores this process may use. Reading it
//! costs a few microseconds, so the answer is sampled at most once per
//! [`SAMPLE`] and reused in between. Elsewhere, or when the file cannot be
//! read, the answer is "yes": the watch's own contention check
//! (`crate::context::idle`, step 2) still stops a watch that loses its
//! core. The count is machine-wide: in a container sharing a bigger host,
//! the other tenants' threads count too, so the loop watches less rather
//! than more.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one reading of the runnable count is reused.
pub(crate) const SAMPLE: Duration = Duration::from_millis(5);

/// The loop thread's sampler of spare cores.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cores {
    /// When the count was last read, and whether a core was spare then.
    last: Option<(Instant, bool)>,
}

impl Cores {
    /// Whether a core is spare at `now` (read at most once per [`SAMPLE`]).
    pub(crate) fn spare(&mut self, now: Instant) -> bool {
        match self.last {
            Some((at, spare)) if now.saturating_duration_since(at) < SAMPLE => spare,
            _ => {
                let spare = runnable().is_none_or(|running| spare_core(running, cores()));
                self.last = Some((now, spare));
                spare
            }
        }
    }
}

/// With `running` threads runnable (the asking thread among them) on
/// `cores` cores, is there room for the asking thread to keep one busy?
fn spare_core(running: usize, cores: usize) -> bool {
    running <= cores
}

/// The cores this process may use (affinity and cgroup quota), read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The kernel's count of runnable threads, if this system says.
fn runnable() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::io::Read;
        let mut buf = [0u8; 128];
        let mut file = std::fs::File::open("/proc/loadavg").ok()?;
        let n = file.read(&mut buf).ok()?;
        parse_running(buf.get(..n)?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The `running` of `/proc/loadavg`'s `running/total` field.
fn parse_running(loadavg: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(loadavg).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_running_count() {
        assert_eq!(parse_running(b"0.52 0.58 0.59 3/467 12345\n"), Some(3));
        assert_eq!(parse_running(b"10.08 6.94 4.21 11/199 11024"), Some(11));
        assert_eq!(parse_running(b"0.52 0.58 0.59"), None);
        assert_eq!(parse_running(b"0.52 0.58 0.59 x/467 1"), None);
        assert_eq!(parse_running(b""), None);
    }

    #[test]
    fn a_core_is_spare_while_runnable_threads_fit() {
        assert!(spare_core(1, 2), "only the loop thread runs");
        assert!(spare_core(2, 2), "the loop and one other thread");
        assert!(!spare_core(3, 2), "a third thread waits for a core");
        assert!(!spare_core(2, 1));
    }

    #[test]
    fn the_answer_is_reused_within_a_sample() {
        let mut cores = Cores::default();
        let t = Instant::now();
        let first = cores.spare(t);
        assert_eq!(cores.last.map(|(at, _)| at), Some(t));
        assert_eq!(cores.spare(t + SAMPLE / 2), first);
        assert_eq!(cores.last.map(|(at, _)| at), Some(t), "not read again");
        cores.spare(t + SAMPLE);
        assert_eq!(cores.last.map(|(at, _)| at), Some(t + SAMPLE), "read again");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_says_how_many_threads_are_runnable() {
        // This test's own thread is running while it reads.
        assert!(runnable().is_some_and(|n| n >= 1));
    }
}
