package hostcall

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrClosed matches errors from a context that was closed (or whose handle
// is no longer valid): the library refused the call as not a live context
// (StatusInvalidContext).
var ErrClosed = errors.New("hostcall: closed")

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
	// ErrProcessDied (RET_PROCESS_DIED): the helper process of an isolated
	// context (config isolation) died before the call finished, whichever
	// call crashed it. The error's text says how ("library process died:
	// signal 11 (SIGSEGV)"); the context goes on, with a new helper unless
	// restart is off.
	ErrProcessDied = &outcomeSentinel{text: "hostcall: library process died"}
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
	OutcomeProcessDied:   ErrProcessDied,
}

// OutcomeSentinel is the sentinel error of a runtime outcome code (e.g.
// ErrShuttingDown for OutcomeShuttingDown), or nil for OutcomeOK,
// OutcomeErr, OutcomeErrTyped and codes this package does not know.
func OutcomeSentinel(outcome int) error { return sentinels[outcome] }

// StatusName is the C macro name of a status code, e.g. "HC_ERR_OVERLOADED"
// (status.go, generated from the ABI list, has the codes and their names).
// Error texts do not use it; it is for matching the C documentation.
func StatusName(code int) string {
	if name, ok := statusNames[code]; ok {
		return name
	}
	return fmt.Sprintf("status %d", code)
}

// OutcomeName is the C macro name of an outcome code, e.g. "RET_PANIC".
// Error texts do not use it; it is for matching the C documentation.
func OutcomeName(outcome int) string {
	if name, ok := outcomeNames[outcome]; ok {
		return name
	}
	return fmt.Sprintf("outcome %d", outcome)
}

// StatusText is what a status code means, as error texts say it: "closed",
// "overloaded", "invalid argument"; "status -42" for a code this package
// does not know.
func StatusText(code int) string {
	if text, ok := statusTexts[code]; ok {
		return text
	}
	return fmt.Sprintf("status %d", code)
}

// OutcomeText is what a failure outcome code means, as error texts say it:
// "handler panicked", "cancelled"; "outcome 42" for a code this package
// does not know.
func OutcomeText(outcome int) string {
	if text, ok := outcomeTexts[outcome]; ok {
		return text
	}
	return fmt.Sprintf("outcome %d", outcome)
}

// StatusError is a refusal: an entry point returned a status other than
// StatusOK, and nothing was done. Its text is
//
//	<library>: closed                           (Code == StatusInvalidContext)
//	<library>: <op>: <StatusText(Code)>: <Detail>
//
// e.g. "demo: closed", "demo: login: overloaded: 1 requests already
// pending (max_pending_requests)", "demo: new: invalid argument:
// WithSpin(1s): must be at most 10ms".
type StatusError struct {
	// Library is the generated package's name, e.g. "demo".
	Library string
	// Op is what was attempted: the library method ("login"), "new", or
	// "register fetch_profile".
	Op string
	// Code is the status code, e.g. StatusOverloaded.
	Code int
	// Detail is the library's explanation (its last_error, without the C
	// status name it starts with), or the binding's own for an option it
	// refused; empty if none.
	Detail string
}

// Refusal is the *StatusError of library's entry point refusing op with
// code and the library's last_error text. That text starts with the C name
// of the status ("HC_ERR_OVERLOADED: ..."), which is dropped; code
// StatusOK means the entry point returned no status (new), and the code is
// then the one the text names (StatusInvalidArg if it names none).
func Refusal(library, op string, code int, lastError string) *StatusError {
	named := StatusOK
	for c, name := range statusNames {
		if rest, ok := strings.CutPrefix(lastError, name+": "); ok && c != StatusOK {
			named, lastError = c, rest
			break
		}
	}
	if code == StatusOK {
		code = named
		if code == StatusOK {
			code = StatusInvalidArg
		}
	}
	return &StatusError{Library: library, Op: op, Code: code, Detail: lastError}
}

