package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	ev0 = `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_30921","status":"approved","latency_ms":182},"metadata":{"env":"prod","team":"payments"}}`
	ev1 = `{"timestamp":"2025-02-12T14:32:16.123456789+02:00","source":"b","event":{}}`
	ev2 = `{"timestamp":"2025-02-12T14:32:17.5-05:30","source":"c","event":{"a":[1,-2.5e+3,true,false,null,"x\u00e9\n"]},"extra":[]}`
)

// event returns a minimal valid event with the given "event" value.
func event(v string) string {
	return `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":` + v + `}`
}

// deepEvent returns a valid event whose deepest nesting is depth >= 2 (the
// event object is level 1, its "event" object level 2).
func deepEvent(depth int) string {
	inner := "0"
	if depth > 2 {
		inner = nest(depth - 2)
	}
	return event(`{"a":` + inner + `}`)
}

// nest returns depth nested arrays: [[…]].
func nest(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func TestEnvelopeAccepts(t *testing.T) {
	pretty := "{\n  \"timestamp\": \"2025-02-12T14:32:15Z\",\r\n  \"source\": \"a b\",\n\t\"event\": {\"k\": [1, 2, \"x  y\"]}\n}"
	prettyCompact := `{"timestamp":"2025-02-12T14:32:15Z","source":"a b","event":{"k":[1,2,"x  y"]}}`
	tests := []struct {
		name   string
		format Format
		body   string
		want   string
		n      int
	}{
		{"single", FormatJSON, ev0, ev0, 1},
		{"single surrounded by whitespace", FormatJSON, " \r\n\t" + ev0 + "\n\n", ev0, 1},
		{"single with inline spaces kept", FormatJSON, `{ "timestamp" : "2025-02-12T14:32:15Z" , "source": "s", "event": { } }`, `{ "timestamp" : "2025-02-12T14:32:15Z" , "source": "s", "event": { } }`, 1},
		{"single pretty-printed is compacted", FormatJSON, pretty, prettyCompact, 1},
		{"array of one", FormatJSON, "[" + ev0 + "]", ev0, 1},
		{"array", FormatJSON, "[" + ev0 + "," + ev1 + "," + ev2 + "]", ev0 + "\n" + ev1 + "\n" + ev2, 3},
		{"array pretty", FormatJSON, "[\n  " + pretty + ",\n  " + ev1 + "\n]\n", prettyCompact + "\n" + ev1, 2},
		{"array elements with spaces around", FormatJSON, "[ " + ev0 + " , " + ev1 + " ]", ev0 + "\n" + ev1, 2},
		{"ndjson", FormatNDJSON, ev0 + "\n" + ev1 + "\n" + ev2, ev0 + "\n" + ev1 + "\n" + ev2, 3},
		{"ndjson trailing newline", FormatNDJSON, ev0 + "\n" + ev1 + "\n", ev0 + "\n" + ev1, 2},
		{"ndjson crlf", FormatNDJSON, ev0 + "\r\n" + ev1 + "\r\n", ev0 + "\n" + ev1, 2},
		{"ndjson blank lines", FormatNDJSON, "\n\r\n  \n" + ev0 + "\n\n \t \n" + ev1 + "\n\n", ev0 + "\n" + ev1, 2},
		{"ndjson line padding", FormatNDJSON, "  " + ev0 + " \t\r\n", ev0, 1},
		{"ndjson cr inside a line is compacted", FormatNDJSON, `{"timestamp":"2025-02-12T14:32:15Z",` + "\r" + `"source":"s","event":{}}`, event("{}"), 1},
		{"ndjson single line", FormatNDJSON, ev2, ev2, 1},
		{"unknown keys kept", FormatJSON, `{"x":1,"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"y":{"z":null},"x":2}`, `{"x":1,"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"y":{"z":null},"x":2}`, 1},
		{"keys in any order", FormatJSON, `{"event":{},"metadata":{},"source":"s","timestamp":"2025-02-12T14:32:15Z"}`, `{"event":{},"metadata":{},"source":"s","timestamp":"2025-02-12T14:32:15Z"}`, 1},
		{"escaped key names", FormatJSON, `{"time\u0073tamp":"2025-02-12T14:32:15Z","sour\u0063e":"s","\u0065vent":{}}`, `{"time\u0073tamp":"2025-02-12T14:32:15Z","sour\u0063e":"s","\u0065vent":{}}`, 1},
		{"escaped timestamp", FormatJSON, `{"timestamp":"2025-02-12T14:32:15\u005A","source":"s","event":{}}`, `{"timestamp":"2025-02-12T14:32:15\u005A","source":"s","event":{}}`, 1},
		{"nested keys named like envelope fields", FormatJSON, event(`{"source":"","timestamp":1,"event":null}`), event(`{"source":"","timestamp":1,"event":null}`), 1},
		{"unicode and escapes in strings", FormatJSON, event(`{"s":"héllo 世界 😀 \" \\ \/ \b\f\n\r\t \u0000 \ud83d\ude00 \ud800 \uFFFF"}`), event(`{"s":"héllo 世界 😀 \" \\ \/ \b\f\n\r\t \u0000 \ud83d\ude00 \ud800 \uFFFF"}`), 1},
		{"DEL and U+FFFD are fine", FormatJSON, event("{\"s\":\"\x7f\uFFFD\"}"), event("{\"s\":\"\x7f\uFFFD\"}"), 1},
		{"numbers", FormatJSON, event(`{"n":[0,-0,1,-1,12.5,1e5,1E+5,1e-5,-0.0e0,123456789012345678901234567890]}`), event(`{"n":[0,-0,1,-1,12.5,1e5,1E+5,1e-5,-0.0e0,123456789012345678901234567890]}`), 1},
		{"depth 64 in an event", FormatJSON, deepEvent(64), deepEvent(64), 1},
		{"depth 64 in an array batch", FormatJSON, "[" + deepEvent(64) + "]", deepEvent(64), 1},
		{"depth 64 on an ndjson line", FormatNDJSON, deepEvent(64), deepEvent(64), 1},
		{"metadata empty object", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"metadata":{}}`, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"metadata":{}}`, 1},
		{"whitespace-only source is non-empty", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":" ","event":{}}`, `{"timestamp":"2025-02-12T14:32:15Z","source":" ","event":{}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, n, err := Envelope(nil, []byte(tt.body), tt.format, Limits{})
			if err != nil {
				t.Fatalf("Envelope: %v", err)
			}
			if n != tt.n || string(out) != tt.want {
				t.Fatalf("Envelope = %d, %q\nwant %d, %q", n, out, tt.n, tt.want)
			}
			checkFrame(t, out, n)

			// Appending keeps what dst held.
			out, n, err = Envelope([]byte("prefix|"), []byte(tt.body), tt.format, Limits{})
			if err != nil || n != tt.n || string(out) != "prefix|"+tt.want {
				t.Fatalf("Envelope with prefix = %d, %q, %v", n, out, err)
			}
		})
	}
}

