package model

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const maxSize = Size(1 << 62)

// sizeCases feed both ParseSize and Size.UnmarshalJSON (as a JSON string).
var sizeCases = []struct {
	in      string
	want    Size
	wantErr string // substring of the error; "" means success
}{
	// Plain integers.
	{"0", 0, ""},
	{"1", 1, ""},
	{"1024", 1024, ""},
	{"+5", 5, ""},
	{"1e3", 1000, ""},
	// Binary units.
	{"256KiB", 256 << 10, ""},
	{"1MiB", 1 << 20, ""},
	{"10GiB", 10 << 30, ""},
	{"2TiB", 2 << 40, ""},
	{"0.5KiB", 512, ""},
	{".5KiB", 512, ""},
	{"0.5TiB", 1 << 39, ""},
	{"1.5MiB", 3 << 19, ""},
	// Decimal units.
	{"500KB", 500_000, ""},
	{"2MB", 2_000_000, ""},
	{"3GB", 3_000_000_000, ""},
	{"1TB", 1_000_000_000_000, ""},
	{"1.5MB", 1_500_000, ""},
	{"1.1MB", 1_100_000, ""}, // 1.1*1e6 is not exact in float64
	{"0.3GB", 300_000_000, ""},
	{"7B", 7, ""},
	// Spaces.
	{" 1 MiB ", 1 << 20, ""},
	{"\t2MB\n", 2_000_000, ""},
	{"1 B", 1, ""},
	{"-0", 0, ""},
	// The largest size.
	{"4194304TiB", maxSize, ""},
	{"4611686018427387904", maxSize, ""},

	// Empty and garbage.
	{"", 0, "empty"},
	{"   ", 0, "empty"},
	{"garbage", 0, "invalid size"},
	{"ten MiB", 0, "invalid size"},
	{"MiB", 0, "invalid size"},
	{"B", 0, "invalid size"},
	{"1XB", 0, "invalid size"},
	{"1kib", 0, "invalid size"},
	{"1MiBs", 0, "invalid size"},
	{"1MiB1", 0, "invalid size"},
	{"1 KiB B", 0, "invalid size"},
	{"1,024", 0, "invalid size"},
	{"0x10", 0, "invalid size"},
	// Negative.
	{"-1", 0, "invalid size"},
	{"-1KiB", 0, "invalid size"},
	{"-0.5MB", 0, "invalid size"},
	// NaN and infinities.
	{"NaN", 0, "invalid size"},
	{"nan", 0, "invalid size"},
	{"NaNKiB", 0, "invalid size"},
	{"Inf", 0, "invalid size"},
	{"+Inf", 0, "invalid size"},
	{"-Inf", 0, "invalid size"},
	{"infinity", 0, "invalid size"},
	{"InfGiB", 0, "invalid size"},
	{"1e400", 0, "invalid size"}, // overflows float64
	// Fractional bytes.
	{"1.5", 0, "whole number of bytes"},
	{"1.5B", 0, "whole number of bytes"},
	{"0.1KiB", 0, "whole number of bytes"},
	{"0.0001KB", 0, "whole number of bytes"},
	{"1e-3", 0, "whole number of bytes"},
	// Too large.
	{"4194305TiB", 0, "too large"},
	{"4611686018427400000", 0, "too large"},
	{"1e19", 0, "too large"},
	{"9999999TB", 0, "too large"},
}

