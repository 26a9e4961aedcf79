package demo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
)

// traceKey is a context key, as a tracing library would have.
type traceKey struct{}

// seen is what a host fn saw of its ctx.
type seen struct {
	trace       any
	deadline    time.Time
	hasDeadline bool
}

func look(ctx context.Context) seen {
	deadline, ok := ctx.Deadline()
	return seen{trace: ctx.Value(traceKey{}), deadline: deadline, hasDeadline: ok}
}

// TestHostFnSeesCallerScope: a host fn's ctx carries the values and the
// deadline of the ctx of the call it serves, for handlers called over CBOR
// (Login, SignIn) and natively (PingHost), and for a ctx that cannot end
// but carries a value (context.WithValue of Background).
func TestHostFnSeesCallerScope(t *testing.T) {
	c := newContext(t)
	saw := make(chan seen, 1)
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		saw <- look(ctx)
		return profileOf(userID), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterFindAccount(func(ctx context.Context, userID string) (demo.Profile, error) {
		saw <- look(ctx)
		return profileOf(userID), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterNotify(func(ctx context.Context, _ string) error {
		saw <- look(ctx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context) error{
		"Login":    func(ctx context.Context) error { _, err := c.Login(ctx, "u1"); return err },
		"SignIn":   func(ctx context.Context) error { _, err := c.SignIn(ctx, "u1"); return err },
		"PingHost": func(ctx context.Context) error { return c.PingHost(ctx, "hi") },
	}
	for name, call := range calls {
		t.Run(name+"/deadline", func(t *testing.T) {
			deadline := time.Now().Add(waitLimit)
			ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), traceKey{}, "trace-"+name), deadline)
			defer cancel()
			if err := call(ctx); err != nil {
				t.Fatal(err)
			}
			got := receive(t, saw, "the host fn")
			if got.trace != "trace-"+name {
				t.Errorf("host fn saw trace %v, want %q", got.trace, "trace-"+name)
			}
			if !got.hasDeadline || !got.deadline.Equal(deadline) {
				t.Errorf("host fn saw deadline %v (%v), want %v", got.deadline, got.hasDeadline, deadline)
			}
		})
		t.Run(name+"/value only", func(t *testing.T) {
			ctx := context.WithValue(context.Background(), traceKey{}, "v-"+name)
			if err := unbounded(t, func(context.Context) error { return call(ctx) }); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, saw, "the host fn"); got.trace != "v-"+name || got.hasDeadline {
				t.Errorf("host fn saw %+v, want the trace and no deadline", got)
			}
		})
	}
	if tracked, parked, _ := demo.TrackedRequests(c); tracked != 0 || parked != 0 {
		t.Errorf("%d requests tracked and %d host calls parked after every call returned", tracked, parked)
	}
}

// TestHostCallOutsideRequestUsesContextScope: a call with a plain ctx
// (context.Background()) is not tracked, so its host calls run in the
// context's own scope: no values, no deadline, cancelled only when the
// library drops the call or the Context closes.
func TestHostCallOutsideRequestUsesContextScope(t *testing.T) {
	c := newContext(t)
	saw := make(chan seen, 1)
	hostCtxErr := make(chan error, 1)
	err := c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
		saw <- look(ctx)
		<-ctx.Done()
		hostCtxErr <- ctx.Err()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Login(context.Background(), "u1"); done <- err }()
	if got := receive(t, saw, "the host fn"); got.trace != nil || got.hasDeadline {
		t.Errorf("host fn of a plain call saw %+v, want nothing of a caller", got)
	}
	if tracked, _, _ := demo.TrackedRequests(c); tracked != 0 {
		t.Errorf("a plain call is tracked (%d)", tracked)
	}
	go c.Close()
	if err := receive(t, hostCtxErr, "Close to cancel the host fn"); !errors.Is(err, context.Canceled) {
		t.Errorf("host fn's ctx.Err() = %v, want context.Canceled", err)
	}
	if err := receive(t, done, "Login to return"); !errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("Login = %v, want ErrShuttingDown", err)
	}
}

// TestNativeWithdrawnByCancellation: PingHost, a handler with a native
// entry point, called with a ctx that ends while its host fn works, is
// withdrawn through the native entry point's cancellable form: it returns
// the withdrawal (ctx.Err() and ErrCancelled), and the host fn's ctx ends.
func TestNativeWithdrawnByCancellation(t *testing.T) {
	c := newContext(t)
	started := make(chan struct{}, 1)
	hostCtxErr := make(chan error, 1)
	err := c.RegisterNotify(func(ctx context.Context, _ string) error {
		started <- struct{}{}
		<-ctx.Done()
		hostCtxErr <- ctx.Err()
		return errors.New("gave up") // discarded: the withdrawal came first
	})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, round))
		done := make(chan error, 1)
		go func() { done <- c.PingHost(ctx, "hold") }()
		receive(t, started, "notify to start")
		cancel()
		wantCancelled(t, receive(t, done, "PingHost to return"), "ping_host", context.Canceled)
		if err := receive(t, hostCtxErr, "notify's ctx to end"); !errors.Is(err, context.Canceled) {
			t.Fatalf("notify's ctx.Err() = %v, want context.Canceled", err)
		}
	}
	if n := demo.PendingCalls(c); n != 0 {
		t.Errorf("%d calls pending", n)
	}
}

