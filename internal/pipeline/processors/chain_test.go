package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// touch is a chain that modifies every event, so ApplyJSON re-encodes it.
const touch = `[{'set':{'field':'zz','value':1}},{'remove':{'fields':['zz']}}]`

func TestRoundTrip(t *testing.T) {
	c := mustCompile(t, touch, Options{})
	for in, want := range map[string]string{
		`{"a":1}`: `{"a":1}`,
		` { "b" : [ 1 , 2.50 , -0 , 1e400 , 12345678901234567890 ] , "a" : { } } `: `{"b":[1,2.50,-0,1e400,12345678901234567890],"a":{}}`,
		`{"s":"\u00e9\ud83d\ude00\/\b\f\n\r\t\u0001\"\\"}`:                         `{"s":"é😀/\u0008\u000c\n\r\t\u0001\"\\"}`,
		`{"lone":"\ud800x","bad":"` + "\xff" + `"}`:                                "{\"lone\":\"\ufffdx\",\"bad\":\"\ufffd\"}",
		`{"html":"<a&b>","ls":"\u2028"}`:                                           `{"html":"<a&b>","ls":"` + "\u2028" + `"}`,
		`{"dup":1,"x":true,"dup":2}`:                                               `{"dup":1,"x":true}`,
		`{"n":null,"t":true,"f":false,"e":[],"o":{"p":[{}]}}`:                      `{"n":null,"t":true,"f":false,"e":[],"o":{"p":[{}]}}`,
	} {
		out, res, err := c.ApplyJSON(context.Background(), nil, []byte(in))
		if err != nil || !res.Modified {
			t.Fatalf("%s: %v %+v", in, err, res)
		}
		if string(out) != want {
			t.Errorf("%s:\n got %s\nwant %s", in, out, want)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":1} x`, `{"a":tru}`, `{'a':1}`, strings.Repeat("[", 10001)} {
		_, res, err := c.ApplyJSON(context.Background(), nil, []byte(bad))
		if !errors.Is(err, ErrInvalidEvent) || res.Action != Drop {
			t.Errorf("%.30q: %v %+v", bad, err, res)
		}
	}
	deep := `{"a":` + strings.Repeat(`[`, 9998) + strings.Repeat(`]`, 9998) + `}`
	if _, _, err := c.ApplyJSON(context.Background(), nil, []byte(deep)); err != nil {
		t.Errorf("nesting 9999: %v", err)
	}
}

// TestDecoderMatchesEncodingJSON decodes documents with both decoders.
func TestDecoderMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{"a":[1,{"b":null}],"c":"x\"y","d":-1.5e-7,"e":{"f":{"g":[true,false]}}}`,
		`{"":"","\u0000":"\u0000","k\u00e9y":"v"}`,
		`{"a":"` + strings.Repeat("é", 100) + `","b":"` + strings.Repeat("x", 1000) + `"}`,
	}
	for _, d := range docs {
		var a arena
		v, err := decodeJSON(d, &a)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		got := appendValue(nil, v)
		if !jsonEqual(t, got, []byte(d)) {
			t.Errorf("%s: got %s", d, got)
		}
	}
}

func TestApplyMap(t *testing.T) {
	c := mustCompile(t, `[{'parse':{'field':'raw','format':'json','target':'p'}},{'set':{'field':'n2','expr':'p.n + 1'}},{'filter':{'if':'p.n < 100'}}]`, Options{Vars: []string{"raw", "p"}})
	nested := map[string]any{"keep": "me"}
	ev := map[string]any{"raw": `{"n":41,"big":12345678901234567890}`, "nested": nested, "f": 1.5, "i": 7, "u": uint64(1 << 63), "list": []any{json.Number("1"), "x"}}
	res, err := c.Apply(context.Background(), ev)
	if err != nil || res.Action != Keep {
		t.Fatal(res, err)
	}
	p := ev["p"].(map[string]any)
	if p["n"] != json.Number("41") || p["big"] != json.Number("12345678901234567890") {
		t.Errorf("numbers: %#v", p)
	}
	if ev["n2"] != json.Number("42") || ev["f"] != json.Number("1.5") || ev["i"] != json.Number("7") || ev["u"] != json.Number("9223372036854775808") {
		t.Errorf("ev = %#v", ev)
	}
	nested["keep"] = "changed"
	if ev["nested"].(map[string]any)["keep"] != "me" {
		t.Error("Apply shares the caller's nested map")
	}
	// Dropped: the map is left as it was.
	ev2 := map[string]any{"raw": `{"n":500}`}
	res, err = c.Apply(context.Background(), ev2)
	if err != nil || res.Action != Drop || len(ev2) != 1 {
		t.Errorf("%+v %v %v", res, err, ev2)
	}
	// Failed: likewise.
	ev3 := map[string]any{"raw": `{`}
	if _, err := c.Apply(context.Background(), ev3); err == nil || len(ev3) != 1 {
		t.Errorf("%v %v", err, ev3)
	}
	// Unrepresentable input.
	if _, err := c.Apply(context.Background(), map[string]any{"x": make(chan int)}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("chan: %v", err)
	}
	// Other Go types go through encoding/json.
	ev4 := map[string]any{"raw": `{"n":1}`, "s": struct{ A int }{3}, "m": map[string]string{"k": "v"}}
	if _, err := c.Apply(context.Background(), ev4); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ev4["s"]) != "map[A:3]" || fmt.Sprint(ev4["m"]) != "map[k:v]" {
		t.Errorf("%#v", ev4)
	}
}

func TestUnmodifiedIsPassedThrough(t *testing.T) {
	c := mustCompile(t, `[{'filter':{'if':'true'}},{'sample':{'percent':100}},{'remove':{'fields':['nope']}},{'mask':{'detectors':['email']}}]`, Options{})
	in := `{ "b" : 1, "a":"no e-mail here", "b": 2 }`
	out, res, err := c.ApplyJSON(context.Background(), []byte("prefix:"), []byte(in))
	if err != nil || res.Modified || string(out) != "prefix:"+in {
		t.Errorf("%s %+v %v", out, res, err)
	}
}

func TestErrorType(t *testing.T) {
	c := mustCompile(t, `[{'set':{'field':'a','value':1}},{'parse':{'field':'raw','format':'kv'}}]`, Options{})
	out, res, err := c.ApplyJSON(context.Background(), []byte("keep"), []byte(`{"raw":"=x"}`))
	var pe *Error
	if !errors.As(err, &pe) || pe.Index != 1 || pe.Name != "parse" || res.Processor != 1 || res.Action != Drop || string(out) != "keep" {
		t.Fatalf("%v %+v %s", err, res, out)
	}
	if err.Error() != "processors[1] (parse): field raw: empty key at offset 0" {
		t.Errorf("message %q", err.Error())
	}
}

func TestStatsConcurrent(t *testing.T) {
	c := mustCompile(t, `[{'mask':{'fields':['e']}},{'filter':{'if':'event.n % 2 == 0'}},{'parse':{'field':'raw','format':'json'}}]`, Options{})
	if got := c.Names(); fmt.Sprint(got) != "[mask filter parse]" {
		t.Errorf("names %v", got)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range 1000 {
				raw := `"{}"`
				if i%4 == 0 {
					raw = `"{"`
				}
				ev := fmt.Sprintf(`{"e":"x","event":{"n":%d},"raw":%s}`, g*1000+i, raw)
				buf, _, _ = c.ApplyJSON(context.Background(), buf[:0], []byte(ev))
			}
		}()
	}
	wg.Wait()
	st := c.Stats()
	// 8000 events; half are odd (filtered); of the even half, i%4==0 fail
	// parsing (2000).
	want := []ProcessorStats{
		{Name: "mask", Index: 0, Processed: 8000, Masked: 8000},
		{Name: "filter", Index: 1, Processed: 8000, Dropped: 4000},
		{Name: "parse", Index: 2, Processed: 4000, Errors: 2000, ParseErrors: 2000},
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
}

func TestPathSyntax(t *testing.T) {
	for _, p := range []string{"a", "a.b", `a\.b.c`, "items.0", `x\\y`} {
		if _, err := parsePath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"", ".a", "a.", "a..b", `a\`, "\xff"} {
		if _, err := parsePath(p); err == nil {
			t.Errorf("%q parsed", p)
		}
	}
	pp, _ := parsePath(`a\.b.01.1`)
	if len(pp.segs) != 3 || pp.segs[0].key != "a.b" || pp.segs[1].index != -1 || pp.segs[2].index != 1 {
		t.Errorf("%+v", pp.segs)
	}
}

func TestRoutes(t *testing.T) {
	routes := []Route{
		{Path: "destinations[0].route", Expr: `event.status == "declined"`},
		{Path: "destinations[1].route"}, // everything
		{Path: "destinations[2].route", Expr: `event.amount > 100`},
	}
	c := mustCompile(t, `[{'filter':{'if':'event.status != \'spam\''}}]`, Options{Routes: routes})
	cases := []struct {
		ev     string
		routed []bool
		errs   bool
	}{
		{`{"event":{"status":"declined","amount":5}}`, []bool{true, true, false}, false},
		{`{"event":{"status":"ok","amount":500}}`, []bool{false, true, true}, false},
		{`{"event":{"status":"ok","amount":"x"}}`, []bool{false, true, false}, true},
		{`{"event":{"status":"spam","amount":500}}`, []bool{false, false, false}, false},
	}
	for _, tc := range cases {
		_, res, err := c.ApplyJSON(t.Context(), nil, []byte(tc.ev))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.routed {
			if res.Routed(i) != want {
				t.Errorf("%s: Routed(%d) = %v", tc.ev, i, !want)
			}
		}
		var re *RouteError
		if (res.RouteErr != nil) != tc.errs || (tc.errs && (!errors.As(res.RouteErr, &re) || re.Index != 2)) {
			t.Errorf("%s: RouteErr %v", tc.ev, res.RouteErr)
		}
	}
	rs := c.RouteStats()
	want := "[{0 1 2 0} {1 3 0 0} {2 1 1 1}]"
	if fmt.Sprint(rs) != want {
		t.Errorf("route stats %v, want %s", rs, want)
	}
	// Routes without processors still evaluate; Apply does too.
	r := mustCompile(t, `[]`, Options{Routes: routes[:1]})
	res, err := r.Apply(t.Context(), map[string]any{"event": map[string]any{"status": "declined"}})
	if err != nil || !res.Routed(0) || res.Routed(1) {
		t.Errorf("%+v %v", res, err)
	}
	// Errors name the route's path.
	_, errs := Compile(nil, Options{Routes: []Route{{Path: "destinations[3].route", Expr: "event.x =="}, {Expr: "1"}}})
	if len(errs) != 2 || errs[0].Path != "destinations[3].route" || !strings.Contains(errs[0].Message, "Syntax error") ||
		errs[1].Path != "routes[1]" || !strings.Contains(errs[1].Message, "true or false") {
		t.Errorf("errs %v", errs)
	}
	_, errs = Compile(nil, Options{Routes: make([]Route, MaxRoutes+1)})
	if len(errs) != 1 || errs[0].Path != "routes" {
		t.Errorf("errs %v", errs)
	}
}

// TestConcurrentOutputs applies one chain from several goroutines and
// checks every output against a single-threaded run: pooled arenas and
// strings that point into the input must never leak between calls.
func TestConcurrentOutputs(t *testing.T) {
	c := mustCompile(t, `[{'parse':{'field':'raw','format':'json','target':'p'}},{'mask':{'detectors':['email','card']}},{'set':{'field':'n','expr':'p.i * 2'}}]`, Options{Vars: []string{"raw", "p"}})
	events := make([][]byte, 200)
	want := make([]string, len(events))
	for i := range events {
		events[i] = []byte(fmt.Sprintf(`{"raw":"{\"i\":%d,\"e\":\"u%d@example.com\",\"s\":\"caf\\u00e9 %d\"}","pad":"%s"}`, i, i, i, strings.Repeat("x", i)))
		out, _, err := c.ApplyJSON(context.Background(), nil, events[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = string(out)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for k := range 2000 {
				i := (k*7 + g*13) % len(events)
				in := append([]byte(nil), events[i]...)
				var err error
				buf, _, err = c.ApplyJSON(context.Background(), buf[:0], in)
				if err != nil {
					t.Error(err)
					return
				}
				for j := range in { // the caller reuses its buffer
					in[j] = 'X'
				}
				if string(buf) != want[i] {
					t.Errorf("event %d: got %s, want %s", i, buf, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
