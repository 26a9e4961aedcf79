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
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// TestCallerCancels: a Go caller whose context ends while the host fn is
// still working withdraws the request: the call returns an error matching
// ctx.Err() and ErrCancelled, the host fn's own context is cancelled (the
// library dropped its host call), and the Context keeps working.
func TestCallerCancels(t *testing.T) {
	tests := []struct {
		name    string
		caller  func() (context.Context, context.CancelFunc)
		trigger func(cancel context.CancelFunc) // called once the host fn runs
		want    error
	}{
		{
			name:    "cancel",
			caller:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			trigger: func(cancel context.CancelFunc) { cancel() },
			want:    context.Canceled,
		},
		{
			name: "deadline",
			caller: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			trigger: func(context.CancelFunc) {},
			want:    context.DeadlineExceeded,
		},
	}
	calls := []struct {
		name   string
		method string
		call   func(c *demo.Context, ctx context.Context) error
	}{
		{"Login", "login", func(c *demo.Context, ctx context.Context) error { _, err := c.Login(ctx, "slow"); return err }},
		// A handler with a native entry point, called with a ctx that can
		// end, goes as a withdrawable CBOR request.
		{"PingHost", "ping_host", func(c *demo.Context, ctx context.Context) error { return c.PingHost(ctx, "slow") }},
		// A handler with a typed error: the withdrawal is no typed value.
		{"SignIn", "sign_in", func(c *demo.Context, ctx context.Context) error { _, err := c.SignIn(ctx, "slow"); return err }},
	}
	for _, call := range calls {
		for _, tt := range tests {
			t.Run(call.name+"/"+tt.name, func(t *testing.T) {
				c := newContext(t)
				started := make(chan struct{}, 1)
				hostCtxErr := make(chan error, 1)
				block := func(ctx context.Context) error {
					started <- struct{}{}
					<-ctx.Done() // only the withdrawal ends it
					hostCtxErr <- ctx.Err()
					return ctx.Err()
				}
				err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
					if userID != "slow" {
						return profileOf(userID), nil
					}
					return demo.Profile{}, block(ctx)
				})
				if err != nil {
					t.Fatal(err)
				}
				err = c.RegisterNotify(func(ctx context.Context, message string) error {
					if message != "slow" {
						return nil
					}
					return block(ctx)
				})
				if err != nil {
					t.Fatal(err)
				}
				err = c.RegisterFindAccount(func(ctx context.Context, userID string) (demo.Profile, error) {
					if userID != "slow" {
						return profileOf(userID), nil
					}
					return demo.Profile{}, block(ctx)
				})
				if err != nil {
					t.Fatal(err)
				}

				ctx, cancel := tt.caller()
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- call.call(c, ctx) }()
				receive(t, started, "the host fn to start")
				tt.trigger(cancel)
				got := receive(t, done, call.name+" to return after its context ended")
				wantCancelled(t, got, call.method, tt.want)
				var signInErr demo.SignInError
				if errors.As(got, &signInErr) {
					t.Errorf("a withdrawn call's error %v has a typed value", got)
				}
				// The host fn's ctx is scoped to the caller's: it ends
				// through the withdrawal, with the caller's error.
				if err := receive(t, hostCtxErr, "the host fn's context to be cancelled"); !errors.Is(err, tt.want) {
					t.Errorf("the host fn's ctx.Err() = %v, want %v", err, tt.want)
				}
				if n := demo.PendingCalls(c); n != 0 {
					t.Errorf("%d calls still pending after the withdrawn one returned", n)
				}
				// The next calls work.
				for _, userID := range []string{"next", "after"} {
					session, err := c.Login(bounded(t), userID)
					if err != nil || session != sessionOf(userID) {
						t.Fatalf("Login(%q) after a withdrawn call = %+v, %v", userID, session, err)
					}
				}
				if err := c.PingHost(bounded(t), "next"); err != nil {
					t.Fatalf("PingHost after a withdrawn call: %v", err)
				}
			})
		}
	}
}

// wantCancelled checks that err is a withdrawn call's error: it matches
// ctxErr and ErrCancelled, and is a CallError of method with
// OutcomeCancelled.
func wantCancelled(t *testing.T, err error, method string, ctxErr error) {
	t.Helper()
	if !errors.Is(err, ctxErr) || !errors.Is(err, demo.ErrCancelled) {
		t.Fatalf("err = %v; want one matching %v and ErrCancelled", err, ctxErr)
	}
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) || callErr.Method != method || callErr.Outcome != hostcall.OutcomeCancelled {
		t.Fatalf("err = %#v; want a *hostcall.CallError of %s with OutcomeCancelled", err, method)
	}
}

