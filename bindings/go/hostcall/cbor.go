package hostcall

import (
	"fmt"

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