// checkFrame checks a frame body with encoding/json: n lines, each a valid
// single-line event object with the envelope's fields.
func checkFrame(t testing.TB, frame []byte, n int) {
	t.Helper()
	lines := bytes.Split(frame, []byte("\n"))
	if len(lines) != n {
		t.Fatalf("frame has %d lines, want %d: %q", len(lines), n, frame)
	}
	for i, line := range lines {
		if !json.Valid(line) || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d is not single-line valid JSON: %q", i, line)
		}
		// The timestamp is decoded as a string: encoding/json does not
		// unescape strings for time.Time (go.dev/issue/47353).
		var ev struct {
			Timestamp *string        `json:"timestamp"`
			Source    *string        `json:"source"`
			Event     map[string]any `json:"event"`
			Metadata  *json.RawMessage
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("line %d: %v: %q", i, err, line)
		}
		if ev.Timestamp == nil || ev.Source == nil || *ev.Source == "" || ev.Event == nil {
			t.Fatalf("line %d lacks an envelope field: %q", i, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, *ev.Timestamp); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if ev.Metadata != nil && (*ev.Metadata)[0] != '{' {
			t.Fatalf("line %d: metadata is not an object: %q", i, line)
		}
	}
}

func TestEnvelopeRejects(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	tests := []struct {
		name   string
		format Format
		body   string
		index  int
		detail string // substring of Detail
	}{
		{"empty body", FormatJSON, "", -1, "no events"},
		{"whitespace body", FormatJSON, " \n\t\r\n", -1, "no events"},
		{"empty ndjson", FormatNDJSON, "", -1, "no events"},
		{"blank ndjson", FormatNDJSON, "\n\r\n  \n", -1, "no events"},
		{"empty array", FormatJSON, "[]", -1, "no events"},
		{"empty array with spaces", FormatJSON, " [ \n ] ", -1, "no events"},

		{"missing source", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","event":{}}`, 0, `event 0: missing required "source"`},
		{"missing everything", FormatJSON, `{}`, 0, `event 0: missing required "timestamp", "source", "event"`},
		{"missing event in batch", FormatJSON, "[" + ev0 + "," + ev1 + `,{"timestamp":"2025-02-12T14:32:15Z","source":"s"}]`, 2, `event 2: missing required "event"`},
		{"missing timestamp ndjson", FormatNDJSON, ev0 + "\n\n" + `{"source":"s","event":{}}` + "\n", 1, `event 1 (line 3): missing required "timestamp"`},
		{"empty source", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"","event":{}}`, 0, `event 0: "source" must not be empty`},
		{"source not a string", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":7,"event":{}}`, 0, `"source" must be a string, got a number`},
		{"source null", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":null,"event":{}}`, 0, `"source" must be a string, got null`},
		{"event not an object", FormatJSON, "[" + ev0 + `,{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":"x"}]`, 1, `event 1: "event" must be a JSON object, got a string`},
		{"event array", FormatNDJSON, event("[]"), 0, `"event" must be a JSON object, got an array`},
		{"event null", FormatJSON, event("null"), 0, `"event" must be a JSON object, got null`},
		{"bad timestamp", FormatJSON, `{"timestamp":"12/02/2025","source":"s","event":{}}`, 0, `event 0: "timestamp" is not an RFC 3339 timestamp: "12/02/2025"`},
		{"bad timestamp in batch", FormatNDJSON, ev0 + "\n" + ev1 + "\n" + ev2 + "\n" + `{"timestamp":"2025-02-30T00:00:00Z","source":"s","event":{}}`, 3, `event 3 (line 4): "timestamp" is not an RFC 3339 timestamp`},
		{"timestamp without zone", FormatJSON, `{"timestamp":"2025-02-12T14:32:15","source":"s","event":{}}`, 0, `"timestamp" is not an RFC 3339 timestamp`},
		{"timestamp empty", FormatJSON, `{"timestamp":"","source":"s","event":{}}`, 0, `"timestamp" is not an RFC 3339 timestamp`},
		{"timestamp number", FormatJSON, `{"timestamp":1739370735000,"source":"s","event":{}}`, 0, `"timestamp" must be an RFC 3339 string, got a number`},
		{"long bad timestamp is cut", FormatJSON, `{"timestamp":"` + strings.Repeat("9", 500) + `","source":"s","event":{}}`, 0, `"` + strings.Repeat("9", 64) + `"…`},
		{"metadata not object", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"metadata":"x"}`, 0, `event 0: "metadata" must be a JSON object, got a string`},
		{"metadata null", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"metadata":null}`, 0, `"metadata" must be a JSON object, got null`},
		{"duplicate source", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"source":"t"}`, 0, `event 0: duplicate "source" key`},
		{"duplicate escaped timestamp", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"timestam\u0070":"2025-02-12T14:32:15Z"}`, 0, `duplicate "timestamp" key`},
		{"duplicate metadata", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"metadata":{},"metadata":{}}`, 0, `duplicate "metadata" key`},

		{"event is a string", FormatJSON, `"hello"`, -1, "the body must be an event object or an array of event objects, got a string"},
		{"event is a number", FormatJSON, `42`, -1, "got a number"},
		{"event is a boolean", FormatJSON, `true`, -1, "got a boolean"},
		{"array element not an object", FormatJSON, "[" + ev0 + `,"x"]`, 1, "event 1: must be a JSON object, got a string"},
		{"nested array in batch", FormatJSON, "[[" + ev0 + "]]", 0, "event 0: must be a JSON object, got an array"},
		{"ndjson line is an array", FormatNDJSON, ev0 + "\n[" + ev1 + "]", 1, "event 1 (line 2): each NDJSON line must be one event object, not an array"},
		{"unterminated string body", FormatJSON, `"abc`, -1, "invalid JSON at byte 4: unexpected end of input in string literal"},
		{"invalid literal in batch", FormatJSON, "[" + ev0 + ",nul]", 1, "event 1: invalid JSON at byte 184: invalid character ']' in literal null"},
		{"number element then garbage", FormatJSON, `[1x]`, 0, "event 0: must be a JSON object, got a number"},
		{"ndjson line is a number", FormatNDJSON, "1\n", 0, "must be a JSON object, got a number"},

		{"invalid JSON", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{"a":tru}}`, 0, "event 0: invalid JSON at byte 65: invalid character '}' in literal true"},
		{"invalid JSON garbage", FormatJSON, `nope`, -1, "invalid JSON at byte 1: invalid character 'o' in literal null"},
		{"invalid JSON first byte", FormatJSON, `x`, -1, "invalid JSON at byte 0: invalid character 'x' looking for beginning of value"},
		{"single quotes", FormatJSON, `{'a':1}`, 0, `invalid character '\'' looking for beginning of object key string`},
		{"missing colon", FormatJSON, `{"timestamp" "x"}`, 0, "invalid character '\"' after object key"},
		{"missing comma", FormatJSON, `{"timestamp":"2025-02-12T14:32:15Z" "source":"s"}`, 0, "after object key:value pair"},
		{"trailing comma in object", FormatJSON, event(`{"a":1,}`), 0, "invalid character '}' looking for beginning of object key string"},
		{"trailing comma in array", FormatJSON, event(`[1,]`), 0, "invalid character ']' looking for beginning of value"},
		{"leading zero", FormatJSON, event(`{"a":01}`), 0, "invalid character '1' after object key:value pair"},
		{"bad fraction", FormatJSON, event(`{"a":1.}`), 0, "after decimal point in numeric literal"},
		{"bad exponent", FormatJSON, event(`{"a":1e+}`), 0, "in exponent of numeric literal"},
		{"plus sign", FormatJSON, event(`{"a":+1}`), 0, "invalid character '+' looking for beginning of value"},
		{"bad escape", FormatJSON, event(`{"a":"\x"}`), 0, "invalid character 'x' in string escape code"},
		{"bad unicode escape", FormatJSON, event(`{"a":"\u12G4"}`), 0, `invalid character 'G' in \u hexadecimal character escape`},
		{"unterminated string", FormatJSON, `{"timestamp":"2025`, 0, "unexpected end of input in string literal"},
		{"unterminated object", FormatJSON, event(`{"a":1`), 0, "unexpected end of input after object key:value pair"},
		{"unterminated array", FormatJSON, "[" + ev0 + "," + ev1, -1, "unexpected end of input after an event (unterminated array)"},
		{"unterminated array after comma", FormatJSON, "[" + ev0 + ",", -1, "unterminated array"},
		{"unterminated array at start", FormatJSON, "[", -1, "unterminated array"},
		{"trailing comma in batch", FormatJSON, "[" + ev0 + ",]", -1, "trailing comma"},
		{"missing comma in batch", FormatJSON, "[" + ev0 + " " + ev1 + "]", -1, "invalid character '{' after array element"},
		{"trailing garbage", FormatJSON, ev0 + " x", -1, "invalid JSON at byte 180: invalid character 'x' after the top-level value"},
		{"trailing garbage after array", FormatJSON, "[" + ev0 + "]]", -1, "invalid character ']' after the top-level value"},
		{"concatenated objects as json", FormatJSON, ev0 + "\n" + ev1, -1, "as NDJSON with Content-Type application/x-ndjson"},
		{"two objects on an ndjson line", FormatNDJSON, ev0 + ev1, 0, "after the event object (each NDJSON line must hold exactly one event)"},
		{"ndjson object spanning lines", FormatNDJSON, ev0 + "\n{\"timestamp\":\n\"2025-02-12T14:32:15Z\",\"source\":\"s\",\"event\":{}}", 1, "event 1 (line 2): invalid JSON at byte 193: unexpected end of line looking for beginning of value"},
		{"ndjson garbage line", FormatNDJSON, ev0 + "\n#comment\n", 1, "invalid character '#' looking for beginning of value"},

		{"depth 65", FormatJSON, deepEvent(65), 0, "event 0: JSON nested deeper than 64 levels"},
		{"depth 65 in array batch", FormatJSON, "[" + ev0 + "," + deepEvent(65) + "]", 1, "JSON nested deeper than 64 levels"},
		{"depth 65 ndjson", FormatNDJSON, deepEvent(65), 0, "JSON nested deeper than 64 levels"},
		{"depth 65 of objects", FormatJSON, event(strings.Repeat(`{"a":`, 63) + "{}" + strings.Repeat("}", 63)), 0, "JSON nested deeper than 64 levels"},
		{"10000-deep in an event", FormatJSON, event(`{"a":` + deep + `}`), 0, "JSON nested deeper than 64 levels at byte 124"},
		{"10000-deep body", FormatJSON, deep, 0, "event 0: must be a JSON object, got an array"},
		{"10000-deep objects unterminated", FormatNDJSON, strings.Repeat(`{"a":`, 10000), 0, "JSON nested deeper than 64 levels at byte 320"},

		{"invalid UTF-8", FormatJSON, event("{\"a\":\"ok \xff\"}"), 0, "event 0: invalid UTF-8 in string at byte 66"},
		{"invalid UTF-8 in key", FormatNDJSON, event("{\"\xc3\x28\":1}"), 0, "invalid UTF-8 in string at byte 59"},
		{"truncated UTF-8", FormatJSON, event("{\"a\":\"\xe4\xb8\"}"), 0, "invalid UTF-8 in string"},
		{"UTF-8 surrogate", FormatJSON, event("{\"a\":\"\xed\xa0\x80\"}"), 0, "invalid UTF-8 in string"},
		{"overlong UTF-8", FormatJSON, event("{\"a\":\"\xc0\xaf\"}"), 0, "invalid UTF-8 in string"},
		{"invalid UTF-8 in source", FormatJSON, "{\"timestamp\":\"2025-02-12T14:32:15Z\",\"source\":\"\x80\",\"event\":{}}", 0, "invalid UTF-8 in string at byte 46"},
		{"invalid UTF-8 outside string", FormatJSON, "\xef\xbb\xbf" + ev0, -1, "invalid JSON at byte 0: invalid byte 0xEF looking for beginning of value"},
		{"control char in string", FormatJSON, event("{\"a\":\"x\ty\"}"), 0, "event 0: invalid JSON at byte 64: control character U+0009 in string literal must be escaped"},
		{"NUL in string", FormatJSON, event("{\"a\":\"\x00\"}"), 0, "control character U+0000"},
		{"newline in string", FormatJSON, event("{\"a\":\"x\ny\"}"), 0, "control character U+000A"},
		{"newline in ndjson string", FormatNDJSON, event("{\"a\":\"x\ny\"}"), 0, "unexpected end of line in string literal"},
		{"unknown format", Format(7), ev0, -1, "unknown body format Format(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, n, err := Envelope(dst, []byte(tt.body), tt.format, Limits{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Envelope = %d, %q, %v; want *Error", n, out, err)
			}
			if e.Index != tt.index || !strings.Contains(e.Detail, tt.detail) {
				t.Fatalf("error = {%d, %q}\nwant  {%d, …%q…}", e.Index, e.Detail, tt.index, tt.detail)
			}
			if e.Error() != e.Detail {
				t.Fatalf("Error() = %q", e.Error())
			}
			if n != 0 || string(out) != "keep" {
				t.Fatalf("on error Envelope returned %d, %q", n, out)
			}
		})
	}
}

