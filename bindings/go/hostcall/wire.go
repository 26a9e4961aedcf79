package hostcall

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The generated codecs' CBOR primitives.
//
// A generated package encodes and decodes its records, argument arrays and
// results with code written for each type (no reflection, no interface
// boxing, no deep call stacks), built from the functions below. They
// produce exactly what Encode produces for the same value (the core
// deterministic encoding: shortest heads, a record's keys sorted by length
// and then bytewise, which the generator does once), and a Decoder accepts
// only the plain form of each value: definite lengths, no tags, text keys a
// record knows, each once, nothing left over. Anything else — and any value
// that would not fit its Go type — makes the Decoder fail, and the
// generated code then decodes the same bytes with Decode, which decides (a
// value, or the error reflection gives). So the fast path never changes what
// a payload decodes to, or which error it gives.

// appendHead appends a CBOR head: major type major (shifted), argument v
// in its shortest form.
func appendHead(b []byte, major byte, v uint64) []byte {
	switch {
	case v < 24:
		return append(b, major|byte(v))
	case v <= math.MaxUint8:
		return append(b, major|24, byte(v))
	case v <= math.MaxUint16:
		return append(b, major|25, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(b, major|26, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, major|27, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

const (
	majorUint   = 0 << 5
	majorNeg    = 1 << 5
	majorBytes  = 2 << 5
	majorText   = 3 << 5
	majorArray  = 4 << 5
	majorMap    = 5 << 5
	simpleFalse = 0xf4
	simpleTrue  = 0xf5
	simpleNull  = 0xf6
)

// AppendArray appends the head of an array of n elements.
func AppendArray(b []byte, n int) []byte { return appendHead(b, majorArray, uint64(n)) }

// AppendMap appends the head of a map of n entries.
func AppendMap(b []byte, n int) []byte { return appendHead(b, majorMap, uint64(n)) }

// AppendText appends s as a text string.
func AppendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

// AppendBytes appends v as a byte string (nil as an empty one).
func AppendBytes(b []byte, v []byte) []byte {
	return append(appendHead(b, majorBytes, uint64(len(v))), v...)
}

// AppendUint appends an unsigned integer.
func AppendUint(b []byte, v uint64) []byte { return appendHead(b, majorUint, v) }

// AppendInt appends a signed integer.
func AppendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendHead(b, majorNeg, uint64(-(v + 1)))
	}
	return appendHead(b, majorUint, uint64(v))
}

// AppendBool appends true or false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, simpleTrue)
	}
	return append(b, simpleFalse)
}

// AppendNull appends null (a nil optional value).
func AppendNull(b []byte) []byte { return append(b, simpleNull) }

// Decoder reads the plain CBOR of a generated type (see above). Its methods
// return zero values once it has failed; Finish tells whether it read the
// whole payload without failing.
type Decoder struct {
	data []byte
	off  int
	bad  bool
}

// Reset starts decoding data.
func (d *Decoder) Reset(data []byte) {
	*d = Decoder{data: data}
}

// Fail marks the payload as not plain: the generated code falls back to
// Decode.
func (d *Decoder) Fail() { d.bad = true }

// Finish tells whether the payload was read whole, in its plain form.
func (d *Decoder) Finish() bool { return !d.bad && d.off == len(d.data) && len(d.data) > 0 }

// head reads a head of major type major with a definite argument.
func (d *Decoder) head(major byte) uint64 {
	if d.bad || d.off >= len(d.data) {
		d.bad = true
		return 0
	}
	first := d.data[d.off]
	if first&0xe0 != major {
		d.bad = true
		return 0
	}
	info := first & 0x1f
	d.off++
	if info < 24 {
		return uint64(info)
	}
	var n int
	switch info {
	case 24:
		n = 1
	case 25:
		n = 2
	case 26:
		n = 4
	case 27:
		n = 8
	default: // indefinite lengths and reserved values
		d.bad = true
		return 0
	}
	if len(d.data)-d.off < n {
		d.bad = true
		return 0
	}
	var v uint64
	switch n {
	case 1:
		v = uint64(d.data[d.off])
	case 2:
		v = uint64(binary.BigEndian.Uint16(d.data[d.off:]))
	case 4:
		v = uint64(binary.BigEndian.Uint32(d.data[d.off:]))
	default:
		v = binary.BigEndian.Uint64(d.data[d.off:])
	}
	d.off += n
	return v
}

// length reads the head of an array or map whose entries take at least
// min bytes each, so a length the rest of the payload cannot hold fails
// before anything is allocated for it.
func (d *Decoder) length(major byte, min int) int {
	n := d.head(major)
	if d.bad || n > uint64(len(d.data)-d.off)/uint64(min) {
		d.bad = true
		return 0
	}
	return int(n)
}

// Array reads an array's head and returns its length.
func (d *Decoder) Array() int { return d.length(majorArray, 1) }

// ArrayOf reads the head of an array that must have n elements.
func (d *Decoder) ArrayOf(n int) {
	if d.Array() != n {
		d.bad = true
	}
}

// Map reads a map's head and returns its number of entries.
func (d *Decoder) Map() int { return d.length(majorMap, 2) }

// raw reads a string of major type major, without copying it.
func (d *Decoder) raw(major byte) []byte {
	n := d.head(major)
	if d.bad || n > uint64(len(d.data)-d.off) {
		d.bad = true
		return nil
	}
	s := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

// Key reads a map key (text), valid until the next call; the generated
// code switches on string(key), which does not copy it.
func (d *Decoder) Key() []byte { return d.raw(majorText) }

// Text reads a text string.
func (d *Decoder) Text() string {
	s := d.raw(majorText)
	if !utf8.Valid(s) {
		d.bad = true
		return ""
	}
	return string(s)
}

// Bytes reads a byte string, copied.
func (d *Decoder) Bytes() []byte {
	s := d.raw(majorBytes)
	if d.bad {
		return nil
	}
	return append([]byte{}, s...)
}

// Uint reads an unsigned integer of at most max.
func (d *Decoder) Uint(max uint64) uint64 {
	v := d.head(majorUint)
	if v > max {
		d.bad = true
		return 0
	}
	return v
}

// Int reads a signed integer between min and max.
func (d *Decoder) Int(min, max int64) int64 {
	if d.bad || d.off >= len(d.data) {
		d.bad = true
		return 0
	}
	if d.data[d.off]&0xe0 == majorNeg {
		n := d.head(majorNeg)
		// The value is -1 - n.
		if n > uint64(-(min + 1)) {
			d.bad = true
			return 0
		}
		return -1 - int64(n)
	}
	v := d.head(majorUint)
	if v > uint64(max) {
		d.bad = true
		return 0
	}
	return int64(v)
}

// Bool reads true or false.
func (d *Decoder) Bool() bool {
	if d.bad || d.off >= len(d.data) {
		d.bad = true
		return false
	}
	switch d.data[d.off] {
	case simpleTrue:
		d.off++
		return true
	case simpleFalse:
		d.off++
		return false
	}
	d.bad = true
	return false
}

// Null reads a null if one is next (a nil optional value) and tells
// whether it did.
func (d *Decoder) Null() bool {
	if !d.bad && d.off < len(d.data) && d.data[d.off] == simpleNull {
		d.off++
		return true
	}
	return false
}
