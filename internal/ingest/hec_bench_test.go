package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Benchmarks of the compatible inputs, the same shape as
// BenchmarkNativeIngest: the handler alone with a Publisher that discards,
// requests of 100 events of about 300 bytes, reported in events/s.

// hecBenchBody is 100 concatenated HEC events carrying benchEvents' data.
func hecBenchBody() []byte {
	var b bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&b, `{"time":%d.%03d,"host":"web-%d","source":"payments-app","sourcetype":"_json","index":"main",`+
			`"event":{"transactionId":"txn_%05d","status":"approved","latency_ms":%d,"amount":%d.95,"currency":"EUR",`+
			`"customer":"cus_8f2k1m%03d","card":{"brand":"visa","last4":"4242"},"retry":false,"note":"caf\u00e9 \u2014 ok"},`+
			`"fields":{"env":"prod","team":"payments","region":"eu-west-1"}}`+"\n",
			1739370735+i, i*7%1000, i%4, i, 100+i%300, i%500, i)
	}
	return b.Bytes()
}

// compatBench serves one prepared request (body as sent, plain its
// decompressed size) again and again.
func compatBench(b *testing.B, serve http.HandlerFunc, r *http.Request, body []byte, plain int, parallel bool) {
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
			serve(w, r)
			if w.code != http.StatusOK && w.code != 0 {
				b.Fatalf("status %d", w.code)
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
	reportEvents(b, 100)
}

func BenchmarkHEC(b *testing.B) {
	body := hecBenchBody()
	for _, c := range []struct {
		name string
		gzip bool
		par  bool
	}{{"event", false, false}, {"event-gzip", true, false}, {"event-parallel", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFake(discard{}, nil)
			sent := body
			r := httptest.NewRequest("POST", "/services/collector/event", nil)
			if c.gzip {
				sent = gz(b, body)
				r.Header.Set("Content-Encoding", "gzip")
			}
			r.Header.Set("Authorization", "Splunk "+f.token)
			r.Header.Set("X-Stream-Id", f.st.ID)
			compatBench(b, f.h.serveHECEvent, r, sent, len(body), c.par)
		})
	}
	b.Run("raw", func(b *testing.B) {
		f := newFake(discard{}, nil)
		var raw bytes.Buffer
		for i := range 100 {
			fmt.Fprintf(&raw, `127.0.0.%d - - [12/Feb/2025:14:32:%02d +0000] "GET /api/v1/payments/txn_%05d HTTP/1.1" 200 %d "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" rt=0.%03d uct="0.001" uht="0.002"`+"\n",
				i%250, i%60, i, 1000+i, i)
		}
		r := httptest.NewRequest("POST", "/services/collector/raw?sourcetype=access_combined", nil)
		r.Header.Set("Authorization", "Splunk "+f.token)
		r.Header.Set("X-Stream-Id", f.st.ID)
		r.Header.Set("X-Splunk-Request-Channel", testChannel)
		compatBench(b, f.h.serveHECRaw, r, raw.Bytes(), raw.Len(), false)
	})
}
