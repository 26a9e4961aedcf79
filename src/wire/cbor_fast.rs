//! The fast CBOR decoder, with ciborium as its reference.
//!
//! ciborium reads through a byte-at-a-time `Read` and a scratch buffer; a
//! host call's reply is decoded on the loop thread, where that was a fifth
//! of the thread's time with 10 000 host calls in flight. This decoder reads
//! the slice in place. It does not replace ciborium; [`crate::wire`] uses it
//! in front:
//!
//! 1. `wire` decodes the whole input here first.
//! 2. This decoder takes only definite-length items without tags: integers,
//!    byte and text strings (valid UTF-8), arrays, maps, `false`, `true`,
//!    `null`, `undefined`, 32- and 64-bit floats: the CBOR that every
//!    binding writes. For each it makes the visitor call that the
//!    reference — ciborium decoding the bytes into a `ciborium::Value`,
//!    then `Value::deserialized` — makes for the same bytes: `visit_str`
//!    and `visit_bytes` for strings of any length, the integer width the
//!    type asks for, `deserialize_seq` for a tuple variant and
//!    `deserialize_map` for a struct variant, the same nesting limit.
//! 3. Anything else (a tag, an indefinite length, a half float, another
//!    simple value, truncation, invalid UTF-8, trailing bytes, a container
//!    the visitor left unfinished) and any error at all, the visitor's
//!    included, ends this attempt with [`Unsupported`]; nothing is kept.
//! 4. `wire` then decodes the input again by the reference, whose result
//!    and error text are the answer.
//!
//! So a success here is a success there with the same value; the
//! differential tests in `wire` and the fuzz target `cbor_differential`
//! hold it to that. Where the reference is lenient in ways the bindings
//! never need (an enum variant name that is not text, a unit variant
//! written as a map), this one declines rather than copy it.
//!
//! # Size hints
//!
//! A container's declared length is untrusted: an array may claim 2^64 − 1
//! elements in a few bytes. Every element takes at least one byte of input,
//! so the size hints of all the containers one decode opens add up to at
//! most the input's length: each container's hint is its declared length,
//! cut down to what is left of that budget. Honest input never meets the
//! cut (its declared lengths add up to at most its item count); a hostile
//! one makes `Vec`s pre-allocate in proportion to its length, not to the
//! lengths it claims.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

/// How deep containers may nest: ciborium's default recursion limit, which
/// the reference meets decoding the bytes into a `Value`.
const MAX_DEPTH: u32 = 256;

/// Why the fast path gave up: the input or the type needs ciborium.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not in the fast decoder's subset")
    }
}

impl std::error::Error for Unsupported {}

impl de::Error for Unsupported {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Unsupported
    }
}

/// Decodes `bytes` as one `T` with nothing after it, or gives up.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut de = Fast::new(bytes);
    let value = T::deserialize(&mut de).ok()?;
    de.input.is_empty().then_some(value)
}

/// Decodes `bytes` as a CBOR array of exactly `len` elements read by
/// `read` (a request's arguments), with nothing after it, or gives up.
pub(crate) fn array_of<T>(
    bytes: &[u8],
    len: usize,
    read: impl FnOnce(&mut Elements<'_, '_>) -> Result<Option<T>, Unsupported>,
) -> Option<T> {
    let mut de = Fast::new(bytes);
    match de.head().ok()? {
        Head::Array(n) if n == len => {}
        _ => return None,
    }
    // The argument path decodes the outer array as one level of nesting.
    de.depth = 1;
    let hint = de.reserve(len);
    let mut elements = Elements {
        de: &mut de,
        left: len,
        hint,
    };
    let value = read(&mut elements).ok()??;
    (elements.left == 0 && de.input.is_empty()).then_some(value)
}

/// One item's initial byte and argument, read.
enum Head {
    Positive(u64),
    /// `-1 - n`.
    Negative(u64),
    Bytes(usize),
    Text(usize),
    Array(usize),
    Map(usize),
    False,
    True,
    Null,
    Undefined,
    Float(f64),
}

/// The decoder: the input not read yet, the nesting depth and what is left
/// of the size-hint budget.
pub(crate) struct Fast<'de> {
    input: &'de [u8],
    depth: u32,
    /// Elements the size hints may still promise: starts at the input's
    /// length, and every container's hint is taken from it.
    hints: usize,
}

impl<'de> Fast<'de> {
    fn new(input: &'de [u8]) -> Self {
        Self {
            input,
            depth: 0,
            hints: input.len(),
        }
    }

