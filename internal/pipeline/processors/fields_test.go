package processors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	fixed := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	runTable(t, Options{Now: func() time.Time { return fixed }}, []behaviour{
		{"literal", `[{'set':{'field':'metadata.pipeline','value':'runnel'}}]`, `{"metadata":{"env":"prod"}}`, `{"metadata":{"env":"prod","pipeline":"runnel"}}`, ""},
		{"replace", `[{'set':{'field':'a','value':{'x':[1,2.5,null]}}}]`, `{"a":1,"b":2}`, `{"a":{"x":[1,2.5,null]},"b":2}`, ""},
		{"null value", `[{'set':{'field':'a','value':null}}]`, `{"a":1}`, `{"a":null}`, ""},
		{"creates path", `[{'set':{'field':'x.y.z','value':true}}]`, `{}`, `{"x":{"y":{"z":true}}}`, ""},
		{"through null", `[{'set':{'field':'x.y','value':1}}]`, `{"x":null}`, `{"x":{"y":1}}`, ""},
		{"array element", `[{'set':{'field':'items.1.sku','value':'Z'}}]`, `{"items":[{"sku":"A"},{"sku":"B"}]}`, `{"items":[{"sku":"A"},{"sku":"Z"}]}`, ""},
		{"array element replaced", `[{'set':{'field':'items.0','value':0}}]`, `{"items":[1,2]}`, `{"items":[0,2]}`, ""},
		{"escaped dot", `[{'set':{'field':'http\\.status','value':200}}]`, `{}`, `{"http.status":200}`, ""},
		{"out of range", `[{'set':{'field':'items.5','value':1}}]`, `{"items":[1]}`, "", "an array without element \"5\""},
		{"through scalar", `[{'set':{'field':'a.b','value':1}}]`, `{"a":"s"}`, "", "cannot set a.b: a is a string"},
		{"literal not shared between events", `[{'set':{'field':'m','value':{'k':1}}},{'set':{'field':'m.j','value':2}}]`, `{}`, `{"m":{"k":1,"j":2}}`, ""},
		{"expr string", `[{'set':{'field':'event.label','expr':'source + \':\' + event.status'}}]`, `{"source":"pay","event":{"status":"ok"}}`, `{"source":"pay","event":{"status":"ok","label":"pay:ok"}}`, ""},
		{"expr int arithmetic", `[{'set':{'field':'event.cents','expr':'event.amount * 100'}}]`, `{"event":{"amount":12}}`, `{"event":{"amount":12,"cents":1200}}`, ""},
		{"expr double", `[{'set':{'field':'event.half','expr':'event.amount / 2.0'}}]`, `{"event":{"amount":3.0}}`, `{"event":{"amount":3.0,"half":1.5}}`, ""},
		{"expr int of big literal", `[{'set':{'field':'event.b','expr':'event.n'}}]`, `{"event":{"n":12345678901234567}}`, `{"event":{"n":12345678901234567,"b":12345678901234567}}`, ""},
		{"expr map sorted", `[{'set':{'field':'m','expr':'{\'b\': 1, \'a\': [true, null]}'}}]`, `{}`, `{"m":{"a":[true,null],"b":1}}`, ""},
		{"expr copies object", `[{'set':{'field':'copy','expr':'event'}},{'set':{'field':'copy.x','value':1}}]`, `{"event":{"a":1}}`, `{"event":{"a":1},"copy":{"a":1,"x":1}}`, ""},
		{"expr timestamp", `[{'set':{'field':'t','expr':'now()'}}]`, `{}`, `{"t":"2025-02-12T14:32:15Z"}`, ""},
		{"expr duration", `[{'set':{'field':'d','expr':'duration(\'90s\')'}}]`, `{}`, `{"d":"90s"}`, ""},
		{"expr bytes", `[{'set':{'field':'b','expr':'b\'hi\''}}]`, `{}`, `{"b":"aGk="}`, ""},
		{"expr uint", `[{'set':{'field':'u','expr':'18446744073709551615u'}}]`, `{}`, `{"u":18446744073709551615}`, ""},
		{"expr has", `[{'set':{'field':'h','expr':'has(event.user) && !has(event.nope)'}}]`, `{"event":{"user":{}}}`, `{"event":{"user":{}},"h":true}`, ""},
		{"expr missing variable is null", `[{'set':{'field':'n','expr':'metadata == null'}}]`, `{}`, `{"n":true}`, ""},
		{"expr runtime error", `[{'set':{'field':'x','expr':'event.missing.deeper'}}]`, `{"event":{}}`, "", "no such key: missing"},
		{"expr NaN", `[{'set':{'field':'x','expr':'0.0/0.0'}}]`, `{}`, "", "JSON cannot represent"},
		{"expr type", `[{'set':{'field':'x','expr':'type(1)'}}]`, `{}`, "", "cannot be stored"},
	})
}

