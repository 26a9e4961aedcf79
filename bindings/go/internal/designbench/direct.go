package designbench

/*
#cgo LDFLAGS: -ldemo
#include <stdint.h>
#include <stdlib.h>

uintptr_t dba_new(void);
int dba_destroy(uintptr_t ctx);
int dba_register(uintptr_t ctx, const char *name, uintptr_t key);
int dba_call(uintptr_t ctx, const char *method, const char *req, size_t len, uintptr_t key);
int dba_complete(uintptr_t ctx, uint64_t token, int ret, const char *msg, size_t len);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
	"github.com/hostcall/hostcall/bindings/go/internal/gostack"
)

// Direct is design A: the library's loop thread calls exported Go
// functions directly (a cgo callback from a foreign thread per host fn
// invocation, per cancel notice and per reply). The host fn callback starts
// a goroutine that runs the Go host function and answers with
// demo_host_complete; the reply callback hands the reply to the waiting
// caller over a channel.
//
// Everything else is what the shipped runtime does, so that the two differ
// only in how callbacks reach Go: the same CBOR encoding and decoding, a
// pending-call map under a mutex, and a cancellable context per host call.
type Direct struct {
	handle C.uintptr_t
	index  uint64
	fetch  FetchProfile

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	running map[uint64]context.CancelFunc
	base    context.Context
	stop    context.CancelFunc
}

type reply struct {
	outcome int
	data    []byte
}

const idBits = 48

var (
	directs    sync.Map // index -> *Direct
	lastDirect atomic.Uint64

	cLogin        = C.CString("login")
	cLoginMany    = C.CString("login_many")
	cFetchProfile = C.CString("fetch_profile")
)

// NewDirect creates a library context wired as design A, with fetch as
// its fetch_profile.
func NewDirect(fetch FetchProfile) (*Direct, error) {
	handle := C.dba_new()
	if handle == 0 {
		return nil, errors.New("designbench: demo_new failed")
	}
	base, stop := context.WithCancel(context.Background())
	d := &Direct{
		handle:  handle,
		index:   lastDirect.Add(1),
		fetch:   fetch,
		pending: map[uint64]chan reply{},
		running: map[uint64]context.CancelFunc{},
		base:    base,
		stop:    stop,
	}
	directs.Store(d.index, d)
	if status := C.dba_register(handle, cFetchProfile, C.uintptr_t(d.index<<idBits)); status != 0 {
		d.Close()
		return nil, fmt.Errorf("designbench: register fetch_profile: status %d", status)
	}
	return d, nil
}

// Close destroys the context (which answers what is pending) and forgets it.
func (d *Direct) Close() {
	C.dba_destroy(d.handle)
	d.stop()
	directs.Delete(d.index)
}

// Login calls `login`.
func (d *Direct) Login(ctx context.Context, userID string) (demo.Session, error) {
	var out demo.Session
	request, err := hostcall.Encode(&struct {
		_      struct{} `cbor:",toarray"`
		UserID string
	}{UserID: userID})
	if err != nil {
		return out, err
	}
	data, err := d.call(ctx, "login", cLogin, request)
	if err != nil {
		return out, err
	}
	return out, hostcall.Decode(data, &out)
}

// LoginMany calls `login_many`.
func (d *Direct) LoginMany(ctx context.Context, userIDs []string) ([]demo.Session, error) {
	var out []demo.Session
	request, err := hostcall.Encode(&struct {
		_       struct{} `cbor:",toarray"`
		UserIDs []string
	}{UserIDs: userIDs})
	if err != nil {
		return out, err
	}
	data, err := d.call(ctx, "login_many", cLoginMany, request)
	if err != nil {
		return out, err
	}
	return out, hostcall.Decode(data, &out)
}

func (d *Direct) call(ctx context.Context, method string, cMethod *C.char, request []byte) ([]byte, error) {
	replies := make(chan reply, 1)
	d.mu.Lock()
	d.nextID++
	id := d.nextID & (1<<idBits - 1)
	d.pending[id] = replies
	d.mu.Unlock()
	forget := func() {
		d.mu.Lock()
		delete(d.pending, id)
		d.mu.Unlock()
	}
	status := C.dba_call(d.handle, cMethod, (*C.char)(unsafe.Pointer(&request[0])), C.size_t(len(request)), C.uintptr_t(d.index<<idBits|id))
	if status != 0 {
		forget()
		return nil, fmt.Errorf("designbench: call %s: status %d", method, status)
	}
	select {
	case got := <-replies:
		if got.outcome != hostcall.OutcomeOK {
			return nil, hostcall.NewCallError(method, got.outcome, got.data)
		}
		return got.data, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func lookup(key C.uintptr_t) (*Direct, uint64) {
	d, ok := directs.Load(uint64(key) >> idBits)
	if !ok {
		return nil, 0
	}
	return d.(*Direct), uint64(key) & (1<<idBits - 1)
}

//export designAHostFn
func designAHostFn(token C.uint64_t, req *C.char, n C.size_t, key C.uintptr_t) {
	d, _ := lookup(key)
	if d == nil {
		return
	}
	request := C.GoBytes(unsafe.Pointer(req), C.int(n))
	ctx, cancel := context.WithCancel(d.base)
	d.mu.Lock()
	d.running[uint64(token)] = cancel
	d.mu.Unlock()
	go d.serve(ctx, cancel, uint64(token), request)
}

//export designACancel
func designACancel(token C.uint64_t, key C.uintptr_t) {
	d, _ := lookup(key)
	if d == nil {
		return
	}
	d.mu.Lock()
	cancel := d.running[uint64(token)]
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

//export designAReply
func designAReply(ret C.int, msg *C.char, n C.size_t, key C.uintptr_t) {
	d, id := lookup(key)
	if d == nil {
		return
	}
	d.mu.Lock()
	replies, ok := d.pending[id]
	delete(d.pending, id)
	d.mu.Unlock()
	if ok {
		replies <- reply{outcome: int(ret), data: C.GoBytes(unsafe.Pointer(msg), C.int(n))}
	}
}

// serve runs one fetch_profile on its own goroutine and completes it.
func (d *Direct) serve(ctx context.Context, cancel context.CancelFunc, token uint64, request []byte) {
	gostack.Grow() // as the shipped runtime did while it decoded by reflection
	result, err := func() (result []byte, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("host function panicked: %v", p)
			}
		}()
		var args struct {
			_      struct{} `cbor:",toarray"`
			UserID string
		}
		if err := hostcall.Decode(request, &args); err != nil {
			return nil, err
		}
		profile, err := d.fetch(ctx, args.UserID)
		if err != nil {
			return nil, err
		}
		return hostcall.Encode(profile)
	}()
	d.mu.Lock()
	delete(d.running, token)
	d.mu.Unlock()
	cancel()
	ret, payload := C.int(0), result
	if err != nil {
		ret, payload = 1, []byte(err.Error())
	}
	var ptr *C.char
	if len(payload) > 0 {
		ptr = (*C.char)(unsafe.Pointer(&payload[0]))
	}
	C.dba_complete(d.handle, C.uint64_t(token), ret, ptr, C.size_t(len(payload)))
}
