package ingest

import (
	"fmt"
	"testing"

	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/model"
)

// benchLines returns n realistic combined access-log lines of about 230
// bytes.
func benchLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`203.0.113.%d - - [12/Feb/2025:14:%02d:%02d +0000] "GET /api/v1/items?id=%d&page=2 HTTP/1.1" %d %d `+
			`"https://example.com/products/shoes" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"`,
			i%250, i/60%60, i%60, 30000+i, []int{200, 200, 304, 404}[i%4], 1000+i*7)
	}
	return out
}

// BenchmarkNativeIngestAccessLog is BenchmarkNativeIngest for an
// edge_applications stream: 100 combined access-log lines per text/plain
// request, each parsed into a record; and, for comparison, the same
// stream fed 100 records of about 300 bytes as NDJSON.
func BenchmarkNativeIngestAccessLog(b *testing.B) {
	ls := lines(benchLines(100)...)
	recs := ndjson(benchEvents(100)...)
	for _, c := range []benchCase{
		{"text-combined", "text/plain", "", ls, ls},
		{"text-combined-gzip", "text/plain", "gzip", gz(b, ls), ls},
		{"ndjson-records", "application/x-ndjson", "", recs, recs},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFake(discard{}, func(st *model.Stream) { st.DataSource = catalog.EdgeApplications })
			r, rd, w := benchRequest(f.token, f.st.ID, c)
			b.SetBytes(int64(len(c.plain)))
			b.ReportAllocs()
			for b.Loop() {
				serveBench(b, f.h, r, rd, w, c.body)
			}
			reportEvents(b, 100)
		})
	}
}
