//! The CBOR fast path against the reference, and what decoding may cost.
//!
//! For every input and a spread of types, `hostcall::wire::from_cbor` (the
//! fast decoder first, the reference when it declines) must give exactly
//! what `hostcall::wire::reference::from_cbor` gives: the same value and
//! the same error text, compared as `format!("{:?}")` of the two `Result`s.
//! The same holds for `hostcall::__private::decode_args` against
//! `hostcall::wire::reference::decode_args`.
//!
//! Every one of those decodes must also peak at no more than
//! `256 * input.len() + 64 KiB` bytes live above what was live before it:
//! decoding allocates in proportion to the input, not to the lengths it
//! declares (`testkit/src/decode_cost.rs` explains the bound).

#![no_main]

use std::collections::BTreeMap;
use std::fmt::Debug;

use ciborium::Value;
use hostcall::Bytes;
use hostcall::wire::{ArgTuple, reference};
use hostcall_fuzz::decode_cost::{Counting, bound, peak_of};
use hostcall_fuzz::hex;
use hostcall_fuzz::types::{Record, Shape, Tree};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `decode`, and fails if it peaked above the bound for `input`.
/// Only this target's thread allocates through the counter while it runs.
fn bounded<T>(input: &[u8], what: &str, decode: impl FnOnce() -> T) -> T {
    let (out, peak) = peak_of(decode);
    let bound = bound(input);
    assert!(
        peak <= bound,
        "{what}: decoding the {}-byte input {} peaked at {peak} bytes live (bound {bound})",
        input.len(),
        hex(input)
    );
    out
}

/// `from_cbor::<T>` against the reference.
fn same<T: DeserializeOwned + Debug>(input: &[u8]) {
    let what = std::any::type_name::<T>();
    let fast = bounded(input, what, || hostcall::wire::from_cbor::<T>(input));
    let slow = bounded(input, what, || reference::from_cbor::<T>(input));
    let (fast, slow) = (format!("{fast:?}"), format!("{slow:?}"));
    assert!(
        fast == slow,
        "from_cbor::<{what}> differs from the reference on input {}\n  from_cbor: {fast}\n  reference: {slow}",
        hex(input)
    );
}

/// `decode_args::<T>` against the reference.
fn same_args<T: ArgTuple + Debug>(input: &[u8], names: &[&str]) {
    let what = std::any::type_name::<T>();
    let fast = bounded(input, what, || {
        hostcall::__private::decode_args::<T>(input, names)
    });
    let slow = bounded(input, what, || reference::decode_args::<T>(input, names));
    let (fast, slow) = (format!("{fast:?}"), format!("{slow:?}"));
    assert!(
        fast == slow,
        "decode_args::<{what}> differs from the reference on input {}\n  decode_args: {fast}\n  reference:   {slow}",
        hex(input)
    );
}

fuzz_target!(|data: &[u8]| {
    same::<Value>(data);
    same::<Record>(data);
    same::<Tree>(data);
    same::<Vec<String>>(data);
    same::<Option<i64>>(data);
    same::<BTreeMap<String, Value>>(data);
    same::<(u8, String, Bytes)>(data);
    same::<Shape>(data);
    same::<u8>(data);
    same::<i8>(data);
    same::<u64>(data);
    same::<i128>(data);
    same::<u128>(data);
    same::<f32>(data);
    same::<f64>(data);
    same::<bool>(data);
    same::<String>(data);
    same::<Bytes>(data);
    same::<Vec<u8>>(data);
    same::<()>(data);
    same::<demo::Profile>(data);
    same::<demo::Session>(data);
    same::<Vec<demo::Session>>(data);
    same::<demo::Progress>(data);

    same_args::<(Value,)>(data, &["v"]);
    same_args::<(String, Option<u32>)>(data, &["s", "n"]);
    same_args::<(Record, u32, String)>(data, &["r", "n", "s"]);
    same_args::<(Shape,)>(data, &["shape"]);
    same_args::<(Tree,)>(data, &["tree"]);
    same_args::<()>(data, &[]);
    same_args::<(i64, i64)>(data, &["a", "b"]);
    same_args::<(Vec<String>,)>(data, &["user_ids"]);
});
