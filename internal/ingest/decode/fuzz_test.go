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

// refEnvelope is Envelope written the slow way, with encoding/json: the
// frame body, the event count and, on failure, for NDJSON, the index of the
// first bad event.
func refEnvelope(body []byte, format Format) (frame []byte, n int, ok bool, badIndex int) {
	var events [][]byte
	switch format {
	case FormatJSON:
		if !json.Valid(body) || !utf8.Valid(body) {
			return nil, 0, false, -2
		}
		if t := bytes.TrimLeft(body, " \t\r\n"); t[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(body, &arr); err != nil {
				panic(err)
			}
			for _, ev := range arr {
				events = append(events, ev)
			}
		} else {
			events = append(events, bytes.TrimRight(t, " \t\r\n"))
		}
	case FormatNDJSON:
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			line = bytes.Trim(line, " \t\r")
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) || !utf8.Valid(line) || !refEvent(line) {
				return nil, 0, false, len(events)
			}
			events = append(events, line)
		}
	}
	if len(events) == 0 {
		return nil, 0, false, -1
	}
	for i, ev := range events {
		if !refEvent(ev) {
			return nil, 0, false, i
		}
		if i > 0 {
			frame = append(frame, '\n')
		}
		if bytes.ContainsAny(ev, "\r\n") {
			var buf bytes.Buffer
			if err := json.Compact(&buf, ev); err != nil {
				panic(err)
			}
			ev = buf.Bytes()
		}
		frame = append(frame, ev...)
	}
	return frame, len(events), true, 0
}

// refEvent checks the envelope rules on one valid JSON value.
func refEvent(ev []byte) bool {
	if ev[0] != '{' || jsonDepth(ev) > DefaultMaxDepth {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(ev))
	if _, err := dec.Token(); err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		switch key {
		case "timestamp", "source", "event", "metadata":
			if seen[key] {
				return false
			}
			seen[key] = true
		default:
			continue
		}
		var s string
		switch key {
		case "timestamp":
			if v[0] != '"' || json.Unmarshal(v, &s) != nil {
				return false
			}
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return false
			}
		case "source":
			if v[0] != '"' || len(v) == 2 {
				return false
			}
		case "event", "metadata":
			if v[0] != '{' {
				return false
			}
		}
	}
	return seen["timestamp"] && seen["source"] && seen["event"]
}

func fuzzSeeds() []string {
	return []string{
		ev0, ev1, ev2,
		"[" + ev0 + "," + ev1 + "]",
		"[\n  " + strings.ReplaceAll(ev2, ",", ",\n  ") + "\n]",
		ev0 + "\n" + ev1 + "\r\n\n" + ev2 + "\n",
		event(`{"a":"\ud83d\ude00\u00e9 é","b":[1,2.5e-3,-0,true,false,null],"c":{}}`),
		`{"time\u0073tamp":"2025-02-12T14:32:15\u002E5Z","source":"\\","event":{},"metadata":{"k":"v"}}`,
		deepEvent(64), deepEvent(65),
		`{"timestamp":"2025-02-12T14:32:15Z","source":"","event":{}}`,
		`{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{},"source":"t"}`,
		`[]`, ``, `{}`, `[{}]`, `[1]`, `"x"`, "\xff", `[` + ev0,
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		format := FormatJSON
		if ndjson {
			format = FormatNDJSON
		}
		out, n, err := Envelope(nil, body, format, Limits{})
		want, wantN, wantOK, badIndex := refEnvelope(body, format)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Index < -1 || e.Detail == "" || n != 0 || len(out) != 0 {
				t.Fatalf("Envelope(%q) = %q, %d, %#v", body, out, n, err)
			}
			if wantOK {
				t.Fatalf("Envelope(%q, %v) rejected what encoding/json accepts: %v", body, format, err)
			}
			if format == FormatNDJSON && e.Index != badIndex {
				t.Fatalf("Envelope(%q, ndjson): error at event %d, first bad event is %d: %v", body, e.Index, badIndex, err)
			}
			return
		}
		if !wantOK {
			t.Fatalf("Envelope(%q, %v) accepted what encoding/json rejects: %q", body, format, out)
		}
		if n != wantN || !bytes.Equal(out, want) {
			t.Fatalf("Envelope(%q, %v) = %d, %q\nwant %d, %q", body, format, n, out, wantN, want)
		}
		checkFrame(t, out, n)
		// A frame body is itself valid NDJSON that decodes to itself.
		again, n2, err := Envelope(nil, out, FormatNDJSON, Limits{})
		if err != nil || n2 != n || !bytes.Equal(again, out) {
			t.Fatalf("frame %q does not decode to itself: %q, %d, %v", out, again, n2, err)
		}
	})
}

func FuzzValid(f *testing.F) {
	for _, s := range validInputs {
		f.Add([]byte(s))
	}
	f.Add([]byte(nest(64)))
	f.Add([]byte(nest(65)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValid(t, b)
		if len(b) > 0 && b[0] == '"' && Valid(b, Limits{}) == nil {
			checkUnescape(t, bytes.TrimRight(b, " \t\r\n"))
		}
		// Compact never panics, whatever it is given.
		Compact(nil, b)
	})
}

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2025-02-12T14:32:15Z", "2025-02-12T14:32:15.123456789+02:00", "2024-02-29T23:59:59.5-05:30", "2025-02-12T14:32:15,5Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := time.Parse(time.RFC3339Nano, s)
		if canonicalRFC3339([]byte(s)) && err != nil {
			t.Fatalf("canonicalRFC3339 accepts %q, time.Parse: %v", s, err)
		}
		if strings.Contains(s, `\`) {
			return
		}
		if got := validTimestamp([]byte(s)); got != (err == nil) {
			t.Fatalf("validTimestamp(%q) = %v, time.Parse error %v", s, got, err)
		}
	})
}