// TestCancelRacingReply: many callers cancel their calls at random moments
// while the replies come. Every call returns once, with its value or with
// its ctx's error (matching ErrCancelled too when the withdrawal won), and
// nothing is left behind: no pending call, no goroutine. Calls of "held"
// users cannot finish by themselves (the host fn waits for its ctx), so
// the withdrawal must win those.
func TestCancelRacingReply(t *testing.T) {
	c := newContext(t)
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if strings.HasPrefix(userID, "held") {
			<-ctx.Done()
			return demo.Profile{}, ctx.Err()
		}
		return profileOf(userID), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := goroutines()
	const callers, rounds = 32, 25
	var returned, values, withdrawn, late atomic.Int64
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for i := range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				held := rng.IntN(4) == 0
				userID := fmt.Sprintf("u%d-%d", g, i)
				if held {
					userID = "held-" + userID
				}
				switch {
				case held || rng.IntN(2) == 0:
					go cancel() // races the call from another goroutine
				case rng.IntN(2) == 0:
					cancel() // before the call: nothing is sent
				}
				var err error
				var ok bool
				if !held && rng.IntN(3) == 0 {
					var sum int64
					sum, err = c.Add(ctx, int64(i), 1)
					ok = sum == int64(i)+1
				} else {
					var session demo.Session
					session, err = c.Login(ctx, userID)
					ok = session == sessionOf(userID)
				}
				returned.Add(1)
				switch {
				case err == nil:
					if !ok || held {
						t.Errorf("call %s: wrong value (held %v)", userID, held)
					}
					values.Add(1)
				case errors.Is(err, demo.ErrCancelled):
					if !errors.Is(err, context.Canceled) {
						t.Errorf("call %s: %v matches ErrCancelled but not context.Canceled", userID, err)
					}
					withdrawn.Add(1)
				case errors.Is(err, context.Canceled):
					late.Add(1) // cancelled before it was sent
				default:
					t.Errorf("call %s: %v, want its value or a cancellation", userID, err)
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
	t.Logf("%d values, %d withdrawn, %d cancelled before sending", values.Load(), withdrawn.Load(), late.Load())
	if n := demo.PendingCalls(c); n != 0 {
		t.Errorf("%d calls still pending after every call returned", n)
	}
	if leaked := settledLeaks(before); leaked != "" {
		t.Errorf("goroutines left after every call returned:\n%s", leaked)
	}
}

// TestCancelRacingClose: callers withdraw their calls while the Context is
// closed under them. Each call returns once: withdrawn (ctx.Err() and
// ErrCancelled), answered by the shutdown (ErrShuttingDown), refused as
// closed (ErrClosed) or cancelled before it was sent (ctx.Err()).
func TestCancelRacingClose(t *testing.T) {
	for round := range 10 {
		c := newContext(t)
		started := make(chan struct{}, 64)
		err := c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
			started <- struct{}{}
			<-ctx.Done()
			return demo.Profile{}, ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		const calls = 32
		results := make(chan error, calls)
		cancels := make([]context.CancelFunc, calls)
		for i := range calls {
			ctx, cancel := context.WithCancel(context.Background())
			cancels[i] = cancel
			go func() { _, err := c.Login(ctx, fmt.Sprintf("u%d", i)); results <- err }()
		}
		for range calls / 2 {
			receive(t, started, "host fns to start")
		}
		go c.Close()
		for i, cancel := range cancels {
			if (i+round)%2 == 0 {
				go cancel()
			} else {
				cancel()
			}
		}
		for range calls {
			err := receive(t, results, "a call racing Close to return")
			switch {
			case errors.Is(err, demo.ErrCancelled) && errors.Is(err, context.Canceled):
			case errors.Is(err, demo.ErrShuttingDown), errors.Is(err, demo.ErrClosed):
			case errors.Is(err, context.Canceled) && !errors.Is(err, demo.ErrCancelled):
			default:
				t.Errorf("round %d: a call racing Close returned %v", round, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if n := demo.PendingCalls(c); n != 0 {
			t.Errorf("round %d: %d calls still pending after Close", round, n)
		}
	}
}

// TestCancelFromListener: a listener runs on the dispatcher, which would
// deliver the reply it waits for, so a call made there whose ctx ends does
// not wait for its withdrawn reply: it returns the cancellation at once,
// and the library still drops the request. Its host call reaches the
// dispatcher only after the listener returned, when the request is no
// longer tracked: it is parked and never started (the library cancels it),
// so nothing of it is left.
func TestCancelFromListener(t *testing.T) {
	c := newContext(t)
	hostCtxErr := make(chan error, 1)
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if userID == "from-listener" {
			<-ctx.Done()
			hostCtxErr <- ctx.Err()
			return demo.Profile{}, ctx.Err()
		}
		return profileOf(userID), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inListener := make(chan error, 1)
	var once sync.Once
	unsubscribe := c.OnProgress(func(demo.Progress) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := c.Login(ctx, "from-listener")
			inListener <- err
		})
	})
	defer unsubscribe()
	if _, err := c.LoginMany(bounded(t), []string{"u1", "u2"}); err != nil {
		t.Fatal(err)
	}
	wantCancelled(t, receive(t, inListener, "the listener's Login"), "login", context.DeadlineExceeded)
	eventually(t, "the listener's host call to be dropped", func() bool {
		tracked, parked, _ := demo.TrackedRequests(c)
		return tracked == 0 && parked == 0
	})
	select {
	case err := <-hostCtxErr:
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Errorf("host fn's ctx.Err() = %v, want a cancellation", err)
		}
	default: // never started: the usual case
	}
	if n := demo.PendingCalls(c); n != 0 {
		t.Errorf("%d calls still pending", n)
	}
}

