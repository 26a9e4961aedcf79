package demo

import (
	"errors"
	"strings"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// TestTypedErrorCodec: every variant of both error types encodes to the
// wire form the library's serde expects and decodes back to itself.
func TestTypedErrorCodec(t *testing.T) {
	tests := []struct {
		value any
		wire  any // the same value as plain CBOR data
	}{
		{SignInErrorEmptyUserID{}, "EmptyUserId"},
		{SignInErrorNotFound{UserID: "u1"}, map[string]any{"NotFound": map[string]any{"user_id": "u1"}}},
		{SignInErrorLocked{UntilUnixS: 17}, map[string]any{"Locked": map[string]any{"until_unix_s": uint64(17)}}},
		{SignInErrorSuspended{Field0: "why", Field1: 3}, map[string]any{"Suspended": []any{"why", uint64(3)}}},
		{SignInErrorUnavailable{Field0: "db down"}, map[string]any{"Unavailable": "db down"}},
		{AccountErrorNotFound{UserID: "u2"}, map[string]any{"NotFound": map[string]any{"user_id": "u2"}}},
		{AccountErrorLocked{UntilUnixS: 1 << 40}, map[string]any{"Locked": map[string]any{"until_unix_s": uint64(1 << 40)}}},
		{AccountErrorSuspended{Field0: "", Field1: 0}, map[string]any{"Suspended": []any{"", uint64(0)}}},
	}
	for _, tt := range tests {
		want := encode(t, tt.wire)
		var got []byte
		var err error
		var back any
		switch v := tt.value.(type) {
		case SignInError:
			got, err = encodeSignInError(v)
			if err == nil {
				back, err = decodeSignInError(got)
			}
		case AccountError:
			got, err = encodeAccountError(v)
			if err == nil {
				back, err = decodeAccountError(got)
			}
		}
		if err != nil {
			t.Errorf("%#v: %v", tt.value, err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%#v encodes as %x, want %x", tt.value, got, want)
		}
		if back != tt.value {
			t.Errorf("%#v decodes back as %#v", tt.value, back)
		}
	}
}

// TestMalformedTypedPayload: a RET_ERR_TYPED payload that is not a
// SignInError is an error that says so, never a panic, and matches no
// variant.
func TestMalformedTypedPayload(t *testing.T) {
	payloads := map[string][]byte{
		"empty":           nil,
		"not CBOR":        {0xff, 0x00},
		"unknown variant": encode(t, "Frozen"),
		"unknown tag":     encode(t, map[string]any{"Frozen": 1}),
		"two entries":     encode(t, map[string]any{"Locked": map[string]any{"until_unix_s": 1}, "NotFound": map[string]any{"user_id": "u"}}),
		"wrong body":      encode(t, map[string]any{"Locked": map[string]any{"until_unix_s": "soon"}}),
		"no body":         encode(t, "NotFound"),
		"short tuple":     encode(t, map[string]any{"Suspended": []any{"why"}}),
		"a number":        encode(t, 42),
	}
	for name, payload := range payloads {
		t.Run(name, func(t *testing.T) {
			err := hostcall.TypedCallError(hostcall.NewCallError("sign_in", hostcall.OutcomeErrTyped, payload), "SignInError", decodeSignInError)
			var callErr *hostcall.CallError
			if !errors.As(err, &callErr) || callErr.Typed != nil || callErr.Outcome != hostcall.OutcomeErrTyped {
				t.Fatalf("err = %#v, want a CallError with OutcomeErrTyped and no typed value", err)
			}
			if !strings.HasPrefix(err.Error(), "sign_in: malformed SignInError reply: ") {
				t.Errorf("err = %q, want it to say the reply was malformed", err)
			}
			var any SignInError
			if errors.As(err, &any) {
				t.Errorf("errors.As found %#v in a malformed reply", any)
			}
		})
	}
}

// TestTypedHostFnError: what a find_account wrapper sends for each error a
// Go function returns: the typed value (RET_ERR_TYPED) when errors.As
// finds an AccountError, text otherwise; a type of the caller's own that
// embeds a variant satisfies the interface but does not encode, and is
// sent as text saying so.
func TestTypedHostFnError(t *testing.T) {
	type embedding struct{ AccountErrorLocked }
	for _, tt := range []struct {
		err   error
		typed bool
	}{
		{AccountErrorNotFound{UserID: "u"}, true},
		{errors.Join(errors.New("context"), AccountErrorLocked{UntilUnixS: 1}), true},
		{errors.New("db down"), false},
		{SignInErrorNotFound{UserID: "u"}, false}, // another type's variant
		{embedding{AccountErrorLocked{UntilUnixS: 1}}, false},
	} {
		got := hostcall.TypedHostFnError(tt.err, encodeAccountError)
		var failure *hostcall.TypedFailure
		if errors.As(got, &failure) != tt.typed {
			t.Errorf("TypedHostFnError(%#v) = %#v; typed %v, want %v", tt.err, got, !tt.typed, tt.typed)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("TypedHostFnError(%#v) = %v does not wrap it", tt.err, got)
		}
	}
}
