package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz targets: go test -fuzz FuzzCompile ./internal/schema (and
// FuzzValidate). Interesting inputs are kept in testdata/fuzz.

var fuzzSchemas = []string{
	`{}`,
	`true`,
	`false`,
	paymentSchema,
	`{"type":"object","properties":{"a":{"type":"integer","multipleOf":3,"maximum":100}},"patternProperties":{"^x":{"type":"string","minLength":2}},"additionalProperties":{"type":["boolean","null"]}}`,
	`{"type":"array","prefixItems":[{"const":1}],"items":{"anyOf":[{"type":"string"},{"$ref":"#"}]},"contains":{"type":"string"},"maxContains":2,"uniqueItems":true}`,
	`{"$defs":{"n":{"type":"object","properties":{"v":{"type":"number"},"next":{"$ref":"#/$defs/n"}},"unevaluatedProperties":false}},"$ref":"#/$defs/n"}`,
	`{"if":{"required":["a"]},"then":{"dependentRequired":{"a":["b"]}},"else":{"propertyNames":{"maxLength":3}},"not":{"enum":[{"a":1},[1,2],"x",null]}}`,
	`{"$schema":"http://json-schema.org/draft-04/schema#","properties":{"n":{"minimum":0,"exclusiveMinimum":true},"s":{"format":"date-time"}}}`,
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSchemas {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"$ref":"https://example.com/x"}`))
	f.Add([]byte(`{"$ref":"#"}`))
	f.Add([]byte(doubling(12)))
	f.Add([]byte(`{"maximum":1e999999}`))
	f.Add([]byte(`{"pattern":"(a+)+$","format":"regex"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		start := time.Now()
		s, err := Compile(raw)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Compile took %v", d)
		}
		if err != nil {
			if s != nil {
				t.Fatal("a schema and an error")
			}
			if err.Error() == "" || strings.Contains(err.Error(), baseURL) {
				t.Fatalf("error %q", err)
			}
			return
		}
		if s == nil {
			if IsSet(raw) {
				t.Fatal("no schema and no error for a set schema")
			}
			return
		}
		for d, n := range s.fanout {
			if n > MaxFanout {
				t.Fatalf("fan-out %d at depth %d accepted", n, d)
			}
		}
		// A compiled schema validates a few events without trouble.
		for _, ev := range []string{`{}`, `{"a":1,"b":[1,"x",{"c":null}],"x":"yy"}`, `[1,2,3]`, `"s"`, `12345678901234567890`} {
			checkViolations(t, s, []byte(ev))
		}
	})
}

func FuzzValidate(f *testing.F) {
	seeds := []string{
		`{"transactionId":"txn_1","status":"approved","latency_ms":182,"user":{"age":30,"email":"a@example.com"},"tags":["a","b"]}`,
		`{"a":3,"xa":"yy","b":true,"c":null}`,
		`[1,"x",["y"],[]]`,
		`{"v":1,"next":{"v":2,"next":{"v":"x","extra":1}}}`,
		`{"a":1,"abcd":2}`,
		`{"n":0,"s":"2025-02-12T14:32:15Z"}`,
		`{"user":{"first name":"é","~/":1}}`,
		`{"n":1e999999}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	compiled := make([]*Schema, len(fuzzSchemas))
	for i, raw := range fuzzSchemas {
		compiled[i] = mustCompile(f, raw)
	}
	f.Fuzz(func(t *testing.T, which uint8, event []byte) {
		if !json.Valid(event) || len(event) > 64<<10 {
			return
		}
		checkViolations(t, compiled[int(which)%len(compiled)], event)
	})
}

// checkViolations validates event twice: the answers agree, are at most
// MaxViolations, sorted, with URI-fragment pointers and bounded messages.
func checkViolations(t *testing.T, s *Schema, event []byte) {
	t.Helper()
	start := time.Now()
	v := s.Validate(event)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Validate took %v", d)
	}
	if len(v) > MaxViolations {
		t.Fatalf("%d violations", len(v))
	}
	if !slices.IsSortedFunc(v, func(a, b Violation) int { return strings.Compare(a.Pointer, b.Pointer) }) {
		t.Fatalf("unsorted %v", v)
	}
	for _, x := range v {
		if !strings.HasPrefix(x.Pointer, "#") || strings.ContainsAny(x.Pointer, " \"\n") || x.Message == "" || len(x.Message) > maxMessage {
			t.Fatalf("violation %#v", x)
		}
	}
	if again := s.Validate(event); !reflect.DeepEqual(v, again) {
		t.Fatalf("not deterministic: %v then %v", v, again)
	}
}
