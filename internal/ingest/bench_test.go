package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/runnel/runnel/internal/model"
)

// benchEvents returns n realistic events of about 300 bytes.
func benchEvents(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"timestamp":"2025-02-12T14:%02d:%02d.%03dZ","source":"payments-app",`+
			`"event":{"transactionId":"txn_%05d","status":"approved","latency_ms":%d,"amount":%d.95,"currency":"EUR",`+
			`"customer":"cus_8f2k1m%03d","card":{"brand":"visa","last4":"4242"},"retry":false,"note":"caf\u00e9 \u2014 ok"},`+
			`"metadata":{"env":"prod","team":"payments","region":"eu-west-1"}}`,
			i/60%60, i%60, i*7%1000, 30000+i, 100+i%300, i%500, i)
	}
	return out
}

// benchBody is a reusable request body.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a reusable, allocation-free ResponseWriter.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

type benchCase struct {
	name, ctype, enc string
	body, plain      []byte
}

func benchCases(b *testing.B) []benchCase {
	events := benchEvents(100)
	nd := ndjson(events...)
	return []benchCase{
		{"ndjson", "application/x-ndjson", "", nd, nd},
		{"array", "application/json", "", array(events...), array(events...)},
		{"ndjson-gzip", "application/x-ndjson", "gzip", gz(b, nd), nd},
	}
}

// benchRequest builds one request that can be served again and again.
func benchRequest(token, stream string, c benchCase) (*http.Request, *benchBody, *benchWriter) {
	r := httptest.NewRequest(http.MethodPost, "/v1/streams/ingest", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("X-Stream-Id", stream)
	r.Header.Set("Content-Type", c.ctype)
	if c.enc != "" {
		r.Header.Set("Content-Encoding", c.enc)
	}
	rd := &benchBody{}
	r.Body = rd
	r.ContentLength = int64(len(c.body))
	return r, rd, &benchWriter{h: http.Header{}}
}

func serveBench(b *testing.B, h *Handler, r *http.Request, rd *benchBody, w *benchWriter, body []byte) {
	rd.Reset(body)
	clear(w.h)
	w.code = 0
	h.serveNative(w, r)
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNativeIngest measures the handler alone (auth, limits, read,
// gunzip, decode, frame, answer) with a Publisher that discards: 100
// events of about 300 bytes per request.
func BenchmarkNativeIngest(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			f := newFake(discard{}, nil)
			r, rd, w := benchRequest(f.token, f.st.ID, c)
			b.SetBytes(int64(len(c.plain)))
			b.ReportAllocs()
			for b.Loop() {
				serveBench(b, f.h, r, rd, w, c.body)
			}
			reportEvents(b, 100)
		})
	}
	b.Run("ndjson-rate-limited", func(b *testing.B) {
		// Token and stream buckets that never run dry: the cost of the
		// limiter bookkeeping.
		f := newFake(discard{}, func(st *model.Stream) { st.Limits.EventsPerSecond, st.Limits.Burst = 1e12, 1<<30 })
		c := benchCases(b)[0]
		r, rd, w := benchRequest(f.token, f.st.ID, c)
		b.SetBytes(int64(len(c.plain)))
		b.ReportAllocs()
		for b.Loop() {
			serveBench(b, f.h, r, rd, w, c.body)
		}
		reportEvents(b, 100)
	})
	b.Run("ndjson-schema", func(b *testing.B) {
		// A JSON Schema on the stream (schema.go): each event's payload
		// is decoded and validated.
		f := newFake(discard{}, func(st *model.Stream) {
			st.Schema = []byte(`{"type":"object","required":["transactionId","status","amount"],"properties":{` +
				`"transactionId":{"type":"string","pattern":"^txn_[0-9]+$"},"status":{"enum":["approved","declined"]},` +
				`"latency_ms":{"type":"integer","minimum":0},"amount":{"type":"number"},"currency":{"type":"string","maxLength":3},` +
				`"card":{"type":"object","properties":{"last4":{"type":"string"}}}}}`)
		})
		c := benchCases(b)[0]
		r, rd, w := benchRequest(f.token, f.st.ID, c)
		b.SetBytes(int64(len(c.plain)))
		b.ReportAllocs()
		for b.Loop() {
			serveBench(b, f.h, r, rd, w, c.body)
		}
		reportEvents(b, 100)
	})
	b.Run("ndjson-parallel", func(b *testing.B) {
		f := newFake(discard{}, nil)
		c := benchCases(b)[0]
		b.SetBytes(int64(len(c.plain)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r, rd, w := benchRequest(f.token, f.st.ID, c)
			for pb.Next() {
				serveBench(b, f.h, r, rd, w, c.body)
			}
		})
		reportEvents(b, 100)
	})
}

// BenchmarkNativeIngestBus is the same path with the real embedded
// JetStream (file store, fsync every second): each request waits for its
// publish ack. "parallel" keeps 32 requests in flight.
func BenchmarkNativeIngestBus(b *testing.B) {
	e := newEnv(b)
	for _, c := range benchCases(b)[:1] {
		for _, par := range []int{1, 32} {
			st := e.newStream(model.DefaultWorkspace, c.name+"-"+strconv.Itoa(par), nil)
			b.Run(c.name+"/inflight="+strconv.Itoa(par), func(b *testing.B) {
				b.SetBytes(int64(len(c.plain)))
				b.ReportAllocs()
				if par == 1 {
					r, rd, w := benchRequest(e.token, st.ID, c)
					for b.Loop() {
						serveBench(b, e.h, r, rd, w, c.body)
					}
				} else {
					b.SetParallelism(par)
					b.RunParallel(func(pb *testing.PB) {
						r, rd, w := benchRequest(e.token, st.ID, c)
						for pb.Next() {
							serveBench(b, e.h, r, rd, w, c.body)
						}
					})
				}
				reportEvents(b, 100)
			})
		}
	}
}
