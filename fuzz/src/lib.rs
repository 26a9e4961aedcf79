//! What the fuzz targets share with the seed-corpus generator
//! (`examples/gen_corpus.rs`): the types `cbor_differential` decodes, and the
//! byte format of the scripts `requests` interprets, with its encoder.
//!
//! See docs/fuzzing.md.

/// The decoding-memory bound, its counting allocator and the lying-length
/// input, shared with `tests/decode_bounds.rs`: the test kit's module
/// (`testkit/`), included by path.
#[path = "../../testkit/src/decode_cost.rs"]
pub mod decode_cost;
pub mod script;
pub mod types;

/// `bytes` as lowercase hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
