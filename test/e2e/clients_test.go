package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

// Real clients, unchanged, against the real binary: each sends into a
// stream whose HTTP destination is a sink, and the sink receives every
// event once, shaped by the stream's template.

// templatedStream is httpStream with a variables template.
func templatedStream(name, url string, variables ...string) map[string]any {
	def := httpStream(name, url, "200ms")
	def["template"] = map[string]any{"variables": variables}
	return def
}

// deliveredRecords waits until the sink holds want lines and decodes
// them, checking that each has exactly the template's keys, in order.
func deliveredRecords(t *testing.T, s *sink, want int, variables []string) []map[string]any {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d deliveries", want), func() bool { return len(s.Lines()) >= want })
	time.Sleep(300 * time.Millisecond) // a duplicate would come in the next batch
	lines := s.Lines()
	if len(lines) != want {
		t.Fatalf("%d lines delivered, want %d", len(lines), want)
	}
	var out []map[string]any
	for _, l := range lines {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var keys []string
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("not an object: %s", l)
		}
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
		}
		if !slices.Equal(keys, variables) {
			t.Fatalf("delivered keys %v, want the template's %v: %s", keys, variables, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestOpenTelemetrySDKLogsEndToEnd: the OpenTelemetry Go SDK's OTLP/HTTP
// log exporter (protobuf, gzip, the batch processor) exports to /v1/logs.
func TestOpenTelemetrySDKLogsEndToEnd(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	s := newSink(t)
	vars := []string{"timestamp", "source", "event.body", "event.severity_text", "event.severity_number", "event.attributes.order",
		"event.attributes.user.id", "event.trace_id", "metadata.scope.name"}
	createStream(t, n, templatedStream("otel-app", s.URL, vars...))

	ctx := t.Context()
	exp, err := otlploghttp.New(ctx,
		otlploghttp.WithEndpointURL(n.URL+"/v1/logs"),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + n.Token, "X-Stream-Id": "otel-app"}),
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
	)
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("deployment.environment", "e2e"))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportInterval(time.Hour), sdklog.WithExportMaxBatchSize(100))))
	traceID, _ := trace.TraceIDFromHex("5b8efff798038103d269b633813fc60c")
	spanCtx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: trace.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}, TraceFlags: trace.FlagsSampled}))
	logger := lp.Logger("app/payments")
	when := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	const total = 250
	for i := range total {
		var r otellog.Record
		r.SetTimestamp(when.Add(time.Duration(i) * time.Millisecond))
		r.SetSeverity(otellog.SeverityWarn)
		r.SetSeverityText("WARN")
		r.SetBody(attribute.StringValue(fmt.Sprintf("payment %d retried", i)))
		r.AddAttributes(attribute.Int("order", i), attribute.Map("user", attribute.String("id", fmt.Sprintf("u%d", i%7))))
		logger.Emit(spanCtx, r)
	}
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	recs := deliveredRecords(t, s, total, vars)
	seen := map[int]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(fmt.Sprint(r["event.attributes.order"]), "%d", &i); err != nil || seen[i] || i < 0 || i >= total {
			t.Fatalf("order %v: %v", r["event.attributes.order"], r)
		}
		seen[i] = true
		for k, want := range map[string]any{
			"timestamp":                when.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"source":                   "checkout",
			"event.body":               fmt.Sprintf("payment %d retried", i),
			"event.severity_text":      "WARN",
			"event.severity_number":    13,
			"event.attributes.user.id": fmt.Sprintf("u%d", i%7),
			"event.trace_id":           traceID.String(),
			"metadata.scope.name":      "app/payments",
		} {
			if fmt.Sprint(r[k]) != fmt.Sprint(want) {
				t.Fatalf("record %d: %s = %v, want %v", i, k, r[k], want)
			}
		}
	}
}

