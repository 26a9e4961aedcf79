package demo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// TestCallerCancels: a Go caller whose context ends while the host fn is
// still working gets ctx.Err() at once; the library's late reply is
// discarded and the Context keeps working.
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContext(t)
			started := make(chan string, 1)
			release := make(chan struct{})
			hostCtxErr := make(chan error, 1)
			err := c.RegisterFetchProfile(func(ctx context.Context, userID string) (demo.Profile, error) {
				if userID != "slow" {
					return profileOf(userID), nil
				}
				started <- userID
				<-release
				hostCtxErr <- ctx.Err()
				return profileOf(userID), nil
			})
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := tt.caller()
			defer cancel()
			type result struct {
				session demo.Session
				err     error
			}
			done := make(chan result, 1)
			go func() {
				session, err := c.Login(ctx, "slow")
				done <- result{session, err}
			}()
			receive(t, started, "the host fn to start")
			tt.trigger(cancel)
			got := receive(t, done, "Login to return after its context ended")
			if !errors.Is(got.err, tt.want) {
				t.Fatalf("Login = %+v, %v; want %v", got.session, got.err, tt.want)
			}
			// The caller's context is not the host call's: the library
			// still waits for the host, whose own context stays alive.
			close(release)
			if err := receive(t, hostCtxErr, "the host fn to finish"); err != nil {
				t.Errorf("the host fn's context ended (%v) because a caller gave up", err)
			}
			// Its late reply is dropped; the next call works.
			for _, userID := range []string{"next", "after"} {
				session, err := c.Login(bounded(t), userID)
				if err != nil || session != sessionOf(userID) {
					t.Fatalf("Login(%q) after a cancelled call = %+v, %v", userID, session, err)
				}
			}
		})
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
	c, err := demo.New(demo.WithHostCallTimeout(500 * time.Microsecond))
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
