//! What decoding untrusted CBOR may cost in memory: the bound, the counting
//! allocator that measures it, and the hostile input that motivated it.
//!
//! Shared by `tests/decode_bounds.rs` and the `cbor_differential` fuzz
//! target (`fuzz/`, which includes this file by path), so that both hold
//! decoding to the same bound. Each binary installs the allocator itself:
//!
//! ```text
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// At most this many bytes may be live per input byte while one input is
/// decoded, plus [`SLACK`]. A generous linear bound, not a measurement: per
/// input byte the reference holds at most one `ciborium::Value` (32 bytes,
/// up to twice that while a `Vec` grows) and the value being built from
/// it, and the fast path's size hints promise at most one element per
/// input byte. [`lying_tree`] measures about 24 bytes per input byte (one
/// [`Tree`] per hinted element).
pub const PER_INPUT_BYTE: usize = 256;

/// The constant part of the bound.
pub const SLACK: usize = 64 << 10;

/// The most bytes decoding `input` may have live at once.
pub fn bound(input: &[u8]) -> usize {
    PER_INPUT_BYTE * input.len() + SLACK
}

/// The system allocator, counting the bytes live and their peak.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters are plain
// atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller obligation.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded caller obligation.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Runs `run` and returns its result with the most bytes it had live at
/// once beyond what was live before it. The counters are process-wide: no
/// other thread may allocate meanwhile for the figure to be `run`'s alone.
pub fn peak_of<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = run();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// A record that holds itself: every level may declare a huge `kids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The children.
    pub kids: Vec<Tree>,
}

/// `{"kids": <array claiming 2^64 − 1 elements>` nested `depth` times, then
/// one real `{"kids": []}`, and the input ends: depth 127 is 1 912 bytes.
/// Before size hints were bounded by the input, decoding it as an argument
/// reserved 1 MiB per level.
pub fn lying_tree(depth: usize) -> Vec<u8> {
    let level = [
        [0xa1, 0x64, b'k', b'i', b'd', b's', 0x9b].as_slice(),
        &[0xff; 8],
    ]
    .concat();
    let leaf = [0xa1, 0x64, b'k', b'i', b'd', b's', 0x80];
    [level.repeat(depth), leaf.to_vec()].concat()
}
