package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// bulkBenchBody is 100 index actions with documents carrying benchEvents' data.
func bulkBenchBody() []byte {
	var b bytes.Buffer
	for i := range 100 {
		b.WriteString(`{"index":{"_index":"s"}}` + "\n")
		fmt.Fprintf(&b, `{"@timestamp":"2025-02-12T14:%02d:%02d.%03dZ","transactionId":"txn_%05d","status":"approved","latency_ms":%d,"amount":%d.95,`+
			`"currency":"EUR","customer":"cus_8f2k1m%03d","card":{"brand":"visa","last4":"4242"},"retry":false,"note":"caf\u00e9 \u2014 ok",`+
			`"env":"prod","team":"payments","region":"eu-west-1"}`+"\n",
			i/60%60, i%60, i*7%1000, 30000+i, 100+i%300, i%500, i)
	}
	return b.Bytes()
}

func BenchmarkBulk(b *testing.B) {
	body := bulkBenchBody()
	for _, c := range []struct {
		name string
		gzip bool
		par  bool
	}{{"index", false, false}, {"index-gzip", true, false}, {"index-parallel", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFake(discard{}, nil)
			wrap := f.h.Wrap(http.NotFoundHandler())
			sent := body
			r := httptest.NewRequest("POST", "/s/_bulk", nil)
			if c.gzip {
				sent = gz(b, body)
				r.Header.Set("Content-Encoding", "gzip")
			}
			r.Header.Set("Authorization", "ApiKey "+f.token)
			r.Header.Set("Content-Type", "application/x-ndjson")
			compatBench(b, wrap.ServeHTTP, r, sent, len(body), c.par)
		})
	}
}
