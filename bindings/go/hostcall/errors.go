package hostcall

import (
	"errors"
	"fmt"
)

// ErrClosed matches errors from a context that was closed (or whose handle
// is no longer valid): the library answered HC_ERR_INVALID_CONTEXT.
var ErrClosed = errors.New("hostcall: context closed")

// ErrShuttingDown matches the error of a call that was still pending when
// its context was closed.
var ErrShuttingDown = errors.New("context shutting down")

// ErrInterfaceMismatch matches the error of New when the generated bindings
// do not describe the loaded library.
var ErrInterfaceMismatch = errors.New("hostcall: bindings do not match the loaded library")

// StatusName is the C macro name of a status code (status.go, generated
// from the ABI list, has the codes and their names).
func StatusName(code int) string {
	if name, ok := statusNames[code]; ok {
		return name
	}
	return fmt.Sprintf("status %d", code)
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

// CallError is a call the library answered with an error (RET_ERR).
type CallError struct {
	// Method is the library method called.
	Method string
	// Message is the library's error text.
	Message string
}

func (e *CallError) Error() string { return e.Method + ": " + e.Message }

// Is makes a call ended by Close match ErrShuttingDown.
func (e *CallError) Is(target error) bool {
	return target == ErrShuttingDown && e.Message == "context shutting down"
}
