package demo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// TestCloseWithPendingCalls: Close answers every pending call with an error
// matching ErrShuttingDown, cancels every running host function's context,
// and returns; afterwards every method refuses with ErrClosed.
func TestCloseWithPendingCalls(t *testing.T) {
	before := goroutines()
	c, err := demo.New(suiteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	const logins, manyIDs = 20, 100
	started := make(chan struct{}, logins+manyIDs)
	hostCtxErrs := make(chan error, logins+manyIDs)
	err = c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
		started <- struct{}{}
		<-ctx.Done()
		hostCtxErrs <- ctx.Err()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	notified := make(chan struct{})
	err = c.RegisterNotify(func(ctx context.Context, _ string) error {
		close(notified)
		<-ctx.Done()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	pending := make(chan error, logins+2)
	for range logins {
		go func() { _, err := c.Login(bounded(t), "u"); pending <- err }()
	}
	go func() { _, err := c.LoginMany(bounded(t), ids("m", manyIDs)); pending <- err }()
	go func() { pending <- c.PingHost(context.Background(), "hi") }() // a native call (bounded by receive)
	for range logins + manyIDs {
		receive(t, started, "the host fns to start")
	}
	receive(t, notified, "notify to start")

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range logins + 2 {
		err := receive(t, pending, "a pending call to return after Close")
		if !errors.Is(err, demo.ErrShuttingDown) {
			t.Errorf("pending call after Close: err = %v, want one matching ErrShuttingDown", err)
		}
		var callErr *hostcall.CallError
		if !errors.As(err, &callErr) {
			t.Errorf("error %T is not a *hostcall.CallError", err)
		} else if callErr.Outcome != hostcall.OutcomeShuttingDown {
			t.Errorf("pending call after Close: outcome %s, want RET_SHUTTING_DOWN", hostcall.OutcomeName(callErr.Outcome))
		}
	}
	for range logins + manyIDs {
		if err := receive(t, hostCtxErrs, "the host fns' contexts to be cancelled"); !errors.Is(err, context.Canceled) {
			t.Errorf("host fn ctx.Err() = %v, want context.Canceled", err)
		}
	}

	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkClosed(t, c)
	if leaked := settledLeaks(before); leaked != "" {
		t.Errorf("goroutines still running after Close:\n%s", leaked)
	}
}

// checkClosed wants every method of a closed Context to refuse with
// ErrClosed.
func checkClosed(t *testing.T, c *demo.Context) {
	t.Helper()
	ctx := bounded(t)
	calls := map[string]func() error{
		"Version":      func() error { _, err := c.Version(ctx); return err },
		"Add":          func() error { _, err := c.Add(ctx, 1, 2); return err },
		"Login":        func() error { _, err := c.Login(ctx, "u"); return err },
		"LoginMany":    func() error { _, err := c.LoginMany(ctx, []string{"u"}); return err },
		"FirstProfile": func() error { _, err := c.FirstProfile(ctx, []string{"u"}); return err },
		"PingHost":     func() error { return c.PingHost(ctx, "hi") },
		"PanicWith":    func() error { return c.PanicWith(ctx, "x") },
		"RegisterFetchProfile": func() error {
			return c.RegisterFetchProfile(store)
		},
		"RegisterNotify": func() error {
			return c.RegisterNotify(func(context.Context, string) error { return nil })
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, demo.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want one matching ErrClosed", name, err)
			continue
		}
		var status *hostcall.StatusError
		if !errors.As(err, &status) || status.Code != hostcall.StatusInvalidContext {
			t.Errorf("%s after Close: err = %#v, want a *hostcall.StatusError with HC_ERR_INVALID_CONTEXT", name, err)
		}
		if errors.Is(err, demo.ErrShuttingDown) {
			t.Errorf("%s after Close matches ErrShuttingDown", name)
		}
		if err.Error() != "demo: closed" {
			t.Errorf("%s after Close: err = %q, want %q", name, err, "demo: closed")
		}
	}
	unsubscribe := c.OnProgress(func(demo.Progress) { t.Error("a listener on a closed context ran") })
	unsubscribe()
}

// TestCloseRacingCalls: calls racing Close end with a result, ErrShuttingDown
// or ErrClosed, and nothing hangs.
func TestCloseRacingCalls(t *testing.T) {
	before := goroutines()
	c, err := demo.New(suiteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.RegisterFetchProfile(store); err != nil {
		t.Fatal(err)
	}
	const callers = 16
	var wg sync.WaitGroup
	running := make(chan struct{}, callers)
	unexpected := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				switch g % 3 {
				case 0:
					_, err = c.Add(bounded(t), 1, 2)
				case 1:
					_, err = c.Login(bounded(t), "u")
				default:
					_, err = c.LoginMany(bounded(t), ids("r", 10))
				}
				if i == 0 {
					running <- struct{}{}
				}
				switch {
				case err == nil:
				case errors.Is(err, demo.ErrClosed):
					return
				case errors.Is(err, demo.ErrShuttingDown):
				default:
					unexpected <- err
					return
				}
			}
		}()
	}
	for range callers {
		receive(t, running, "the callers to start")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	receive(t, finished, "every caller to see ErrClosed")
	close(unexpected)
	for err := range unexpected {
		t.Errorf("a call racing Close: %v", err)
	}
	if leaked := settledLeaks(before); leaked != "" {
		t.Errorf("goroutines still running after Close:\n%s", leaked)
	}
}

// TestCloseFromHostFn: a host function may close its own Context.
func TestCloseFromHostFn(t *testing.T) {
	c := newContext(t)
	closed := make(chan error, 1)
	err := c.RegisterFetchProfile(func(context.Context, string) (demo.Profile, error) {
		closed <- c.Close()
		return demo.Profile{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Login(bounded(t), "u")
	if !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("Login whose host fn closed the context: err = %v, want ErrShuttingDown", err)
	}
	if err := receive(t, closed, "Close inside the host fn"); err != nil {
		t.Errorf("Close inside a host fn: %v", err)
	}
}

// TestCloseFromListener: an event listener may close its own Context.
//
// Listeners run on the dispatcher goroutine, and Close waits for the
// dispatcher to stop, so this deadlocks if Close does not recognise that it
// is called from the dispatcher.
func TestCloseFromListener(t *testing.T) {
	c, err := demo.New(suiteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.RegisterFetchProfile(store); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	var once sync.Once
	c.OnProgress(func(demo.Progress) {
		once.Do(func() { closed <- c.Close() })
	})
	result := make(chan error, 1)
	go func() { _, err := c.LoginMany(context.Background(), ids("u", 10)); result <- err }()
	if err := receive(t, closed, "Close called from a listener to return"); err != nil {
		t.Errorf("Close from a listener: %v", err)
	}
	// The library may have finished login_many before the listener ran.
	if err := receive(t, result, "LoginMany to return"); err != nil && !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("LoginMany whose listener closed the context: err = %v, want success or ErrShuttingDown", err)
	}
	checkClosed(t, c)
}

// barrier lets n parties meet: each arrives, then waits until all have.
type barrier struct {
	mu      sync.Mutex
	missing int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{missing: n, all: make(chan struct{})} }

// meet arrives at the barrier and waits, at most waitLimit, for the other
// parties; it reports whether they all came.
func (b *barrier) meet() bool {
	b.mu.Lock()
	b.missing--
	if b.missing == 0 {
		close(b.all)
	}
	b.mu.Unlock()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case <-b.all:
		return true
	case <-timer.C:
		return false
	}
}

// closeInCycle makes n contexts whose listeners close each other in a
// ring: the listener of context i, on its first event, waits until every
// listener has started (so all n dispatchers are inside a listener at the
// same moment) and then closes context i+1 (mod n). Every dispatcher then
// waits for the next one if Close waits for the dispatcher of the context
// it closes regardless: a deadlock. Every Close must return, and every
// context must then be closed.
func closeInCycle(t *testing.T, n int) {
	contexts := make([]*demo.Context, n)
	for i := range contexts {
		contexts[i] = withStore(t)
	}
	meeting := newBarrier(n)
	closed := make(chan error, n)
	for i, c := range contexts {
		next := contexts[(i+1)%n]
		var once sync.Once
		c.OnProgress(func(demo.Progress) {
			once.Do(func() {
				if !meeting.meet() {
					closed <- fmt.Errorf("listener %d: the other listeners did not start within %v", i, waitLimit)
					return
				}
				closed <- next.Close()
			})
		})
	}
	results := make(chan error, n)
	for _, c := range contexts {
		ctx := bounded(t)
		go func() { _, err := c.LoginMany(ctx, ids("u", 10)); results <- err }()
	}
	for range n {
		if err := receive(t, closed, "every listener's Close of the next context to return (deadlock)"); err != nil {
			t.Error(err)
		}
	}
	for range n {
		// The library may have finished login_many before its context was
		// closed (its reply then waits in the queue behind the listener).
		if err := receive(t, results, "LoginMany to return"); err != nil && !errors.Is(err, demo.ErrShuttingDown) {
			t.Errorf("LoginMany whose context a listener closed: err = %v, want success or ErrShuttingDown", err)
		}
	}
	for _, c := range contexts {
		checkClosed(t, c)
	}
}

// TestCloseEachOtherFromListeners: two contexts whose listeners, running at
// the same moment, each close the other. The listener of A waits in Close
// for B's dispatcher, which is in the listener that closes A: Close must
// see the cycle and return without waiting.
func TestCloseEachOtherFromListeners(t *testing.T) { closeInCycle(t, 2) }

// TestCloseCycleFromListeners: the same with three contexts, A's listener
// closing B, B's closing C and C's closing A, all at once.
func TestCloseCycleFromListeners(t *testing.T) { closeInCycle(t, 3) }

// TestCloseFromListenerWaitsWithoutCycle: a listener of A closing B, whose
// dispatcher does not wait for A's (it is only busy in its own listener),
// waits for B's dispatcher like any other Close: it returns only after B's
// listener did, and B's listener never runs after it returned.
//
// Like TestCloseWaitsForRunningListener, this is partly a test about time:
// it checks that the Close has not returned half a second after it started
// while B's listener is held.
func TestCloseFromListenerWaitsWithoutCycle(t *testing.T) {
	a, b := withStore(t), withStore(t)
	bEntered := make(chan struct{})
	release := make(chan struct{})
	var closeReturned atomic.Bool
	var calledAfterClose atomic.Int32
	var bOnce sync.Once
	b.OnProgress(func(demo.Progress) {
		if closeReturned.Load() {
			calledAfterClose.Add(1)
		}
		bOnce.Do(func() {
			close(bEntered)
			<-release
		})
		if closeReturned.Load() {
			calledAfterClose.Add(1)
		}
	})
	bResult := make(chan error, 1)
	bCtx := bounded(t)
	go func() { _, err := b.LoginMany(bCtx, ids("b", 100)); bResult <- err }()
	receive(t, bEntered, "B's listener to run")

	closing := make(chan struct{})
	closed := make(chan struct{})
	var aOnce sync.Once
	a.OnProgress(func(demo.Progress) {
		aOnce.Do(func() {
			close(closing)
			b.Close()
			closeReturned.Store(true)
			close(closed)
		})
	})
	aResult := make(chan error, 1)
	aCtx := bounded(t)
	go func() { _, err := a.LoginMany(aCtx, ids("a", 10)); aResult <- err }()
	receive(t, closing, "A's listener to close B")
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	select {
	case <-closed:
		t.Errorf("Close of B from A's listener returned while B's listener was still running")
	case <-timer.C:
	}
	close(release)
	receive(t, closed, "Close of B from A's listener to return once B's listener did")
	// B's LoginMany returns after its events were handled (they precede
	// its reply on B's dispatcher), so B's listener is done with them now.
	if err := receive(t, bResult, "B's LoginMany"); err != nil && !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("B's LoginMany, closed while its listener ran: err = %v, want success or ErrShuttingDown", err)
	}
	if n := calledAfterClose.Load(); n > 0 {
		t.Errorf("B's listener ran %d times after Close returned", n)
	}
	if err := receive(t, aResult, "A's LoginMany"); err != nil {
		t.Errorf("A's LoginMany: %v", err)
	}
	checkClosed(t, b)
}

// TestCloseRacingAnotherClose: a goroutine's Close of A waits for A's
// dispatcher, which is in a listener closing B; B's listener then closes A
// too. That second Close of A must not wait for the first one to finish
// (A's dispatcher waits for B's, which would wait for A's): it sees the
// cycle through A's dispatcher and returns. Then everything unwinds and
// the goroutine's Close returns.
func TestCloseRacingAnotherClose(t *testing.T) {
	a, b := newContext(t), withStore(t)
	// A's store holds the fetch of "held" until its context is cancelled,
	// which the first Close of A does right after destroying it.
	heldStarted, heldCancelled := make(chan struct{}), make(chan struct{})
	if err := a.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if userID != "held" {
			return profileOf(userID), nil
		}
		close(heldStarted)
		<-ctx.Done()
		close(heldCancelled)
		return demo.Profile{}, ctx.Err()
	}); err != nil {
		t.Fatalf("RegisterFetchProfile: %v", err)
	}
	heldResult := make(chan error, 1)
	heldCtx := bounded(t)
	go func() { _, err := a.Login(heldCtx, "held"); heldResult <- err }()
	receive(t, heldStarted, "A's held fetch to start")

	bEntered, releaseB, bClosedA := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var bOnce sync.Once
	b.OnProgress(func(demo.Progress) {
		bOnce.Do(func() {
			close(bEntered)
			<-releaseB
			bClosedA <- a.Close()
		})
	})
	aClosingB, aClosedB := make(chan struct{}), make(chan error, 1)
	var aOnce sync.Once
	a.OnProgress(func(demo.Progress) {
		aOnce.Do(func() {
			close(aClosingB)
			aClosedB <- b.Close()
		})
	})
	bCtx, aCtx := bounded(t), bounded(t)
	go func() { _, _ = b.LoginMany(bCtx, ids("b", 3)) }()
	receive(t, bEntered, "B's listener to run")
	go func() { _, _ = a.LoginMany(aCtx, ids("a", 3)) }()
	receive(t, aClosingB, "A's listener to close B")

	// The first Close of A: it destroys A (cancelling the held fetch), then
	// waits for A's dispatcher.
	firstClose := make(chan error, 1)
	go func() { firstClose <- a.Close() }()
	receive(t, heldCancelled, "the first Close of A to destroy it")
	close(releaseB)
	if err := receive(t, bClosedA, "B's listener's Close of A to return (deadlock)"); err != nil {
		t.Errorf("Close of A from B's listener: %v", err)
	}
	if err := receive(t, aClosedB, "A's listener's Close of B to return"); err != nil {
		t.Errorf("Close of B from A's listener: %v", err)
	}
	if err := receive(t, firstClose, "the first Close of A to return"); err != nil {
		t.Errorf("Close of A: %v", err)
	}
	if err := receive(t, heldResult, "the held Login"); !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("held Login: err = %v, want ErrShuttingDown", err)
	}
	checkClosed(t, a)
	checkClosed(t, b)
}

