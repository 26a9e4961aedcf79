package hostcall

import (
	"context"
	"errors"
	"fmt"
)

// ErrClosed matches errors from a context that was closed (or whose handle
// is no longer valid): the library answered HC_ERR_INVALID_CONTEXT.
var ErrClosed = errors.New("hostcall: context closed")

// ErrInterfaceMismatch matches the error of New when the generated bindings
// do not describe the loaded library.
var ErrInterfaceMismatch = errors.New("hostcall: bindings do not match the loaded library")

// The runtime's own failures, one per outcome code: a *CallError whose
// Outcome is that code matches its sentinel with errors.Is. The library's
// own error (OutcomeErr) matches none of them. The classification is by the
// code only, never by the text.
var (
	// ErrShuttingDown (RET_SHUTTING_DOWN): the call was still pending when
	// its context was closed (or its loop failed), or its handler passed
	// through a host call that teardown ended.
	ErrShuttingDown = &outcomeSentinel{text: "hostcall: context shutting down"}
	// ErrOverloaded (RET_OVERLOADED): the handler passed through a host call
	// refused because max_in_flight host calls were outstanding.
	ErrOverloaded = &outcomeSentinel{text: "hostcall: overloaded"}
	// ErrTimedOut (RET_TIMED_OUT): the handler passed through a host call
	// that timed out (host_call_timeout_ms). It also matches
	// context.DeadlineExceeded.
	ErrTimedOut = &outcomeSentinel{text: "hostcall: host call timed out", also: context.DeadlineExceeded}
	// ErrCancelled (RET_CANCELLED): the request was withdrawn (cancel_call)
	// before it replied: the Go caller's ctx ended first. The method's
	// error then matches ctx.Err() as well.
	ErrCancelled = &outcomeSentinel{text: "hostcall: request cancelled"}
	// ErrNotRegistered (RET_NOT_REGISTERED): the handler passed through a
	// host call to a host fn nobody registered.
	ErrNotRegistered = &outcomeSentinel{text: "hostcall: host fn not registered"}
	// ErrInvalidArgument (RET_INVALID_ARG): the request's arguments did not
	// decode as the handler's types, or the handler passed through a host's
	// reply that did not decode.
	ErrInvalidArgument = &outcomeSentinel{text: "hostcall: invalid argument"}
	// ErrPanicked (RET_PANIC): the library's handler panicked; the context
	// goes on.
	ErrPanicked = &outcomeSentinel{text: "hostcall: handler panicked"}
)

// outcomeSentinel is a sentinel of an outcome code. also is a standard
// error it matches as well (context.DeadlineExceeded for ErrTimedOut).
type outcomeSentinel struct {
	text string
	also error
}

func (s *outcomeSentinel) Error() string { return s.text }

// Is makes ErrTimedOut match context.DeadlineExceeded.
func (s *outcomeSentinel) Is(target error) bool { return s.also != nil && target == s.also }

// sentinels maps each runtime outcome code to its sentinel.
var sentinels = map[int]error{
	OutcomeShuttingDown:  ErrShuttingDown,
	OutcomeOverloaded:    ErrOverloaded,
	OutcomeTimedOut:      ErrTimedOut,
	OutcomeCancelled:     ErrCancelled,
	OutcomeNotRegistered: ErrNotRegistered,
	OutcomeInvalidArg:    ErrInvalidArgument,
	OutcomePanic:         ErrPanicked,
}

// OutcomeSentinel is the sentinel error of a runtime outcome code (e.g.
// ErrShuttingDown for OutcomeShuttingDown), or nil for OutcomeOK,
// OutcomeErr, OutcomeErrTyped and codes this package does not know.
func OutcomeSentinel(outcome int) error { return sentinels[outcome] }

// StatusName is the C macro name of a status code (status.go, generated
// from the ABI list, has the codes and their names).
func StatusName(code int) string {
	if name, ok := statusNames[code]; ok {
		return name
	}
	return fmt.Sprintf("status %d", code)
}

// OutcomeName is the C macro name of an outcome code, e.g. "RET_PANIC".
func OutcomeName(outcome int) string {
	if name, ok := outcomeNames[outcome]; ok {
		return name
	}
	return fmt.Sprintf("outcome %d", outcome)
}

// StatusError is a status other than HC_OK returned by an entry point: the
// call was refused and nothing was done.
type StatusError struct {
	// Op is what was attempted, e.g. "call login".
	Op string
	// Code is the status code.
	Code int
	// Detail is the library's explanation (its last_error), if any.
	Detail string
}

func (e *StatusError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %s", e.Op, StatusName(e.Code))
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Detail)
}

// Is makes a refused call on a closed context match ErrClosed.
func (e *StatusError) Is(target error) bool {
	return target == ErrClosed && e.Code == StatusInvalidContext
}

// CallError is a call the library answered with a failure: any outcome code
// but OutcomeOK. Outcome says which: OutcomeErr is the library's own error
// (a handler's Err), which matches no sentinel; each of the runtime's own
// failures matches its sentinel (ErrShuttingDown, ErrPanicked, ...) with
// errors.Is, through Unwrap. A code this package does not know is a failure
// that matches no sentinel.
type CallError struct {
	// Method is the library method called.
	Method string
	// Message is the reply's payload as text: the library's error text, or
	// the runtime's explanation (what happened; not for matching). For
	// OutcomeErrTyped (reserved) it is the CBOR of the error value.
	Message string
	// Outcome is the reply's outcome code (hostcall.h's RET_ code), e.g.
	// OutcomeErr or OutcomePanic. A CallError built without one (0) is
	// read as OutcomeErr.
	Outcome int
}

// NewCallError is the error of a reply with a failure outcome.
func NewCallError(method string, outcome int, payload []byte) *CallError {
	return &CallError{Method: method, Message: string(payload), Outcome: outcome}
}

func (e *CallError) Error() string {
	if e.Message == "" {
		outcome := e.Outcome
		if outcome == OutcomeOK {
			outcome = OutcomeErr
		}
		return e.Method + ": " + OutcomeName(outcome)
	}
	return e.Method + ": " + e.Message
}

// Unwrap is the sentinel of the outcome code (nil for OutcomeErr and for
// codes this package does not know), so errors.Is(err, ErrShuttingDown)
// and the like work.
func (e *CallError) Unwrap() error { return OutcomeSentinel(e.Outcome) }
