package demo_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/demo"
	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// TestRecordJSON: records carry json tags with the wire's field names, and
// a record round-trips through encoding/json as through CBOR.
func TestRecordJSON(t *testing.T) {
	profile := demo.Profile{UserID: "u1", Name: "Ada", Age: 36}
	data, err := json.Marshal(profile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"user_id":"u1","name":"Ada","age":36}`; got != want {
		t.Errorf("json.Marshal(Profile) = %s, want %s", got, want)
	}
	var back demo.Profile
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != profile {
		t.Errorf("round trip = %+v, want %+v", back, profile)
	}

	// The JSON keys are the CBOR map's keys, for every record.
	for _, record := range []any{demo.Session{}, demo.Profile{}, demo.Progress{}} {
		typ := reflect.TypeOf(record)
		for i := range typ.NumField() {
			field := typ.Field(i)
			if got, want := field.Tag.Get("json"), field.Tag.Get("cbor"); got != want || got == "" {
				t.Errorf("%s.%s: json tag %q, cbor tag %q", typ.Name(), field.Name, got, want)
			}
		}
	}

	// A record the library returned, through JSON and back.
	c := withStore(t)
	session, err := c.Login(bounded(t), "u1")
	if err != nil {
		t.Fatal(err)
	}
	data, err = json.Marshal(session)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON demo.Session
	if err := json.Unmarshal(data, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if fromJSON != session {
		t.Errorf("Session %s round trip = %+v, want %+v", data, fromJSON, session)
	}
	wire, err := hostcall.Encode(session)
	if err != nil {
		t.Fatal(err)
	}
	var fromCBOR map[string]any
	if err := hostcall.Decode(wire, &fromCBOR); err != nil {
		t.Fatal(err)
	}
	var fromJSONMap map[string]any
	if err := json.Unmarshal(data, &fromJSONMap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromCBOR, fromJSONMap) {
		t.Errorf("CBOR map %v and JSON object %v differ", fromCBOR, fromJSONMap)
	}
}

// TestClosedError: a call after Close fails with "demo: closed", matching
// ErrClosed in both packages.
func TestClosedError(t *testing.T) {
	c, err := demo.New(suiteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = c.Login(bounded(t), "u1")
	if err == nil || err.Error() != "demo: closed" {
		t.Fatalf("Login after Close: err = %v, want demo: closed", err)
	}
	if !errors.Is(err, demo.ErrClosed) || !errors.Is(err, hostcall.ErrClosed) {
		t.Errorf("%v does not match ErrClosed", err)
	}
	if errors.Is(err, demo.ErrShuttingDown) {
		t.Errorf("%v matches ErrShuttingDown", err)
	}
}
