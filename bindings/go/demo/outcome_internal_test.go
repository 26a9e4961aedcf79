package demo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// The typed API sends only well-formed arguments of the declared types:
// these tests reach RET_INVALID_ARG, and a panic over CBOR, through the
// CBOR call path underneath it.

func internalContext(t *testing.T) (*Context, context.Context) {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	request, err := hostcall.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return request
}

func wantCallError(t *testing.T, err error, method string, outcome int, sentinel error) {
	t.Helper()
	var callErr *hostcall.CallError
	if !errors.As(err, &callErr) {
		t.Fatalf("error %#v is not a *hostcall.CallError", err)
	}
	if callErr.Method != method || callErr.Outcome != outcome {
		t.Errorf("CallError = %+v, want method %q and outcome %s", callErr, method, hostcall.OutcomeName(outcome))
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%v does not match %v", err, sentinel)
	}
	if errors.Is(err, ErrShuttingDown) != (sentinel == ErrShuttingDown) {
		t.Errorf("%v: errors.Is(err, ErrShuttingDown) is wrong", err)
	}
}

// TestOutcomePanicCBOR: panic_with called over CBOR is OutcomePanic too.
func TestOutcomePanicCBOR(t *testing.T) {
	c, ctx := internalContext(t)
	_, err := c.call(ctx, "panic_with", methods.panicWith, encode(t, []string{"over cbor"}))
	wantCallError(t, err, "panic_with", hostcall.OutcomePanic, ErrPanicked)
	if got, err := c.Add(ctx, 1, 2); err != nil || got != 3 {
		t.Fatalf("Add after a handler panic = %d, %v", got, err)
	}
}

// TestOutcomeInvalidArgument: arguments that do not decode as the
// handler's types are OutcomeInvalidArg, matching ErrInvalidArgument.
func TestOutcomeInvalidArgument(t *testing.T) {
	c, ctx := internalContext(t)
	tests := []struct {
		method  string
		request []byte
		call    func(request []byte) error
	}{
		{"login", encode(t, []int{42}), func(r []byte) error { _, err := c.call(ctx, "login", methods.login, r); return err }},
		{"add", encode(t, []string{"one", "two"}), func(r []byte) error { _, err := c.call(ctx, "add", methods.add, r); return err }},
		{"login_many", []byte{0xff}, func(r []byte) error { _, err := c.call(ctx, "login_many", methods.loginMany, r); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			wantCallError(t, tt.call(tt.request), tt.method, hostcall.OutcomeInvalidArg, ErrInvalidArgument)
		})
	}
}