func TestMaxDepthLimit(t *testing.T) {
	for _, max := range []int{2, 3, 10, 64, 100} {
		lim := Limits{MaxDepth: max}
		ok := deepEvent(max)
		if _, _, err := Envelope(nil, []byte(ok), FormatJSON, lim); err != nil {
			t.Errorf("MaxDepth %d, depth %d: %v", max, max, err)
		}
		bad := deepEvent(max + 1)
		if _, _, err := Envelope(nil, []byte(bad), FormatJSON, lim); err == nil {
			t.Errorf("MaxDepth %d, depth %d: accepted", max, max+1)
		}
		if err := Valid([]byte(nest(max)), lim); err != nil {
			t.Errorf("Valid MaxDepth %d, depth %d: %v", max, max, err)
		}
		if err := Valid([]byte(nest(max+1)), lim); err == nil {
			t.Errorf("Valid MaxDepth %d, depth %d: accepted", max, max+1)
		}
	}
	if err := Valid([]byte(nest(64)), Limits{}); err != nil {
		t.Errorf("default depth 64: %v", err)
	}
	if err := Valid([]byte(nest(65)), Limits{}); err == nil {
		t.Error("default depth 65 accepted")
	}
}

// TestDeepNestingIsCheap checks that a 10,000-deep input is refused at the
// limit, not after scanning it.
func TestDeepNestingIsCheap(t *testing.T) {
	deep := []byte(strings.Repeat("[", 1<<20))
	err := Valid(deep, Limits{})
	var e *Error
	if !errors.As(err, &e) || e.Detail != "JSON nested deeper than 64 levels at byte 64" {
		t.Fatalf("Valid = %v", err)
	}
	allocs := testing.AllocsPerRun(10, func() { _ = Valid(deep[:10000], Limits{}) })
	if allocs > 3 { // the error and its message
		t.Errorf("Valid of deep input: %v allocs", allocs)
	}
}

