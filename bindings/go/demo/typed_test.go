package demo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// accounts is a find_account host fn: each user id names the answer.
func accounts(_ context.Context, userID string) (demo.Profile, error) {
	switch {
	case strings.HasPrefix(userID, "missing-"):
		return demo.Profile{}, demo.AccountErrorNotFound{UserID: userID}
	case userID == "locked":
		return demo.Profile{}, demo.AccountErrorLocked{UntilUnixS: 1_900_000_000}
	case userID == "suspended":
		return demo.Profile{}, demo.AccountErrorSuspended{Field0: "fraud review", Field1: 1_700_000_000}
	case userID == "wrapped":
		// errors.As finds the typed error inside a wrapped one.
		return demo.Profile{}, fmt.Errorf("store lookup: %w", demo.AccountErrorLocked{UntilUnixS: 7})
	case userID == "down":
		return demo.Profile{}, errors.New("db down")
	}
	return profileOf(userID), nil
}

// withAccounts returns a Context whose find_account is accounts.
func withAccounts(tb testing.TB) *demo.Context {
	tb.Helper()
	c := newContext(tb)
	if err := c.RegisterFindAccount(accounts); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestTypedErrorsRoundTrip: each typed error a Go host fn returns reaches
// the Rust handler as its AccountError variant (sign_in maps it case by
// case), and the handler's SignInError comes back as the same-named Go
// variant with the same fields, reachable with errors.As both as the
// variant type and as the SignInError interface. A plain Go error reaches
// Rust as text (Unavailable carries it); an empty id never asks the host.
// Both call paths (plain and cancellable) are covered.
func TestTypedErrorsRoundTrip(t *testing.T) {
	tests := []struct {
		userID string
		want   demo.SignInError
		text   string
	}{
		{"missing-u1", demo.SignInErrorNotFound{UserID: "missing-u1"}, `sign_in: not found: user_id "missing-u1"`},
		{"locked", demo.SignInErrorLocked{UntilUnixS: 1_900_000_000}, "sign_in: locked: until_unix_s 1900000000"},
		{"suspended", demo.SignInErrorSuspended{Field0: "fraud review", Field1: 1_700_000_000}, `sign_in: suspended: "fraud review", 1700000000`},
		{"wrapped", demo.SignInErrorLocked{UntilUnixS: 7}, "sign_in: locked: until_unix_s 7"},
		{"down", demo.SignInErrorUnavailable{Field0: "db down"}, `sign_in: unavailable: "db down"`},
		{"", demo.SignInErrorEmptyUserID{}, "sign_in: empty user id"},
	}
	for _, path := range callPaths {
		c := newContext(t)
		var asked atomic.Int64
		err := c.RegisterFindAccount(func(ctx context.Context, userID string) (demo.Profile, error) {
			asked.Add(1)
			return accounts(ctx, userID)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(path.name+"/"+tt.userID, func(t *testing.T) {
				err := path.run(t, func(ctx context.Context) error { _, err := c.SignIn(ctx, tt.userID); return err })
				wantTyped(t, err, tt.want)
				if err.Error() != tt.text {
					t.Errorf("err.Error() = %q, want %q", err.Error(), tt.text)
				}
			})
		}
		if got, want := asked.Load(), int64(len(tests)-1); got != want {
			t.Errorf("%s: find_account ran %d times, want %d (not for the empty id)", path.name, got, want)
		}
		session, err := c.SignIn(bounded(t), "u1")
		if err != nil || session != sessionOf("u1") {
			t.Fatalf("SignIn(u1) = %+v, %v", session, err)
		}
	}
}

// wantTyped wants err to be sign_in's CallError with OutcomeErrTyped whose
// typed value is want, reached by errors.As as its own type and as a
// SignInError, matching no sentinel.
func wantTyped(t *testing.T, err error, want demo.SignInError) {
	t.Helper()
	wantOutcome(t, err, "sign_in", hostcall.OutcomeErrTyped, nil)
	var any demo.SignInError
	if !errors.As(err, &any) || any != want {
		t.Fatalf("errors.As(err, *SignInError) = %#v, want %#v (err %v)", any, want, err)
	}
	var callErr *hostcall.CallError
	if errors.As(err, &callErr); callErr.Typed != want {
		t.Errorf("CallError.Typed = %#v, want %#v", callErr.Typed, want)
	}
	// As the concrete variant type, through a target of that type.
	var matched bool
	switch want := want.(type) {
	case demo.SignInErrorNotFound:
		var got demo.SignInErrorNotFound
		matched = errors.As(err, &got) && got == want
	case demo.SignInErrorLocked:
		var got demo.SignInErrorLocked
		matched = errors.As(err, &got) && got == want
	case demo.SignInErrorSuspended:
		var got demo.SignInErrorSuspended
		matched = errors.As(err, &got) && got == want
	case demo.SignInErrorUnavailable:
		var got demo.SignInErrorUnavailable
		matched = errors.As(err, &got) && got == want
	case demo.SignInErrorEmptyUserID:
		var got demo.SignInErrorEmptyUserID
		matched = errors.As(err, &got) && errors.Is(err, demo.SignInErrorEmptyUserID{})
	}
	if !matched {
		t.Errorf("errors.As(err, *%T) did not find %#v", want, want)
	}
	// Not another variant.
	var nf demo.SignInErrorNotFound
	if _, isNotFound := want.(demo.SignInErrorNotFound); !isNotFound && errors.As(err, &nf) {
		t.Errorf("errors.As(err, *SignInErrorNotFound) matched %v", err)
	}
}

// TestTypedErrorUnavailable: the host call failing for the runtime's own
// reasons (no host fn registered) is sign_in's Unavailable, with the text.
func TestTypedErrorUnavailable(t *testing.T) {
	c := newContext(t)
	_, err := c.SignIn(bounded(t), "u1")
	var unavailable demo.SignInErrorUnavailable
	if !errors.As(err, &unavailable) || !strings.Contains(unavailable.Field0, "not registered") {
		t.Fatalf("SignIn without find_account: %v, want SignInErrorUnavailable saying not registered", err)
	}
}

// TestTypedHostFnErrorPanicsAndEmpties: a host fn of find_account that
// panics or returns an error without text still completes (as text):
// sign_in reports Unavailable with what happened.
func TestTypedHostFnErrorPanicsAndEmpties(t *testing.T) {
	c := newContext(t)
	err := c.RegisterFindAccount(func(_ context.Context, userID string) (demo.Profile, error) {
		if userID == "panic" {
			panic("the store exploded")
		}
		return demo.Profile{}, errors.New("")
	})
	if err != nil {
		t.Fatal(err)
	}
	for userID, want := range map[string]string{
		"panic": "host function panicked: the store exploded",
		"empty": "host function failed with an empty *errors.errorString error",
	} {
		_, err := c.SignIn(bounded(t), userID)
		var unavailable demo.SignInErrorUnavailable
		if !errors.As(err, &unavailable) || !strings.Contains(unavailable.Field0, want) {
			t.Errorf("SignIn(%s): %v, want Unavailable containing %q", userID, err, want)
		}
	}
}

// statusOf maps sign_in's errors to HTTP statuses with errors.As only, as
// docs/go.md shows.
func statusOf(err error) int {
	var (
		notFound    demo.SignInErrorNotFound
		locked      demo.SignInErrorLocked
		suspended   demo.SignInErrorSuspended
		empty       demo.SignInErrorEmptyUserID
		unavailable demo.SignInErrorUnavailable
	)
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &notFound):
		return http.StatusNotFound
	case errors.As(err, &locked), errors.As(err, &suspended):
		return http.StatusForbidden
	case errors.As(err, &empty):
		return http.StatusBadRequest
	case errors.As(err, &unavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// TestTypedErrorToHTTPStatus: the host's own not-found error becomes a 404
// without looking at any text.
func TestTypedErrorToHTTPStatus(t *testing.T) {
	c := withAccounts(t)
	for userID, want := range map[string]int{
		"u1":         http.StatusOK,
		"missing-u2": http.StatusNotFound,
		"locked":     http.StatusForbidden,
		"suspended":  http.StatusForbidden,
		"":           http.StatusBadRequest,
		"down":       http.StatusServiceUnavailable,
	} {
		_, err := c.SignIn(bounded(t), userID)
		if got := statusOf(err); got != want {
			t.Errorf("SignIn(%q): %v -> %d, want %d", userID, err, got, want)
		}
	}
}