// TestCloseWaitsForRunningListener: Close promises that nothing is called
// back once it returns. Called from another goroutine while a listener
// runs, it must therefore wait for the listener (and for the events still
// queued) before returning.
//
// This is a test about time: it checks that Close has not returned after
// half a second with the listener blocked; a Close that waits cannot return
// before the listener is released, and one that does not wait returns in
// microseconds.
func TestCloseWaitsForRunningListener(t *testing.T) {
	c := withStore(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var closeReturned atomic.Bool
	var calledAfterClose atomic.Int32
	var once sync.Once
	c.OnProgress(func(demo.Progress) {
		if closeReturned.Load() {
			calledAfterClose.Add(1)
		}
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	result := make(chan error, 1)
	go func() { _, err := c.LoginMany(bounded(t), ids("u", 100)); result <- err }()
	receive(t, entered, "the listener to run")

	closed := make(chan struct{})
	go func() {
		c.Close()
		closeReturned.Store(true)
		close(closed)
	}()
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	select {
	case <-closed:
		t.Errorf("Close returned while an event listener was still running")
	case <-timer.C:
	}
	close(release)
	receive(t, closed, "Close to return once the listener did")
	if err := receive(t, result, "LoginMany"); err != nil && !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("LoginMany: %v", err)
	}
	if n := calledAfterClose.Load(); n > 0 {
		t.Errorf("the listener was called %d times after Close returned", n)
	}
}

// TestListenerPanic: a panicking listener is logged; the events after it,
// and the call that emitted them, go on.
func TestListenerPanic(t *testing.T) {
	c := withStore(t)
	var logged bytes.Buffer
	log.SetOutput(&logged) // only the dispatcher logs, and only during LoginMany
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	var events []demo.Progress // dispatcher only, until LoginMany returns
	c.OnProgress(func(p demo.Progress) {
		events = append(events, p)
		if p.Done == 2 {
			panic("listener trouble")
		}
	})
	if _, err := c.LoginMany(bounded(t), ids("u", 5)); err != nil {
		t.Fatal(err)
	}
	checkProgress(t, events, 5)
	if !strings.Contains(logged.String(), "listener trouble") {
		t.Errorf("the panic was not logged; log: %q", logged.String())
	}
}