func TestRenameRemoveKeep(t *testing.T) {
	runTable(t, Options{}, []behaviour{
		{"rename", `[{'rename':{'from':'event.amount','to':'event.amount_cents'}}]`, `{"event":{"amount":5,"b":1}}`, `{"event":{"b":1,"amount_cents":5}}`, ""},
		{"rename missing is a no-op", `[{'rename':{'from':'a','to':'b'}}]`, `{"x":1}`, `{"x":1}`, ""},
		{"rename to new parent", `[{'rename':{'from':'a','to':'meta.old.a'}}]`, `{"a":[1],"z":2}`, `{"z":2,"meta":{"old":{"a":[1]}}}`, ""},
		{"rename into itself", `[{'rename':{'from':'a','to':'a.inner'}}]`, `{"a":{"x":1}}`, `{"a":{"inner":{"x":1}}}`, ""},
		{"rename out of itself", `[{'rename':{'from':'a.inner','to':'a'}}]`, `{"a":{"inner":{"x":1},"y":2}}`, `{"a":{"x":1}}`, ""},
		{"rename overwrites", `[{'rename':{'from':'a','to':'b'}}]`, `{"a":1,"b":2}`, `{"b":1}`, ""},
		{"rename into scalar fails", `[{'rename':{'from':'a','to':'b.c'}}]`, `{"a":1,"b":2}`, "", "cannot set b.c: b is a number"},
		{"remove", `[{'remove':{'fields':['metadata.team','nope','x.y.z']}}]`, `{"metadata":{"team":"a","env":"b"}}`, `{"metadata":{"env":"b"}}`, ""},
		{"remove array element", `[{'remove':{'fields':['items.0']}}]`, `{"items":[1,2,3]}`, `{"items":[2,3]}`, ""},
		{"remove single string field", `[{'remove':{'fields':'a'}}]`, `{"a":1,"b":2}`, `{"b":2}`, ""},
		{"remove top-level", `[{'remove':{'fields':['a','b']}}]`, `{"a":1,"b":2}`, `{}`, ""},
		{"keep", `[{'keep':{'fields':['timestamp','source','event']}}]`, `{"timestamp":"t","metadata":{"x":1},"source":"s","event":{"a":1}}`, `{"timestamp":"t","source":"s","event":{"a":1}}`, ""},
		{"keep nested", `[{'keep':{'fields':['event.user.email','event.status','source']}}]`,
			`{"source":"s","event":{"status":"ok","amount":1,"user":{"email":"e","id":1}},"other":true}`,
			`{"source":"s","event":{"status":"ok","user":{"email":"e"}}}`, ""},
		{"keep drops emptied parents", `[{'keep':{'fields':['event.user.email','a']}}]`, `{"a":1,"event":{"user":{"id":1}}}`, `{"a":1}`, ""},
		{"keep keeps empty values", `[{'keep':{'fields':['event']}}]`, `{"a":1,"event":{}}`, `{"event":{}}`, ""},
		{"keep prefix wins", `[{'keep':{'fields':['event.status','event']}}]`, `{"event":{"status":1,"x":2},"y":3}`, `{"event":{"status":1,"x":2}}`, ""},
		{"keep array indexes", `[{'keep':{'fields':['items.1.sku','items.3']}}]`, `{"items":[{"sku":"a"},{"sku":"b","q":1},{"sku":"c"},4]}`, `{"items":[{"sku":"b"},4]}`, ""},
		{"keep non-index under array", `[{'keep':{'fields':['items.sku']}}]`, `{"items":[{"sku":"a"}]}`, `{}`, ""},
		{"keep nothing matches", `[{'keep':{'fields':['x']}}]`, `{"a":1}`, `{}`, ""},
		{"keep unchanged", `[{'keep':{'fields':['a','b']}}]`, `{"a" : 1}`, `{"a" : 1}`, ""},
	})
}

