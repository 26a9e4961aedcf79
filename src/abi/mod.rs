//! The C ABI's vocabulary: the function-pointer types a host passes in, the
//! opaque user data it gets back, and the status and outcome codes that
//! cross the boundary. Every other module speaks it and it depends on
//! nothing, so it is the bottom layer; the entry points that use it are in
//! [`crate::ffi`], the top one.

pub mod status;

#[cfg(not(hostcall_loom))]
mod types;
#[cfg(not(hostcall_loom))]
pub use types::*;
