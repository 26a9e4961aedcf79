package designbench

/*
#cgo CFLAGS: -I${SRCDIR}/../../hostcall
#cgo LDFLAGS: -lpthread
#include <stdint.h>

int dba_drive(int design, int kind, uint64_t n, uintptr_t key);
*/
import "C"

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hostcall/hostcall/bindings/go/hostcall"
	"github.com/hostcall/hostcall/bindings/go/internal/gostack"
)

// The transport alone, without the library: a thread created in C — as the
// library's loop thread is — makes n callbacks in a row, and the Go side
// handles each the way the bindings do. Two shapes:
//
//   - an event: the Go side calls a function (for A on the C thread, for B
//     on the dispatcher goroutine);
//   - a host fn: the Go side starts a goroutine per callback that runs the
//     host function and reports its result (the bindings' host fn path,
//     minus the library's host_complete).

// Transport drives n callbacks through one design.
type Transport interface {
	// Events makes n event callbacks and returns once all were handled.
	Events(n int) error
	// HostFns makes n host fn callbacks and returns once every goroutine
	// they started has reported its result.
	HostFns(n int) error
	Close()
}

const (
	driveHostFn = 0
	driveEvent  = 1

	// The callbacks the C thread makes: design A's bare functions calling
	// exported Go, or the shipped runtime's trampolines (design B).
	designDirect = 0
	designQueued = 1
)

func drive(design, kind int, n int, key uint64) error {
	if C.dba_drive(C.int(design), C.int(kind), C.uint64_t(n), C.uintptr_t(key)) != 0 {
		return errors.New("designbench: could not start the C thread")
	}
	return nil
}

// DirectTransport is design A's transport: each callback is a cgo
// callback into an exported Go function.
type DirectTransport struct{}

// directWait is what the exported functions count down; the benchmarks
// use one transport at a time.
var directWait atomic.Pointer[sync.WaitGroup]

// Events implements Transport.
func (DirectTransport) Events(n int) error {
	var wg sync.WaitGroup
	wg.Add(n)
	directWait.Store(&wg)
	if err := drive(designDirect, driveEvent, n, 0); err != nil {
		return err
	}
	wg.Wait()
	return nil
}

// HostFns implements Transport.
func (DirectTransport) HostFns(n int) error {
	var wg sync.WaitGroup
	wg.Add(n)
	directWait.Store(&wg)
	if err := drive(designDirect, driveHostFn, n, 0); err != nil {
		return err
	}
	wg.Wait()
	return nil
}

// Close implements Transport.
func (DirectTransport) Close() {}

//export designABareEvent
func designABareEvent(ret C.int, msg *C.char, n C.size_t, key C.uintptr_t) {
	_ = C.GoBytes(unsafe.Pointer(msg), C.int(n)) // the copy every design makes
	directWait.Load().Done()
}

// directRunning mirrors the runtime's bookkeeping of running host calls.
var directRunning = struct {
	sync.Mutex
	m map[uint64]context.CancelFunc
}{m: map[uint64]context.CancelFunc{}}

//export designABareHostFn
func designABareHostFn(token C.uint64_t, req *C.char, n C.size_t, key C.uintptr_t) {
	request := C.GoBytes(unsafe.Pointer(req), C.int(n))
	ctx, cancel := context.WithCancel(context.Background())
	directRunning.Lock()
	directRunning.m[uint64(token)] = cancel
	directRunning.Unlock()
	go func() {
		gostack.Grow() // as the shipped runtime did while it decoded by reflection
		_, _ = nop(ctx, request)
		directRunning.Lock()
		delete(directRunning.m, uint64(token))
		directRunning.Unlock()
		cancel()
		directWait.Load().Done()
	}()
}

// nop is the host function of the transport benchmarks.
func nop(context.Context, []byte) ([]byte, error) { return nil, nil }

// QueuedTransport is design B's transport: the shipped runtime's C
// trampolines, queue and dispatcher goroutine.
type QueuedTransport struct {
	rt       *hostcall.Runtime
	wait     atomic.Pointer[sync.WaitGroup]
	eventKey uint64
	fnKey    uint64
}

// NewQueuedTransport opens a runtime whose host fn and listener count down
// the current wait group.
func NewQueuedTransport() (*QueuedTransport, error) {
	q := &QueuedTransport{}
	rt, err := hostcall.NewRuntime(func(uint64, int, []byte) { q.wait.Load().Done() })
	if err != nil {
		return nil, err
	}
	q.rt = rt
	q.eventKey = rt.Listen(func([]byte) { q.wait.Load().Done() })
	q.fnKey = rt.HostFnKey(0, nop)
	return q, nil
}

// Events implements Transport.
func (q *QueuedTransport) Events(n int) error {
	var wg sync.WaitGroup
	wg.Add(n)
	q.wait.Store(&wg)
	if err := drive(designQueued, driveEvent, n, q.eventKey); err != nil {
		return err
	}
	wg.Wait()
	return nil
}

// HostFns implements Transport.
func (q *QueuedTransport) HostFns(n int) error {
	var wg sync.WaitGroup
	wg.Add(n)
	q.wait.Store(&wg)
	if err := drive(designQueued, driveHostFn, n, q.fnKey); err != nil {
		return err
	}
	wg.Wait()
	return nil
}

// Close implements Transport.
func (q *QueuedTransport) Close() { q.rt.Close(func() {}) }
