package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKeyFromPath(t *testing.T) {
	doc := `{ "user": {"id": "u-1", "n": 42, "ok": true, "nil": null, "obj": {"a": [1, 2]}},
		"list": [ {"k": "first"}, {"k": "second"} ],
		"esc": "a\"b\u00e9\\", "http.status": 404, "0": "zero",
		"dup": 1, "dup": 2, "empty": "" }`
	tests := []struct {
		path string
		want string // "<nil>" for no key
	}{
		{"user.id", "u-1"},
		{"user.n", "42"},
		{"user.ok", "true"},
		{"user.nil", "<nil>"},
		{"user.obj", `{"a": [1, 2]}`},
		{"user.obj.a.1", "2"},
		{"list.1.k", "second"},
		{"list.2.k", "<nil>"},
		{"list.k", "<nil>"},
		{"esc", `a"bé\`},
		{`http\.status`, "404"},
		{"http.status", "<nil>"},
		{"0", "zero"},
		{"dup", "1"},
		{"empty", ""},
		{"missing", "<nil>"},
		{"user.id.deeper", "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got := p.key([]byte(doc))
			s := string(got)
			if got == nil {
				s = "<nil>"
			}
			if s != tt.want {
				t.Errorf("key = %q, want %q", s, tt.want)
			}
		})
	}
}

func TestKeyMalformed(t *testing.T) {
	p, _ := parsePath("a")
	for _, doc := range []string{``, `{`, `{"a":"x`, `{"a":}`, `[1,2]`, `{"b":"x",}`, `{"a":tru}`, `{"a":"\q"}`, `{"b":"x" "a":"y"}`} {
		if k := p.key([]byte(doc)); k != nil {
			t.Errorf("%q: key %q, want none", doc, k)
		}
	}
}

// FuzzKey checks the key lookup against encoding/json: for a valid
// document the key is what decoding gives (the first of repeated keys, as
// template paths read them); an invalid one must not make it panic.
func FuzzKey(f *testing.F) {
	f.Add([]byte(`{"a":{"b":"c"}}`), "a.b")
	f.Add([]byte(`{"a":[1,{"b":2.5e3}]}`), "a.1.b")
	f.Add([]byte(`{"a\u0041":"x","a":null}`), "aA")
	f.Add([]byte(`{"a":"\ud83d\ude00"}`), "a")
	f.Add([]byte(` {"0":[true]} `), "0.0")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		p, err := parsePath(path)
		if err != nil {
			return
		}
		got := p.key(doc)
		if !json.Valid(doc) || !utf8.Valid(doc) {
			return // records are valid JSON; here it only must not panic
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		v, err := decodeFirstWins(dec)
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range p {
			switch x := v.(type) {
			case map[string]any:
				v = x[seg.key]
				if _, ok := x[seg.key]; !ok {
					v = nil
				}
			case []any:
				if seg.index < 0 || seg.index >= len(x) {
					v = nil
				} else {
					v = x[seg.index]
				}
			default:
				v = nil
			}
		}
		var want []byte
		switch x := v.(type) {
		case nil:
		case string:
			want = []byte(x)
		default:
			want, _ = json.Marshal(x)
		}
		if want == nil {
			if got != nil {
				t.Fatalf("%q at %q: key %q, want none", doc, path, got)
			}
			return
		}
		if got == nil {
			t.Fatalf("%q at %q: no key, want %q", doc, path, want)
		}
		if _, isStr := v.(string); isStr {
			if string(got) != string(want) {
				t.Fatalf("%q at %q: key %q, want %q", doc, path, got, want)
			}
			return
		}
		// Numbers, booleans, objects, arrays: the raw JSON text, the
		// same value.
		var gv any
		if err := json.Unmarshal(got, &gv); err != nil {
			t.Fatalf("%q at %q: key %q is not JSON: %v", doc, path, got, err)
		}
		if fmt.Sprint(gv) != fmt.Sprint(v) {
			t.Fatalf("%q at %q: key %q = %v, want %v", doc, path, got, gv, v)
		}
	})
}

func TestParsePathLimits(t *testing.T) {
	if _, err := parsePath(strings.Repeat("a.", maxKeyDepth) + "a"); err == nil {
		t.Error("too deep accepted")
	}
	if _, err := parsePath("\xff"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

// decodeFirstWins decodes one JSON value like json.Unmarshal into any,
// except that of repeated object keys the first one is kept.
func decodeFirstWins(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeFirstWins(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := m[kt.(string)]; !dup {
				m[kt.(string)] = v
			}
		}
		_, err := dec.Token()
		return m, err
	case json.Delim('['):
		l := []any{}
		for dec.More() {
			v, err := decodeFirstWins(dec)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := dec.Token()
		return l, err
	}
	return tok, nil
}