func TestParseSize(t *testing.T) {
	for _, tc := range sizeCases {
		got, err := ParseSize(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseSize(%q): unexpected error %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
		case tc.wantErr != "" && err == nil:
			t.Errorf("ParseSize(%q) = %d, want an error containing %q", tc.in, got, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ParseSize(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
		case tc.wantErr != "" && got != 0:
			t.Errorf("ParseSize(%q) = %d with an error, want 0", tc.in, got)
		}
	}
}

func TestSizeUnmarshalJSONString(t *testing.T) {
	for _, tc := range sizeCases {
		b, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		s := Size(-42) // must be left alone on error
		err = json.Unmarshal(b, &s)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Unmarshal(%s): unexpected error %v", b, err)
		case tc.wantErr == "" && s != tc.want:
			t.Errorf("Unmarshal(%s) = %d, want %d", b, s, tc.want)
		case tc.wantErr != "" && err == nil:
			t.Errorf("Unmarshal(%s) = %d, want an error containing %q", b, s, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("Unmarshal(%s) error %q, want it to contain %q", b, err, tc.wantErr)
		case tc.wantErr != "" && s != -42:
			t.Errorf("Unmarshal(%s) changed the value to %d on error", b, s)
		}
	}
}

func TestSizeUnmarshalJSONNumber(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Size
		wantErr bool
	}{
		{`0`, 0, false},
		{`1`, 1, false},
		{`1048576`, 1 << 20, false},
		{` 1024 `, 1024, false},
		{`1e3`, 1000, false},
		{`1.0`, 1, false},
		{`4611686018427387904`, maxSize, false},
		{`null`, 0, false},
		{`-1`, 0, true},
		{`-0.5`, 0, true},
		{`1.5`, 0, true},
		{`0.001`, 0, true},
		{`1e19`, 0, true},
		{`1e400`, 0, true},
		{`4611686018427400000`, 0, true},
		{`true`, 0, true},
		{`{}`, 0, true},
		{`[1]`, 0, true},
		{`"1MiB`, 0, true}, // unterminated string
	} {
		var s Size
		err := s.UnmarshalJSON([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("UnmarshalJSON(%s) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && s != tc.want {
			t.Errorf("UnmarshalJSON(%s) = %d, want %d", tc.in, s, tc.want)
		}
	}
}

func TestSizeInStruct(t *testing.T) {
	var b Buffer
	if err := json.Unmarshal([]byte(`{"max_bytes":"10GiB","max_age":"168h","overflow":"reject"}`), &b); err != nil {
		t.Fatal(err)
	}
	if b.MaxBytes != DefaultBufferBytes || b.MaxAge != DefaultBufferAge {
		t.Errorf("decoded %+v", b)
	}
	// A Size is written back as an integer.
	out, err := json.Marshal(StreamLimits{MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"max_payload":1048576}` {
		t.Errorf("Marshal = %s", out)
	}
	var l StreamLimits
	if err := json.Unmarshal(out, &l); err != nil || l.MaxPayload != 1<<20 {
		t.Errorf("round trip: %+v, %v", l, err)
	}
	if err := json.Unmarshal([]byte(`{"max_payload":"lots"}`), &l); err == nil {
		t.Error("garbage max_payload accepted")
	}
}

func TestDurationUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"200ms"`, 200 * time.Millisecond, false},
		{`"60s"`, 60 * time.Second, false},
		{`"168h"`, 168 * time.Hour, false},
		{`"1h30m"`, 90 * time.Minute, false},
		{`"1.5s"`, 1500 * time.Millisecond, false},
		{`" 10µs "`, 10 * time.Microsecond, false},
		{`"0"`, 0, false},
		{`"0s"`, 0, false},
		// Numbers are seconds.
		{`60`, 60 * time.Second, false},
		{`0.2`, 200 * time.Millisecond, false},
		{`0`, 0, false},
		{` 5 `, 5 * time.Second, false},
		{`1e3`, 1000 * time.Second, false},
		{`null`, 0, false},
		// Garbage.
		{`"garbage"`, 0, true},
		{`""`, 0, true},
		{`"60"`, 0, true}, // a string needs a unit
		{`"1d"`, 0, true},
		{`"s"`, 0, true},
		{`"1 h"`, 0, true},
		{`true`, 0, true},
		{`{}`, 0, true},
		{`[60]`, 0, true},
		{`"60s`, 0, true},
		// Negative.
		{`-1`, 0, true},
		{`-0.5`, 0, true},
		{`"-1s"`, 0, true},
		{`"-168h"`, 0, true},
		// Too large.
		{`1e300`, 0, true},
		{`5e9`, 0, true},
		{`"9999999999h"`, 0, true},
	} {
		d := Duration(-42)
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if d != -42 {
				t.Errorf("Unmarshal(%s) changed the value to %v on error", tc.in, d.D())
			}
			continue
		}
		// json.Unmarshal handles a top-level null itself (leaves d alone);
		// inside a struct Duration.UnmarshalJSON sets 0.
		if tc.in == `null` {
			continue
		}
		if d.D() != tc.want {
			t.Errorf("Unmarshal(%s) = %v, want %v", tc.in, d.D(), tc.want)
		}
	}
}

func TestDurationMarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, `"0s"`},
		{200 * time.Millisecond, `"200ms"`},
		{60 * time.Second, `"1m0s"`},
		{168 * time.Hour, `"168h0m0s"`},
	} {
		b, err := json.Marshal(Duration(tc.d))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.d, b, err, tc.want)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back.D() != tc.d {
			t.Errorf("round trip of %v = %v, %v", tc.d, back.D(), err)
		}
	}
	var h Health
	if err := json.Unmarshal([]byte(`{"interval":"60s"}`), &h); err != nil || h.Interval != DefaultHealthPeriod {
		t.Errorf("Health = %+v, %v", h, err)
	}
}

// FuzzParseSize: ParseSize never panics; what it accepts is a whole,
// non-negative number of bytes of at most 2^62, which reads back the same as
// an integer; a JSON string decodes to the same result.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1024", "256KiB", "1MiB", "10GiB", "500KB", "2MB", " 1 MiB ", "1.5MB", "-1", "NaN", "Inf", "1.5", "1e19", "4194304TiB", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, v, err)
			}
		} else {
			if v < 0 || v > maxSize {
				t.Fatalf("ParseSize(%q) = %d, out of [0, 2^62]", s, v)
			}
			back, err := ParseSize(strconv.FormatInt(int64(v), 10))
			if err != nil || back != v {
				t.Fatalf("ParseSize(%q) = %d, which reads back as %d, %v", s, v, back, err)
			}
		}
		if !utf8.ValidString(s) {
			return // json.Marshal would replace the invalid bytes
		}
		b, merr := json.Marshal(s)
		if merr != nil {
			t.Fatal(merr)
		}
		var js Size
		jerr := json.Unmarshal(b, &js)
		if (jerr == nil) != (err == nil) || js != v {
			t.Fatalf("JSON %s = %d, %v; ParseSize = %d, %v", b, js, jerr, v, err)
		}
	})
}

func TestSizeConstants(t *testing.T) {
	if DefaultBufferBytes != 10<<30 || DefaultMaxPayload != 1<<20 || HardMaxPayload != 16<<20 || DefaultPayloadSize != 1_000_000 {
		t.Error("size defaults differ from the spec")
	}
}
