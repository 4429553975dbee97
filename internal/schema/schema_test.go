package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustCompile(t testing.TB, raw string) *Schema {
	t.Helper()
	s, err := Compile(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("Compile(%.80s): %v", raw, err)
	}
	if s == nil {
		t.Fatalf("Compile(%.80s): no schema", raw)
	}
	return s
}

func TestCompileNone(t *testing.T) {
	for _, raw := range []string{"", "  ", "null", " null\n"} {
		s, err := Compile(json.RawMessage(raw))
		if s != nil || err != nil {
			t.Errorf("Compile(%q) = %v, %v; want no schema", raw, s, err)
		}
		if v := s.Validate([]byte(`{"a":1}`)); v != nil {
			t.Errorf("nil schema validated with %v", v)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, raw := range []string{
		`true`,
		`{}`,
		`{"type":"object","required":["status"],"properties":{"status":{"enum":["approved","declined"]},"latency_ms":{"type":"integer","minimum":0}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":{"type":"string"}}`,
		`{"$schema":"https://json-schema.org/draft/2019-09/schema","$recursiveAnchor":true,"type":"object","additionalProperties":{"$recursiveRef":"#"}}`,
		`{"$defs":{"money":{"type":"object","properties":{"amount":{"type":"number"},"currency":{"type":"string","pattern":"^[A-Z]{3}$"}}}},"properties":{"price":{"$ref":"#/$defs/money"},"tax":{"$ref":"#/$defs/money"}}}`,
		// A recursive tree: each level goes one value deeper.
		`{"type":"object","properties":{"value":{"type":"number"},"children":{"type":"array","items":{"$ref":"#"}}}}`,
		// Embedded resources with their own $id are found without loading.
		`{"$id":"https://example.com/order","$defs":{"line":{"$id":"line","type":"object"}},"properties":{"lines":{"items":{"$ref":"https://example.com/line"}}}}`,
		`{"$id":"https://example.com/tree","$dynamicAnchor":"node","type":"object","properties":{"kids":{"type":"array","items":{"$dynamicRef":"#node"}}}}`,
		`{"properties":{"n":{"multipleOf":0.01,"maximum":1e300}}}`,
		doubling(7), // 510 subschemas for one value: allowed
		`{"oneOf":[{"required":["a"]},{"required":["b"]}],"if":{"properties":{"a":{"const":1}}},"then":{"required":["c"]},"else":{"not":{"required":["c"]}}}`,
	} {
		mustCompile(t, raw)
	}
}

// doubling returns $defs d0…d(n-1) where each applies the next twice to
// the same value: 2^n evaluations of d(n).
func doubling(n int) string {
	var b strings.Builder
	b.WriteString(`{"$defs":{`)
	for i := range n {
		next := strconv.Itoa(i + 1)
		fmt.Fprintf(&b, `"d%d":{"allOf":[{"$ref":"#/$defs/d%s"},{"$ref":"#/$defs/d%s"}]},`, i, next, next)
	}
	fmt.Fprintf(&b, `"d%d":{"type":"string"}},"$ref":"#/$defs/d0"}`, n)
	return b.String()
}

func TestCompileRejects(t *testing.T) {
	big := `{"description":"` + strings.Repeat("x", MaxSize) + `"}`
	deep := strings.Repeat(`{"not":`, MaxSchemaDepth) + `{}` + strings.Repeat(`}`, MaxSchemaDepth)
	for _, c := range []struct{ name, raw, want string }{
		{"invalid JSON", `{"type":`, "is not valid JSON"},
		{"trailing data", `{} {}`, "is not valid JSON: data after the top-level value"},
		{"array", `[{"type":"string"}]`, "must be a JSON Schema object (or true or false), got an array"},
		{"string", `"object"`, "got a string"},
		{"too large", big, "more than the 262144 (256KiB) a schema may have"},
		{"too deep", deep, "is nested more than 128 levels deep"},
		{"bad type", `{"type":"strin"}`, "is not a valid JSON Schema: at /type: value must be one of 'array', 'boolean'"},
		{"bad keyword value", `{"properties":{"age":{"minimum":"0"}}}`, "at /properties/age/minimum: got string, want number"},
		{"remote $ref", `{"$ref":"https://example.com/schema.json"}`, `refers to "https://example.com/schema.json", which is not part of the schema`},
		{"file $ref", `{"properties":{"a":{"$ref":"file:///etc/passwd"}}}`, `refers to "file:///etc/passwd"`},
		{"relative $ref", `{"$ref":"common.json#/$defs/x"}`, `refers to "common.json"`},
		{"remote $schema", `{"$schema":"https://example.com/my-meta"}`, `refers to "https://example.com/my-meta"`},
		{"missing $defs", `{"$ref":"#/$defs/nope"}`, `cannot be compiled: json-pointer in "#/$defs/nope" not found`},
		{"look-ahead", `{"pattern":"^(?=a)"}`, "at /pattern: '^(?=a)' is not valid regex"},
		{"self $ref", `{"$ref":"#"}`, "applies the subschema at / to the same value again"},
		{"mutual cycle", `{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"}]},"b":{"not":{"$ref":"#/$defs/a"}}},"$ref":"#/$defs/a"}`, "to the same value again"},
		{"exponential", doubling(40), "is too complex: 4398046511102 subschemas could apply to one value of an event (at most 1000)"},
		{"saturated", doubling(80), "is too complex: astronomically many subschemas"},
		{"wide", doubling(8), "is too complex: 1022 subschemas"},
		{"exponential by depth", `{"items":{"anyOf":[{"$ref":"#"},{"$ref":"#"}]}}`, "is too complex"},
		{"huge exponent", `{"maximum":1e999999}`, "at /maximum: number 1e999999 has an exponent beyond ±1000"},
		{"long number", `{"enum":[` + strings.Repeat("9", 1001) + `]}`, "at /enum/0: number of 1001 characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s, err := Compile(json.RawMessage(c.raw))
			if err == nil {
				t.Fatalf("compiled (fan-out %v), want an error saying %q", s.fanout[:3], c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "runnel.invalid") {
				t.Fatalf("error %q shows the internal base URL", err)
			}
			if d := time.Since(start); d > 10*time.Second { // a hang, not a slow machine
				t.Fatalf("took %v", d)
			}
		})
	}
}

// A large but honest schema compiles quickly.
func TestCompileLargeSchema(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := 0; b.Len() < MaxSize-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"field_%d":{"type":"string","maxLength":%d}`, i, i+1)
	}
	b.WriteString(`}}`)
	start := time.Now()
	s := mustCompile(t, b.String())
	if d := time.Since(start); d > 20*time.Second { // a hang, not a slow machine
		t.Fatalf("compiling %d bytes took %v", b.Len(), d)
	}
	if v := s.Validate([]byte(`{"field_0":"ab","field_7":"ok"}`)); len(v) != 1 || v[0].Pointer != "#/field_0" || v[0].Keyword != "maxLength" {
		t.Fatalf("violations %v", v)
	}
}

const paymentSchema = `{
  "type": "object",
  "required": ["transactionId", "status"],
  "properties": {
    "transactionId": {"type": "string", "pattern": "^txn_[0-9]+$"},
    "status": {"enum": ["approved", "declined"]},
    "latency_ms": {"type": "integer", "minimum": 0},
    "user": {
      "type": "object",
      "properties": {
        "age": {"type": "integer", "maximum": 150},
        "email": {"type": "string", "format": "email"},
        "first name": {"type": "string"}
      },
      "additionalProperties": false
    },
    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
    "card": {"oneOf": [
      {"type": "object", "required": ["last4"], "properties": {"last4": {"type": "string", "maxLength": 4}}},
      {"type": "object", "required": ["iban"]}
    ]},
    "id": {"maximum": 9007199254740993}
  }
}`

func TestValidate(t *testing.T) {
	s := mustCompile(t, paymentSchema)
	for _, c := range []struct {
		name, event string
		want        []Violation
	}{
		{"valid", `{"transactionId":"txn_1","status":"approved","latency_ms":182,"user":{"age":30,"email":"a@example.com"},"tags":["a","b"]}`, nil},
		{"wrong type", `{"transactionId":"txn_1","status":"approved","latency_ms":"fast"}`,
			[]Violation{{"#/latency_ms", "type", "got string, want integer"}}},
		{"missing", `{"status":"approved"}`,
			[]Violation{{"#", "required", "missing property 'transactionId'"}}},
		{"nested", `{"transactionId":"txn_1","status":"approved","user":{"age":151.5}}`,
			[]Violation{{"#/user/age", "type", "got number, want integer"}}},
		{"additional", `{"transactionId":"txn_1","status":"approved","user":{"nick":"x"}}`,
			[]Violation{{"#/user", "additionalProperties", "additional properties 'nick' not allowed"}}},
		{"format", `{"transactionId":"txn_1","status":"approved","user":{"email":"nope"}}`,
			[]Violation{{"#/user/email", "format", "'nope' is not valid email: missing @"}}},
		{"escaped pointer", `{"transactionId":"txn_1","status":"approved","user":{"first name":7}}`,
			[]Violation{{"#/user/first%20name", "type", "got number, want string"}}},
		{"enum and pattern", `{"transactionId":"t1","status":"pending"}`,
			[]Violation{{"#/status", "enum", "value must be one of 'approved', 'declined'"}, {"#/transactionId", "pattern", "'t1' does not match pattern '^txn_[0-9]+$'"}}},
		{"unique", `{"transactionId":"txn_1","status":"approved","tags":["a","a"]}`,
			[]Violation{{"#/tags", "uniqueItems", "items 0 and 1 are equal"}}},
		{"oneOf none", `{"transactionId":"txn_1","status":"approved","card":{"last4":"12345"}}`,
			[]Violation{{"#/card", "oneOf", "matches none of the 2 alternatives of oneOf; the closest (oneOf/0) fails at #/card/last4: must be at most 4 characters long, got 5"}}},
		{"oneOf both", `{"transactionId":"txn_1","status":"approved","card":{"last4":"1234","iban":"x"}}`,
			[]Violation{{"#/card", "oneOf", "matches more than one alternative of oneOf (oneOf/0 and oneOf/1)"}}},
		// Big integers are compared exactly (a float64 would round
		// 9007199254740994 to …992 and accept it).
		{"big int ok", `{"transactionId":"txn_1","status":"approved","id":9007199254740993}`, nil},
		{"big int over", `{"transactionId":"txn_1","status":"approved","id":9007199254740994}`,
			[]Violation{{"#/id", "maximum", "must be at most 9007199254740993, got 9007199254740994"}}},
		{"not an object", `[1,2]`, []Violation{{"#", "type", "got array, want object"}}},
		{"not JSON", `{"a":`, []Violation{{"#", "type", "the event is not valid JSON: unexpected EOF"}}},
		{"huge number", `{"transactionId":"txn_1","status":"approved","latency_ms":1e999999}`,
			[]Violation{{"#/latency_ms", "type", "number 1e999999 has an exponent beyond ±1000, which cannot be checked"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := s.Validate([]byte(c.event))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("violations\n got %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func TestValidateAtMostFiveSorted(t *testing.T) {
	s := mustCompile(t, `{"additionalProperties":{"type":"integer"}}`)
	ev := `{"h":"x","g":"x","f":"x","e":"x","d":"x","c":"x","b":"x","a":"x"}`
	first := s.Validate([]byte(ev))
	if len(first) != MaxViolations {
		t.Fatalf("%d violations, want %d: %v", len(first), MaxViolations, first)
	}
	for i, p := range []string{"#/a", "#/b", "#/c", "#/d", "#/e"} {
		if first[i].Pointer != p {
			t.Fatalf("violation %d at %s, want %s: %v", i, first[i].Pointer, p, first)
		}
	}
	for range 20 {
		if again := s.Validate([]byte(ev)); !reflect.DeepEqual(again, first) {
			t.Fatalf("order changed: %v then %v", first, again)
		}
	}
}

func TestValidateEventBounds(t *testing.T) {
	s := mustCompile(t, `{"items":{"anyOf":[`+strings.TrimSuffix(strings.Repeat(`{"type":"string"},`, 900), ",")+`]}}`)
	if s.fanout[1] < 900 {
		t.Fatalf("fan-out %v", s.fanout[:2])
	}
	ev := "[" + strings.TrimSuffix(strings.Repeat(`"x",`, 5000), ",") + "]"
	start := time.Now()
	v := s.Validate([]byte(ev))
	if len(v) != 1 || v[0].Keyword != "maxWork" || v[0].Pointer != "#" || !strings.Contains(v[0].Message, "too large to check against this schema") {
		t.Fatalf("violations %v", v)
	}
	if d := time.Since(start); d > 5*time.Second { // validating would take much longer
		t.Fatalf("refusing took %v", d)
	}
	// Smaller events of the same kind are validated.
	if v := s.Validate([]byte(`["x","y"]`)); v != nil {
		t.Fatalf("violations %v", v)
	}

	deep := mustCompile(t, `{}`)
	ev = strings.Repeat("[", MaxEventDepth+2) + strings.Repeat("]", MaxEventDepth+2)
	if v := deep.Validate([]byte(ev)); len(v) != 1 || v[0].Keyword != "maxDepth" {
		t.Fatalf("violations %v", v)
	}
	long := `{"n":` + strings.Repeat("1", MaxNumberLen+1) + `}`
	if v := deep.Validate([]byte(long)); len(v) != 1 || v[0].Pointer != "#/n" || !strings.Contains(v[0].Message, "characters is longer than") {
		t.Fatalf("violations %v", v)
	}
}

func TestMessagesAreBounded(t *testing.T) {
	s := mustCompile(t, `{"properties":{"s":{"pattern":"^a$"}}}`)
	v := s.Validate([]byte(`{"s":"` + strings.Repeat("é", 10000) + `"}`))
	if len(v) != 1 || len(v[0].Message) > maxMessage || !strings.HasSuffix(v[0].Message, "…") {
		t.Fatalf("violations %v", v)
	}
}

func TestPointer(t *testing.T) {
	for _, c := range []struct {
		tokens []string
		want   string
	}{
		{nil, "#"},
		{[]string{"user", "age"}, "#/user/age"},
		{[]string{"a/b", "m~n"}, "#/a~1b/m~0n"},
		{[]string{"first name", "100%", "é"}, "#/first%20name/100%25/%C3%A9"},
		{[]string{"0", ""}, "#/0/"},
		{[]string{"a:b@c", "q?x"}, "#/a:b@c/q?x"},
	} {
		if got := Pointer(c.tokens); got != c.want {
			t.Errorf("Pointer(%q) = %q, want %q", c.tokens, got, c.want)
		}
	}
}

func TestSummary(t *testing.T) {
	v := []Violation{{"#/a", "type", "got string, want integer"}, {"#", "required", "missing property 'b'"}}
	if got, want := Summary(v), "#/a (type): got string, want integer; # (required): missing property 'b'"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}

func BenchmarkValidate(b *testing.B) {
	s := mustCompile(b, paymentSchema)
	ev := []byte(`{"transactionId":"txn_30921","status":"approved","latency_ms":182,"user":{"age":30,"email":"a@example.com"},"tags":["a","b"]}`)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if v := s.Validate(ev); v != nil {
			b.Fatal(v)
		}
	}
}
