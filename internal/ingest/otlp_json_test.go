package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
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
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// otlpJSONBothPaths converts an OTLP/JSON body with the fast path and with
// the reference path (decode.Valid, otlpJSONIDs, protojson, frame).
// fastOK false: the fast path gave up; refOK false: the reference refused
// the body (400).
func otlpJSONBothPaths(t testing.TB, body []byte) (fast, ref otlpConverter, fastOut, refOut []byte, fastOK, refOK bool) {
	t.Helper()
	now := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	fast, ref = otlpConverter{now: now}, otlpConverter{now: now}
	fastOut, fastOK = fast.frameJSON(nil, body)
	if req, rj := new(Handler).otlpDecode(body, otlpJSON); rj == nil {
		refOut, refOK = ref.frame(nil, req), true
	}
	return
}

// otlpJSONSame fails unless both paths took body and wrote the same.
func otlpJSONSame(t testing.TB, name string, body []byte) {
	t.Helper()
	fast, ref, fastOut, refOut, fastOK, refOK := otlpJSONBothPaths(t, body)
	if !fastOK || !refOK {
		t.Fatalf("%s: fast path %v, reference %v\n%s", name, fastOK, refOK, body)
	}
	if string(fastOut) != string(refOut) || fast.accepted != ref.accepted || fast.rejected != ref.rejected || fast.message != ref.message {
		t.Fatalf("%s: fast path and reference differ:\n%d %d %q\n%s\n%d %d %q\n%s\nbody %s", name,
			fast.accepted, fast.rejected, fast.message, fastOut, ref.accepted, ref.rejected, ref.message, refOut, body)
	}
}

var otlpIDValue = regexp.MustCompile(`"(traceId|spanId|trace_id|span_id)":"([^"]*)"`)

// otlpToJSON encodes a request as OTLP/JSON: protojson with hex ids.
func otlpToJSON(t testing.TB, m proto.Message, opts protojson.MarshalOptions) []byte {
	t.Helper()
	b, err := opts.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return otlpIDValue.ReplaceAllFunc(b, func(s []byte) []byte {
		sub := otlpIDValue.FindSubmatch(s)
		raw, err := base64.StdEncoding.DecodeString(string(sub[2]))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(`"` + string(sub[1]) + `":"` + hex.EncodeToString(raw) + `"`)
	})
}

// otlpToCompactJSON is otlpToJSON without the spaces protojson puts in
// at random: what OTLP/JSON exporters send.
func otlpToCompactJSON(t testing.TB, m proto.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, otlpToJSON(t, m, protojson.MarshalOptions{UseEnumNumbers: true})); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// otlpSDKRequests captures what the OpenTelemetry Go SDK's OTLP/HTTP log
// exporter sends (protobuf: it has no JSON encoding) for records of every
// kind of value, one batch of them.
func otlpSDKRequests(t testing.TB) []*collogspb.ExportLogsServiceRequest {
	t.Helper()
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"), otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("deployment.environment", "prod"),
		attribute.Int("process.pid", 4242), attribute.StringSlice("host.ip", []string{"10.0.0.1", "fe80::1"}))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithExportInterval(time.Hour))))
	spanCtx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID(testTraceID), SpanID: trace.SpanID(testSpanID), TraceFlags: trace.FlagsSampled}))
	when := time.Date(2025, 2, 12, 14, 32, 15, 123456789, time.UTC)
	for li, l := range []otellog.Logger{lp.Logger("app/payments", otellog.WithInstrumentationVersion("1.2.3"),
		otellog.WithInstrumentationAttributes(attribute.String("lib", "x"))), lp.Logger("")} {
		for i := range 20 {
			var r otellog.Record
			if i%5 != 4 {
				r.SetTimestamp(when.Add(time.Duration(i) * time.Millisecond))
			}
			r.SetSeverity(otellog.Severity(i%24 + 1))
			r.SetSeverityText([]string{"INFO", "", "ERROR"}[i%3])
			switch i % 4 {
			case 0:
				r.SetBody(attribute.StringValue(fmt.Sprintf("payment %d failed — \"quoted\" \\ <tag> \x01 é", i)))
			case 1:
				r.SetBody(attribute.MapValue(attribute.String("msg", "m"), attribute.Int64("n", math.MinInt64),
					attribute.Slice("list", attribute.Float64Value(1e300), attribute.BoolValue(false), attribute.ByteSliceValue([]byte{0, 255}))))
			case 2:
				r.SetBody(attribute.Float64Value(math.Inf(-1)))
			}
			if i%2 == 0 {
				r.SetEventName("payment.failed")
			}
			r.AddAttributes(attribute.Int("order", 40+i), attribute.Bool("retry", i%2 == 1), attribute.Float64("amount", 12.5),
				attribute.StringSlice("tags", []string{"a", "b"}), attribute.Map("user", attribute.String("id", "u1"), attribute.Int("age", 7)),
				attribute.ByteSlice("raw", []byte("hi")), attribute.Float64("nan", math.NaN()), attribute.KeyValue{Key: "empty"})
			c := ctx
			if (i+li)%3 != 0 {
				c = spanCtx
			}
			l.Emit(c, r)
		}
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var out []*collogspb.ExportLogsServiceRequest
	for _, b := range bodies {
		req := &collogspb.ExportLogsServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			t.Fatal(err)
		}
		out = append(out, req)
	}
	if len(out) == 0 {
		t.Fatal("the exporter sent nothing")
	}
	return out
}

