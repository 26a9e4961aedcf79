package demo

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/hostcall/hostcall/bindings/go/hostcall"
)

// The generated codecs must write what hostcall.Encode writes, and read
// back what hostcall.Decode reads, for every value; and refuse (so that
// the generated code falls back to hostcall.Decode) every payload that is
// not in the plain form.

var long = strings.Repeat("x", 300)

var profiles = []Profile{
	{},
	{UserID: "u1", Name: "Ada", Age: 36},
	{UserID: "ü", Name: strings.Repeat("n", 23), Age: 23},
	{UserID: strings.Repeat("i", 24), Name: strings.Repeat("n", 255), Age: 255},
	{UserID: long, Name: strings.Repeat("n", 65536), Age: 65535},
	{Age: 65536},
	{Age: 1<<32 - 1},
}

func TestGeneratedCodecMatchesReflection(t *testing.T) {
	for _, p := range profiles {
		want, err := hostcall.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.appendCBOR(nil); !bytes.Equal(got, want) {
			t.Errorf("Profile %.40v: generated % x, reflection % x", p, got, want)
		}
		var back Profile
		var dec hostcall.Decoder
		dec.Reset(want)
		back.decodeCBOR(&dec)
		if !dec.Finish() || back != p {
			t.Errorf("Profile %.40v: decoded %.40v (finished %v)", p, back, dec.Finish())
		}
	}
	for _, s := range []Session{{}, {UserID: "u1", Greeting: "hello, Ada"}, {UserID: long, Greeting: "ü"}} {
		want, _ := hostcall.Encode(s)
		if got := s.appendCBOR(nil); !bytes.Equal(got, want) {
			t.Errorf("Session %.40v: generated % x, reflection % x", s, got, want)
		}
	}
	for _, p := range []Progress{{}, {Done: 1, Total: 10_000}, {Done: 1<<32 - 1, Total: 24}} {
		want, _ := hostcall.Encode(p)
		if got := p.appendCBOR(nil); !bytes.Equal(got, want) {
			t.Errorf("Progress %v: generated % x, reflection % x", p, got, want)
		}
	}
	// A list decodes as reflection decodes it, an empty one included.
	for _, sessions := range [][]Session{{}, {{UserID: "a"}, {UserID: "b", Greeting: "c"}}} {
		data, _ := hostcall.Encode(sessions)
		var want []Session
		if err := hostcall.Decode(data, &want); err != nil {
			t.Fatal(err)
		}
		var dec hostcall.Decoder
		dec.Reset(data)
		got := make([]Session, dec.Array())
		for i := range got {
			got[i].decodeCBOR(&dec)
		}
		if !dec.Finish() || !reflect.DeepEqual(got, want) {
			t.Errorf("%v: decoded %#v, reflection %#v", sessions, got, want)
		}
	}
}

func TestGeneratedDecoderRefusesAllButThePlainForm(t *testing.T) {
	plain, _ := hostcall.Encode(Profile{UserID: "u1", Name: "Ada", Age: 36})
	cases := map[string][]byte{
		"empty":              {},
		"null":               {0xf6},
		"truncated":          plain[:len(plain)-1],
		"trailing byte":      append(append([]byte{}, plain...), 0x00),
		"an array":           {0x83, 0x62, 'u', '1', 0x63, 'A', 'd', 'a', 0x18, 36},
		"indefinite map":     {0xbf, 0x63, 'a', 'g', 'e', 0x01, 0xff},
		"unknown key":        {0xa1, 0x63, 'z', 'z', 'z', 0x01},
		"key in other case":  {0xa1, 0x63, 'A', 'G', 'E', 0x01},
		"duplicate key":      {0xa2, 0x63, 'a', 'g', 'e', 0x01, 0x63, 'a', 'g', 'e', 0x02},
		"age too large":      {0xa1, 0x63, 'a', 'g', 'e', 0x1b, 0, 0, 0, 1, 0, 0, 0, 0},
		"negative age":       {0xa1, 0x63, 'a', 'g', 'e', 0x20},
		"null age":           {0xa1, 0x63, 'a', 'g', 'e', 0xf6},
		"tagged age":         {0xa1, 0x63, 'a', 'g', 'e', 0xc1, 0x01},
		"name as bytes":      {0xa1, 0x64, 'n', 'a', 'm', 'e', 0x41, 'x'},
		"invalid UTF-8":      {0xa1, 0x64, 'n', 'a', 'm', 'e', 0x61, 0xff},
		"indefinite text":    {0xa1, 0x64, 'n', 'a', 'm', 'e', 0x7f, 0x61, 'x', 0xff},
		"huge map":           {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"text longer than ∞": {0xa1, 0x64, 'n', 'a', 'm', 'e', 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for name, data := range cases {
		var p Profile
		var dec hostcall.Decoder
		dec.Reset(data)
		p.decodeCBOR(&dec)
		if dec.Finish() {
			t.Errorf("%s (% x): accepted as %v", name, data, p)
		}
	}
	// A list longer than its payload could hold allocates nothing.
	var dec hostcall.Decoder
	dec.Reset([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if n := dec.Array(); n != 0 || dec.Finish() {
		t.Errorf("a list of 2^64-1 elements in 9 bytes: length %d, finished %v", n, dec.Finish())
	}
}

func TestGeneratedIntegersKeepTheirRange(t *testing.T) {
	for _, v := range []int64{0, 1, 23, 24, -1, -24, -25, -128, 127, -129, 255, -32768, 65535, -1 << 31, 1<<31 - 1, -1 << 63, 1<<63 - 1} {
		want, _ := hostcall.Encode(v)
		if got := hostcall.AppendInt(nil, v); !bytes.Equal(got, want) {
			t.Errorf("%d: generated % x, reflection % x", v, got, want)
		}
		for _, r := range []struct{ min, max int64 }{{-128, 127}, {-1 << 31, 1<<31 - 1}, {-1 << 63, 1<<63 - 1}} {
			var dec hostcall.Decoder
			dec.Reset(want)
			got := dec.Int(r.min, r.max)
			inRange := v >= r.min && v <= r.max
			if dec.Finish() != inRange || (inRange && got != v) {
				t.Errorf("%d in [%d, %d]: got %d, finished %v", v, r.min, r.max, got, dec.Finish())
			}
		}
	}
}
