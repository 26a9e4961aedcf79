//! The types `cbor_differential` decodes: the shapes of the differential
//! tests at the bottom of `src/wire/mod.rs`, plus a record that holds itself
//! (from `testkit/src/decode_cost.rs`, with the input that lies about its
//! lengths).

use std::collections::BTreeMap;

use hostcall::Bytes;
use serde::{Deserialize, Serialize};

/// An enum with every kind of variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A unit variant: `"Unit"`.
    Unit,
    /// A newtype variant: `{"Newtype": n}`.
    Newtype(i32),
    /// A tuple variant: `{"Tuple": [n, s]}`.
    Tuple(u8, String),
    /// A struct variant: `{"Struct": {"a": …, "b": […]}}`.
    Struct {
        /// An optional flag.
        a: Option<bool>,
        /// A list of small integers.
        b: Vec<u16>,
    },
}

/// A record with every field kind a handler uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Text.
    pub name: String,
    /// A 32-bit unsigned integer.
    pub age: u32,
    /// A list of text.
    pub tags: Vec<String>,
    /// A 64-bit float.
    pub score: f64,
    /// A 32-bit float.
    pub ratio: f32,
    /// A byte string.
    pub data: Bytes,
    /// An enum.
    pub shape: Shape,
    /// An optional map.
    pub extra: Option<BTreeMap<String, i64>>,
    /// A 128-bit integer (a bignum tag past 64 bits).
    pub big: i128,
    /// An 8-bit signed integer.
    pub small: i8,
    /// A 64-bit unsigned integer.
    pub wide: u64,
    /// Unit: CBOR null.
    pub unit: (),
}

pub use crate::decode_cost::{Tree, lying_tree};

/// The input that once decoded differently on the two paths: a one-element
/// argument array holding the struct variant `Struct` written as an array.
pub const STRUCT_AS_ARRAY: [u8; 12] = [
    0x81, 0xa1, 0x66, 0x53, 0x74, 0x72, 0x75, 0x63, 0x74, 0x82, 0xf6, 0x80,
];