func (e *StatusError) Error() string {
	prefix := ""
	if e.Library != "" {
		prefix = e.Library + ": "
	}
	if e.Code == StatusInvalidContext {
		return prefix + StatusText(e.Code)
	}
	text := prefix + e.Op + ": " + StatusText(e.Code)
	if e.Detail != "" {
		text += ": " + e.Detail
	}
	return text
}

// Is makes a refused call on a closed context match ErrClosed.
func (e *StatusError) Is(target error) bool {
	return target == ErrClosed && e.Code == StatusInvalidContext
}

// CallError is a call the library answered with a failure: any outcome code
// but OutcomeOK. Outcome says which: OutcomeErr is the library's own error
// (a handler's Err), which matches no sentinel; each of the runtime's own
// failures matches its sentinel (ErrShuttingDown, ErrPanicked, ...) with
// errors.Is, through Unwrap; OutcomeErrTyped carries a value of the
// method's declared error type in Typed, which Unwrap returns, so
// errors.As reaches it. A code this package does not know is a failure
// that matches no sentinel.
type CallError struct {
	// Method is the library method called.
	Method string
	// Message is the reply's payload as text: the library's error text, or
	// the runtime's explanation (what happened; not for matching). For
	// OutcomeErrTyped it is Typed's text once the generated method decoded
	// the payload (TypedCallError), or says that the payload did not
	// decode; before that, the payload's CBOR.
	Message string
	// Outcome is the reply's outcome code (hostcall.h's RET_ code), e.g.
	// OutcomeErr or OutcomePanic. A CallError built without one (0) is
	// read as OutcomeErr.
	Outcome int
	// Typed is the library's typed error (OutcomeErrTyped): a value of one
	// variant type of the method's declared error type, e.g.
	// demo.SignInErrorNotFound. Nil for every other outcome, and when the
	// payload did not decode.
	Typed error
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
		return e.Method + ": " + OutcomeText(outcome)
	}
	return e.Method + ": " + e.Message
}

// Unwrap is the typed error when there is one, else the sentinel of the
// outcome code (nil for OutcomeErr, OutcomeErrTyped and for codes this
// package does not know), so errors.Is(err, ErrShuttingDown),
// errors.As(err, &notFound) and the like work.
func (e *CallError) Unwrap() error {
	if e.Typed != nil {
		return e.Typed
	}
	return OutcomeSentinel(e.Outcome)
}

// TypedCallError completes the error of a call to a method that declares
// an error type (typeName, decoded by decode): when err is a *CallError
// with OutcomeErrTyped, its payload is decoded into Typed and Message
// becomes the value's text; a payload that does not decode leaves Typed
// nil and Message saying so ("malformed SignInError reply: …"). Any other
// error is returned as it is.
func TypedCallError[E error](err error, typeName string, decode func([]byte) (E, error)) error {
	var callErr *CallError
	if !errors.As(err, &callErr) || callErr.Outcome != OutcomeErrTyped || callErr.Typed != nil {
		return err
	}
	value, decodeErr := decode([]byte(callErr.Message))
	if decodeErr != nil {
		callErr.Message = fmt.Sprintf("malformed %s reply: %v", typeName, decodeErr)
		return err
	}
	callErr.Typed = value
	callErr.Message = value.Error()
	return err
}

// TypedHostFnError is the error a generated host fn wrapper returns for
// the error err of a Go host function whose host fn declares an error type
// E: when errors.As finds an E in err, a *TypedFailure carrying its CBOR
// (encode), which completes the host call with OutcomeErrTyped; otherwise
// err itself, whose text completes it with OutcomeErr. An E that does not
// encode (a type of the caller's own that embeds a variant) is completed
// as text, saying so.
func TypedHostFnError[E error](err error, encode func(E) ([]byte, error)) error {
	var typed E
	if !errors.As(err, &typed) {
		return err
	}
	payload, encodeErr := encode(typed)
	if encodeErr != nil {
		return fmt.Errorf("%w (not sent as a typed error: %v)", err, encodeErr)
	}
	return &TypedFailure{Payload: payload, Err: err}
}
