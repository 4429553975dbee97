package template

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

const envelope = `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_30921","status":"approved","latency_ms":182},"metadata":{"env":"prod"}}`

func mustCompile(t testing.TB, vars []string, dataset string) *Template {
	t.Helper()
	tpl, err := Compile(vars, json.RawMessage(dataset))
	if err != nil {
		t.Fatalf("Compile(%q, %s): %v", vars, dataset, err)
	}
	return tpl
}

func render(t testing.TB, tpl *Template, event string) string {
	t.Helper()
	out, err := tpl.Render(nil, []byte(event))
	if err != nil {
		t.Fatalf("Render(%s): %v", event, err)
	}
	if !json.Valid(out) {
		t.Fatalf("Render(%s) = %s: not valid JSON", event, out)
	}
	return string(out)
}

func TestRenderVariables(t *testing.T) {
	tests := []struct {
		name  string
		vars  []string
		event string
		want  string
	}{
		{
			name:  "spec example",
			vars:  []string{"timestamp", "source", "event.status", "event.amount"},
			event: envelope,
			want:  `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event.status":"approved","event.amount":null}`,
		},
		{
			name:  "whole objects and numbers",
			vars:  []string{"metadata", "event.latency_ms"},
			event: envelope,
			want:  `{"metadata":{"env":"prod"},"event.latency_ms":182}`,
		},
		{
			name:  "prefix and extension of one path",
			vars:  []string{"event", "event.status"},
			event: envelope,
			want:  `{"event":{"transactionId":"txn_30921","status":"approved","latency_ms":182},"event.status":"approved"}`,
		},
		{
			name:  "deep object",
			vars:  []string{"event.user.email"},
			event: `{"event":{"user":{"email":"a@b.c"}}}`,
			want:  `{"event.user.email":"a@b.c"}`,
		},
		{
			name:  "array index",
			vars:  []string{"event.items.0.sku", "event.items.1", "event.items.2.sku", "event.items.10"},
			event: `{"event":{"items":[{"sku":"A"},{"sku":"B","n":[1,2]},3]}}`,
			want:  `{"event.items.0.sku":"A","event.items.1":{"sku":"B","n":[1,2]},"event.items.2.sku":null,"event.items.10":null}`,
		},
		{
			name:  "numeric segment on an object is a key",
			vars:  []string{"m.0", "m.01"},
			event: `{"m":{"0":"zero","01":"oh-one"}}`,
			want:  `{"m.0":"zero","m.01":"oh-one"}`,
		},
		{
			name:  "non-canonical index does not index arrays",
			vars:  []string{"a.01", "a.-1", "a.1"},
			event: `{"a":[10,11]}`,
			want:  `{"a.01":null,"a.-1":null,"a.1":11}`,
		},
		{
			name:  "descending into a scalar is missing",
			vars:  []string{"source.x", "event.status.0"},
			event: envelope,
			want:  `{"source.x":null,"event.status.0":null}`,
		},
		{
			name:  "string escapes preserved",
			vars:  []string{"s", "u"},
			event: `{"s":"a\"b\\c\n\u00e9\ud83d\ude00\/","u":"é😀"}`,
			want:  `{"s":"a\"b\\c\n\u00e9\ud83d\ude00\/","u":"é😀"}`,
		},
		{
			name:  "literals",
			vars:  []string{"t", "f", "n", "x"},
			event: `{"t":true,"f":false,"n":null,"x":-1.5e+10}`,
			want:  `{"t":true,"f":false,"n":null,"x":-1.5e+10}`,
		},
		{
			name:  "gjson metacharacters are plain key characters",
			vars:  []string{"a*b", "q?", "#", "x|y", "@this", "e.#", "e.k*", "p!=", "~t", "a,b", "{}"},
			event: `{"a*b":1,"q?":2,"#":3,"x|y":4,"@this":5,"e":{"#":6,"k*":7},"p!=":8,"~t":9,"a,b":10,"{}":11,"ab":0,"q":0}`,
			want:  `{"a*b":1,"q?":2,"#":3,"x|y":4,"@this":5,"e.#":6,"e.k*":7,"p!=":8,"~t":9,"a,b":10,"{}":11}`,
		},
		{
			name:  "backslash escapes a dot",
			vars:  []string{`http\.status`, `a\\b`, `x\.y.z`},
			event: `{"http.status":200,"http":{"status":500},"a\\b":"bs","x.y":{"z":true}}`,
			want:  `{"http\\.status":200,"a\\\\b":"bs","x\\.y.z":true}`,
		},
		{
			name:  "keys compared after JSON unescaping",
			vars:  []string{"status", "é", "😀", "a/b", "q\"", "tab\t"},
			event: `{"st\u0061tus":"ok","\u00e9":1,"\ud83d\ude00":2,"a\/b":3,"q\"":4,"tab\t":5}`,
			want:  `{"status":"ok","é":1,"😀":2,"a/b":3,"q\"":4,"tab\t":5}`,
		},
		{
			name:  "unpaired surrogate key decodes to U+FFFD",
			vars:  []string{"\uFFFD", "x\uFFFD"},
			event: `{"\ud800":1,"x` + "\xff" + `":2}`,
			want:  `{"` + "\uFFFD" + `":1,"x` + "\uFFFD" + `":2}`,
		},
		{
			name:  "duplicate keys: first wins",
			vars:  []string{"a", "b.c", "b.d"},
			event: `{"a":1,"b":{"c":1},"a":2,"b":{"c":2,"d":2}}`,
			want:  `{"a":1,"b.c":1,"b.d":null}`,
		},
		{
			name:  "whitespace in the event is compacted away",
			vars:  []string{"o", "s", "n"},
			event: " {\n \"o\" : { \"a\" : [ 1 , \"x y\" , { } ] } ,\t\"s\":\" in string \",\"n\": 2 }\r\n",
			want:  `{"o":{"a":[1,"x y",{}]},"s":" in string ","n":2}`,
		},
		{
			name:  "empty object event",
			vars:  []string{"a"},
			event: `{}`,
			want:  `{"a":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := mustCompile(t, tt.vars, "")
			if got := render(t, tpl, tt.event); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if got := tpl.Paths(); !slices.Equal(got, tt.vars) || tpl.PassThrough() {
				t.Errorf("Paths() = %q, want %q (PassThrough %v)", got, tt.vars, tpl.PassThrough())
			}
		})
	}
}

func TestRenderDataset(t *testing.T) {
	tests := []struct {
		name    string
		dataset string
		event   string
		want    string
		paths   []string
	}{
		{
			name:    "spec example",
			dataset: `{"status": "$event.status", "when": "$timestamp", "app": "runnel", "n": 3}`,
			event:   envelope,
			want:    `{"status":"approved","when":"2025-02-12T14:32:15Z","app":"runnel","n":3}`,
			paths:   []string{"event.status", "timestamp"},
		},
		{
			name:    "keys keep written order, not sorted",
			dataset: `{"z":"$source","a":"$metadata.env","m":"$missing"}`,
			event:   envelope,
			want:    `{"z":"payments-app","a":"prod","m":null}`,
			paths:   []string{"source", "metadata.env", "missing"},
		},
		{
			name:    "dollar escape and literal kinds",
			dataset: `{"d":"$$event.status","dd":"$$$x","lit":"no $ at start","num":1.50,"b":true,"nl":null,"obj":{"k":"$event.status","a":[1, 2]},"arr":["$x"]}`,
			event:   envelope,
			want:    `{"d":"$event.status","dd":"$$x","lit":"no $ at start","num":1.50,"b":true,"nl":null,"obj":{"k":"$event.status","a":[1,2]},"arr":["$x"]}`,
			paths:   []string{},
		},
		{
			name:    "escaped reference string is still a reference",
			dataset: `{"s":"\u0024source"}`,
			event:   envelope,
			want:    `{"s":"payments-app"}`,
			paths:   []string{"source"},
		},
		{
			name:    "same path twice, reported once",
			dataset: `{"a":"$event.status","b":"$event.status","c":"$event"}`,
			event:   envelope,
			want:    `{"a":"approved","b":"approved","c":{"transactionId":"txn_30921","status":"approved","latency_ms":182}}`,
			paths:   []string{"event.status", "event"},
		},
		{
			name:    "keys needing escapes, no HTML escaping",
			dataset: `{"a\"b":"$source","<tag>&":"x<y>","é\n":1}`,
			event:   envelope,
			want:    `{"a\"b":"payments-app","<tag>&":"x<y>","é\n":1}`,
			paths:   []string{"source"},
		},
		{
			name:    "literal string escapes kept",
			dataset: `{"s":"\u00e9\n\"","r":"$$\u00e9"}`,
			event:   envelope,
			want:    `{"s":"\u00e9\n\"","r":"$é"}`,
			paths:   []string{},
		},
		{
			name:    "array reference",
			dataset: `{"first":"$items.0","second_sku":"$items.1.sku"}`,
			event:   `{"items":[{"sku":"A"},{"sku":"B"}]}`,
			want:    `{"first":{"sku":"A"},"second_sku":"B"}`,
			paths:   []string{"items.0", "items.1.sku"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := mustCompile(t, nil, tt.dataset)
			if got := render(t, tpl, tt.event); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if got := tpl.Paths(); got == nil || !slices.Equal(got, tt.paths) {
				t.Errorf("Paths() = %#v, want %q", got, tt.paths)
			}
			if tpl.PassThrough() {
				t.Error("PassThrough() = true for a dataset")
			}
		})
	}
}

func TestRenderPassThrough(t *testing.T) {
	for _, tc := range []struct {
		vars    []string
		dataset string
	}{
		{nil, ""},
		{[]string{}, ""},
		{nil, "null"},
		{nil, "  "},
		{[]string{}, " null "},
	} {
		tpl := mustCompile(t, tc.vars, tc.dataset)
		if p := tpl.Paths(); p != nil || !tpl.PassThrough() {
			t.Errorf("Paths() = %q, PassThrough() = %v; want nil, true", p, tpl.PassThrough())
		}
		for _, ev := range []string{envelope, `{}`, `{"a" : [1, 2 ], "b":"\u00e9"}`} {
			if got := render(t, tpl, ev); got != ev {
				t.Errorf("pass-through changed the event:\n got %s\nwant %s", got, ev)
			}
		}
		// Surrounding whitespace is not part of the event.
		if got := render(t, tpl, " \n"+envelope+"\r\n"); got != envelope {
			t.Errorf("pass-through kept surrounding whitespace: %q", got)
		}
	}
}

func TestRenderAppends(t *testing.T) {
	tpl := mustCompile(t, []string{"source"}, "")
	dst := []byte("prefix|")
	dst, err := tpl.Render(dst, []byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(dst), `prefix|{"source":"payments-app"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRenderInvalidEvent(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	tooDeep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	deepArr := `{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + "}"
	tooDeepArr := `{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + "}"
	if !json.Valid([]byte(deep)) || json.Valid([]byte(tooDeep)) || !json.Valid([]byte(deepArr)) || json.Valid([]byte(tooDeepArr)) {
		t.Fatal("encoding/json nesting limit is not the assumed one")
	}
	invalid := []string{
		``, ` `, `null`, `[]`, `"s"`, `1`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`,
		`{"a":1}x`, `{"a":1}{}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`,
		`{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`,
		"{\"a\":\"\x01\"}", `{"a":"unterminated}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{a:1}`,
		`{'a':1}`, `{"a":1 "b":2}`, `{"a":NaN}`, `{"a":Infinity}`, "\ufeff{}", tooDeep, tooDeepArr,
	}
	for _, vars := range [][]string{nil, {"a"}, {"a.0.b", "c"}} {
		tpl := mustCompile(t, vars, "")
		for _, ev := range invalid {
			out, err := tpl.Render([]byte("keep"), []byte(ev))
			if !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("vars %q: Render(%.40q) error = %v, want ErrInvalidEvent", vars, ev, err)
			}
			if string(out) != "keep" {
				t.Errorf("vars %q: Render(%.40q) changed dst to %.40q", vars, ev, out)
			}
		}
		// Valid edge cases, including invalid UTF-8 (which encoding/json accepts).
		for _, ev := range []string{deep, deepArr, `{"a":-0.0e-0}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\xfe\"}", "{\"\xff\":1}", `{"a":[[],{},""]}`} {
			if _, err := tpl.Render(nil, []byte(ev)); err != nil {
				t.Errorf("vars %q: Render(%.40q): %v", vars, ev, err)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		vars    []string
		dataset string
		want    string
	}{
		{[]string{"a"}, `{"x":"$a"}`, "variables and dataset are mutually exclusive"},
		{[]string{"a", "b", ""}, "", "variables[2]: empty path"},
		{[]string{"a..b"}, "", `variables[0]: path "a..b": empty segment`},
		{[]string{".a"}, "", `variables[0]: path ".a": empty segment`},
		{[]string{"a."}, "", `variables[0]: path "a.": empty segment`},
		{[]string{"."}, "", `variables[0]: path ".": empty segment`},
		{[]string{`a\`}, "", `variables[0]: path "a\\": trailing backslash`},
		{[]string{"a\xff"}, "", `variables[0]: path "a\xff": invalid UTF-8`},
		{[]string{"a", "b", "a"}, "", `variables[2]: "a" duplicates variables[0]`},
		{nil, `{"x":"$"}`, `dataset."x": invalid reference "$": empty path`},
		{nil, `{"ok":"$a","x":"$a..b"}`, `dataset."x": invalid reference "$a..b": path "a..b": empty segment`},
		{nil, `{"x":"$a.b."}`, `dataset."x": invalid reference "$a.b.": path "a.b.": empty segment`},
		{nil, `{"x":1,"x":2}`, `dataset."x": duplicate key`},
		{nil, `{"":"$a"}`, `dataset."": empty key`},
		{nil, `{}`, "dataset: empty object (omit dataset to send events as stored)"},
		{nil, `["$a"]`, "dataset: must be a JSON object"},
		{nil, `"$a"`, "dataset: must be a JSON object"},
		{nil, `{"x":}`, `dataset."x": invalid JSON`},
		{nil, `{"x":1`, "dataset: invalid JSON"},
		{nil, `{"x":1}{}`, "dataset: unexpected data after the object"},
		{nil, `{x:1}`, "dataset: invalid JSON"},
		{nil, `{"x":1 "y":2}`, "dataset: invalid JSON"},
	}
	for _, tt := range tests {
		tpl, err := Compile(tt.vars, json.RawMessage(tt.dataset))
		if err == nil {
			t.Errorf("Compile(%q, %s) = %v, want error %q", tt.vars, tt.dataset, tpl, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Compile(%q, %s) error = %q, want %q", tt.vars, tt.dataset, err, tt.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want []segment
	}{
		{"a", []segment{{"a", -1}}},
		{"a.b.c", []segment{{"a", -1}, {"b", -1}, {"c", -1}}},
		{"items.0.x.17", []segment{{"items", -1}, {"0", 0}, {"x", -1}, {"17", 17}}},
		{"a.00.01.-1.1e3", []segment{{"a", -1}, {"00", -1}, {"01", -1}, {"-1", -1}, {"1e3", -1}}},
		{"a.999999999.1000000000", []segment{{"a", -1}, {"999999999", 999999999}, {"1000000000", -1}}},
		{`a\.b.c`, []segment{{"a.b", -1}, {"c", -1}}},
		{`\.`, []segment{{".", -1}}},
		{`a\\.b`, []segment{{`a\`, -1}, {"b", -1}}},
		{`\a\*`, []segment{{"a*", -1}}},
		{`\0`, []segment{{"0", 0}}},
		{" a . b ", []segment{{" a ", -1}, {" b ", -1}}},
	}
	for _, tt := range tests {
		got, err := parsePath(tt.path)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parsePath(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
}

func TestPathsIsACopy(t *testing.T) {
	tpl := mustCompile(t, []string{"a", "b"}, "")
	tpl.Paths()[0] = "x"
	if got := tpl.Paths()[0]; got != "a" {
		t.Errorf("Paths() exposes internal state: %q", got)
	}
}

func TestRenderManyPaths(t *testing.T) {
	// More trie nodes than fit on the stack: the pooled span buffer is used.
	var vars []string
	var ev strings.Builder
	ev.WriteString("{")
	for i := range 3 * stackSpans {
		if i > 0 {
			ev.WriteString(",")
		}
		vars = append(vars, fmt.Sprintf("k%d.v", i))
		fmt.Fprintf(&ev, `"k%d":{"v":%d}`, i, i)
	}
	ev.WriteString("}")
	tpl := mustCompile(t, vars, "")
	for range 3 { // reused pool buffers must be cleared
		var m map[string]int
		if err := json.Unmarshal([]byte(render(t, tpl, ev.String())), &m); err != nil {
			t.Fatal(err)
		}
		for i, v := range vars {
			if m[v] != i {
				t.Fatalf("%s = %d, want %d", v, m[v], i)
			}
		}
		if got := render(t, tpl, `{"k1":{"v":1}}`); !strings.Contains(got, `"k0.v":null,"k1.v":1,"k2.v":null`) {
			t.Fatalf("stale values from a previous render: %s", got)
		}
	}
}

func TestRenderAllocs(t *testing.T) {
	vars := []string{"timestamp", "source", "event.status", "event.amount", "event", "metadata.env"}
	cases := map[string]*Template{
		"variables":    mustCompile(t, vars, ""),
		"dataset":      mustCompile(t, nil, `{"s":"$event.status","app":"runnel","m":"$metadata"}`),
		"pass-through": mustCompile(t, nil, ""),
	}
	spaced := []byte(`{ "timestamp" : 1, "event" : { "status" : [ 1, 2 ] } }`)
	for name, tpl := range cases {
		dst := make([]byte, 0, 1024)
		for _, ev := range [][]byte{[]byte(envelope), spaced} {
			if n := testing.AllocsPerRun(100, func() {
				if _, err := tpl.Render(dst[:0], ev); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%s: Render allocates %.1f times per event", name, n)
			}
		}
	}
}

func TestRenderConcurrent(t *testing.T) {
	tpl := mustCompile(t, []string{"source", "event.status", "metadata"}, "")
	want := render(t, tpl, envelope)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var dst []byte
			for range 1000 {
				var err error
				dst, err = tpl.Render(dst[:0], []byte(envelope))
				if err != nil || string(dst) != want {
					t.Errorf("concurrent Render = %s, %v", dst, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSpecialMask(t *testing.T) {
	first := func(w [8]byte) int { // reference: index of the first byte needing attention
		for i, c := range w {
			if !strSafe[c] {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		m := specialMask(binary.LittleEndian.Uint64(w[:]))
		got := 8
		if m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if want := first(w); got != want {
			t.Fatalf("specialMask(%q): first special byte %d, want %d", w, got, want)
		}
	}
	for c := range 256 {
		for pos := range 8 {
			w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			w[pos] = byte(c)
			check(w)
			for c2 := range 256 { // a second byte after it must not disturb it
				if pos < 7 {
					w[pos+1] = byte(c2)
					check(w)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		check(w)
	}
}