// otlpJSONCorpus is OTLP/JSON bodies the fast path must take, each with a
// name.
func otlpJSONCorpus(t testing.TB) map[string][]byte {
	many := make([]*commonpb.KeyValue, 80)
	for i := range many {
		many[i] = kv(fmt.Sprintf("k%d", i%50), intV(int64(i)))
	}
	reqs := map[string]*collogspb.ExportLogsServiceRequest{
		"every kind": otlpRequest(),
		"bench":      otlpBenchRequest(),
		"empty":      {},
		"no records": {ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{}}, {ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{}}}}}},
		"many keys":  {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: many}, {Attributes: many[:40]}}}}}}},
		"deep body":  {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: nestV(61)}, {Body: nestV(62)}, {Body: nestV(64)}}}}}}},
		"deep attrs": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: []*commonpb.KeyValue{kv("a", nestV(60))}}, {Attributes: []*commonpb.KeyValue{kv("a", nestV(61))}}}}}}}},
		"deep scope": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Attributes: []*commonpb.KeyValue{kv("a", nestV(61))}}, LogRecords: []*logspb.LogRecord{{}, {}}}}}}},
		"deep resource": {ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("a", nestV(62))}},
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}}}},
		"deep skipped dup": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: []*commonpb.KeyValue{kv("a", nestV(63)), kv("a", strV("x"))}}}}}}}},
		"far future":       {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: math.MaxUint64}, {ObservedTimeUnixNano: 1 << 63}, {TimeUnixNano: 1, ObservedTimeUnixNano: math.MaxUint64}}}}}}},
		"strings": {ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", strV("a\"b\\c\n\u2028é\U0001F600"))}},
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: strV("<tag>&\x01\x7f"), SeverityText: "\t", EventName: "é"}}}}}}},
		"arrays":      {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{nestV(2), {}, intV(-1)}}}}}}}}}}},
		"negative sn": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{SeverityNumber: -5, Flags: math.MaxUint32}}}}}}},
		"source": {ResourceLogs: []*logspb.ResourceLogs{
			{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", strV("a")), kv("service.name", intV(5))}}, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}},
			{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", strV("b")), kv("service.name", strV(""))}}, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}},
			{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("x")}})}}, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}},
		}},
		"doubles": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: []*commonpb.KeyValue{
			kv("a", dblV(math.Inf(1))), kv("b", dblV(math.Copysign(0, -1))), kv("c", dblV(5e-324)), kv("d", dblV(math.MaxFloat64)), kv("e", dblV(0.1)), kv("f", dblV(1e21)), kv("g", dblV(123456789)),
		}}}}}}}},
		"scopes": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{
			{Scope: &commonpb.InstrumentationScope{Name: "n"}, LogRecords: []*logspb.LogRecord{{}}},
			{Scope: &commonpb.InstrumentationScope{Version: "v", Attributes: []*commonpb.KeyValue{kv("x", strV("1")), kv("x", strV("2"))}, DroppedAttributesCount: 3}, LogRecords: []*logspb.LogRecord{{DroppedAttributesCount: 7}}},
			{LogRecords: []*logspb.LogRecord{{}}},
		}}}},
	}
	for i, req := range otlpSDKRequests(t) {
		reqs[fmt.Sprintf("OpenTelemetry Go SDK %d", i)] = req
	}
	out := map[string][]byte{}
	for name, req := range reqs {
		out[name] = otlpToJSON(t, req, protojson.MarshalOptions{})
		out[name+", compact"] = otlpToCompactJSON(t, req)
		out[name+", proto names, enum numbers, indented"] = otlpToJSON(t, req, protojson.MarshalOptions{UseProtoNames: true, UseEnumNumbers: true, Multiline: true, Indent: "\t"})
	}
	// Spellings protojson accepts that it does not write.
	for name, body := range map[string]string{
		"hand-written": `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"host.name","value":{"stringValue":"web-1"}}]},
			"scopeLogs":[{"scope":{"name":"app/logger","version":"1.2.3"},"logRecords":[
			{"timeUnixNano":"1739370735123456789","observedTimeUnixNano":"1739370736000000000","severityNumber":17,"severityText":"ERROR",
			"body":{"stringValue":"payment failed"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1,"eventName":"payment.failed",
			"attributes":[{"key":"order","value":{"intValue":"42"}},{"key":"dup","value":{"stringValue":"first"}},{"key":"dup","value":{"stringValue":"last"}}]},
			{"observedTimeUnixNano":1739370736000000000,"body":{"kvlistValue":{"values":[{"key":"s","value":{"stringValue":"x"}}]}}}]}]},
			{"scopeLogs":[{"logRecords":[{"traceId":"","spanId":""}]}]}]}`,
		"numbers as numbers": `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":1739370735123456789,"severityNumber":-2147483648,"flags":4294967295,"droppedAttributesCount":"4294967295",
			"attributes":[{"key":"i","value":{"intValue":-9223372036854775808}},{"key":"j","value":{"intValue":"9223372036854775807"}},{"key":"z","value":{"intValue":"-0"}},{"key":"d","value":{"doubleValue":-0.5e-3}},{"key":"e","value":{"doubleValue":"-Infinity"}},{"key":"f","value":{"doubleValue":1E+2}}]}]}]}]}`,
		"escapes": `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityText":"\u0041\t\"\\\/\b\f\n\r","body":{"stringValue":"\ud83d\ude00 \u00e9 \u2028 \u0000 \u001f \u0022 \u005c"},
			"eventName":"a\/b","attributes":[{"key":"\u00e9","value":{"stringValue":"é"}},{"key":"é","value":{"stringValue":"last"}}]}]}]}]}`,
		"nulls": `{"resourceLogs":[{"resource":null,"schemaUrl":null,"scopeLogs":[{"scope":null,"logRecords":[{"timeUnixNano":null,"observedTimeUnixNano":null,"severityNumber":null,"severityText":null,"body":null,
			"attributes":null,"droppedAttributesCount":null,"flags":null,"traceId":null,"spanId":null,"eventName":null},
			{"body":{"stringValue":null,"intValue":"3"},"attributes":[{"key":null,"value":null},{"key":"k"},{"value":null,"key":"v"},{}]},
			{"body":{"arrayValue":null}},{"body":{"kvlistValue":{"values":null}}},{"body":{"arrayValue":{}}},{"body":{"arrayValue":{"values":null}}},{"body":{}}]}]},
			{"scopeLogs":null},{"resource":{"attributes":null,"droppedAttributesCount":null}},{}]}`,
		"enum names":                       `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_FATAL4"},{"severity_number":"SEVERITY_NUMBER_NOT_ONE"},{"severityNumber":"SEVERITY\u005fNUMBER_WARN"}]}]}]}`,
		"ids":                              `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"7uGbfsPBsXQ="},{"trace_id":"W47/95gDgQPSabYzgT/GDA==","span_id":"EEE19B7EC3C1B174"}]}]}]}`,
		"bytes":                            `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[{"bytesValue":"aGk="},{"bytesValue":"aGk"},{"bytesValue":"-_8"},{"bytesValue":""},{"bytes_value":"AP8="}]}}}]}]}]}`,
		"whitespace":                       " \n\t{ \"resourceLogs\" : [ { \"scopeLogs\" : [ { \"logRecords\" : [ { \"body\" : { \"stringValue\" : \"x\" } , \"attributes\" : [ { \"key\" : \"a\" , \"value\" : { \"boolValue\" : true } } ] } ] } ] } ] } \r\n",
		"schema urls":                      `{"resourceLogs":[{"schemaUrl":"https://opentelemetry.io/schemas/1.26.0","scopeLogs":[{"schema_url":"x","logRecords":[{}]}]}]}`,
		"scope after records would not be": `{"resourceLogs":[{"scopeLogs":[{"scope":{"name":"n","attributes":[]},"logRecords":[{"flags":"1"}]}]}]}`,
	} {
		out[name] = []byte(body)
	}
	return out
}

