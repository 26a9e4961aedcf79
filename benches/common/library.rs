//! The libraries the benches drive, and their entry-point tables: the
//! bench library (prefix `bench`) declared here with the hostcall macros,
//! and the reference library `demo`.
//!
//! * host fn `ping(n) -> n + 1` (the host decides when and from which
//!   thread);
//! * handler `pump(n)`: awaits `ping` n times in sequence, one call
//!   outstanding;
//! * handler `hold(n)`: starts n `ping` calls at once.

/// The bench library (prefix `bench`).
pub mod lib {
    use hostcall::host_fn;

    host_fn! {
        /// Answers `n + 1` (the host decides when and from which thread).
        pub fn ping(n: u64) -> u64;
    }

    /// Awaits `ping` `n` times in sequence (one call outstanding at a time);
    /// returns the sum of the answers.
    #[hostcall::handler]
    pub async fn pump(n: u32) -> Result<u64, String> {
        let mut sum = 0u64;
        for i in 0..n {
            let answer = ping(u64::from(i)).await.map_err(|e| e.to_string())?;
            sum = sum.wrapping_add(answer);
        }
        Ok(sum)
    }

    /// Starts `n` `ping` calls at once (one local task each) and waits for
    /// all of them; returns the sum of the answers.
    #[hostcall::handler]
    pub async fn hold(n: u32) -> Result<u64, String> {
        let tasks: Vec<_> = (0..n)
            .map(|i| tokio::task::spawn_local(ping(u64::from(i))))
            .collect();
        let mut sum = 0u64;
        for task in tasks {
            let answer = task
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            sum = sum.wrapping_add(answer);
        }
        Ok(sum)
    }

    hostcall::export! {
        prefix = "bench",
        handlers = [pump, hold],
        host_fns = [ping],
    }
}

/// The bench library's entry points: the one table the benches call it
/// through.
pub use lib::__HOSTCALL_ENTRY_POINTS as BENCH_ABI;

/// The reference library's entry points: the one table the benches call it
/// through.
pub use demo::__HOSTCALL_ENTRY_POINTS as DEMO_ABI;