func TestFilter(t *testing.T) {
	vars := []string{"status", "host", "request_time"}
	c := mustCompile(t, `[{'filter':{'if':'status >= 500 && host.endsWith(\'.example.com\')'}}]`, Options{Vars: vars})
	for ev, keep := range map[string]bool{
		`{"status":502,"host":"a.example.com"}`:   true,
		`{"status":200,"host":"a.example.com"}`:   false,
		`{"status":503,"host":"other.org"}`:       false,
		`{"status":500.0,"host":"b.example.com"}`: true, // a double compares with an int
	} {
		out, res, err := run(t, c, ev)
		if err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
		if keep != (res.Action == Keep) || (!keep && (res.Reason != ReasonFiltered || res.Processor != 0)) {
			t.Errorf("%s: %s %+v", ev, out, res)
		}
		if keep && out != ev {
			t.Errorf("%s: kept event changed to %s", ev, out)
		}
	}
	// A runtime error fails the event (dead-letter), it is not filtered.
	_, res, err := run(t, c, `{"status":"x","host":"a.example.com"}`)
	if err == nil || res.Action != Drop || res.Reason != "" || !strings.Contains(err.Error(), "processors[0] (filter): no such overload") {
		t.Errorf("runtime error: %+v %v", res, err)
	}
	st := c.Stats() // run applies every event twice (ApplyJSON and Apply)
	if st[0].Processed != 10 || st[0].Dropped != 4 || st[0].Errors != 2 || st[0].DropReason() != ReasonFiltered {
		t.Errorf("stats %+v", st[0])
	}
}

