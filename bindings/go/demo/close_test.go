package demo_test

import (
	"bytes"
	"context"
	"errors"
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
	c, err := demo.New()
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
	go func() { pending <- c.PingHost(bounded(t), "hi") }() // a native call
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
	}
	unsubscribe := c.OnProgress(func(demo.Progress) { t.Error("a listener on a closed context ran") })
	unsubscribe()
}

// TestCloseRacingCalls: calls racing Close end with a result, ErrShuttingDown
// or ErrClosed, and nothing hangs.
func TestCloseRacingCalls(t *testing.T) {
	before := goroutines()
	c, err := demo.New()
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
	c, err := demo.New()
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