func TestTimestamps(t *testing.T) {
	// Every value here is judged by time.Parse(time.RFC3339Nano, …); the
	// envelope must agree with it.
	tests := []string{
		"2025-02-12T14:32:15Z",
		"2025-02-12T14:32:15.1Z",
		"2025-02-12T14:32:15.123456789Z",
		"2025-02-12T14:32:15.1234567891234Z",
		"2025-02-12T14:32:15+02:00",
		"2025-02-12T14:32:15.5-05:30",
		"2025-02-12T14:32:15+23:59",
		"2024-02-29T00:00:00Z",
		"0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z",
		"2025-02-12T14:32:15,5Z",
		"2025-02-12T4:32:15Z",
		"2025-02-12 14:32:15Z",
		"2025-02-12t14:32:15z",
		"2025-02-12T14:32:15",
		"2025-02-12T14:32:15+0200",
		"2025-02-12T14:32:15+24:00",
		"2025-02-12T24:00:00Z",
		"2025-02-12T14:60:15Z",
		"2025-02-12T14:32:60Z",
		"2025-13-12T14:32:15Z",
		"2025-02-29T14:32:15Z",
		"2025-02-12",
		"2025-02-12T14:32:15.Z",
		"2025-02-12T14:32:15Z ",
		" 2025-02-12T14:32:15Z",
		"1739370735",
		"",
		"Wed, 12 Feb 2025 14:32:15 GMT",
		"10A0-01-01T00:00:00+00:00",
		"2A25-01-01T00:00:00Z",
		"2025-0A-01T00:00:00Z",
		"2025-01-01T00:00:0AZ",
		"2025-01-01T00:00:00+0A:00",
		"2025-01-01T00:00:00+00:0A",
		"2025-01-01T00:00:00.Z",
		"2025-01-01T00:00:00.1.2Z",
		"2025-01-01T00:00:00+01:00Z",
		"-025-01-01T00:00:00Z",
		"+2025-01-01T00:00:00Z",
		"2100-02-29T00:00:00Z",
		"2000-02-29T00:00:00Z",
		"2025-04-31T00:00:00Z",
		"2025-12-31T23:59:59.999999999999Z",
	}
	for _, ts := range tests {
		_, perr := time.Parse(time.RFC3339Nano, ts)
		body := `{"timestamp":"` + ts + `","source":"s","event":{}}`
		_, _, err := Envelope(nil, []byte(body), FormatJSON, Limits{})
		if (perr == nil) != (err == nil) {
			t.Errorf("%q: time.Parse error %v, Envelope error %v", ts, perr, err)
		}
	}
}

