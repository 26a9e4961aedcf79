//! The libraries the benches drive, and their entry-point tables: the
//! bench library (prefix `bench`) declared here with the hostcall macros,
//! and the reference library `demo`.
//!
//! * host fn `ping(n) -> n + 1` (the host decides when and from which
//!   thread);
//! * handler `pump(n)`: awaits `ping` n times in sequence, one call
//!   outstanding;
//! * handler `hold(n)`: starts n `ping` calls at once.

use hostcall_testkit::EntryPoints;

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
pub static BENCH_ABI: EntryPoints = EntryPoints {
    new: lib::bench_new,
    destroy: lib::bench_destroy,
    call: lib::bench_call,
    register_host_fn: lib::bench_register_host_fn,
    register_host_fn_cancellable: lib::bench_register_host_fn_cancellable,
    host_complete: lib::bench_host_complete,
    add_event_listener: lib::bench_add_event_listener,
    remove_event_listener: lib::bench_remove_event_listener,
    last_error: lib::bench_last_error,
    hostcall_description: lib::bench_hostcall_description,
    interface_hash: lib::bench_interface_hash,
};

/// The reference library's entry points: the one table the benches call it
/// through.
pub static DEMO_ABI: EntryPoints = EntryPoints {
    new: demo::demo_new,
    destroy: demo::demo_destroy,
    call: demo::demo_call,
    register_host_fn: demo::demo_register_host_fn,
    register_host_fn_cancellable: demo::demo_register_host_fn_cancellable,
    host_complete: demo::demo_host_complete,
    add_event_listener: demo::demo_add_event_listener,
    remove_event_listener: demo::demo_remove_event_listener,
    last_error: demo::demo_last_error,
    hostcall_description: demo::demo_hostcall_description,
    interface_hash: demo::demo_interface_hash,
};
