package hostcall

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSignalIsACancelContext: a host call's own context behaves as
// context.WithCancel(context.Background()) does: Done (made when asked,
// before or after the end) closes once, Err and Cause are
// context.Canceled, and contexts derived from it end with it, through
// AfterFunc; a derived context cancelled first unregisters.
func TestSignalIsACancelContext(t *testing.T) {
	var s signal
	if s.Err() != nil {
		t.Fatal("a fresh signal has ended")
	}
	derived, stopDerived := context.WithCancel(&s)
	defer stopDerived()
	gone, cancelGone := context.WithCancel(&s)
	cancelGone()
	ran := make(chan struct{})
	stop := context.AfterFunc(&s, func() { close(ran) })
	done := s.Done()
	select {
	case <-done:
		t.Fatal("Done closed before the end")
	default:
	}
	if len(s.afters) != 2 {
		t.Errorf("%d functions registered, want 2 (derived, AfterFunc; the cancelled one removed)", len(s.afters))
	}
	s.cancel()
	s.cancel()
	<-done
	<-derived.Done() // ended by cancel itself, as a cancelCtx's child is
	if !errors.Is(derived.Err(), context.Canceled) || !errors.Is(gone.Err(), context.Canceled) {
		t.Errorf("derived: %v, %v", derived.Err(), gone.Err())
	}
	if s.Err() != context.Canceled || context.Cause(&s) != context.Canceled {
		t.Errorf("Err %v, Cause %v", s.Err(), context.Cause(&s))
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the AfterFunc function did not run")
	}
	if stop() {
		t.Error("stop after the end reported that it kept the function from running")
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done asked after the end is not closed")
	}
	late, cancelLate := context.WithCancel(&s)
	defer cancelLate()
	<-late.Done()
}

// TestScopedCause: a scoped ctx's Cause is its Err, not the caller's cause.
func TestScopedCause(t *testing.T) {
	caller, cancel := context.WithCancel(context.WithValue(context.Background(), valueKey{}, "v"))
	defer cancel()
	var own signal
	ctx := scope(caller, &own)
	if ctx.Value(valueKey{}) != "v" {
		t.Error("the caller's value is lost")
	}
	own.cancel()
	if context.Cause(ctx) != context.Canceled || ctx.Err() != context.Canceled {
		t.Errorf("Cause %v, Err %v, want context.Canceled", context.Cause(ctx), ctx.Err())
	}
}

type valueKey struct{}
