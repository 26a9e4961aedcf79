//! C ABI test programs; see `tests/c_programs.rs`.
