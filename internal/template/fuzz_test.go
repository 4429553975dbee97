package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzRender compiles random variables (newline-separated) or a random
// dataset and renders a random event. It checks that Render accepts
// exactly the events encoding/json accepts as objects, that the output is
// valid JSON, and that every value equals what an independent
// encoding/json-based lookup finds (first occurrence of a duplicate key
// wins).
func FuzzRender(f *testing.F) {
	f.Add([]byte(envelope), "timestamp\nsource\nevent.status\nevent.amount", []byte(nil))
	f.Add([]byte(envelope), "", []byte(`{"status":"$event.status","when":"$timestamp","app":"runnel","n":3}`))
	f.Add([]byte(`{"a":[{"b":1},{"b":"\u00e9"}],"a.b":2}`), "a.1.b\na\\.b\na.0", []byte(nil))
	f.Add([]byte(`{"k*":{"#":1},"st\u0061tus":"x","s":"a\"b"}`), "k*.#\nstatus\ns", []byte(nil))
	f.Add([]byte(" { \"a\" : { \"b\" : [ 1 , 2 ] } } "), "a\na.b.1", []byte(nil))
	f.Add([]byte(`{"a":1,"a":2}`), "", []byte(`{"x":"$a","y":"$$a","z":{"q":"$a"}}`))
	f.Add([]byte(`{"a":`), "a", []byte(nil))
	f.Fuzz(func(t *testing.T, event []byte, vars string, dataset []byte) {
		var variables []string
		if vars != "" {
			variables = strings.Split(vars, "\n")
		}
		tpl, err := Compile(variables, dataset)
		if err != nil {
			return
		}
		out, err := tpl.Render([]byte("dst:"), event)
		isObject := json.Valid(event) && bytes.HasPrefix(bytes.TrimLeft(event, " \t\r\n"), []byte("{"))
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) || isObject {
				t.Fatalf("Render(%q): %v (encoding/json accepts it: %v)", event, err, isObject)
			}
			if string(out) != "dst:" {
				t.Fatalf("failed Render changed dst: %q", out)
			}
			return
		}
		if !isObject {
			t.Fatalf("Render accepted %q, which encoding/json rejects", event)
		}
		if !bytes.HasPrefix(out, []byte("dst:")) {
			t.Fatalf("Render did not append to dst: %q", out)
		}
		out = out[len("dst:"):]
		if !json.Valid(out) {
			t.Fatalf("Render(%q) = %q: not valid JSON", event, out)
		}
		if tpl.PassThrough() {
			if !bytes.Equal(out, bytes.Trim(event, " \t\r\n")) {
				t.Fatalf("pass-through changed %q to %q", event, out)
			}
			return
		}
		root, err := decodeFirstWins(event)
		if err != nil {
			t.Fatalf("oracle cannot decode %q: %v", event, err)
		}
		got, err := decodeFirstWins(out)
		if err != nil {
			t.Fatal(err)
		}
		gotObj := got.(map[string]any)
		want := map[string]any{}
		if len(variables) > 0 {
			for _, v := range variables {
				want[v] = lookup(root, v)
			}
		} else {
			ds, err := decodeFirstWins(dataset)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range ds.(map[string]any) {
				s, ok := v.(string)
				switch {
				case ok && strings.HasPrefix(s, "$$"):
					want[k] = s[1:]
				case ok && strings.HasPrefix(s, "$"):
					want[k] = lookup(root, s[1:])
				default:
					want[k] = v
				}
			}
		}
		if !reflect.DeepEqual(gotObj, want) {
			t.Fatalf("Render(%q) = %s\n decoded %#v\n    want %#v", event, out, gotObj, want)
		}
	})
}

// lookup finds path in a decoded document the way the spec describes it.
func lookup(v any, path string) any {
	segs, err := parsePath(path)
	if err != nil {
		panic(err)
	}
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[s.key]; !ok {
				return nil
			}
		case []any:
			if s.index < 0 || s.index >= len(x) {
				return nil
			}
			v = x[s.index]
		default:
			return nil
		}
	}
	return v
}

// decodeFirstWins decodes JSON with encoding/json's tokenizer, keeping the
// first of duplicate object keys and numbers as json.Number.
func decodeFirstWins(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return decodeValue(dec)
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k.(string)]; !dup {
				m[k.(string)] = v
			}
		}
		_, err := dec.Token()
		return m, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	default:
		return tok, nil
	}
}

// FuzzASCII checks the ascii_only escaping: the output is pure ASCII, and
// it decodes to the same value as the input, both for arbitrary JSON and
// for an arbitrary byte string placed inside a JSON string.
func FuzzASCII(f *testing.F) {
	for _, s := range []string{
		`{"a":"café 日本語 😀"}`,
		"{\"a\":\"\u2028\u2029\U0010FFFF\"}",
		"\xff\xfe invalid \xed\xa0\x80 \xf0\x9f\x98",
		`["\ud83d\ude00","\u00e9",1e400]`,
		"plain",
	} {
		f.Add([]byte(s))
	}
	p, err := NewPayload("", nil, 0, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := p.Encode(nil, data)
		assertASCIIRoundTrip(t, data, enc)
		if isASCII(data) && !bytes.Equal(enc, data) {
			t.Fatalf("ASCII input changed: %q -> %q", data, enc)
		}
		rec := appendString([]byte(`{"s":`), string(data))
		rec = append(rec, '}')
		if !json.Valid(rec) {
			t.Fatalf("appendString(%q) is not valid JSON: %q", data, rec)
		}
		assertASCIIRoundTrip(t, rec, p.Encode(nil, rec))
	})
}
