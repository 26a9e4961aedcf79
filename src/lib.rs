//! # hostcall
//!
//! Drive a Rust library from C, Go, Swift or Kotlin — and let its async
//! handlers call back into the host and await typed results.
//!
//! ```
//! use hostcall::{host_fn, Record};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Record)]
//! pub struct Profile { pub user_id: String, pub name: String, pub age: u32 }
//!
//! host_fn! {
//!     /// Looks a user up in the host's store.
//!     pub fn fetch_profile(user_id: String) -> Profile;
//! }
//!
//! /// Greets a user by name.
//! #[hostcall::handler]
//! pub async fn greet(user_id: String) -> Result<String, String> {
//!     let profile = fetch_profile(user_id).await.map_err(|e| e.to_string())?;
//!     Ok(format!("Hello, {}", profile.name))
//! }
//!
//! hostcall::export! {
//!     prefix = "greeter",
//!     handlers = [greet],
//!     host_fns = [fetch_profile],
//! }
//! ```
//!
//! Build the crate as a `cdylib` and it exports `greeter_new`,
//! `greeter_call`, `greeter_register_host_fn`, `greeter_host_complete`, … —
//! the C ABI described in `docs/abi.md` — plus its own description, from
//! which `hostcall-gen` writes the C header and the language bindings.
//!
//! How it works is in `docs/architecture.md`; the threading contract in
//! `docs/threading.md`; the C ABI in `docs/abi.md`; writing a library in
//! `docs/rust.md`.

#![cfg_attr(
    hostcall_loom,
    allow(dead_code, reason = "loom builds compile only the concurrent cores")
)]

// Generated code names `::hostcall`; this makes that path work inside the
// crate too.
extern crate self as hostcall;

// The modules in layers, from the bottom: each uses only layers below it
// (`tests/layering.rs` checks that the module graph has no cycle). A loom
// build (`--cfg hostcall_loom`) compiles only the concurrent cores and the
// status codes.

// The concurrent cores, and the C ABI's vocabulary.
pub mod abi;
mod core;
pub use abi::status;

// Host call errors, logging, the CBOR wire form.
#[cfg(not(hostcall_loom))]
mod error;
#[cfg(not(hostcall_loom))]
pub mod log;
#[cfg(not(hostcall_loom))]
pub mod wire;

// The protocol an isolated context speaks with its helper process.
#[cfg(not(hostcall_loom))]
pub mod isolation;

// A request: its invocation, its one reply.
#[cfg(not(hostcall_loom))]
mod request;

// The definitions the macros write, and the self-description.
#[cfg(not(hostcall_loom))]
mod library;
#[cfg(not(hostcall_loom))]
pub use library::describe;

// A context and its loop thread.
#[cfg(not(hostcall_loom))]
mod context;

// What handlers use on the loop thread: host calls and events.
#[cfg(not(hostcall_loom))]
mod events;
#[cfg(not(hostcall_loom))]
mod host_call;

// The host's side of an isolated context: the helper process, the proxy.
#[cfg(not(hostcall_loom))]
mod remote;

// The C entry points.
#[doc(hidden)]
#[cfg(not(hostcall_loom))]
pub mod ffi;

#[cfg(not(hostcall_loom))]
pub use {
    abi::{
        FFICallBack, FFICallBackBool, FFICallBackF64, FFICallBackI64, FFICallBackU64,
        FFIHostCancelFn, FFIHostFn,
    },
    context::config::Config,
    error::HostError,
    events::{EmitError, Event, emit},
    host_call::{HostCall, HostOutcome, Untyped},
    library::Library,
    library::describe::{Describe, LibraryDesc, TypeDesc, TypedError},
    wire::Bytes,
};

#[cfg(not(hostcall_loom))]
pub use hostcall_macros::{Error, Event, Record, export, handler, host_fn};

/// Items the macros' generated code uses. Not part of the public API.
#[doc(hidden)]
#[cfg(not(hostcall_loom))]
pub mod __private {
    pub use crate::ffi::{
        NativeArgError, NativeCall, native_bytes, native_call, native_from_cbor, native_text,
    };
    pub use crate::library::describe::{
        ErrorRef, ErrorTypeDesc, FieldDesc, RecordDesc, Records, TypeDesc, TypeRef, VariantDesc,
        VariantShape,
    };
    pub use crate::library::fail::{
        ErrorOf, Fail, PlainErrorOf, TypedErrorOf, ViaDisplay, ViaTyped,
    };
    pub use crate::library::{ArgDef, EventDef, HandlerDef, HostFnDef, Library, LibraryDef};
    pub use crate::request::{
        Callback, Invocation, Reply, Responder, Value, native_result, native_value, reply_result,
        reply_value,
    };
    pub use crate::wire::decode_args;
}