// validInputs are JSON texts, valid and not, for comparing Valid with
// encoding/json.Valid. Each is also cut and mutated by validVariants.
var validInputs = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nulll`, `tru`, `True`, `0`, `-0`, `-`, `01`, `1.`, `.1`, `1.5`, `1e5`, `1E-5`, `1e`, `1e+`,
	`-1.5e+10`, `+1`, `0x10`, `1_000`, `NaN`, `Infinity`, `""`, `"`, `"abc`, `"\"`, `"\\"`, `"\u"`, `"\u00"`, `"\u00e9"`, `"\uD834\uDD1E"`,
	`"\ud800"`, `"\x"`, `"\/"`, `"\'"`, `[]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `{}`, `{`, `}`, `{"a"}`, `{"a":}`,
	`{"a":1,}`, `{"a":1 "b":2}`, `{"a":1,"b":[true,false,null,{"c":"d"}]}`, `{1:2}`, `{"a":1}}`, `{"a":1}x`, ` {"a" : 1 } `,
	"\t[\n1\r,\n2 ]\n", "[1,\f2]", "[1,\v2]", "[1,\u00a02]", "\"\t\"", "\"\x7f\"", "\"\x1f\"", "\"é\"", "\"世界\"", "\"😀\"",
	"\ufeff{}", "{}\x00", `{"a":"b"}{"c":"d"}`, `[1][2]`, `"a" "b"`, `123abc`, `[-]`, `[--1]`, `[1.2.3]`, `[1e1e1]`, `[00]`,
	`{"":""}`, `{"a":{"b":{"c":{"d":[1,2,3,{"e":null}]}}}}`, `["\b\f\n\r\t\"\\\/"]`, `[1.0E+2, -0.0, 123456789012345678901234567890]`,
	ev0, ev1, ev2, "[" + ev0 + "," + ev1 + "]",
}

// validVariants returns s, its prefixes and s with each byte removed.
func validVariants(s string) []string {
	out := []string{s}
	for i := range len(s) {
		out = append(out, s[:i], s[:i]+s[i+1:])
	}
	return out
}

// jsonDepth returns the maximum nesting depth of a valid JSON text.
func jsonDepth(b []byte) int {
	depth, max := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			max = maxInt(max, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// checkValid compares Valid with encoding/json.Valid (plus the UTF-8 and
// depth rules Valid adds) and Compact with encoding/json.Compact.
func checkValid(t testing.TB, b []byte) {
	t.Helper()
	want := json.Valid(b) && utf8.Valid(b) && jsonDepth(b) <= DefaultMaxDepth
	err := Valid(b, Limits{})
	if (err == nil) != want {
		t.Fatalf("Valid(%q) = %v, want valid %v", b, err, want)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Index != -1 || e.Detail == "" {
			t.Fatalf("Valid(%q) error %#v", b, err)
		}
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	if got := Compact([]byte("x"), b); string(got) != "x"+buf.String() {
		t.Fatalf("Compact(%q) = %q, want %q", b, got[1:], buf.Bytes())
	}
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	n := 0
	for _, s := range validInputs {
		for _, v := range validVariants(s) {
			checkValid(t, []byte(v))
			n++
		}
	}
	t.Logf("%d inputs", n)
}

func TestCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, ``},
		{` `, ``},
		{`1`, `1`},
		{" {\n\t\"a b\" : [ 1 , \"x \\\" y\" , { } ] }\r\n", `{"a b":[1,"x \" y",{}]}`},
		{`"a\\"`, `"a\\"`},
		{`[ "\\" , "\"" ]`, `["\\","\""]`},
	}
	for _, tt := range tests {
		if got := Compact(nil, []byte(tt.in)); string(got) != tt.want {
			t.Errorf("Compact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Invalid input must not panic.
	for _, s := range []string{`"`, `"\`, `"abc\`, `[ "`, "\\", `{"a":"\`} {
		Compact(nil, []byte(s))
	}
}

