// Package designbench measures the two ways a Go binding can receive the
// callbacks of a hostcall library, to choose between them with numbers
// (docs/go.md, "Why the callbacks are queued"; figures in
// docs/benchmarks.md, "Go bindings").
//
//   - Design A, Direct: every callback (host fn invocation, cancel notice,
//     reply) is a cgo callback from the library's loop thread — a thread Go
//     did not create — straight into an exported Go function.
//   - Design B, Queued: the shipped runtime (bindings/go/hostcall). C
//     trampolines copy each callback into a per-context queue and return;
//     one dispatcher goroutine takes the queue in batches with one blocking
//     cgo call per batch and dispatches in Go.
//
// Both drive the real libdemo through its C ABI, do the same CBOR work, and
// run each Go host function on its own goroutine with its own cancellable
// context. (Since issue 13, design B's generated package encodes and
// decodes with generated codecs and grows no stack, while design A still
// uses reflection, hostcall.Encode and Decode, and grows each host call's
// stack as the runtime used to: the end-to-end rows no longer differ in the
// transport alone; the transport rows still do.) Run from bindings/go:
//
//	cargo build -p demo --release
//	CGO_LDFLAGS="-L$PWD/../../target/release -Wl,-rpath,$PWD/../../target/release" \
//	    go test -run '^$' -bench . -benchtime 2s ./internal/designbench
package designbench

import (
	"context"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// FetchProfile is a Go implementation of the host fn fetch_profile.
type FetchProfile func(ctx context.Context, userID string) (demo.Profile, error)

// Design is what the benchmarks drive.
type Design interface {
	Login(ctx context.Context, userID string) (demo.Session, error)
	LoginMany(ctx context.Context, userIDs []string) ([]demo.Session, error)
	Close()
}

// Queued is design B: the generated demo package on the shipped runtime.
type Queued struct {
	*demo.Context
}

// NewQueued creates a demo.Context with fetch as its fetch_profile.
func NewQueued(fetch FetchProfile) (*Queued, error) {
	c, err := demo.New()
	if err != nil {
		return nil, err
	}
	if err := c.RegisterFetchProfile(fetch); err != nil {
		c.Close()
		return nil, err
	}
	return &Queued{c}, nil
}

// Close closes the context.
func (q *Queued) Close() { q.Context.Close() }

var (
	_ Design = (*Direct)(nil)
	_ Design = (*Queued)(nil)
)
