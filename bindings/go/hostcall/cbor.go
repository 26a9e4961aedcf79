package hostcall

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/fxamacker/cbor/v2"
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	options := cbor.CoreDetEncOptions()
	// A nil slice or map is an empty one, as Go code treats it; null is
	// kept for nil pointers (optional values).
	options.NilContainers = cbor.NilContainerAsEmpty
	if encMode, err = options.EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

// Encode writes v as CBOR (records are maps keyed by field name; use a
// struct with the `toarray` option for argument lists).
func Encode(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// Decode reads CBOR data into v. An empty payload reads as CBOR null.
func Decode(data []byte, v any) error {
	if len(data) == 0 {
		data = []byte{0xf6}
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("hostcall: malformed CBOR: %w", err)
	}
	return nil
}

// Null is the CBOR encoding of null: the result of a host function that
// returns nothing.
var Null = []byte{0xf6}

// DecodeVariant reads the wire form of a library error type's value
// (serde's externally tagged enum): a unit variant is its name as CBOR text
// (body is nil), any other variant a map of one entry from its name to its
// body (body is that entry's CBOR: the one field of a one-field tuple
// variant, an array of a tuple variant's fields, a map of a struct
// variant's).
func DecodeVariant(data []byte) (tag string, body []byte, err error) {
	if len(data) == 0 {
		return "", nil, fmt.Errorf("hostcall: malformed CBOR: an empty payload is no typed error")
	}
	if decMode.Unmarshal(data, &tag) == nil {
		return tag, nil, nil
	}
	var entries map[string]cbor.RawMessage
	if err := decMode.Unmarshal(data, &entries); err != nil {
		return "", nil, fmt.Errorf("hostcall: malformed CBOR: a typed error is a variant name or a map of one entry: %w", err)
	}
	if len(entries) != 1 {
		return "", nil, fmt.Errorf("hostcall: malformed CBOR: a typed error is a variant name or a map of one entry, not a map of %d", len(entries))
	}
	for tag, body := range entries {
		return tag, body, nil
	}
	panic("unreachable")
}

// DecodeBody decodes the body of variant tag (from DecodeVariant) into v;
// a variant with fields that came without a body is malformed.
func DecodeBody(tag string, body []byte, v any) error {
	if body == nil {
		return fmt.Errorf("hostcall: malformed CBOR: variant %q came without its fields", tag)
	}
	if err := Decode(body, v); err != nil {
		return fmt.Errorf("variant %q: %w", tag, err)
	}
	return nil
}

// Show is a value as error texts print it: text quoted (Go syntax), an
// optional value as its value or null, anything else as %v.
func Show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []byte:
		return fmt.Sprintf("%q", x)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "null"
		}
		return Show(rv.Elem().Interface())
	}
	return fmt.Sprintf("%v", v)
}
