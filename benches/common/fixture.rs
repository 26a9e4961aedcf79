//! A driver (a hostcall context of the bench library, or the naive
//! runtime) plus a host answering `ping` in one style, and the replies.

use std::ffi::{CStr, c_void};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hostcall::{FFIHostCancelFn, FFIHostFn};

use super::cbor;
use super::context::Context;
use super::host::{Host, Style, Target};
use super::library::BENCH_ABI;
use super::naive;
use super::replies::{Replies, on_reply};

/// Which design drives the handlers.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// A hostcall context of the bench library.
    Bridge,
    /// The naive design.
    Naive,
    /// The naive design with a `dashmap` token table.
    NaiveDashMap,
}

/// A hostcall context or a naive runtime.
pub enum Driver {
    /// hostcall.
    Bridge(Context),
    /// The naive design.
    Naive(naive::Naive),
}

impl Driver {
    /// A fresh driver of `side`.
    pub fn new(side: Side) -> Self {
        match side {
            Side::Bridge => Driver::Bridge(Context::new(&BENCH_ABI)),
            Side::Naive => Driver::Naive(naive::Naive::new()),
            Side::NaiveDashMap => Driver::Naive(naive::Naive::with_table(naive::Table::Sharded(
                dashmap::DashMap::new(),
            ))),
        }
    }

    /// Where its host sends completions.
    pub fn target(&self) -> Target {
        match self {
            Driver::Bridge(context) => Target::Bridge(context.abi(), context.ctx()),
            Driver::Naive(naive) => Target::Naive(Arc::clone(naive.shared())),
        }
    }

    /// Registers `ping`. `user_data` must outlive the driver.
    pub fn register_ping(
        &self,
        func: FFIHostFn,
        cancel: Option<FFIHostCancelFn>,
        user_data: *const c_void,
    ) {
        match self {
            Driver::Bridge(context) => context.register(c"ping", func, cancel, user_data),
            Driver::Naive(naive) => naive.register(func, user_data.cast_mut()),
        }
    }

    /// Calls `method` (`pump` or `hold`) with `[n]`.
    #[inline]
    pub fn call(&self, method: &CStr, n: u32, replies: &Replies) {
        let request = cbor::one_uint(u64::from(n));
        match self {
            Driver::Bridge(context) => context.call(method, request.bytes(), replies),
            Driver::Naive(naive) => naive
                .call(
                    method.to_str().expect("UTF-8 method"),
                    request.bytes(),
                    on_reply,
                    std::ptr::from_ref(replies).cast_mut().cast(),
                )
                .expect("naive call"),
        }
    }
}

/// A driver, a host answering `ping` in one style, and the replies.
pub struct Fixture {
    // Field order is drop order: the driver (context) goes first, before the
    // host and replies its callbacks point at.
    driver: Driver,
    host: Arc<Host>,
    replies: Arc<Replies>,
    style: Style,
    workers: Vec<JoinHandle<()>>,
    expected: u64,
}

/// The largest `pump` one request asks for.
const MAX_PUMP: u64 = 1 << 20;

impl Fixture {
    /// `side` driving the bench handlers, the host answering in `style`.
    pub fn new(side: Side, style: Style) -> Self {
        let driver = Driver::new(side);
        let host = Arc::new(Host::new(driver.target()));
        driver.register_ping(Host::host_fn(style), None, Arc::as_ptr(&host).cast());
        let workers = host.spawn_workers(style);
        Self {
            driver,
            host,
            replies: Replies::uint(),
            style,
            workers,
            expected: 0,
        }
    }

    /// Makes `calls` host calls in sequence (one `pump` request per 2²⁰),
    /// one outstanding at a time; returns the wall time.
    pub fn pump(&mut self, calls: u64) -> Duration {
        let start = Instant::now();
        let mut left = calls;
        while left > 0 {
            let n = left.min(MAX_PUMP);
            self.driver.call(c"pump", n as u32, &self.replies);
            self.expected += 1;
            self.replies.done.wait_for(self.expected);
            left -= n;
        }
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }

    /// Issues `requests` `pump(per_request)` requests back to back (all in
    /// flight at once) and waits for every reply; returns the wall time.
    pub fn throughput(&mut self, requests: u32, per_request: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..requests {
            self.driver.call(c"pump", per_request, &self.replies);
        }
        self.expected += u64::from(requests);
        self.replies.done.wait_for(self.expected);
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.host.stop(self.style);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
