package decode

import (
	"strings"
	"testing"
)

func TestRecords(t *testing.T) {
	ok := []struct {
		name, body string
		format     Format
		want       string
		n          int
	}{
		{"object", `{"status":200}`, FormatJSON, `{"status":200}`, 1},
		{"empty object", `{}`, FormatJSON, `{}`, 1},
		{"array, pretty", "[{\"a\":1},\n {\"b\":{\"c\":[true]}}]", FormatJSON, "{\"a\":1}\n{\"b\":{\"c\":[true]}}", 2},
		{"envelope keys are plain keys", `{"timestamp":5,"source":"","event":[],"timestamp":6}`, FormatJSON, `{"timestamp":5,"source":"","event":[],"timestamp":6}`, 1},
		{"ndjson", "{\"a\":1}\r\n\n{\"b\":2}", FormatNDJSON, "{\"a\":1}\n{\"b\":2}", 2},
	}
	for _, c := range ok {
		out, n, err := Records([]byte("x"), []byte(c.body), c.format, Limits{})
		if err != nil || n != c.n || string(out) != "x"+c.want {
			t.Errorf("%s: %q %d %v", c.name, out, n, err)
		}
	}
	bad := []struct {
		name, body string
		format     Format
		index      int
		detail     string
	}{
		{"string in array", `[{},"x"]`, FormatJSON, 1, `record 1: must be a JSON object, got a string`},
		{"array line", "{}\n[1]", FormatNDJSON, 1, `record 1 (line 2): each NDJSON line must be one event object, not an array`},
		{"too deep", `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, FormatJSON, 0, `record 0: JSON nested deeper than 64`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", FormatJSON, 0, `record 0: invalid UTF-8`},
		{"empty", `[]`, FormatJSON, -1, `no records`},
		{"number", `42`, FormatJSON, -1, `must be an event object or an array of event objects, got a number`},
	}
	for _, c := range bad {
		out, n, err := Records([]byte("x"), []byte(c.body), c.format, Limits{})
		e, isErr := err.(*Error)
		if !isErr || e.Index != c.index || !strings.Contains(e.Detail, c.detail) || n != 0 || string(out) != "x" {
			t.Errorf("%s: %q %d %v, want index %d and %q", c.name, out, n, err, c.index, c.detail)
		}
	}
}