// TestElasticsearchBulkIndexerEndToEnd: go-elasticsearch's BulkIndexer,
// pointed at Runnel as at Elasticsearch (product check, API key), indexes
// into the stream named by the index.
func TestElasticsearchBulkIndexerEndToEnd(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	s := newSink(t)
	vars := []string{"timestamp", "source", "event.message", "event.status", "metadata.es_index"}
	createStream(t, n, templatedStream("app-logs", s.URL, vars...))

	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{n.URL}, APIKey: n.Token, CompressRequestBody: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := es.Info(); err != nil || res.StatusCode != 200 {
		t.Fatalf("the client's product check: %v %v", err, res)
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client: es, Index: "app-logs", NumWorkers: 2, FlushBytes: 8 << 10,
		OnError: func(_ context.Context, err error) { t.Errorf("indexer: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	const total = 300
	for i := range total {
		err := bi.Add(t.Context(), esutil.BulkIndexerItem{
			Action: "index",
			Body:   strings.NewReader(fmt.Sprintf(`{"@timestamp":"2025-02-12T14:%02d:%02d.000Z","message":"request %d","status":%d}`, i/60, i%60, i, 200+i%3)),
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				t.Errorf("item failed: %+v %v", r, err)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := bi.Stats(); st.NumFlushed != total || st.NumFailed != 0 || st.NumRequests < 2 {
		t.Fatalf("indexer stats %+v", st)
	}

	recs := deliveredRecords(t, s, total, vars)
	seen := map[int]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(fmt.Sprint(r["event.message"]), "request %d", &i); err != nil || seen[i] {
			t.Fatalf("record %v", r)
		}
		seen[i] = true
		if r["timestamp"] != fmt.Sprintf("2025-02-12T14:%02d:%02d.000Z", i/60, i%60) || r["source"] != "elasticsearch:app-logs" ||
			fmt.Sprint(r["event.status"]) != fmt.Sprint(200+i%3) || r["metadata.es_index"] != "app-logs" {
			t.Fatalf("record %d: %v", i, r)
		}
	}
}

// splunkLogging is the published HEC client (npm) the HEC input is tested
// with, pinned as scripts/test.sh installs it under .tools/npm.
var splunkLogging = []string{"splunk-logging@0.11.1", "needle@2.9.1"}

// npmModules returns the node_modules directory of splunkLogging,
// installing it when missing. Without node or npm, or when the install
// fails, the test fails under CI=true and is skipped otherwise.
func npmModules(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("%s is not installed: the test with the splunk-logging client cannot run (%v)", tool, err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".tools", "npm", splunkLogging[0])
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "splunk-logging", "package.json")); err == nil {
		return modules
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"install", "--prefix", dir, "--save-exact", "--no-audit", "--no-fund", "--no-update-notifier"}, splunkLogging...)
	if out, err := exec.CommandContext(ctx, "npm", args...).CombinedOutput(); err != nil {
		unavailable("npm install %s failed: %v\n%s", strings.Join(splunkLogging, " "), err, out)
	}
	return modules
}

// TestSplunkLoggingEndToEnd: splunk-logging (npm) posts batches of
// events to the HEC input with a token limited to the stream.
func TestSplunkLoggingEndToEnd(t *testing.T) {
	modules := npmModules(t)
	n := startNode(t, t.TempDir(), nil)
	s := newSink(t)
	vars := []string{"timestamp", "source", "event.event.message.n", "event.event.message.text", "event.event.severity", "event.host"}
	createStream(t, n, templatedStream("node-app", s.URL, vars...))
	var tok struct {
		Token string `json:"token"`
	}
	if code := n.do("POST", "/v1/tokens", map[string]any{"name": "hec", "scopes": []string{"events.ingest"}, "streams": []string{"node-app"}}, &tok); code != 201 || tok.Token == "" {
		t.Fatalf("token: %d", code)
	}

	const total, batch = 40, 8
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// The client script of the HEC input's own test (internal/ingest).
	cmd := exec.CommandContext(ctx, "node", filepath.Join("..", "..", "internal", "ingest", "testdata", "hec", "send.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "URL="+n.URL, "TOKEN="+tok.Token,
		fmt.Sprintf("COUNT=%d", total), fmt.Sprintf("BATCH=%d", batch))
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("node client: %v\n%s", err, out)
	}
	answers := 0
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); answers++ {
		var a map[string]any
		if json.Unmarshal(sc.Bytes(), &a) != nil || a["err"] != nil || fmt.Sprint(a["status"]) != "200" {
			t.Fatalf("the client saw %s", sc.Bytes())
		}
	}
	if answers != total/batch {
		t.Fatalf("%d answers, want %d:\n%s", answers, total/batch, out)
	}

	recs := deliveredRecords(t, s, total, vars)
	seen := map[int]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(fmt.Sprint(r["event.event.message.n"]), "%d", &i); err != nil || seen[i] {
			t.Fatalf("record %v", r)
		}
		seen[i] = true
		if r["timestamp"] != time.Unix(1739370735+int64(i), 250e6).UTC().Format(time.RFC3339Nano) || r["source"] != "node-app" ||
			r["event.event.message.text"] != "hello from node" || r["event.event.severity"] != map[bool]string{true: "warn", false: "info"}[i%2 == 1] ||
			r["event.host"] != "node-host" {
			t.Fatalf("record %d: %v", i, r)
		}
	}
}
