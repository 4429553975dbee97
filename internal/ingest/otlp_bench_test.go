package ingest

import (
	"fmt"
	"net/http/httptest"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// otlpBenchRequest is 100 log records carrying benchEvents' data, as an
// SDK exports them: one resource, one scope.
func otlpBenchRequest() *collogspb.ExportLogsServiceRequest {
	var lrs []*logspb.LogRecord
	for i := range 100 {
		lrs = append(lrs, &logspb.LogRecord{
			TimeUnixNano: uint64(1739370735123000000 + int64(i)*1e6), ObservedTimeUnixNano: uint64(1739370735200000000 + int64(i)*1e6),
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
			Body:    strV(fmt.Sprintf("payment txn_%05d approved — café ok", 30000+i)),
			TraceId: testTraceID, SpanId: testSpanID, Flags: 1,
			Attributes: []*commonpb.KeyValue{
				kv("transactionId", strV(fmt.Sprintf("txn_%05d", 30000+i))), kv("status", strV("approved")),
				kv("latency_ms", intV(int64(100+i%300))), kv("amount", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: float64(i%500) + 0.95}}),
				kv("currency", strV("EUR")), kv("customer", strV(fmt.Sprintf("cus_8f2k1m%03d", i))),
				kv("card.brand", strV("visa")), kv("retry", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{}}),
			},
		})
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			kv("service.name", strV("payments-app")), kv("deployment.environment", strV("prod")), kv("cloud.region", strV("eu-west-1")),
		}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "payments", Version: "1.0.0"}, LogRecords: lrs}},
	}}}
}

func BenchmarkOTLP(b *testing.B) {
	pb, err := proto.Marshal(otlpBenchRequest())
	if err != nil {
		b.Fatal(err)
	}
	js := otlpToCompactJSON(b, otlpBenchRequest()) // as exporters send it: hex ids, no spaces
	for _, c := range []struct {
		name, ctype string
		body        []byte
		gzip, par   bool
	}{
		{"protobuf", "application/x-protobuf", pb, false, false},
		{"protobuf-gzip", "application/x-protobuf", pb, true, false},
		{"protobuf-parallel", "application/x-protobuf", pb, false, true},
		{"json", "application/json", js, false, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFake(discard{}, nil)
			sent := c.body
			r := httptest.NewRequest("POST", "/v1/logs", nil)
			if c.gzip {
				sent = gz(b, c.body)
				r.Header.Set("Content-Encoding", "gzip")
			}
			r.Header.Set("Authorization", "Bearer "+f.token)
			r.Header.Set("X-Stream-Id", f.st.ID)
			r.Header.Set("Content-Type", c.ctype)
			compatBench(b, f.h.serveOTLPLogs, r, sent, len(c.body), c.par)
		})
	}
}
