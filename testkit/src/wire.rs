//! CBOR for tests: requests and configs, encoded through `hostcall::wire`.

/// The request of a handler without arguments: no bytes at all.
pub const NO_ARGS: [u8; 0] = [];

/// `value` as CBOR.
pub fn cbor<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    hostcall::wire::to_cbor(value).unwrap()
}

/// A CBOR config map of integer entries (`max_pending_requests`, …).
pub fn config(entries: &[(&str, u64)]) -> Vec<u8> {
    let map: std::collections::BTreeMap<&str, u64> = entries.iter().copied().collect();
    cbor(&map)
}