// TestCallerAlreadyCancelled: a context that ended before the call returns
// its error without waiting.
func TestCallerAlreadyCancelled(t *testing.T) {
	c := withStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Add(ctx, 1, 2); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with a cancelled context: %v", err)
	}
	if got, err := c.Add(bounded(t), 1, 2); err != nil || got != 3 {
		t.Fatalf("Add afterwards = %d, %v", got, err)
	}
}

// TestRustTimeoutCancelsHostFn: a host call that outlives the library's
// host_call_timeout fails as timed out, and the Go host function's context
// is cancelled.
func TestRustTimeoutCancelsHostFn(t *testing.T) {
	c := newContext(t, demo.WithHostCallTimeout(50*time.Millisecond))
	hostCtxErr := make(chan error, 1)
	err := c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
		<-ctx.Done()
		hostCtxErr <- ctx.Err()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Login(bounded(t), "u1")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "host fn 'fetch_profile' timed out after 50 ms") {
		t.Fatalf("Login: err = %v, want a timeout", err)
	}
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) {
		t.Errorf("error %T is not a *hostcall.CallError", err)
	}
	if took < 50*time.Millisecond {
		t.Errorf("Login failed after %v, before the 50 ms timeout", took)
	}
	if got := receive(t, hostCtxErr, "the host fn's context to be cancelled"); !errors.Is(got, context.Canceled) {
		t.Errorf("host fn's ctx.Err() = %v, want context.Canceled", got)
	}
}

// TestFirstProfileCancelsLosers: first_profile drops the fetches that lost
// the race, and their Go host functions see their contexts cancelled.
func TestFirstProfileCancelsLosers(t *testing.T) {
	c := newContext(t)
	losers := []string{"slow-1", "slow-2", "slow-3"}
	cancelled := make(chan string, len(losers))
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if userID == "fast" {
			return profileOf(userID), nil
		}
		<-ctx.Done()
		cancelled <- userID
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.FirstProfile(bounded(t), append([]string{losers[0], "fast"}, losers[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	if got != profileOf("fast") {
		t.Fatalf("FirstProfile = %+v, want the fast one", got)
	}
	seen := map[string]bool{}
	for range losers {
		seen[receive(t, cancelled, "a losing fetch to be cancelled")] = true
	}
	for _, userID := range losers {
		if !seen[userID] {
			t.Errorf("fetch of %q was not cancelled", userID)
		}
	}
}

// TestLoginManyFailureCancelsTheRest: the first failed fetch fails
// login_many, which drops the fetches still running.
func TestLoginManyFailureCancelsTheRest(t *testing.T) {
	c := newContext(t)
	const slow = 20
	cancelled := make(chan string, slow)
	err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
		if userID == "bad" {
			return demo.Profile{}, errors.New("no such user")
		}
		<-ctx.Done()
		cancelled <- userID
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LoginMany(bounded(t), append(ids("slow", slow), "bad"))
	if err == nil || !strings.Contains(err.Error(), "host fetch failed: no such user") {
		t.Fatalf("LoginMany: err = %v", err)
	}
	for range slow {
		receive(t, cancelled, "the remaining fetches to be cancelled")
	}
}

// TestLateCompletionAfterTimeout: a host fn that ignores its context and
// answers after the library gave up is refused quietly.
func TestLateCompletionAfterTimeout(t *testing.T) {
	c := newContext(t, demo.WithHostCallTimeout(100*time.Millisecond))
	finished := make(chan struct{})
	release := make(chan struct{})
	err := c.RegisterFetchProfile(func(_ context.Context, userID string) (demo.Profile, error) {
		if userID == "late" {
			defer close(finished)
			<-release
		}
		return profileOf(userID), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(bounded(t), "late"); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Login: err = %v, want a timeout", err)
	}
	close(release)
	receive(t, finished, "the late host fn")
	if session, err := c.Login(bounded(t), "u1"); err != nil || session != sessionOf("u1") {
		t.Fatalf("Login after a late completion = %+v, %v", session, err)
	}
}

// TestSubMillisecondHostCallTimeout: the library counts host call timeouts
// in whole milliseconds, and 0 means "no timeout". A positive timeout
// under a millisecond must still time out (rounded up to 1 ms, or refused
// by New), not turn into "no timeout".
func TestSubMillisecondHostCallTimeout(t *testing.T) {
	c, err := demo.New(suiteOptions(demo.WithHostCallTimeout(500 * time.Microsecond))...)
	if err != nil {
		return // refusing it is fine too
	}
	t.Cleanup(func() { c.Close() })
	err = c.RegisterFetchProfile(func(ctx context.Context, _ string) (demo.Profile, error) {
		<-ctx.Done()
		return demo.Profile{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "u1"); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Login under a 500µs host call timeout: err = %v, want the host call to time out", err)
	}
}
