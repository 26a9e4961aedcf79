//! The host fns a request runs: the registry, as a request holds it.
//!
//! Registrations travel through the inbox and replace the loop's registry
//! (copy on write, [`crate::context::event_loop`]); each request keeps the one
//! that was current when it was handled, so its host calls run what was
//! registered then, however its handler's steps interleave with later
//! registrations.

use crate::abi::{FFIHostCancelFn, FFIHostFn, UserData};

/// A registered host fn implementation.
#[derive(Clone, Copy)]
pub(crate) struct HostFnEntry {
    pub(crate) func: FFIHostFn,
    pub(crate) cancel: Option<FFIHostCancelFn>,
    pub(crate) user_data: UserData,
}

/// Host fns by their index in the library's `host_fns`.
///
/// Registrations replace the loop's registry (copy on write); each request
/// keeps the one that was current when it started, so it sees exactly the
/// registrations sent before it: a host call runs the implementation that
/// was registered when the request it serves was handled.
pub(crate) type Registry = Vec<Option<HostFnEntry>>;
