//! Status codes and outcome codes: the numbers that cross the C ABI.
//!
//! Declared once in the `hostcall-abi` crate (its `codes` module says what
//! the two families mean and why they never change); re-exported here as
//! `hostcall::status`.

pub use hostcall_abi::codes::*;