    /// The size hint for a container declaring `len` items, taken from the
    /// budget.
    fn reserve(&mut self, len: usize) -> usize {
        let hint = len.min(self.hints);
        self.hints -= hint;
        hint
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], Unsupported> {
        if n > self.input.len() {
            return Err(Unsupported);
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    fn head(&mut self) -> Result<Head, Unsupported> {
        let first = self.take(1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().map_err(|_| Unsupported)?,
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().map_err(|_| Unsupported)?,
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| Unsupported)?),
            _ => return Err(Unsupported), // reserved, or an indefinite length
        };
        let len = || usize::try_from(arg).map_err(|_| Unsupported);
        Ok(match major {
            0 => Head::Positive(arg),
            1 => Head::Negative(arg),
            2 => Head::Bytes(len()?),
            3 => Head::Text(len()?),
            4 => Head::Array(len()?),
            5 => Head::Map(len()?),
            6 => return Err(Unsupported), // a tag
            _ => match info {
                20 => Head::False,
                21 => Head::True,
                22 => Head::Null,
                23 => Head::Undefined,
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "info 26 carries exactly four bytes"
                )]
                26 => Head::Float(f64::from(f32::from_bits(arg as u32))),
                27 => Head::Float(f64::from_bits(arg)),
                _ => return Err(Unsupported), // other simple values, half floats
            },
        })
    }

    fn text(&mut self, len: usize) -> Result<&'de str, Unsupported> {
        std::str::from_utf8(self.take(len)?).map_err(|_| Unsupported)
    }

    /// Reads a container's items with `visit`, one level deeper, and
    /// refuses a container the visitor did not read to its end.
    fn nested<T>(
        &mut self,
        len: usize,
        visit: impl FnOnce(&mut Elements<'_, 'de>) -> Result<T, Unsupported>,
    ) -> Result<T, Unsupported> {
        if self.depth >= MAX_DEPTH {
            return Err(Unsupported);
        }
        self.depth += 1;
        let hint = self.reserve(len);
        let mut elements = Elements {
            de: self,
            left: len,
            hint,
        };
        let value = visit(&mut elements)?;
        let finished = elements.left == 0;
        self.depth -= 1;
        if finished {
            Ok(value)
        } else {
            Err(Unsupported)
        }
    }

    /// An integer as the reference reads one for a type of range `N`: the
    /// CBOR integer, converted (a value out of range is its error).
    fn integer<N: TryFrom<i128>>(&mut self) -> Result<N, Unsupported> {
        let value = match self.head()? {
            Head::Positive(n) => i128::from(n),
            Head::Negative(n) => !i128::from(n),
            _ => return Err(Unsupported),
        };
        N::try_from(value).map_err(|_| Unsupported)
    }
}

/// The items of one array (`left` elements) or map (`left` pairs).
pub(crate) struct Elements<'a, 'de> {
    de: &'a mut Fast<'de>,
    left: usize,
    /// The size hint: `left`, unless the budget cut it down.
    hint: usize,
}

impl Elements<'_, '_> {
    /// Counts one item read off `left` and the hint.
    fn next(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.hint = self.hint.saturating_sub(1);
        true
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Unsupported;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Unsupported> {
        if !self.next() {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.hint)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Unsupported;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unsupported> {
        if !self.next() {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Unsupported> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.hint)
    }
}

/// An enum value: `"Variant"` (unit variants only) or `{"Variant": value}`
/// (newtype, tuple and struct variants only).
struct Variant<'a, 'de> {
    de: &'a mut Fast<'de>,
    /// Whether the variant came as a one-pair map, with its value next.
    has_value: bool,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Unsupported;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), Unsupported> {
        // The name, read as the seed asks (an identifier: text only).
        let variant = seed.deserialize(&mut *self.de)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Unsupported;

    fn unit_variant(self) -> Result<(), Unsupported> {
        if self.has_value {
            Err(Unsupported)
        } else {
            Ok(())
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, Unsupported> {
        if !self.has_value {
            return Err(Unsupported);
        }
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        if !self.has_value {
            return Err(Unsupported);
        }
        // An array only, as the reference reads it.
        de::Deserializer::deserialize_seq(self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        if !self.has_value {
            return Err(Unsupported);
        }
        // A map only, as the reference reads it (ciborium's streaming
        // deserializer would also take an array; its `Value` does not).
        de::Deserializer::deserialize_map(self.de, visitor)
    }
}

impl<'de> de::Deserializer<'de> for &mut Fast<'de> {
    type Error = Unsupported;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Positive(n) => visitor.visit_u64(n),
            Head::Negative(n) => match i64::try_from(n) {
                Ok(n) => visitor.visit_i64(!n),
                Err(_) => visitor.visit_i128(!i128::from(n)),
            },
            Head::Bytes(len) => visitor.visit_bytes(self.take(len)?),
            Head::Text(len) => visitor.visit_str(self.text(len)?),
            Head::Array(len) => self.nested(len, |elements| visitor.visit_seq(elements)),
            Head::Map(len) => self.nested(len, |elements| visitor.visit_map(elements)),
            Head::Float(x) => visitor.visit_f64(x),
            Head::False => visitor.visit_bool(false),
            Head::True => visitor.visit_bool(true),
            Head::Null | Head::Undefined => visitor.visit_none(),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::False => visitor.visit_bool(false),
            Head::True => visitor.visit_bool(true),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_i8(self.integer()?)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_i16(self.integer()?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_i32(self.integer()?)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_i64(self.integer()?)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_i128(self.integer()?)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_u8(self.integer()?)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_u16(self.integer()?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_u32(self.integer()?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_u64(self.integer()?)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_u128(self.integer()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Float(x) => visitor.visit_f64(x),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Unsupported> {
        Err(Unsupported) // rare; ciborium's rules for it are its own
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Text(len) => visitor.visit_str(self.text(len)?),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Bytes(len) => visitor.visit_bytes(self.take(len)?),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        let before = self.input;
        match self.head()? {
            Head::Null | Head::Undefined => visitor.visit_none(),
            _ => {
                self.input = before;
                visitor.visit_some(self)
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Null | Head::Undefined => visitor.visit_unit(),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Array(len) => self.nested(len, |elements| visitor.visit_seq(elements)),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.head()? {
            Head::Map(len) => self.nested(len, |elements| visitor.visit_map(elements)),
            _ => Err(Unsupported),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        if name == "@@TAG@@" {
            return Err(Unsupported); // ciborium's tag capture
        }
        let before = self.input;
        match self.head()? {
            // `{"Variant": value}` is a map: one level of nesting.
            Head::Map(1) => self.nested(0, |elements| {
                visitor.visit_enum(Variant {
                    de: &mut *elements.de,
                    has_value: true,
                })
            }),
            Head::Text(_) => {
                self.input = before;
                visitor.visit_enum(Variant {
                    de: self,
                    has_value: false,
                })
            }
            _ => Err(Unsupported),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
