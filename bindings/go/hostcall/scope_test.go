package hostcall

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The request-scope bookkeeping (runtime.go, step 5), driven directly: the
// library's order of events can put a host call before its caller's Track
// (parked, then started by Track) or after its Untrack (parked, then
// removed by its cancel notice), which a real library makes rare.

type scopeKey struct{}

type completion struct {
	token   uint64
	outcome int
	payload []byte
}

// scopeRuntime is a Runtime whose completions arrive on the channel, with
// one host fn (index 0) that reports the ctx it ran with and waits for it
// to end when asked to ("hold").
func scopeRuntime(t *testing.T) (*Runtime, chan completion, chan context.Context) {
	t.Helper()
	completions := make(chan completion, 16)
	r, err := NewRuntime(func(token uint64, outcome int, payload []byte) {
		completions <- completion{token, outcome, payload}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(func() {}) })
	ran := make(chan context.Context, 16)
	r.HostFnKey(0, func(ctx context.Context, request []byte) ([]byte, error) {
		ran <- ctx
		if string(request) == "hold" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return Null, nil
	})
	return r, completions, ran
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func counts(r *Runtime) (int, int) {
	tracked, parked, _ := r.TrackedRequests()
	return tracked, parked
}

// TestHostCallBeforeTrack: a host call that arrives before its request is
// tracked waits, and runs in the caller's scope once it is.
func TestHostCallBeforeTrack(t *testing.T) {
	r, completions, ran := scopeRuntime(t)
	r.invoked(0, 1, 7, []byte("now"))
	if tracked, parked := counts(r); tracked != 0 || parked != 1 {
		t.Fatalf("tracked %d, parked %d; want the host call parked", tracked, parked)
	}
	select {
	case <-ran:
		t.Fatal("a parked host call ran before its request was tracked")
	default:
	}
	deadline := time.Now().Add(time.Hour)
	caller, cancel := context.WithDeadline(context.WithValue(context.Background(), scopeKey{}, "trace"), deadline)
	defer cancel()
	r.Track(7, caller)
	ctx := wait(t, ran, "the parked host call to run")
	if ctx.Value(scopeKey{}) != "trace" {
		t.Errorf("host fn's ctx lacks the caller's value")
	}
	if got, ok := ctx.Deadline(); !ok || !got.Equal(deadline) {
		t.Errorf("host fn's deadline = %v, %v; want the caller's", got, ok)
	}
	if c := wait(t, completions, "the completion"); c.token != 1 || c.outcome != OutcomeOK {
		t.Errorf("completion %+v", c)
	}
	r.Untrack(7)
	if tracked, parked := counts(r); tracked != 0 || parked != 0 {
		t.Errorf("tracked %d, parked %d after Untrack", tracked, parked)
	}
}

// TestHostCallAfterUntrack: a host call of a request whose caller has
// returned is parked and never runs; its cancel notice removes it.
func TestHostCallAfterUntrack(t *testing.T) {
	r, _, ran := scopeRuntime(t)
	r.Track(9, context.Background())
	r.Untrack(9)
	r.invoked(0, 2, 9, []byte("late"))
	r.invoked(0, 3, 9, []byte("late"))
	if _, parked := counts(r); parked != 2 {
		t.Fatalf("parked %d, want 2", parked)
	}
	r.cancelled(2)
	r.cancelled(3)
	if tracked, parked := counts(r); tracked != 0 || parked != 0 {
		t.Errorf("tracked %d, parked %d after the cancel notices", tracked, parked)
	}
	select {
	case <-ran:
		t.Error("a host call of an untracked request ran")
	default:
	}
}

// TestScopedContextEnds: the scoped ctx of a tracked request's host call
// ends with the cancel notice (the withdrawal the caller's end causes),
// reporting the caller's error; a parked one that its notice cancels
// before Track never runs; Close cancels a running one.
func TestScopedContextEnds(t *testing.T) {
	r, completions, ran := scopeRuntime(t)
	caller, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-caller.Done()
	r.Track(5, caller)
	r.invoked(0, 4, 5, []byte("hold"))
	ctx := wait(t, ran, "the host call")
	select {
	case <-ctx.Done():
		t.Fatal("the host fn's ctx ended before the cancel notice")
	default:
	}
	r.cancelled(4)
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("ctx.Err() = %v, want the caller's context.DeadlineExceeded", ctx.Err())
	}
	if c := wait(t, completions, "the completion"); c.token != 4 || c.outcome != OutcomeErr {
		t.Errorf("completion %+v", c)
	}
	// Derived contexts end with it.
	r.invoked(0, 6, 5, []byte("hold"))
	derived, stop := context.WithCancel(wait(t, ran, "the second host call"))
	defer stop()
	r.Close(func() {})
	<-derived.Done()
	r.Untrack(5)

	r2, _, ran2 := scopeRuntime(t)
	r2.invoked(0, 8, 11, []byte("now"))
	r2.cancelled(8)
	r2.Track(11, context.Background())
	select {
	case <-ran2:
		t.Error("a host call cancelled while parked ran")
	default:
	}
}
