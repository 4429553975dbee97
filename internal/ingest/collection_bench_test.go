package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runnel/runnel/internal/model"
)

// Benchmarks of the collection and Events v2 dialects, the same shape as
// BenchmarkNativeIngest: the handler (behind the mux, which reads the path
// values) with a Publisher that discards, events of about 300 bytes,
// reported per request and in events/s.

// newBenchDialect is newFake whose stream has an inlet (inletStreams:
// collection_test.go) and whose handler is served through a mux with
// every ingest route.
func newBenchDialect() (*fake, http.Handler) {
	f := newFake(discard{}, func(st *model.Stream) { st.InletID = model.NewInletID() })
	f.h.streams = inletStreams{fakeStreams: f.h.streams.(fakeStreams)}
	mux := http.NewServeMux()
	f.h.Register(mux)
	return f, mux
}

// collectionRecords is benchEvents' data as collection records (no
// envelope: the record is the event).
func collectionRecords(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"transactionId":"txn_%05d","status":"approved","latency_ms":%d,"amount":%d.95,"currency":"EUR",`+
			`"customer":"cus_8f2k1m%03d","card":{"brand":"visa","last4":"4242"},"retry":false,"note":"caf\u00e9 \u2014 ok",`+
			`"env":"prod","team":"payments","region":"eu-west-1","source":"payments-app"}`,
			30000+i, 100+i%300, i%500, i)
	}
	return out
}

// dialectBench serves one prepared request (body as sent, plain its size
// decompressed, events in it) again and again, expecting status.
func dialectBench(b *testing.B, h http.Handler, r *http.Request, body []byte, plain, events, status int, parallel bool) {
	b.SetBytes(int64(plain))
	b.ReportAllocs()
	run := func(r *http.Request) func() {
		rd := &benchBody{}
		r.Body = rd
		r.ContentLength = int64(len(body))
		w := &benchWriter{h: http.Header{}}
		return func() {
			rd.Reset(body)
			clear(w.h)
			w.code = 0
			h.ServeHTTP(w, r)
			if w.code != status {
				b.Fatalf("status %d, want %d", w.code, status)
			}
		}
	}
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			one := run(r.Clone(r.Context()))
			for pb.Next() {
				one()
			}
		})
	} else {
		one := run(r)
		for b.Loop() {
			one()
		}
	}
	reportEvents(b, events)
}

func BenchmarkCollection(b *testing.B) {
	recs := collectionRecords(100)
	batch := append(append([]byte(`{"messages":[`), bytes.Join(recs, []byte(","))...), "]}"...)
	for _, c := range []struct {
		name   string
		batch  bool
		gzip   bool
		par    bool
		body   []byte
		events int
		status int
	}{
		{"single", false, false, false, recs[0], 1, http.StatusOK},
		{"single-parallel", false, false, true, recs[0], 1, http.StatusOK},
		{"batch", true, false, false, batch, 100, http.StatusMultiStatus},
		{"batch-gzip", true, true, false, batch, 100, http.StatusMultiStatus},
		{"batch-parallel", true, false, true, batch, 100, http.StatusMultiStatus},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, mux := newBenchDialect()
			path := "/collection/" + f.st.InletID
			if c.batch {
				path = "/collection/batch/" + f.st.InletID
			}
			sent := c.body
			r := httptest.NewRequest("POST", path, nil)
			if c.gzip {
				sent = gz(b, c.body)
				r.Header.Set("Content-Encoding", "gzip")
			}
			r.Header.Set("Authorization", "Bearer "+f.token)
			r.Header.Set("Content-Type", "application/json")
			dialectBench(b, mux, r, sent, len(c.body), c.events, c.status, c.par)
		})
	}
}

// eventsV2Body is n EventIngest objects carrying benchEvents' data as
// properties: one object, or (n > 1) an array of them.
func eventsV2Body(n int) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteByte('[')
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventType":"CUSTOM_DEPLOYMENT","title":"payments-app %05d deployed","timeout":30,"entitySelector":"type(SERVICE),entityName(payments-app)",`+
			`"properties":{"transactionId":"txn_%05d","status":"approved","latency_ms":"%d","amount":"%d.95","currency":"EUR","customer":"cus_8f2k1m%03d",`+
			`"note":"caf\u00e9 \u2014 ok","env":"prod","team":"payments","dt.event.deployment.version":"1.%d"}}`,
			30000+i, 30000+i, 100+i%300, i%500, i, i)
	}
	if n > 1 {
		b.WriteByte(']')
	}
	return b.Bytes()
}

func BenchmarkEventsV2(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
		gzip bool
		par  bool
	}{
		{"single", 1, false, false},
		{"single-parallel", 1, false, true},
		{"array", 100, false, false},
		{"array-gzip", 100, true, false},
		{"array-parallel", 100, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, mux := newBenchDialect()
			body := eventsV2Body(c.n)
			sent := body
			r := httptest.NewRequest("POST", "/api/v2/events/ingest", nil)
			if c.gzip {
				sent = gz(b, body)
				r.Header.Set("Content-Encoding", "gzip")
			}
			r.Header.Set("Authorization", "Api-Token "+f.token)
			r.Header.Set("X-Stream-Id", f.st.ID)
			r.Header.Set("Content-Type", "application/json")
			dialectBench(b, mux, r, sent, len(body), c.n, http.StatusCreated, c.par)
		})
	}
}
