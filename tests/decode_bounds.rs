//! What decoding untrusted CBOR may cost in memory.
//!
//! An array's declared length is untrusted input: a request of a few bytes
//! can claim 2^64 − 1 elements at every level of nesting. Decoding must
//! allocate in proportion to the input's length, not to the lengths it
//! claims, on every path: request arguments (`decode_args`) and host-fn
//! replies (`from_cbor`), through the fast decoder and through the
//! reference. This binary counts every allocation to check it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters are
// plain atomics and never allocate.
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

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most `run` had live at once beyond what was live before it.
fn peak_of<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = run();
    (out, PEAK.load(Ordering::Relaxed) - before)
}

/// A record that holds itself: every level may declare a huge `kids`.
#[derive(Debug, Serialize, Deserialize)]
struct Tree {
    kids: Vec<Tree>,
}

/// `{"kids": <array claiming 2^64 − 1 elements>` nested `depth` times, then
/// one real `{"kids": []}`, and the input ends: depth 127 is 1 912 bytes.
fn lying_tree(depth: usize) -> Vec<u8> {
    let level = [
        [0xa1, 0x64, b'k', b'i', b'd', b's', 0x9b].as_slice(),
        &[0xff; 8],
    ]
    .concat();
    let leaf = [0xa1, 0x64, b'k', b'i', b'd', b's', 0x80];
    [level.repeat(depth), leaf.to_vec()].concat()
}

/// The bound, as docs/fuzzing.md and the `cbor_differential` fuzz target
/// state it: at most this many bytes live per input byte, plus a constant.
/// A generous linear bound, not a measurement: per input byte the
/// reference holds at most one `Value` (32 bytes, up to twice that while a
/// `Vec` grows) and the value being built from it, and the fast path's
/// size hints promise at most one element per input byte. This input
/// measures about 24 bytes per input byte (one `Tree` per hinted element).
const PER_INPUT_BYTE: usize = 256;
const SLACK: usize = 64 << 10;

fn bound(input: &[u8]) -> usize {
    PER_INPUT_BYTE * input.len() + SLACK
}

// One test function: the counters are process-wide, so the measurements
// must not overlap.
#[test]
fn declared_lengths_do_not_drive_allocation() {
    for depth in [1, 10, 127] {
        let reply = lying_tree(depth);
        let (result, peak) = peak_of(|| hostcall::wire::from_cbor::<Tree>(&reply));
        assert!(result.is_err(), "a truncated reply is refused");
        assert!(
            peak <= bound(&reply),
            "decoding a {}-byte reply peaked at {peak} bytes (bound {})",
            reply.len(),
            bound(&reply)
        );

        let request = [&[0x81][..], &reply].concat();
        let (result, peak) =
            peak_of(|| hostcall::__private::decode_args::<(Tree,)>(&request, &["tree"]));
        assert!(result.is_err(), "a truncated request is refused");
        assert!(
            peak <= bound(&request),
            "decoding a {}-byte request peaked at {peak} bytes (bound {})",
            request.len(),
            bound(&request)
        );
        eprintln!(
            "depth {depth}: {} bytes in, peak {peak} bytes",
            request.len()
        );
    }

    // Honest input of the same shape decodes, within the same bound.
    let mut tree = Tree { kids: Vec::new() };
    for _ in 0..100 {
        tree = Tree {
            kids: vec![tree, Tree { kids: Vec::new() }],
        };
    }
    let mut honest = Vec::new();
    ciborium::into_writer(&(&tree,), &mut honest).unwrap();
    let (result, peak) =
        peak_of(|| hostcall::__private::decode_args::<(Tree,)>(&honest, &["tree"]));
    let (decoded,) = result.expect("honest input decodes");
    assert_eq!(decoded.kids.len(), 2);
    assert!(
        peak <= bound(&honest),
        "honest input peaked at {peak} bytes"
    );
}
