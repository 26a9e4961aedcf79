//! What decoding untrusted CBOR may cost in memory.
//!
//! An array's declared length is untrusted input: a request of a few bytes
//! can claim 2^64 − 1 elements at every level of nesting. Decoding must
//! allocate in proportion to the input's length, not to the lengths it
//! claims, on every path: request arguments (`decode_args`) and host-fn
//! replies (`from_cbor`), through the fast decoder and through the
//! reference. This binary counts every allocation to check it, against the
//! bound the fuzz target `cbor_differential` holds every input to.

use hostcall_testkit::decode_cost::{Counting, Tree, bound, lying_tree, peak_of};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
