//! The concurrent cores: the lock-free pieces that host threads and the loop
//! thread share, each stating its protocol as numbered steps and each checked
//! by loom models (`RUSTFLAGS="--cfg hostcall_loom" cargo test --lib
//! --release`). They are all that a loom build compiles, besides the status
//! codes, so they depend on nothing else in the crate.
//!
//! * [`handle`]: the `void *ctx` the host holds, entered under striped guards;
//! * [`inflight`]: the token table of outstanding host calls;
//! * [`inbox`]: the loop's multi-producer queue and its wake-up rule;
//! * [`sync`]: the atomics and cells they use, `std` or `loom`.

pub(crate) mod handle;
pub(crate) mod inbox;
pub(crate) mod inflight;
pub(crate) mod sync;