func dblV(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}

// The fast path writes exactly what the reference path writes, on
// requests of every shape, the OpenTelemetry SDK's among them.
func TestOTLPJSONPathMatchesReference(t *testing.T) {
	for name, body := range otlpJSONCorpus(t) {
		otlpJSONSame(t, name, body)
	}
}

// What the fast path leaves to the reference path, which takes it or
// words the 400.
func TestOTLPJSONPathGivesUp(t *testing.T) {
	rec := func(r string) string { return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + r + `]}]}]}` }
	for name, tt := range map[string]struct {
		body  string
		refOK bool
	}{
		"unknown member":           {rec(`{"somethingNew":1}`), true},
		"unknown top-level member": {`{"resourceLogs":[],"x":{}}`, true},
		"entity refs":              {`{"resourceLogs":[{"resource":{"entityRefs":[]}}]}`, true},
		"strindex":                 {rec(`{"body":{"stringValueStrindex":1}}`), true},
		"key strindex":             {rec(`{"attributes":[{"keyStrindex":1}]}`), true},
		"escaped member name":      {rec(`{"body":{"string\u0056alue":"x"}}`), true},
		"exponent":                 {rec(`{"timeUnixNano":1e18}`), true},
		"fraction":                 {rec(`{"body":{"intValue":"1.0"}}`), true},
		"double as a string":       {rec(`{"body":{"doubleValue":"1.5"}}`), true},
		"value before key":         {rec(`{"attributes":[{"value":{"intValue":1},"key":"a"}]}`), true},
		"resource after scopes":    {`{"resourceLogs":[{"scopeLogs":[],"resource":{}}]}`, true},
		"scope after records":      {`{"resourceLogs":[{"scopeLogs":[{"logRecords":[],"scope":{}}]}]}`, true},
		"escaped id":               {rec(`{"traceId":"5b8efff798038103d269b633813fc60\u0063"}`), false}, // otlpJSONIDs reads ids raw
		"escaped bytes":            {rec(`{"body":{"bytesValue":"a\/8="}}`), true},
		"lone surrogate":           {rec(`{"body":{"stringValue":"\ud800"}}`), false},
		"bad hex id":               {rec(`{"traceId":"xyz"}`), false},
		"malformed":                {`{"resourceLogs":[`, false},
		"trailing":                 {`{} {}`, false},
		"not an object":            {`[]`, false},
		"empty":                    {``, false},
		"repeated member":          {rec(`{"body":{},"body":{}}`), false},
		"both spellings":           {rec(`{"eventName":"a","event_name":"b"}`), false},
		"two oneof members":        {rec(`{"body":{"stringValue":"a","intValue":1}}`), false},
		"null record":              {rec(`null`), false},
		"string for a bool":        {rec(`{"body":{"boolValue":"true"}}`), false},
		"uint out of range":        {rec(`{"flags":4294967296}`), false},
		"int out of range":         {rec(`{"body":{"intValue":"9223372036854775808"}}`), false},
		"negative time":            {rec(`{"timeUnixNano":"-1"}`), false},
		"double out of range":      {rec(`{"body":{"doubleValue":1e400}}`), false},
		"leading zero":             {rec(`{"timeUnixNano":"01"}`), false},
		"invalid UTF-8":            {rec("{\"body\":{\"stringValue\":\"\xff\"}}"), false},
		"control character":        {rec("{\"body\":{\"stringValue\":\"\x01\"}}"), false},
		"bad base64":               {rec(`{"body":{"bytesValue":"a"}}`), false},
		"too deep":                 {rec(`{"body":` + strings.Repeat(`{"kvlistValue":{"values":[{"key":"k","value":`, 68) + `{}` + strings.Repeat(`}]}}`, 68) + `}`), false},
	} {
		_, _, _, _, fastOK, refOK := otlpJSONBothPaths(t, []byte(tt.body))
		if fastOK {
			t.Errorf("%s: the fast path took it", name)
		}
		if refOK != tt.refOK {
			t.Errorf("%s: the reference path took it: %v, want %v", name, refOK, tt.refOK)
		}
	}
}

