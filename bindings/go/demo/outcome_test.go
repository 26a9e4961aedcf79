package demo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// sentinels are every outcome sentinel the package re-exports.
var sentinels = []error{
	demo.ErrShuttingDown, demo.ErrOverloaded, demo.ErrTimedOut, demo.ErrCancelled,
	demo.ErrNotRegistered, demo.ErrInvalidArgument, demo.ErrPanicked,
}

// wantOutcome wants err to be a *hostcall.CallError of method with that
// outcome, matching sentinel (nil: none) and no other sentinel.
func wantOutcome(t *testing.T, err error, method string, outcome int, sentinel error) {
	t.Helper()
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) {
		t.Fatalf("error %#v is not a *hostcall.CallError", err)
	}
	if callErr.Method != method || callErr.Outcome != outcome {
		t.Errorf("CallError = %+v, want method %q and outcome %s", callErr, method, hostcall.OutcomeName(outcome))
	}
	for _, s := range sentinels {
		if got, want := errors.Is(err, s), s == sentinel; got != want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
		}
	}
	if errors.Is(err, demo.ErrClosed) {
		t.Errorf("%v matches ErrClosed", err)
	}
}

// TestOutcomeShutdown: a call pending at Close, CBOR or native, is a
// CallError with OutcomeShuttingDown matching ErrShuttingDown.
func TestOutcomeShutdown(t *testing.T) {
	c := newContext(t)
	fetching := make(chan struct{}, 1)
	err := c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
		fetching <- struct{}{}
		<-ctx.Done()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	notifying := make(chan struct{}, 1)
	err = c.RegisterNotify(func(ctx context.Context, _ string) error {
		notifying <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	login := make(chan error, 1)
	go func() { _, err := c.Login(bounded(t), "u"); login <- err }()
	ping := make(chan error, 1)
	go func() { ping <- c.PingHost(context.Background(), "hi") }() // native (bounded by receive)
	receive(t, fetching, "fetch_profile to start")
	receive(t, notifying, "notify to start")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, receive(t, login, "Login"), "login", hostcall.OutcomeShuttingDown, demo.ErrShuttingDown)
	wantOutcome(t, receive(t, ping, "PingHost"), "ping_host", hostcall.OutcomeShuttingDown, demo.ErrShuttingDown)
}

// TestOutcomePanicNative: PanicWith, native (a ctx that cannot end) or
// over CBOR, is a CallError with OutcomePanic matching ErrPanicked.
func TestOutcomePanicNative(t *testing.T) {
	c := newContext(t)
	for _, path := range callPaths {
		t.Run(path.name, func(t *testing.T) {
			err := path.run(t, func(ctx context.Context) error { return c.PanicWith(ctx, "on purpose") })
			wantOutcome(t, err, "panic_with", hostcall.OutcomePanic, demo.ErrPanicked)
		})
	}
}

// TestOutcomeLibraryErrors: demo's own errors are RET_ERR and match no
// sentinel, even when the runtime failure they report has one: its
// handlers turn a host call's HostError into their own text.
func TestOutcomeLibraryErrors(t *testing.T) {
	t.Run("host fn error", func(t *testing.T) {
		c := newContext(t)
		if err := c.RegisterFetchProfile(func(context.Context, string) (demo.Profile, error) {
			return demo.Profile{}, errors.New("context shutting down") // text that once matched
		}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Login(bounded(t), "u")
		wantOutcome(t, err, "login", hostcall.OutcomeErr, nil)
	})
	t.Run("not registered", func(t *testing.T) {
		c := newContext(t)
		_, err := c.Login(bounded(t), "u")
		wantOutcome(t, err, "login", hostcall.OutcomeErr, nil)
		wantOutcome(t, c.PingHost(bounded(t), "hi"), "ping_host", hostcall.OutcomeErr, nil)
	})
	t.Run("host call timed out", func(t *testing.T) {
		c := newContext(t, demo.WithHostCallTimeout(20*time.Millisecond))
		if err := c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
			<-ctx.Done()
			return demo.Profile{}, ctx.Err()
		}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Login(bounded(t), "u")
		wantOutcome(t, err, "login", hostcall.OutcomeErr, nil)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("demo's own timeout text matches context.DeadlineExceeded: %v", err)
		}
	})
	t.Run("Go host fn panic", func(t *testing.T) {
		// A Go host fn's panic reaches the library as an error text; demo's
		// handler passes it on as its own error, not as its own panic.
		c := newContext(t)
		if err := c.RegisterFetchProfile(func(context.Context, string) (demo.Profile, error) {
			panic("the store exploded")
		}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Login(bounded(t), "u")
		wantOutcome(t, err, "login", hostcall.OutcomeErr, nil)
	})
}
