//! The C ABI of every hostcall library, declared once, as data.
//!
//! What crosses the boundary and is the same for every library lives here,
//! each list written once:
//!
//! * [`codes`]: the status codes entry points return and the outcome codes
//!   callbacks carry;
//! * [`callbacks`]: the C function-pointer types (`FFICallBack`, …);
//! * [`entry_points`]: `<prefix>_new`, `<prefix>_call`, … with their
//!   signatures, documentation and safety contracts;
//! * [`config`]: the keys of the config map given to `<prefix>_new`;
//! * [`native`]: which types a native entry point carries, and how;
//! * [`ctype`]: how the Rust types of those signatures are spelled in C.
//!
//! Everything else is derived: the runtime re-exports this crate as
//! `hostcall::abi` (and the codes as `hostcall::status`); `export!` emits
//! the entry points from [`ENTRY_POINTS`]; the test kit and the benches call
//! them through one [`EntryPoints`] table; `hostcall-gen` renders the static
//! header `hostcall.h`, each `<prefix>.h` and the Go and Kotlin runtime
//! constants from these tables.
//!
//! It is a crate of its own because the proc-macro crate needs it while it
//! expands `export!` and `#[handler]`, and a proc-macro crate cannot depend
//! on the runtime crate that depends on it.

pub mod callbacks;
pub mod codes;
pub mod config;
pub mod ctype;
pub mod entry_points;
pub mod native;

pub use callbacks::{
    CALLBACKS, FFICallBack, FFICallBackBool, FFICallBackF64, FFICallBackI64, FFICallBackU64,
    FFIHostCancelFn, FFIHostFn,
};
pub use codes::{Code, OUTCOME_CODES, STATUS_CODES};
pub use config::{CONFIG_KEYS, ConfigKey};
pub use entry_points::{ENTRY_POINTS, EntryPoints};

/// A parameter of a C function: its name and its Rust type as written in
/// the declaration (`*const c_char`); [`ctype::c_spelling`] gives the C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name, the same in Rust and in C.
    pub name: &'static str,
    /// The Rust type, as `stringify!` prints it.
    pub rust: &'static str,
}

/// A C function or function-pointer type of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// For an entry point the suffix after `<prefix>_` (`call`); for a
    /// callback type its name (`FFICallBack`).
    pub name: &'static str,
    /// What it does, one paragraph or more (blank lines separate them).
    pub doc: &'static str,
    /// For entry points, what the caller must guarantee (the Rust `# Safety`
    /// section of the generated symbol); empty for callback types.
    pub safety: &'static str,
    /// The parameters in order.
    pub params: &'static [Param],
    /// The Rust return type (`()` for none).
    pub ret: &'static str,
}

impl Signature {
    /// The C return type (`void` for `()`).
    pub fn c_ret(&self) -> String {
        ctype::c_spelling(self.ret).unwrap_or_else(|| panic!("no C spelling for {}", self.ret))
    }

    /// The C parameter list, `const char *config, size_t config_len`.
    pub fn c_params(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|p| {
                let c = ctype::c_spelling(p.rust)
                    .unwrap_or_else(|| panic!("no C spelling for {}", p.rust));
                ctype::declare(&c, p.name)
            })
            .collect()
    }
}

/// The names the signatures above are written with, for code that emits
/// them (`export!` expands the entry points inside `use prelude::*`).
pub mod prelude {
    pub use crate::callbacks::{
        FFICallBack, FFICallBackBool, FFICallBackF64, FFICallBackI64, FFICallBackU64,
        FFIHostCancelFn, FFIHostFn,
    };
    pub use std::ffi::{c_char, c_int, c_void};
}
