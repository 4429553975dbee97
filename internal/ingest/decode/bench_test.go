package decode

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchBody returns n realistic events of about 300 bytes, as NDJSON or as a
// JSON array.
func benchBody(n int, format Format) []byte {
	var b []byte
	if format == FormatJSON {
		b = append(b, '[')
	}
	for i := range n {
		if i > 0 {
			if format == FormatJSON {
				b = append(b, ',')
			} else {
				b = append(b, '\n')
			}
		}
		zone := "Z"
		if i%10 == 9 {
			zone = "+01:00"
		}
		b = fmt.Appendf(b, `{"timestamp":"2025-02-12T14:%02d:%02d.%03d%s","source":"payments-app",`+
			`"event":{"transactionId":"txn_%05d","status":"approved","latency_ms":%d,"amount":%d.95,"currency":"EUR",`+
			`"customer":"cus_8f2k1m%03d","card":{"brand":"visa","last4":"4242"},"retry":false,"note":"caf\u00e9 \u2014 ok"},`+
			`"metadata":{"env":"prod","team":"payments","region":"eu-west-1"}}`,
			i/60%60, i%60, i*7%1000, zone, 30000+i, 100+i%300, i%500, i)
	}
	if format == FormatJSON {
		b = append(b, ']')
	}
	return b
}

func benchmarkEnvelope(b *testing.B, format Format) {
	body := benchBody(100, format)
	dst := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, n, err := Envelope(dst[:0], body, format, Limits{})
		if err != nil || n != 100 {
			b.Fatal(n, err)
		}
		dst = out
	}
}

func BenchmarkEnvelopeNDJSON(b *testing.B) { benchmarkEnvelope(b, FormatNDJSON) }

func BenchmarkEnvelopeJSONArray(b *testing.B) { benchmarkEnvelope(b, FormatJSON) }

func BenchmarkValid(b *testing.B) {
	body := benchBody(100, FormatJSON)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Valid(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSONValid is the baseline: encoding/json.Valid on the
// same body, a syntax check alone.
func BenchmarkEncodingJSONValid(b *testing.B) {
	body := benchBody(100, FormatJSON)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
}
