package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/runnel/runnel/internal/model"
)

// exportRecorder is a log processor that exports each record at once and
// keeps the exporter's errors, so that a test sees what the exporter saw.
type exportRecorder struct {
	exp  *otlploghttp.Exporter
	mu   sync.Mutex
	errs []error
}

func (p *exportRecorder) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p *exportRecorder) OnEmit(ctx context.Context, r *sdklog.Record) error {
	err := p.exp.Export(ctx, []sdklog.Record{r.Clone()})
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
	return nil
}
func (p *exportRecorder) Shutdown(ctx context.Context) error   { return p.exp.Shutdown(ctx) }
func (p *exportRecorder) ForceFlush(ctx context.Context) error { return nil }

// TestOTLPWithOpenTelemetrySDK exports logs with the OpenTelemetry Go SDK's
// OTLP/HTTP log exporter, unchanged (protobuf, gzip, its own retry
// policy), and checks what arrives in the stream.
func TestOTLPWithOpenTelemetrySDK(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "otel", nil)
	ctx := t.Context()
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("deployment.environment", "prod"))

	newExporter := func(token string) *otlploghttp.Exporter {
		exp, err := otlploghttp.New(ctx,
			otlploghttp.WithEndpointURL(c.url+"/v1/logs"),
			otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token, "X-Stream-Id": "otel"}),
			otlploghttp.WithCompression(otlploghttp.GzipCompression),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
		)
		if err != nil {
			t.Fatal(err)
		}
		return exp
	}
	traceID := trace.TraceID(testTraceID)
	spanID := trace.SpanID(testSpanID)
	spanCtx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	when := time.Date(2025, 2, 12, 14, 32, 15, 123456789, time.UTC)
	emit := func(l otellog.Logger, n int) {
		for i := range n {
			var r otellog.Record
			r.SetTimestamp(when.Add(time.Duration(i) * time.Second))
			r.SetSeverity(otellog.SeverityError)
			r.SetSeverityText("ERROR")
			r.SetBody(attribute.StringValue(fmt.Sprintf("payment %d failed", i)))
			r.SetEventName("payment.failed")
			r.AddAttributes(attribute.Int("order", 40+i), attribute.Bool("retry", i%2 == 1), attribute.Float64("amount", 12.5),
				attribute.StringSlice("tags", []string{"a", "b"}), attribute.Map("user", attribute.String("id", "u1"), attribute.Int("age", 7)),
				attribute.ByteSlice("raw", []byte("hi")))
			l.Emit(spanCtx, r)
		}
	}

	// One export per record.
	rec := &exportRecorder{exp: newExporter(c.token)}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(rec))
	emit(lp.Logger("app/payments", otellog.WithInstrumentationVersion("1.2.3")), 3)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, err := range rec.errs {
		if err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
	}
	evs := c.storedEvents(st.ID)
	if len(evs) != 3 || c.msgs(st.ID) != 3 {
		t.Fatalf("%d events in %d frames, want 3 in 3", len(evs), c.msgs(st.ID))
	}
	for i, ev := range evs {
		for p, want := range map[string]any{
			"timestamp":                "2025-02-12T14:32:" + fmt.Sprint(15+i) + ".123456789Z",
			"source":                   "checkout",
			"event.body":               fmt.Sprintf("payment %d failed", i),
			"event.severity_text":      "ERROR",
			"event.severity_number":    17,
			"event.event_name":         "payment.failed",
			"event.attributes.order":   40 + i,
			"event.attributes.retry":   i%2 == 1,
			"event.attributes.amount":  12.5,
			"event.attributes.tags":    []any{"a", "b"},
			"event.attributes.user.id": "u1",
			"event.attributes.raw":     "aGk=",
			"event.trace_id":           traceID.String(),
			"event.span_id":            spanID.String(),
			"event.flags":              1,
			"metadata.scope.name":      "app/payments",
			"metadata.scope.version":   "1.2.3",
		} {
			if g := jpath(ev, p); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("event %d: %s = %v, want %v", i, p, g, want)
			}
		}
		resAttrs, _ := jpath(ev, "metadata.resource").(map[string]any)
		if resAttrs["service.name"] != "checkout" || resAttrs["deployment.environment"] != "prod" {
			t.Errorf("event %d: resource %v", i, resAttrs)
		}
		// The SDK stamps the observed time; it is kept.
		if _, ok := jpath(ev, "event.observed_timestamp").(string); !ok {
			t.Errorf("event %d: no observed_timestamp: %v", i, ev)
		}
	}

	// The batch processor: many records, one request, one frame.
	exp := newExporter(c.token)
	lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportInterval(time.Hour))))
	emit(lp.Logger("batch"), 50)
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(c.storedEvents(st.ID)); got != 53 || c.msgs(st.ID) != 4 {
		t.Fatalf("%d events in %d frames after the batch, want 53 in 4", got, c.msgs(st.ID))
	}

	// A wrong token: the exporter reports the 401 and nothing is stored.
	rec = &exportRecorder{exp: newExporter("rnl_wrong")}
	lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(rec))
	emit(lp.Logger("app"), 1)
	_ = lp.Shutdown(ctx)
	if len(rec.errs) != 1 || rec.errs[0] == nil || !strings.Contains(rec.errs[0].Error(), "401") || !strings.Contains(rec.errs[0].Error(), "unknown token") {
		t.Fatalf("wrong token: %v", rec.errs)
	}
	if c.msgs(st.ID) != 4 {
		t.Fatal("stored with a wrong token")
	}
}