func TestUnescape(t *testing.T) {
	for _, s := range []string{
		`""`, `"abc"`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u4e16\uFFFF"`, `"\ud83d\ude00"`,
		`"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\ud83d"`, `"é😀"`,
	} {
		checkUnescape(t, []byte(s))
	}
}

// checkUnescape compares unescape with encoding/json on a valid JSON string.
func checkUnescape(t testing.TB, b []byte) {
	t.Helper()
	var want string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got := unescape(nil, b[1:len(b)-1]); string(got) != want {
		t.Fatalf("unescape(%s) = %q, want %q", b, got, want)
	}
}

func TestEnvelopeZeroAllocs(t *testing.T) {
	for _, format := range []Format{FormatJSON, FormatNDJSON} {
		body := benchBody(100, format)
		dst := make([]byte, 0, len(body))
		allocs := testing.AllocsPerRun(20, func() {
			out, n, err := Envelope(dst[:0], body, format, Limits{})
			if err != nil || n != 100 || len(out) == 0 {
				t.Fatalf("Envelope: %d, %v", n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocs per Envelope, want 0", format, allocs)
		}
	}
}

func TestFormatString(t *testing.T) {
	if FormatJSON.String() != "json" || FormatNDJSON.String() != "ndjson" || Format(9).String() != "Format(9)" {
		t.Fatal("Format.String")
	}
}
