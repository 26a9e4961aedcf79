package hostcall

import (
	"context"
	"errors"
	"testing"
)

var allSentinels = []error{
	ErrShuttingDown, ErrOverloaded, ErrTimedOut, ErrCancelled,
	ErrNotRegistered, ErrInvalidArgument, ErrPanicked, ErrProcessDied,
}

// TestCallErrorClassifiedByOutcome: a failure matches the sentinel of its
// outcome code and no other, whatever its text says.
func TestCallErrorClassifiedByOutcome(t *testing.T) {
	tests := []struct {
		outcome  int
		sentinel error
	}{
		{OutcomeErr, nil},
		{OutcomeShuttingDown, ErrShuttingDown},
		{OutcomeOverloaded, ErrOverloaded},
		{OutcomeTimedOut, ErrTimedOut},
		{OutcomeCancelled, ErrCancelled},
		{OutcomeNotRegistered, ErrNotRegistered},
		{OutcomeInvalidArg, ErrInvalidArgument},
		{OutcomePanic, ErrPanicked},
		{OutcomeErrTyped, nil},
		{OutcomeProcessDied, ErrProcessDied},
		{42, nil}, // a code from a newer library: a failure, no sentinel
	}
	for _, tt := range tests {
		t.Run(OutcomeName(tt.outcome), func(t *testing.T) {
			// The text is a decoy: only the code classifies.
			err := Reply{Outcome: tt.outcome, Data: []byte("context shutting down")}.Err("m")
			if err == nil {
				t.Fatal("a failure reply gave no error")
			}
			var callErr *CallError
			if !errors.As(err, &callErr) {
				t.Fatalf("error %T is not a *CallError", err)
			}
			if callErr.Method != "m" || callErr.Outcome != tt.outcome || callErr.Message != "context shutting down" {
				t.Errorf("CallError = %+v", callErr)
			}
			if err.Error() != "m: context shutting down" {
				t.Errorf("Error() = %q", err.Error())
			}
			for _, s := range allSentinels {
				if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			if got, want := errors.Is(err, context.DeadlineExceeded), tt.outcome == OutcomeTimedOut; got != want {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = %v, want %v", got, want)
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
				t.Errorf("%v matches context.Canceled or ErrClosed", err)
			}
			if OutcomeSentinel(tt.outcome) != tt.sentinel {
				t.Errorf("OutcomeSentinel(%d) = %v, want %v", tt.outcome, OutcomeSentinel(tt.outcome), tt.sentinel)
			}
		})
	}
}

func TestReplyOK(t *testing.T) {
	if err := (Reply{Outcome: OutcomeOK, OK: true}).Err("m"); err != nil {
		t.Errorf("an OK reply gave %v", err)
	}
}

func TestCallErrorWithoutText(t *testing.T) {
	for outcome, want := range map[int]string{
		OutcomePanic: "m: handler panicked",
		42:           "m: outcome 42",
		OutcomeOK:    "m: failed", // a CallError built without an outcome
	} {
		if got := (&CallError{Method: "m", Outcome: outcome}).Error(); got != want {
			t.Errorf("outcome %d: Error() = %q, want %q", outcome, got, want)
		}
	}
	// A CallError built the old way, without an outcome, matches nothing.
	err := error(&CallError{Method: "m", Message: "context shutting down"})
	if errors.Is(err, ErrShuttingDown) {
		t.Error("a CallError without an outcome matches ErrShuttingDown by its text")
	}
}

func TestErrTimedOutIsDeadlineExceeded(t *testing.T) {
	if !errors.Is(ErrTimedOut, context.DeadlineExceeded) {
		t.Error("ErrTimedOut does not match context.DeadlineExceeded")
	}
	if errors.Is(context.DeadlineExceeded, ErrTimedOut) {
		t.Error("context.DeadlineExceeded (the caller's own ctx) matches ErrTimedOut")
	}
}

// TestStatusErrorText: a refusal's text names the library and the operation
// in Go's words, never a C status name; closed is "<library>: closed".
func TestStatusErrorText(t *testing.T) {
	tests := []struct {
		code      int
		lastError string
		want      string
	}{
		{StatusInvalidContext, "HC_ERR_INVALID_CONTEXT: ctx is not a live context (destroyed, or never created)", "demo: closed"},
		{StatusOverloaded, "HC_ERR_OVERLOADED: 1 requests already pending (max_pending_requests)", "demo: login: overloaded: 1 requests already pending (max_pending_requests)"},
		{StatusUnknownMethod, "HC_ERR_UNKNOWN_METHOD: no method 'x'", "demo: login: unknown method: no method 'x'"},
		{StatusPanic, "", "demo: login: library panicked"},
		{-42, "HC_ERR_NEW: from a newer library", "demo: login: status -42: HC_ERR_NEW: from a newer library"},
		// new returns no status: the text's C name gives it.
		{StatusOK, "HC_ERR_INVALID_ARG: config key 'spin_us' must be between 0 and 10000", "demo: login: invalid argument: config key 'spin_us' must be between 0 and 10000"},
		{StatusOK, "HC_ERR_OVERLOADED: the process-wide context table is full", "demo: login: overloaded: the process-wide context table is full"},
		{StatusOK, "no name", "demo: login: invalid argument: no name"},
	}
	for _, tt := range tests {
		err := Refusal("demo", "login", tt.code, tt.lastError)
		if got := err.Error(); got != tt.want {
			t.Errorf("Refusal(%d, %q) = %q, want %q", tt.code, tt.lastError, got, tt.want)
		}
		if got, want := errors.Is(err, ErrClosed), err.Code == StatusInvalidContext; got != want {
			t.Errorf("%q: errors.Is(err, ErrClosed) = %v, want %v", err, got, want)
		}
	}
	if got := Refusal("demo", "new", StatusOK, "HC_ERR_OVERLOADED: full").Code; got != StatusOverloaded {
		t.Errorf("new's refusal code = %d, want StatusOverloaded", got)
	}
}