// A body of many records goes through without an allocation per record.
func TestOTLPJSONAllocs(t *testing.T) {
	body := otlpToCompactJSON(t, otlpBenchRequest())
	var c otlpConverter
	dst := make([]byte, 0, 2*len(body))
	c.frameJSON(dst, body) // warm the pool
	allocs := testing.AllocsPerRun(100, func() {
		c = otlpConverter{now: time.Now()}
		if _, ok := c.frameJSON(dst, body); !ok || c.accepted != 100 {
			t.Fatal("not taken")
		}
	})
	if allocs > 5 {
		t.Errorf("%v allocations for 100 records", allocs)
	}
}

func BenchmarkOTLPJSONFrame(b *testing.B) {
	body := otlpToCompactJSON(b, otlpBenchRequest())
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c := otlpConverter{now: time.Now()}
		if _, ok := c.frameJSON(dst, body); !ok {
			b.Fatal("not taken")
		}
	}
}

// ojShortest is right about every number it vouches for.
func TestOJShortest(t *testing.T) {
	nums := []string{"0", "-0", "1", "12.95", "0.1", "0.0001", "0.00001", "0.00012", "123456", "1234567", "999999.5", "100", "1.50",
		"0.30000000000000004", "123456789012345", "1234567890123456", "0.000123456789012345", "9007199254740993", "-5.25", "1e5", "0.0"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		n := strconv.FormatFloat(r.Float64()*math.Pow(10, float64(r.IntN(14)-6)), 'f', r.IntN(12), 64)
		nums = append(nums, n, "-"+n)
	}
	for _, n := range nums {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			t.Fatal(err)
		}
		if ojShortest([]byte(n)) && strconv.FormatFloat(f, 'g', -1, 64) != n {
			t.Fatalf("ojShortest(%s) but it is written %s", n, strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	for _, n := range []string{"12.95", "0.0001", "123456", "-0"} {
		if !ojShortest([]byte(n)) {
			t.Errorf("ojShortest(%s) = false", n)
		}
	}
}
