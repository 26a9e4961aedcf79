//! The C ABI's vocabulary: the function-pointer types a host passes in, the
//! opaque user data it gets back, and the status and outcome codes that
//! cross the boundary. Every other module speaks it and it depends on
//! nothing, so it is the bottom layer; the entry points that use it are in
//! [`crate::ffi`], the top one.
//!
//! What the ABI is — entry points with their signatures, callback types,
//! codes, config keys, the native lowering — is declared once, as data, in
//! the `hostcall-abi` crate, re-exported here whole as `hostcall::abi` (a
//! crate of its own because the proc macros read it while expanding, and
//! they cannot depend on this crate).

pub mod status;

pub use hostcall_abi::{
    CALLBACKS, CONFIG_KEYS, ENTRY_POINTS, EntryPoints, FFICallBack, FFICallBackBool,
    FFICallBackF64, FFICallBackI64, FFICallBackU64, FFIHostCancelFn, FFIHostFn, OUTCOME_CODES,
    STATUS_CODES, Signature, config, ctype, native, prelude,
};

#[cfg(not(hostcall_loom))]
mod types;
#[cfg(not(hostcall_loom))]
pub use types::*;
