package hostcall

import (
	"context"
	"errors"
	"testing"
)

var allSentinels = []error{
	ErrShuttingDown, ErrOverloaded, ErrTimedOut, ErrCancelled,
	ErrNotRegistered, ErrInvalidArgument, ErrPanicked,
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
		OutcomePanic: "m: RET_PANIC",
		42:           "m: outcome 42",
		OutcomeOK:    "m: RET_ERR", // a CallError built without an outcome
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
