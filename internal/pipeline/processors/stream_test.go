package processors

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/runnel/runnel/internal/template"
)

func TestDomainFilter(t *testing.T) {
	c := mustCompile(t, `[]`, Options{Hosts: []string{"shop.example.com", "*.Example.org", "api.example.net."}})
	for _, tc := range []struct {
		event string
		keep  bool
	}{
		{`{"host":"shop.example.com"}`, true},
		{`{"host":"SHOP.example.COM"}`, true},
		{`{"host":"shop.example.com:8443"}`, true},
		{`{"host":"shop.example.com."}`, true},
		{`{"host":"api.example.net"}`, true},
		{`{"host":"a.example.org"}`, true},
		{`{"host":"a.b.example.org"}`, true},
		{`{"host":"example.org"}`, false}, // the wildcard needs a subdomain
		{`{"host":"badexample.org"}`, false},
		{`{"host":"www.example.com"}`, false},
		{`{"host":"shop.example.com.evil.io"}`, false},
		{`{"host":7}`, false},
		{`{"other":"shop.example.com"}`, false}, // no host: not listed
		{`{"host":"[2001:db8::1]:443"}`, false},
	} {
		out, res, err := run(t, c, tc.event)
		if err != nil {
			t.Fatalf("%s: %v", tc.event, err)
		}
		if got := res.Action == Keep; got != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.event, got, tc.keep)
		}
		if tc.keep && out != tc.event {
			t.Errorf("%s: kept as %s", tc.event, out)
		}
		if !tc.keep && (res.Reason != ReasonFiltered || res.Processor != -1) {
			t.Errorf("%s: dropped with %+v, want filtered by the stream (processor -1)", tc.event, res)
		}
	}
	// run applies each event twice (ApplyJSON and Apply): 7 dropped events count 14.
	if s := c.StageStats(); s.DomainFiltered != 14 || s.SampledOut != 0 {
		t.Errorf("stage stats %+v, want 14 domain-filtered", s)
	}
}

func TestDomainFilterHostPaths(t *testing.T) {
	c := mustCompile(t, `[]`, Options{Hosts: []string{"a.example.com"}, HostPaths: []string{"host", "event.host", "metadata.host"}})
	for event, keep := range map[string]bool{
		`{"event":{"host":"a.example.com"}}`:                           true,
		`{"metadata":{"host":"a.example.com"}}`:                        true,
		`{"host":"b.example.com","event":{"host":"a.example.com"}}`:    false, // the first path holding a string wins
		`{"host":null,"event":{"host":"a.example.com"}}`:               true,
		`{"event":{"host":"b.example.com"},"metadata":{"host":"a.x"}}`: false,
	} {
		_, res, _ := c.ApplyJSON(context.Background(), nil, []byte(event))
		if (res.Action == Keep) != keep {
			t.Errorf("%s: kept %v, want %v", event, res.Action == Keep, keep)
		}
	}
}

func TestStreamStageErrors(t *testing.T) {
	for _, opts := range []Options{
		{Hosts: []string{"*"}},
		{Hosts: []string{"a.*.example.com"}},
		{Hosts: []string{" "}},
		{SamplingPercent: 101},
		{SamplingPercent: 0.001},
		{SamplingPercent: -5},
		{SamplingPercent: math.NaN()},
	} {
		if _, errs := Compile(nil, opts); len(errs) != 1 {
			t.Errorf("%+v: errors %v, want one", opts, errs)
		}
	}
}

// The stream's sampling keeps its share within ±1% over 100,000 events,
// and with keys every chain of the same salt decides alike.
func TestSamplingPercent(t *testing.T) {
	tpl, err := template.Compile([]string{"id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRenderer(tpl)
	for _, pct := range []float64{1, 10, 33.33, 50, 99.5} {
		a := mustCompile(t, `[]`, Options{SamplingPercent: pct, Salt: []byte("stream-1")})
		b := mustCompile(t, `[]`, Options{SamplingPercent: pct, Salt: []byte("stream-1")})
		other := mustCompile(t, `[]`, Options{SamplingPercent: pct, Salt: []byte("stream-2")})
		const n = 100_000
		kept, same, differ := 0, 0, 0
		var buf []byte
		for i := range n {
			ev := fmt.Appendf(nil, `{"id":%d}`, i)
			key := uint64(i) * 7919
			var ra, rb, ro Result
			buf, ra, _ = a.ApplyRenderKey(context.Background(), buf[:0], ev, key, r)
			_, rb, _ = b.ApplyRenderKey(context.Background(), nil, ev, key, r)
			_, ro, _ = other.ApplyRenderKey(context.Background(), nil, ev, key, r)
			if ra.Action == Keep {
				kept++
				if string(buf) != string(ev) {
					t.Fatalf("kept %s as %s", ev, buf)
				}
			} else if ra.Reason != ReasonSampledOut {
				t.Fatalf("dropped as %q", ra.Reason)
			}
			if ra.Action == rb.Action {
				same++
			}
			if ra.Action != ro.Action {
				differ++
			}
		}
		share := 100 * float64(kept) / n
		if math.Abs(share-pct) > 1 {
			t.Errorf("sampling_percent %v kept %.2f%%", pct, share)
		}
		if same != n {
			t.Errorf("sampling_percent %v: two chains of one salt disagreed on %d events", pct, n-same)
		}
		if pct > 5 && pct < 95 && differ < n/20 {
			t.Errorf("sampling_percent %v: another salt made the same choice for all but %d events", pct, differ)
		}
		if s := a.StageStats(); s.SampledOut != uint64(n-kept) {
			t.Errorf("sampled out %d, counted %d", n-kept, s.SampledOut)
		}
		if st := a.Stats(); len(st) != 0 {
			t.Errorf("no processors, stats %v", st)
		}
	}
}

// A sample processor without a key draws from the event's key when there
// is one: the same events on every chain, and independent of the stream's
// own sampling.
func TestSampleProcessorKeyedDraws(t *testing.T) {
	tpl, _ := template.Compile(nil, nil)
	r := NewRenderer(tpl)
	a := mustCompile(t, `[{'sample':{'percent':50}}]`, Options{SamplingPercent: 50, Salt: []byte("s")})
	b := mustCompile(t, `[{'sample':{'percent':50}}]`, Options{SamplingPercent: 50, Salt: []byte("s")})
	const n = 100_000
	kept := 0
	for i := range n {
		ev := []byte(`{"x":1}`)
		_, ra, _ := a.ApplyRenderKey(context.Background(), nil, ev, uint64(i), r)
		_, rb, _ := b.ApplyRenderKey(context.Background(), nil, ev, uint64(i), r)
		if ra != rb {
			t.Fatalf("event %d: %+v vs %+v", i, ra, rb)
		}
		if ra.Action == Keep {
			kept++
		}
	}
	// Two independent halvings keep a quarter.
	if share := 100 * float64(kept) / n; math.Abs(share-25) > 1 {
		t.Errorf("kept %.2f%%, want 25±1", share)
	}
	st := a.Stats()
	if st[0].Processed+a.StageStats().SampledOut != n {
		t.Errorf("stats %+v %+v: every event not sampled out by the stream reaches the processor", st, a.StageStats())
	}
	if got := a.StageStats().SampledOut + st[0].Dropped; got != uint64(n-kept) {
		t.Errorf("sampled out %d by stream + processor, want %d", got, n-kept)
	}
}
