package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count. In JSON and YAML it is an integer or a string with a
// unit: "256KiB", "1MiB", "10GiB", "500KB", "2MB" (decimal units are powers of
// 1000, binary units powers of 1024). It is written back as an integer.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses "10GiB", "1MiB", "1000" and the like.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || !(n >= 0) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a number with a unit (KiB, MiB, GiB, KB, MB, GB)", s)
	}
	v := n * float64(mult)
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	// A size is a whole number of bytes ("1.5MB" is, "1.5" and "0.1KiB" are
	// not), as for a JSON number; the tolerance absorbs the rounding of n*mult.
	r := math.Round(v)
	if math.Abs(v-r) > v*0x1p-50 {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	return Size(r), nil
}

// UnmarshalJSON accepts an integer or a string with a unit.
func (s *Size) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := ParseSize(str)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid size %s: want a number of bytes or a string like \"1MiB\"", b)
	}
	if n < 0 || n > 1<<62 || n != float64(int64(n)) {
		return fmt.Errorf("invalid size %s: want a whole, non-negative number of bytes", b)
	}
	*s = Size(n)
	return nil
}

// Duration is a time span written as a Go duration string: "200ms", "60s", "168h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string ("1m0s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a duration string; a bare number is taken as seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := time.ParseDuration(strings.TrimSpace(str))
		if err != nil {
			return fmt.Errorf("invalid duration %q: want a string like \"200ms\", \"60s\" or \"168h\"", str)
		}
		if v < 0 {
			return fmt.Errorf("invalid duration %q: must not be negative", str)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s: want a string like \"60s\"", b)
	}
	if n < 0 || n > float64(1<<62)/float64(time.Second) {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}