// TestScopedCallsRacingCancellation: many goroutines call, through every
// path (CBOR, native, typed errors), with contexts carrying a trace value
// that are cancelled at random moments or not at all. Every call returns
// exactly once, with its value, its typed error, or a cancellation; every
// host fn that ran saw its caller's trace; nothing stays tracked, parked
// or pending.
func TestScopedCallsRacingCancellation(t *testing.T) {
	c := newContext(t)
	var wrongTrace atomic.Int64
	check := func(ctx context.Context, id string) {
		want, _, _ := strings.Cut(id, "/")
		if got, _ := ctx.Value(traceKey{}).(string); got != want {
			wrongTrace.Add(1)
		}
	}
	hold := func(ctx context.Context, id string) error {
		if strings.Contains(id, "held") {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	if err := c.RegisterFetchProfile(func(ctx context.Context, id string) (demo.Profile, error) {
		check(ctx, id)
		return profileOf(id), hold(ctx, id)
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterFindAccount(func(ctx context.Context, id string) (demo.Profile, error) {
		check(ctx, id)
		if err := hold(ctx, id); err != nil {
			return demo.Profile{}, err
		}
		if strings.HasSuffix(id, "missing") {
			return demo.Profile{}, demo.AccountErrorNotFound{UserID: id}
		}
		return profileOf(id), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterNotify(func(ctx context.Context, id string) error {
		check(ctx, id)
		return hold(ctx, id)
	}); err != nil {
		t.Fatal(err)
	}
	const callers, rounds = 32, 30
	var returned, values, typed, withdrawn, early atomic.Int64
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for i := range rounds {
				trace := fmt.Sprintf("t%d-%d", g, i)
				ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, trace))
				held := rng.IntN(4) == 0
				id := trace + "/"
				if held {
					id += "held"
				}
				switch {
				case held || rng.IntN(2) == 0:
					go cancel() // races the call
				case rng.IntN(3) == 0:
					cancel() // before the call: nothing is sent
				}
				var err error
				ok := true
				switch rng.IntN(4) {
				case 0:
					var session demo.Session
					session, err = c.Login(ctx, id)
					ok = session == sessionOf(id)
				case 1:
					if !held && rng.IntN(2) == 0 {
						id += "missing"
					}
					var session demo.Session
					session, err = c.SignIn(ctx, id)
					ok = session == sessionOf(id)
				case 2:
					err = c.PingHost(ctx, id)
				case 3:
					var sum int64
					sum, err = c.Add(ctx, int64(i), 2)
					ok = sum == int64(i)+2
					held = false
				}
				returned.Add(1)
				var notFound demo.SignInErrorNotFound
				switch {
				case err == nil:
					if !ok || held {
						t.Errorf("call %s: wrong value (held %v)", id, held)
					}
					values.Add(1)
				case errors.As(err, &notFound):
					if notFound.UserID != id || !strings.HasSuffix(id, "missing") {
						t.Errorf("call %s: %v", id, err)
					}
					typed.Add(1)
				case errors.Is(err, demo.ErrCancelled):
					if !errors.Is(err, context.Canceled) {
						t.Errorf("call %s: %v matches ErrCancelled but not context.Canceled", id, err)
					}
					withdrawn.Add(1)
				case errors.Is(err, context.Canceled):
					early.Add(1)
				default:
					t.Errorf("call %s: %v, want its value, its typed error or a cancellation", id, err)
				}
				cancel()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	receive(t, finished, "every racing call to return")
	if got := returned.Load(); got != callers*rounds {
		t.Fatalf("%d calls returned, want %d", got, callers*rounds)
	}
	if n := wrongTrace.Load(); n != 0 {
		t.Errorf("%d host fns did not see their caller's trace", n)
	}
	eventually(t, "no request tracked and no host call parked", func() bool {
		tracked, parked, _ := demo.TrackedRequests(c)
		return tracked == 0 && parked == 0
	})
	_, _, parkedEver := demo.TrackedRequests(c)
	t.Logf("%d values, %d typed errors, %d withdrawn, %d cancelled before sending; %d host calls were parked",
		values.Load(), typed.Load(), withdrawn.Load(), early.Load(), parkedEver)
	if n := demo.PendingCalls(c); n != 0 {
		t.Errorf("%d calls still pending after every call returned", n)
	}
}
