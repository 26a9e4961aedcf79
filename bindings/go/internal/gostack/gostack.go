// Package gostack gives a new goroutine the stack it will need, in one
// step, before it runs code that would grow it many times.
//
// A goroutine starts with a 2 KiB stack. Whenever a call needs more, the
// runtime allocates one twice the size and copies the goroutine's frames
// over, adjusting every pointer into the old stack: the deeper the
// goroutine is when that happens, the more frames each copy walks.
// Decoding CBOR by reflection (fxamacker/cbor) grows a fresh goroutine's
// stack two or three times, deep inside the decoder; with one goroutine per
// host call and 10 000 host calls in flight, those copies took 40% of the
// CPU. Grow, called first thing, grows the stack once while only two frames
// are on it.
//
// A pool of long-lived goroutines would keep grown stacks as well, but it
// bounds how many host fns run at once: host fns that wait on I/O would
// queue behind each other, and one that waits for another host call of the
// same context could wait forever behind itself.
package gostack

// frameSize is the frame Grow takes: 4 KiB takes a new goroutine from its
// 2 KiB stack to 8 KiB in one growth, enough to decode the reference
// library's arguments and encode its results without growing again
// (measured: 1.5× the host calls per second with 10 000 in flight).
const frameSize = 4 << 10

// Grow makes room for frameSize bytes of calls on the current goroutine's
// stack. It costs one stack growth on a fresh goroutine and almost nothing
// on one whose stack is already large enough.
//
//go:noinline
func Grow() {
	var frame [frameSize]byte
	keep(frame[:])
}

// keep takes Grow's frame so that the compiler cannot drop it.
//
//go:noinline
func keep([]byte) {}
