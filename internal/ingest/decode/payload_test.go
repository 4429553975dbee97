package decode

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPayload(t *testing.T) {
	for _, c := range []struct {
		ev, want string
		ok       bool
	}{
		{`{"timestamp":"2025-02-12T14:32:15Z","source":"s","event":{"a":1}}`, `{"a":1}`, true},
		{`{"event":{"a":{"event":2}},"source":"s"}`, `{"a":{"event":2}}`, true},
		{`{"source":"s}\"event\":{}","events":[1],"eventx":2,"ev\u0065nt":{"b":[1,"}"]}}`, `{"b":[1,"}"]}`, true},
		{` { "event" : { "a" : 1 } , "x" : 2 } `, `{ "a" : 1 }`, true},
		{`{"metadata":{"event":{}},"source":"s"}`, ``, false},
		{`{}`, ``, false},
		{`[]`, ``, false},
		{``, ``, false},
		{`{"event"`, ``, false},
		{`{"event":`, ``, true},
	} {
		got, ok := Payload([]byte(c.ev))
		if ok != c.ok || string(got) != c.want {
			t.Errorf("Payload(%s) = %q, %v; want %q, %v", c.ev, got, ok, c.want, c.ok)
		}
	}
}

// FuzzPayload holds Payload to encoding/json on every event of a frame.
func FuzzPayload(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		frame, n, err := Envelope(nil, body, FormatJSON, Limits{})
		if err != nil {
			// Any input: no panic.
			Payload(body)
			return
		}
		for i, ev := range bytes.Split(frame, []byte("\n")) {
			got, ok := Payload(ev)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(ev, &m); err != nil {
				t.Fatalf("event %d of %d: %v", i, n, err)
			}
			want, wantOK := m["event"]
			if ok != wantOK || !jsonEqual(got, want) {
				t.Fatalf("Payload(%s) = %s, %v; want %s", ev, got, ok, want)
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
