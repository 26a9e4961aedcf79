//! What hostcall's tests and benches share: driving an exported library
//! through its C ABI from Rust, exactly as a C host does.
//!
//! One module per concept:
//!
//! * [`abi`]: the entry-point table of one exported library
//!   ([`EntryPoints`]), the context handle [`Ctx`], and the plain calls
//!   through the table (`destroy`, `host_complete`, `last_error`).
//! * [`sink`]: reply and event callbacks collected per id, waited for on a
//!   condition variable with a deadline, never with sleeps.
//! * [`host`]: the host side of a host fn — a Rust closure registered as one,
//!   with its cancel notifier — and [`TokenPool`], tokens handed from a host
//!   fn to host threads.
//! * [`client`]: one context of a test library plus everything its callbacks
//!   point at.
//! * [`wire`]: CBOR requests and configs for tests (through `hostcall::wire`).
//! * [`decode_cost`]: the memory bound on decoding untrusted CBOR, its
//!   counting allocator and the hostile input (also included by `fuzz/`).

pub mod abi;
pub mod client;
pub mod decode_cost;
pub mod host;
pub mod sink;
pub mod wire;

pub use abi::{Ctx, EntryPoints, complete, complete_with, destroy, last_error, payload};
pub use client::Client;
pub use host::{HostBody, HostImpl, TokenPool};
pub use sink::{
    Hook, Received, Sink, Target, next_id, on_bool, on_callback, on_f64, on_i64, on_u64,
};
pub use wire::{NO_ARGS, cbor, config};
