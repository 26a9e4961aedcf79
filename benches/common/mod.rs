//! Shared code of the benches, one file per concept. What the tests share
//! too (the entry-point table, the context handle, plain calls through the
//! table) is in the test kit, `hostcall-testkit` (`testkit/`).
//!
//! * [`library`]: the bench library (prefix `bench`: host fn `ping(n) -> n +
//!   1`, handlers `pump(n)` and `hold(n)`) and the entry-point tables of it
//!   and of `demo`.
//! * [`context`]: a live context, called from Rust exactly as a C host calls
//!   it.
//! * [`counter`] / [`replies`]: completion flags the benches wait on — a
//!   short spin, then a condition variable; never a sleep — and the reply
//!   callback.
//! * [`handoff`]: mailbox, token queue and spin slot between the loop thread
//!   and host threads.
//! * [`host`]: the host side of `ping` in every style the benches measure,
//!   completing through hostcall or through [`naive`].
//! * [`stash`]: a host fn that keeps its calls pending.
//! * [`fixture`]: a driver (hostcall context or naive runtime) plus a host.
//! * [`settings`]: quick mode, criterion settings, output directory;
//!   [`interleave`]: variants measured in rotating rounds, for noisy machines.
//! * [`isolated`]: the config of a `demo` context isolated in a helper
//!   process.
//! * [`cbor`]: CBOR by hand, as a C host writes it; [`naive`]: the design a
//!   user would otherwise write.

#![allow(
    dead_code,
    unused_imports,
    reason = "each bench binary uses a different subset"
)]

pub mod cbor;
pub mod context;
pub mod counter;
pub mod fixture;
pub mod handoff;
pub mod host;
pub mod interleave;
pub mod isolated;
pub mod library;
pub mod naive;
pub mod replies;
pub mod settings;
pub mod stash;

pub use context::Context;
pub use counter::{Counter, SPIN};
pub use fixture::{Driver, Fixture, Side};
pub use handoff::{Mailbox, SpinSlot, TokenQueue};
pub use host::{Host, Job, Style, Target};
pub use library::{BENCH_ABI, DEMO_ABI, lib};
pub use replies::{Decode, Replies, on_reply};
pub use settings::{criterion, output_dir, quick, scaled, throughput_shape};
pub use stash::Stash;
