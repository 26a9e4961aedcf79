//! Minimal CBOR, the way a C host writes it by hand (or with a tiny library
//! such as tinycbor): a stack buffer, definite lengths, no allocation. Just
//! the items the benches exchange: integers, text, byte strings (their head:
//! the payload is copied by the caller, since it outgrows a stack buffer),
//! arrays and maps.
//!
//! The library side uses ciborium (`hostcall::wire`); this is the host side.

const UINT: u8 = 0;
const NEGINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;

/// Writes CBOR items into a fixed buffer of `N` bytes (panics if it overflows).
pub struct Writer<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Writer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Writer<N> {
    /// An empty buffer.
    #[inline]
    pub fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// An item head: major type and argument, in the shortest form.
    #[inline]
    fn head(&mut self, major: u8, value: u64) {
        let major = major << 5;
        if value < 24 {
            self.put(&[major | value as u8]);
        } else if value <= 0xff {
            self.put(&[major | 24, value as u8]);
        } else if value <= 0xffff {
            self.put(&[major | 25]);
            self.put(&(value as u16).to_be_bytes());
        } else if value <= 0xffff_ffff {
            self.put(&[major | 26]);
            self.put(&(value as u32).to_be_bytes());
        } else {
            self.put(&[major | 27]);
            self.put(&value.to_be_bytes());
        }
    }

    /// An unsigned integer.
    #[inline]
    pub fn uint(&mut self, value: u64) -> &mut Self {
        self.head(UINT, value);
        self
    }

    /// A signed integer.
    #[inline]
    pub fn int(&mut self, value: i64) -> &mut Self {
        if value >= 0 {
            self.head(UINT, value as u64);
        } else {
            self.head(NEGINT, !(value as u64));
        }
        self
    }

    /// A text string.
    #[inline]
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.head(TEXT, text.len() as u64);
        self.put(text.as_bytes());
        self
    }

    /// The head of a byte string of `len` bytes (the bytes themselves
    /// follow it, written by the caller).
    #[inline]
    pub fn bytes_head(&mut self, len: usize) -> &mut Self {
        self.head(BYTES, len as u64);
        self
    }

    /// The head of an array of `len` items.
    #[inline]
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(ARRAY, len as u64);
        self
    }

    /// The head of a map of `len` key/value pairs.
    #[inline]
    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(MAP, len as u64);
        self
    }

    /// What was written.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads CBOR items from a byte slice; every method returns `None` on an
/// item of another type or a truncated input.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(out)
    }

    #[inline]
    fn head(&mut self) -> Option<(u8, u64)> {
        let first = *self.take(1)?.first()?;
        let (major, info) = (first >> 5, first & 0x1f);
        let value = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((major, value))
    }

    #[inline]
    fn expect(&mut self, major: u8) -> Option<u64> {
        match self.head()? {
            (m, value) if m == major => Some(value),
            _ => None,
        }
    }

    /// An unsigned integer.
    #[inline]
    pub fn uint(&mut self) -> Option<u64> {
        self.expect(UINT)
    }

    /// A signed integer that fits `i64`.
    #[inline]
    pub fn int(&mut self) -> Option<i64> {
        match self.head()? {
            (UINT, value) => i64::try_from(value).ok(),
            (NEGINT, value) => i64::try_from(value).ok().map(|v| !v),
            _ => None,
        }
    }

    /// A text string (validated as UTF-8).
    #[inline]
    pub fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.expect(TEXT)?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    /// A byte string (borrowed from the input).
    #[inline]
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.expect(BYTES)?).ok()?;
        self.take(len)
    }

    /// The head of an array: its length.
    #[inline]
    pub fn array(&mut self) -> Option<u64> {
        self.expect(ARRAY)
    }

    /// The head of a map: its number of pairs.
    #[inline]
    pub fn map(&mut self) -> Option<u64> {
        self.expect(MAP)
    }

    /// Whether every byte was read.
    #[inline]
    pub fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// A lone unsigned integer (a `u64` result).
#[inline]
pub fn uint(n: u64) -> Writer<9> {
    let mut w = Writer::new();
    w.uint(n);
    w
}

/// The request of a one-integer host fn or handler: `[n]`.
#[inline]
pub fn one_uint(n: u64) -> Writer<16> {
    let mut w = Writer::new();
    w.array(1).uint(n);
    w
}

/// Reads `[n]`.
#[inline]
pub fn read_one_uint(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader::new(bytes);
    (r.array()? == 1).then_some(())?;
    let n = r.uint()?;
    r.done().then_some(n)
}

/// Reads a lone unsigned integer.
#[inline]
pub fn read_uint(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader::new(bytes);
    let n = r.uint()?;
    r.done().then_some(n)
}

/// Reads a lone signed integer.
#[inline]
pub fn read_int(bytes: &[u8]) -> Option<i64> {
    let mut r = Reader::new(bytes);
    let n = r.int()?;
    r.done().then_some(n)
}

/// The `Profile` a `demo` host answers `fetch_profile` with.
pub fn profile(user_id: &str) -> Writer<128> {
    let mut w = Writer::new();
    w.map(3)
        .text("user_id")
        .text(user_id)
        .text("name")
        .text("Ada Lovelace")
        .text("age")
        .uint(36);
    w
}

/// Checks the hand-written encoder against ciborium once (cheap; the benches
/// call it at start-up so a wrong byte here cannot silently skew a figure).
pub fn self_check() {
    fn ciborium<T: serde::Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).expect("encodes");
        out
    }
    for n in [
        0u64,
        23,
        24,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64,
        u64::MAX,
    ] {
        assert_eq!(one_uint(n).bytes(), ciborium(&(n,)), "[{n}]");
        assert_eq!(read_one_uint(&ciborium(&(n,))), Some(n));
    }
    for v in [0i64, -1, -24, -25, -256, -257, i64::MIN, i64::MAX] {
        let mut w = Writer::<16>::new();
        w.int(v);
        assert_eq!(w.bytes(), ciborium(&v), "{v}");
        assert_eq!(read_int(&ciborium(&v)), Some(v));
    }
    let mut w = Writer::<64>::new();
    w.array(2).text("user-000001").int(-3);
    assert_eq!(w.bytes(), ciborium(&("user-000001", -3i64)));
    for len in [0usize, 23, 24, 255, 256, 65_535, 65_536, 153_600] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut w = Writer::<16>::new();
        w.array(1).bytes_head(len);
        let mut ours = w.bytes().to_vec();
        ours.extend_from_slice(&data);
        let theirs = ciborium(&(hostcall::Bytes(data.clone()),));
        assert_eq!(ours, theirs, "[bytes of {len}]");
        let mut r = Reader::new(&theirs[1..]);
        assert_eq!(r.bytes(), Some(&data[..]));
        assert!(r.done());
    }
}
