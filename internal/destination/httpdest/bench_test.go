package httpdest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/destination"
)

// benchRecords returns n JSON records of size bytes each, log-like: a
// fixed shape, varying ids and numbers, words from a small vocabulary (it
// gzips about 4:1, like real access logs).
func benchRecords(n, size int) [][]byte {
	words := strings.Fields("GET POST user order payment declined accepted timeout cache HIT MISS " +
		"upstream edge app api v1 v2 checkout cart session login logout error warn info debug")
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		r := fmt.Appendf(nil, `{"timestamp":"2026-01-02T15:04:%02d.%03dZ","id":"%016x","status":%d,"bytes":%d,"msg":"`,
			rng.IntN(60), rng.IntN(1000), rng.Uint64(), 200+rng.IntN(4)*100, rng.IntN(1<<20))
		for len(r) < size-len(`"}`) {
			r = append(r, words[rng.IntN(len(words))]...)
			r = append(r, ' ')
		}
		r = append(r[:size-len(`"}`)], `"}`...)
		out[i] = r
	}
	return out
}

// BenchmarkDeliver sends batches of 2000 records of 300 B (600 KB framed)
// to a local server that reads and discards the body.
func BenchmarkDeliver(b *testing.B) {
	for _, compression := range []string{"none", "gzip"} {
		b.Run(compression, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			c := NewConfig()
			c.URL = srv.URL
			c.Compression = compression
			d, err := New(c, destination.Deps{})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(b.Context())
			recs := benchRecords(2000, 300)
			batch := destination.Batch{Records: recs, Framer: arrayFramer{}}
			b.SetBytes(int64(len(framed(recs))))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Deliver(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFrameGzip is the CPU cost of gzip alone on the same payload.
func BenchmarkFrameGzip(b *testing.B) {
	p := framed(benchRecords(2000, 300))
	buf := new([]byte)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := gzipInto(buf, p); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.HasPrefix(*buf, []byte{0x1f, 0x8b}) {
		b.Fatal("not gzip")
	}
	b.ReportMetric(float64(len(p))/float64(len(*buf)), "ratio")
}

func TestBenchRecords(t *testing.T) {
	for _, r := range benchRecords(100, 300) {
		if len(r) != 300 || !json.Valid(r) {
			t.Fatalf("record %q: %d bytes, valid %v", r, len(r), json.Valid(r))
		}
	}
}