// TestCELOverTree exercises the CEL map and list implementations of the
// event tree.
func TestCELOverTree(t *testing.T) {
	ev := `{"timestamp":"2025-02-12T14:32:15Z","source":"pay","event":{"status":"declined","amount":12.5,"n":3,"tags":["a","b"],"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"user":{"email":"x@y.z"},"nothing":null,"yes":true},"metadata":{}}`
	for src, want := range map[string]bool{
		`event.status == "declined"`:                             true,
		`event.amount > 10.0 && source == "pay"`:                 true,
		`event.amount > 10`:                                      true,
		`event.n == 3 && event.n == 3.0 && event.n < 3.5`:        true,
		`"b" in event.tags && !("c" in event.tags)`:              true,
		`"status" in event && !("nope" in event)`:                true,
		`size(event.tags) == 2 && event.tags.size() == 2`:        true,
		`size(event) == 8`:                                       true,
		`event.tags[1] == "b"`:                                   true,
		`event.items.exists(i, i.sku == "B-7" && i.qty == 1)`:    true,
		`event.items.all(i, i.qty > 0)`:                          true,
		`event.items.map(i, i.qty).sum() == 3`:                   false, // no sum(): compile error below; skipped
		`event.items.filter(i, i.qty > 1).size() == 1`:           true,
		`event.keys().size() == 8`:                               false, // no keys(); skipped
		`event.exists(k, k == "user")`:                           true,
		`event.user == {"email": "x@y.z"}`:                       true,
		`{"email": "x@y.z"} == event.user`:                       true,
		`event.tags == ["a", "b"]`:                               true,
		`["a", "b"] == event.tags`:                               true,
		`event.tags + ["c"] == ["a", "b", "c"]`:                  true,
		`event.nothing == null && event.yes`:                     true,
		`has(event.user.email) && !has(event.user.name)`:         true,
		`metadata == {} && size(metadata) == 0`:                  true,
		`timestamp(timestamp) < now()`:                           true,
		`event.user.email.matches("^[a-z]@")`:                    true,
		`type(event) == map && type(event.tags) == list`:         true,
		`dyn(event.n) + 1 == 4`:                                  true,
		`event.?nope.orValue("d") == "d"`:                        false, // optional syntax not enabled; skipped
		`string(event.n) == "3" && double(event.amount) == 12.5`: true,
		`event.items[0].sku.startsWith("A")`:                     true,
		`event.items.map(i, i.sku) == ["A-1", "B-7"]`:            true,
		`int(event.amount) == 12`:                                true,
		`event.status in ["approved", "declined"]`:               true,
	} {
		c, errs := Compile(js(fmt.Sprintf(`[{'filter':{'if':%q}}]`, src)), Options{})
		if errs != nil {
			if !want {
				continue // an expression the test documents as unsupported
			}
			t.Errorf("%s: %v", src, errs)
			continue
		}
		_, res, err := c.ApplyJSON(context.Background(), nil, []byte(ev))
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := res.Action == Keep; got != want {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
}

func TestCostLimit(t *testing.T) {
	// Statically unbounded: runtime cost tracking applies.
	c := mustCompile(t, `[{'filter':{'if':'event.items.all(x, event.items.all(y, event.items.all(z, x + y + z >= 0)))'}}]`, Options{})
	items := make([]string, 100)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	_, _, err := c.ApplyJSON(t.Context(), nil, []byte(`{"event":{"items":[`+strings.Join(items, ",")+`]}}`))
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("cost limit not enforced: %v", err)
	}
	// Cancellation interrupts a long comprehension.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err = c.ApplyJSON(ctx, nil, []byte(`{"event":{"items":[`+strings.Join(items[:50], ",")+`]}}`))
	if err == nil {
		t.Errorf("cancelled context did not interrupt")
	}
}

func TestSampleKeyed(t *testing.T) {
	c := mustCompile(t, `[{'sample':{'percent':30,'key':'event.user_id'}}]`, Options{})
	kept := 0
	for i := range 20000 {
		ev := fmt.Sprintf(`{"event":{"user_id":"u%d"}}`, i%2000)
		_, res, err := c.ApplyJSON(t.Context(), nil, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		// Deterministic: the decision is FNV-1a of the key.
		want := fnv1a(fmt.Sprintf("u%d", i%2000))%10000 < 3000
		if (res.Action == Keep) != want {
			t.Fatalf("user u%d: kept=%v want %v", i%2000, res.Action == Keep, want)
		}
		if res.Action == Keep {
			kept++
		} else if res.Reason != ReasonSampledOut {
			t.Fatalf("reason %q", res.Reason)
		}
	}
	// Every event of one user has the same fate, and a second chain
	// compiled from the same config agrees.
	c2 := mustCompile(t, `[{'sample':{'percent':30,'key':'event.user_id'}}]`, Options{})
	for i := range 2000 {
		ev := []byte(fmt.Sprintf(`{"event":{"user_id":"u%d"}}`, i))
		_, r1, _ := c.ApplyJSON(t.Context(), nil, ev)
		_, r2, _ := c2.ApplyJSON(t.Context(), nil, ev)
		if r1.Action != r2.Action {
			t.Fatalf("u%d differs between chains", i)
		}
	}
	if frac := float64(kept) / 20000; frac < 0.25 || frac > 0.35 {
		t.Errorf("kept %.3f of users, want about 0.30", frac)
	}
	// Numbers key by their literal; missing keys fall back to random.
	nums := mustCompile(t, `[{'sample':{'percent':50,'key':'id'}}]`, Options{Rand: rand.NewPCG(1, 2)})
	for i := range 100 {
		ev := []byte(fmt.Sprintf(`{"id":%d}`, i))
		_, res, _ := nums.ApplyJSON(t.Context(), nil, ev)
		if want := fnv1a(fmt.Sprint(i))%10000 < 5000; (res.Action == Keep) != want {
			t.Fatalf("id %d", i)
		}
	}
}

func TestSamplePercentAccuracy(t *testing.T) {
	for _, pct := range []float64{0, 1, 10, 33.33, 50, 99.5, 100} {
		c := mustCompile(t, fmt.Sprintf(`[{'sample':{'percent':%v}}]`, pct), Options{Rand: rand.NewPCG(42, uint64(pct*100))})
		const n = 100_000
		kept := 0
		ev := []byte(`{"a":1}`)
		for range n {
			_, res, err := c.ApplyJSON(t.Context(), nil, ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action == Keep {
				kept++
			}
		}
		got := 100 * float64(kept) / n
		if got < pct-1 || got > pct+1 {
			t.Errorf("percent %v: kept %.2f%%, want within ±1%%", pct, got)
		}
		st := c.Stats()[0]
		if st.Processed != n || st.Dropped != uint64(n-kept) || st.DropReason() != ReasonSampledOut {
			t.Errorf("stats %+v", st)
		}
	}
	// The default source (math/rand/v2) is accurate too.
	c := mustCompile(t, `[{'sample':{'percent':25}}]`, Options{})
	kept := 0
	for range 100_000 {
		if _, res, _ := c.ApplyJSON(t.Context(), nil, []byte(`{}`)); res.Action == Keep {
			kept++
		}
	}
	if got := float64(kept) / 1000; got < 24 || got > 26 {
		t.Errorf("default source kept %.2f%%", got)
	}
}

func TestSampleMissingKeyIsRandom(t *testing.T) {
	// A missing key is sampled at random (seeded here), not all kept or
	// all dropped.
	c := mustCompile(t, `[{'sample':{'percent':50,'key':'user'}}]`, Options{Rand: rand.NewPCG(7, 7)})
	kept := 0
	for range 10000 {
		if _, res, _ := c.ApplyJSON(t.Context(), nil, []byte(`{"other":1}`)); res.Action == Keep {
			kept++
		}
	}
	if kept < 4700 || kept > 5300 {
		t.Errorf("kept %d of 10000 keyless events", kept)
	}
}

func TestNowPerEvent(t *testing.T) {
	n := 0
	c := mustCompile(t, `[{'set':{'field':'t','expr':'now()'}}]`, Options{Now: func() time.Time { n++; return time.Unix(int64(n), 0).UTC() }})
	a, _, _ := c.ApplyJSON(t.Context(), nil, []byte(`{}`))
	b, _, _ := c.ApplyJSON(t.Context(), nil, []byte(`{}`))
	if string(a) != `{"t":"1970-01-01T00:00:01Z"}` || string(b) != `{"t":"1970-01-01T00:00:02Z"}` {
		t.Errorf("%s %s", a, b)
	}
}

func TestVarsThatCELCannotDeclare(t *testing.T) {
	// Catalog names that are not CEL identifiers are left out; the others
	// still work.
	c := mustCompile(t, `[{'filter':{'if':'status == 200'}}]`, Options{Vars: []string{"status", "upstream-addr", "in", "9x", ""}})
	if _, res, err := c.ApplyJSON(t.Context(), nil, []byte(`{"status":200}`)); err != nil || res.Action != Keep {
		t.Errorf("%+v %v", res, err)
	}
}
