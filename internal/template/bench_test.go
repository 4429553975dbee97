package template

import (
	"fmt"
	"testing"
)

// benchEnvelope is a ~300-byte stored event.
const benchEnvelope = `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_30921","status":"approved","amount":1299,"currency":"EUR","latency_ms":182,"user":{"id":"u_8812","email":"jane@example.com","country":"FR"},"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]},"metadata":{"env":"prod","region":"eu-west-1"}}`

var benchVars8 = []string{
	"timestamp", "source", "event.status", "event.amount",
	"event.user.email", "event.items.0.sku", "metadata.region", "event.missing",
}

func BenchmarkRenderVariables8(b *testing.B) {
	tpl := mustCompile(b, benchVars8, "")
	ev := []byte(benchEnvelope)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = tpl.Render(dst[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderDataset(b *testing.B) {
	tpl := mustCompile(b, nil, `{"status":"$event.status","when":"$timestamp","user":"$event.user","app":"runnel","n":3}`)
	ev := []byte(benchEnvelope)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = tpl.Render(dst[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderPassThrough(b *testing.B) {
	tpl := mustCompile(b, nil, "")
	ev := []byte(benchEnvelope)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = tpl.Render(dst[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrame frames a batch of 1000 rendered ~300-byte records as a
// JSON array.
func BenchmarkFrame(b *testing.B) {
	p := mustPayload(b, "[$dataset]", ptr(","), 0, false)
	records := make([][]byte, 1000)
	total := 0
	for i := range records {
		records[i] = []byte(benchEnvelope)
		total += len(records[i])
	}
	dst := make([]byte, 0, p.Size(len(records), total))
	b.SetBytes(int64(p.Size(len(records), total)))
	b.ReportAllocs()
	for b.Loop() {
		dst = p.Frame(dst[:0], records)
	}
}

func BenchmarkEncodeASCII(b *testing.B) {
	p := mustPayload(b, "", nil, 0, true)
	for _, tc := range []struct{ name, rec string }{
		{"ascii", benchEnvelope},
		{"mixed", `{"msg":"Zoë paid 12 € at Café Müller 😀","city":"東京","source":"payments-app","status":"approved"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rec := []byte(tc.rec)
			dst := make([]byte, 0, 4*len(rec))
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				dst = p.Encode(dst[:0], rec)
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	p := mustPayload(b, "[$dataset]", ptr(","), 64*1024, false)
	records := make([][]byte, 2000)
	for i := range records {
		records[i] = fmt.Appendf(nil, `{"i":%d,"pad":"%0*d"}`, i, i%300, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Split(records)
	}
}
