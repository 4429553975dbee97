package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

func strV(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func intV(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// nestV nests a string n kvlists deep.
func nestV(n int) *commonpb.AnyValue {
	v := strV("deep")
	for range n {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", v)}}}}
	}
	return v
}

var (
	testTraceID = []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	testSpanID  = []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
)

// otlpRequest is a request of two resources: one with service.name and
// every kind of value, one without.
func otlpRequest() *collogspb.ExportLogsServiceRequest {
	every := &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
		kv("s", strV("x")), kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
		kv("i", intV(math.MaxInt64)), kv("d", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}),
		kv("nan", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.NaN()}}),
		kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("hi")}}),
		kv("arr", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{intV(1), strV("two"), {}}}}}),
		kv("empty", &commonpb.AnyValue{}),
	}}}}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", strV("checkout")), kv("host.name", strV("web-1"))}},
			ScopeLogs: []*logspb.ScopeLogs{{
				Scope: &commonpb.InstrumentationScope{Name: "app/logger", Version: "1.2.3"},
				LogRecords: []*logspb.LogRecord{
					{TimeUnixNano: 1739370735123456789, ObservedTimeUnixNano: 1739370736000000000, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_ERROR,
						SeverityText: "ERROR", Body: strV("payment failed"), TraceId: testTraceID, SpanId: testSpanID, Flags: 1, EventName: "payment.failed",
						Attributes: []*commonpb.KeyValue{kv("order", intV(42)), kv("dup", strV("first")), kv("dup", strV("last")), kv("every", every)}},
					{ObservedTimeUnixNano: 1739370736000000000, Body: every},
				},
			}},
		},
		{
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}},
		},
	}}
}

func TestOTLPAccepts(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "otel", nil)
	only := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})
	pb, err := proto.Marshal(otlpRequest())
	if err != nil {
		t.Fatal(err)
	}
	js := []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"host.name","value":{"stringValue":"web-1"}}]},
	 "scopeLogs":[{"scope":{"name":"app/logger","version":"1.2.3"},"logRecords":[
	  {"timeUnixNano":"1739370735123456789","observedTimeUnixNano":"1739370736000000000","severityNumber":17,"severityText":"ERROR",
	   "body":{"stringValue":"payment failed"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1,"eventName":"payment.failed",
	   "attributes":[{"key":"order","value":{"intValue":"42"}},{"key":"dup","value":{"stringValue":"first"}},{"key":"dup","value":{"stringValue":"last"}}]},
	  {"observedTimeUnixNano":1739370736000000000,"body":{"kvlistValue":{"values":[{"key":"s","value":{"stringValue":"x"}}]}}}]}]},
	 {"scopeLogs":[{"logRecords":[{"traceId":"","spanId":""}]}]}]}`)
	now := c.clock.Now().UTC().Format(time.RFC3339Nano)
	auth := []string{"Authorization", "Bearer " + c.token, "X-Stream-Id", st.ID}

	for _, tt := range []struct {
		name, ctype string
		hdr         []string
		body        []byte
		path        string
	}{
		{"protobuf", "application/x-protobuf", auth, pb, "/v1/logs"},
		{"protobuf gzip, ?stream", "application/x-protobuf", []string{"Authorization", "Bearer " + c.token, "Content-Encoding", "gzip"}, gz(t, pb), "/v1/logs?stream=otel"},
		{"json, token's only stream", "application/json; charset=utf-8", []string{"Authorization", "Bearer " + only}, js, "/v1/logs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := c.msgs(st.ID)
			r := c.do("POST", tt.path, tt.body, append([]string{"Content-Type", tt.ctype}, tt.hdr...)...)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			resp := &collogspb.ExportLogsServiceResponse{}
			if strings.HasPrefix(tt.ctype, "application/json") {
				if r.header.Get("Content-Type") != "application/json" || string(r.body) != "{}" {
					t.Fatalf("answer %q %s", r.header.Get("Content-Type"), r.body)
				}
			} else if r.header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(r.body, resp) != nil || resp.PartialSuccess != nil {
				t.Fatalf("answer %q %x", r.header.Get("Content-Type"), r.body)
			}
			if c.msgs(st.ID) != before+1 {
				t.Fatal("one frame expected")
			}
			f, m := c.lastFrame(st.ID)
			if m.Header.Get(event.HdrSource) != dialectOTLP {
				t.Fatalf("dialect %q", m.Header.Get(event.HdrSource))
			}
			evs := frameEvents(t, f)
			if len(evs) != 3 {
				t.Fatalf("%d events: %s", len(evs), f.Body)
			}
			for _, w := range []struct {
				i    int
				p    string
				want any
			}{
				{0, "timestamp", "2025-02-12T14:32:15.123456789Z"},
				{0, "source", "checkout"},
				{0, "event.body", "payment failed"},
				{0, "event.severity_text", "ERROR"},
				{0, "event.severity_number", 17},
				{0, "event.attributes.order", 42},
				{0, "event.attributes.dup", "last"},
				{0, "event.trace_id", "5b8efff798038103d269b633813fc60c"},
				{0, "event.span_id", "eee19b7ec3c1b174"},
				{0, "event.flags", 1},
				{0, "event.event_name", "payment.failed"},
				{0, "event.observed_timestamp", "2025-02-12T14:32:16Z"},
				{0, "metadata.resource.service.name", nil}, // a key with a dot, not a path
				{0, "metadata.resource.host.name", nil},
				{0, "metadata.scope.name", "app/logger"},
				{0, "metadata.scope.version", "1.2.3"},
				{1, "timestamp", "2025-02-12T14:32:16Z"},
				{1, "event.body.s", "x"},
				{1, "event.severity_number", 0},
				{1, "event.severity_text", nil},
				{1, "event.trace_id", nil},
				{2, "timestamp", now},
				{2, "source", "otlp"},
				{2, "event.body", nil},
				{2, "event.attributes", map[string]any{}},
				{2, "metadata.resource", map[string]any{}},
				{2, "metadata.scope", nil},
			} {
				if g := jpath(evs[w.i], w.p); fmt.Sprint(g) != fmt.Sprint(w.want) {
					t.Errorf("event %d: %s = %v, want %v\n%v", w.i, w.p, g, w.want, evs[w.i])
				}
			}
			if res := jpath(evs[0], "metadata.resource").(map[string]any); res["service.name"] != "checkout" || res["host.name"] != "web-1" {
				t.Errorf("resource %v", res)
			}
			if tt.ctype == "application/x-protobuf" {
				// Every kind of AnyValue, exactly.
				got := string(event.Split(f.Body)[1])
				want := `"body":{"s":"x","b":true,"i":9223372036854775807,"d":1.5,"nan":"NaN","bytes":"aGk=","arr":[1,"two",null],"empty":null}`
				if !strings.Contains(got, want) {
					t.Errorf("stored %s\nwant it to contain %s", got, want)
				}
			}
		})
	}
}

// otlpAnswer reads a google.rpc.Status answer in the encoding of ctype.
func otlpAnswer(t *testing.T, r hres, ctype string) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	var err error
	if ctype == "application/x-protobuf" {
		if r.header.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		err = proto.Unmarshal(r.body, st)
	} else {
		if r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		err = protojson.Unmarshal(r.body, st)
	}
	if err != nil || st.Message == "" {
		t.Fatalf("answer %d is not a google.rpc.Status: %v %q", r.status, err, r.body)
	}
	return st
}

func TestOTLPRejects(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "otel", nil)
	other := c.stream(model.DefaultWorkspace, "other", nil)
	small := c.stream(model.DefaultWorkspace, "small", func(s *model.Stream) { s.Limits.MaxPayload = 1024 })
	inactive := c.stream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { s.Status = model.StatusInactive })
	limited := c.stream(model.DefaultWorkspace, "limited", func(s *model.Stream) { s.Limits.EventsPerSecond, s.Limits.Burst = 1, 2 })
	noScope := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	onlyOther := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-other", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID}})

	pb := func(m *collogspb.ExportLogsServiceRequest) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	records := func(vs ...*commonpb.AnyValue) *collogspb.ExportLogsServiceRequest {
		var lrs []*logspb.LogRecord
		for _, v := range vs {
			lrs = append(lrs, &logspb.LogRecord{Body: v})
		}
		return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: lrs}}}}}
	}
	ok := pb(records(strV("x")))
	big := pb(records(strV(strings.Repeat("x", 2000))))
	to := func(s *model.Stream) []string {
		return []string{"Authorization", "Bearer " + c.token, "X-Stream-Id", s.ID}
	}
	const protoCT, jsonCT = "application/x-protobuf", "application/json"

	tests := []struct {
		name, ctype string
		hdr         []string
		body        []byte
		status      int
		code        int32
		msg         string
	}{
		{"no token", protoCT, []string{"X-Stream-Id", st.ID}, ok, 401, 16, "missing token"},
		{"other scheme", jsonCT, []string{"Authorization", "Splunk " + c.token}, []byte(`{}`), 401, 16, "Bearer"},
		{"unknown token", protoCT, []string{"Authorization", "Bearer rnl_nope"}, ok, 401, 16, "unknown token"},
		{"no scope", protoCT, []string{"Authorization", "Bearer " + noScope}, ok, 403, 7, "events.ingest"},
		{"unsupported Content-Type", "text/plain", to(st), ok, 415, 3, "application/x-protobuf"},
		{"no Content-Type", "", to(st), ok, 415, 3, "Content-Type"},
		{"no stream chosen", protoCT, []string{"Authorization", "Bearer " + c.token}, ok, 404, 5, "X-Stream-Id"},
		{"unknown stream", jsonCT, []string{"Authorization", "Bearer " + c.token, "X-Stream-Id", "nope"}, []byte(`{}`), 404, 5, `"nope"`},
		{"token limited to another stream", protoCT, []string{"Authorization", "Bearer " + onlyOther, "X-Stream-Id", st.ID}, ok, 403, 7, "not allowed"},
		{"inactive stream", protoCT, to(inactive), ok, 409, 9, "inactive"},
		{"unsupported encoding", protoCT, append([]string{"Content-Encoding", "zstd"}, to(st)...), ok, 400, 3, "Content-Encoding"},
		{"malformed protobuf", protoCT, to(st), []byte{0x0a, 0xff, 0x01}, 400, 3, "protobuf"},
		{"invalid UTF-8 in protobuf", protoCT, to(st), bytes.Replace(pb(records(strV("QUTF8Q"))), []byte("QUTF8Q"), []byte("\xffUTF8\xff"), 1), 400, 3, "UTF-8"},
		{"malformed JSON", jsonCT, to(st), []byte(`{"resourceLogs":[`), 400, 3, "not valid JSON"},
		{"JSON of another shape", jsonCT, to(st), []byte(`{"resourceLogs":{}}`), 400, 3, "OTLP/JSON"},
		{"bad hex trace id", jsonCT, to(st), []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}`), 400, 3, "hex"},
		{"every record too deep", protoCT, to(st), pb(records(nestV(70), nestV(80))), 400, 3, "deeper than 64"},
		{"too large", protoCT, to(small), big, 413, 3, "limit"},
		{"gzip bomb", protoCT, append([]string{"Content-Encoding", "gzip"}, to(small)...), gz(t, pb(records(strV(strings.Repeat("x", 1<<20))))), 413, 3, "decompression"},
		{"more than the burst", protoCT, to(limited), pb(records(strV("a"), strV("b"), strV("c"))), 429, 8, "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.counts()
			hdr := tt.hdr
			if tt.ctype != "" {
				hdr = append([]string{"Content-Type", tt.ctype}, hdr...)
			}
			r := c.do("POST", "/v1/logs", tt.body, hdr...)
			want := tt.ctype
			if want != protoCT {
				want = jsonCT
			}
			s := otlpAnswer(t, r, want)
			if r.status != tt.status || s.Code != tt.code || !strings.Contains(s.Message, tt.msg) {
				t.Fatalf("got %d %v, want %d %d %q", r.status, s, tt.status, tt.code, tt.msg)
			}
			if (tt.status == 429) != (r.header.Get("Retry-After") != "") {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if after := c.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}

	// Partial success: the too-deep record is refused alone.
	r := c.do("POST", "/v1/logs", pb(records(strV("a"), nestV(70), strV("c"))), append([]string{"Content-Type", protoCT}, to(st)...)...)
	resp := &collogspb.ExportLogsServiceResponse{}
	if r.status != 200 || proto.Unmarshal(r.body, resp) != nil || resp.GetPartialSuccess().GetRejectedLogRecords() != 1 ||
		!strings.Contains(resp.GetPartialSuccess().GetErrorMessage(), "log record 1") {
		t.Fatalf("%d %v", r.status, resp)
	}
	if evs := frameEvents(t, must(c.lastFrame(st.ID))); len(evs) != 2 || evs[1]["event"].(map[string]any)["body"] != "c" {
		t.Fatalf("stored %v", evs)
	}
	// The same in JSON: partialSuccess in OTLP/JSON.
	r = c.do("POST", "/v1/logs", must(protojson.Marshal(records(strV("a"), nestV(65)))), append([]string{"Content-Type", jsonCT}, to(st)...)...)
	if r.status != 200 || !strings.Contains(string(r.body), `"partialSuccess":{"rejectedLogRecords":"1"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// An empty request: 200, nothing stored.
	before := c.counts()
	for _, body := range [][]byte{nil, pb(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{}}})} {
		r = c.do("POST", "/v1/logs", body, append([]string{"Content-Type", protoCT}, to(st)...)...)
		if r.status != 200 || len(r.body) != 0 {
			t.Fatalf("empty request: %d %q", r.status, r.body)
		}
	}
	if after := c.counts(); !maps.Equal(before, after) {
		t.Fatalf("an empty request stored something: %v → %v", before, after)
	}
	// Within the burst, then 429.
	for i, want := range []int{200, 200, 429} {
		if r := c.do("POST", "/v1/logs", ok, append([]string{"Content-Type", protoCT}, to(limited)...)...); r.status != want {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	// Method not allowed: the mux answers.
	if r := c.do("GET", "/v1/logs", nil, to(st)...); r.status == 200 {
		t.Fatalf("GET /v1/logs: %d", r.status)
	}
}

func TestOTLPPublishFailures(t *testing.T) {
	body, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: strV("x")}}}}}}})
	for _, tt := range []struct {
		err   error
		retry string
	}{
		{fmt.Errorf("%w: nats: maximum bytes exceeded", bus.ErrBufferFull), "5"},
		{errors.New("bus: publish: nats: connection closed"), "2"},
	} {
		f := newFake(&recorder{err: tt.err}, nil)
		r := httptest.NewRequest("POST", "/v1/logs", strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer "+f.token)
		r.Header.Set("X-Stream-Id", f.st.ID)
		r.Header.Set("Content-Type", "application/x-protobuf")
		w := httptest.NewRecorder()
		f.h.serveOTLPLogs(w, r)
		st := &spb.Status{}
		if w.Code != 503 || w.Header().Get("Retry-After") != tt.retry || proto.Unmarshal(w.Body.Bytes(), st) != nil || st.Code != 14 {
			t.Fatalf("%v: %d %v %v", tt.err, w.Code, w.Header(), st)
		}
	}
}

func TestOTLPJSONIDs(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{`{"a":"b"}`, `{"a":"b"}`, ""},
		{`{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}`, `{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="}`, ""},
		{`{"trace_id" : "5B8EFFF798038103D269B633813FC60C"}`, `{"trace_id" : "W47/95gDgQPSabYzgT/GDA=="}`, ""},
		{`{"traceId":"W47/95gDgQPSabYzgT/GDA=="}`, `{"traceId":"W47/95gDgQPSabYzgT/GDA=="}`, ""},
		{`{"traceId":""}`, `{"traceId":""}`, ""},
		{`{"k":"traceId","v":{"stringValue":"traceId"}}`, `{"k":"traceId","v":{"stringValue":"traceId"}}`, ""},
		{`{"spanId":"eee19b7ec3c1b1"}`, "", "spanId"},
		{`{"traceId":"not hex at all, and long enough!!"}`, "", "traceId"},
	} {
		got, err := otlpJSONIDs(nil, []byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s → %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// otlpBothPaths converts a protobuf body with the fast path and with the
// official types. wireOK false: the fast path gave up.
func otlpBothPaths(t testing.TB, body []byte) (wire, ref otlpConverter, wireOut, refOut []byte, wireOK, refOK bool) {
	t.Helper()
	now := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	wire, ref = otlpConverter{now: now}, otlpConverter{now: now}
	wireOut, wireOK = wire.frameWire(nil, body)
	req := &collogspb.ExportLogsServiceRequest{}
	if proto.Unmarshal(body, req) == nil {
		refOut, refOK = ref.frame(nil, req), true
	}
	return
}

// The fast path writes exactly what the official types give, and takes
// only what proto.Unmarshal takes.
func TestOTLPWirePathMatchesOfficialTypes(t *testing.T) {
	many := make([]*commonpb.KeyValue, 40)
	for i := range many {
		many[i] = kv(fmt.Sprintf("k%d", i%25), intV(int64(i)))
	}
	reqs := map[string]*collogspb.ExportLogsServiceRequest{
		"every kind":  otlpRequest(),
		"bench":       otlpBenchRequest(),
		"empty":       {},
		"no records":  {ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{}}, {ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{}}}}}},
		"many keys":   {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: many}}}}}}},
		"deep body":   {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: nestV(61)}, {Body: nestV(62)}, {Body: nestV(70)}}}}}}},
		"deep attrs":  {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: []*commonpb.KeyValue{kv("a", nestV(60))}}, {Attributes: []*commonpb.KeyValue{kv("a", nestV(61))}}}}}}}},
		"deep scope":  {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Attributes: []*commonpb.KeyValue{kv("a", nestV(61))}}, LogRecords: []*logspb.LogRecord{{}, {}}}}}}},
		"far future":  {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: math.MaxUint64}, {ObservedTimeUnixNano: 1 << 63}, {TimeUnixNano: 1, ObservedTimeUnixNano: math.MaxUint64}}}}}}},
		"strings":     {ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", strV("a\"b\\c\n\u2028é"))}}, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: strV("<tag>&\x01"), SeverityText: "\t", EventName: "é"}}}}}}},
		"arrays":      {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{nestV(2), {}, intV(-1)}}}}}}}}}}},
		"strindex":    {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: 3}}, Attributes: []*commonpb.KeyValue{{KeyStrindex: 2, Value: strV("x")}, {Key: "novalue"}}}}}}}}},
		"negative sn": {ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{SeverityNumber: -5, Flags: math.MaxUint32, TraceId: []byte{1}, SpanId: []byte{2, 3}}}}}}}},
	}
	for name, req := range reqs {
		body, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		wire, ref, wireOut, refOut, wireOK, refOK := otlpBothPaths(t, body)
		if !wireOK || !refOK {
			t.Fatalf("%s: fast path %v, official %v", name, wireOK, refOK)
		}
		if string(wireOut) != string(refOut) || wire.accepted != ref.accepted || wire.rejected != ref.rejected || wire.message != ref.message {
			t.Fatalf("%s: fast path and official types differ:\n%d %d %q\n%s\n%d %d %q\n%s", name,
				wire.accepted, wire.rejected, wire.message, wireOut, ref.accepted, ref.rejected, ref.message, refOut)
		}
	}
	// What the fast path leaves to the official types.
	valid, _ := proto.Marshal(otlpRequest())
	for name, body := range map[string][]byte{
		"unknown field":         append(protowire.AppendTag(nil, 99, protowire.VarintType), 1),
		"resource twice":        must(proto.Marshal(&logspb.ResourceLogs{Resource: &resourcepb.Resource{}})),
		"truncated":             valid[:len(valid)-3],
		"invalid UTF-8":         {0x0a, 0x0b, 0x12, 0x09, 0x12, 0x07, 0x2a, 0x05, 0x0a, 0x03, 0xff, 0xfe, 0xfd},
		"entity refs":           must(proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{Resource: &resourcepb.Resource{EntityRefs: []*commonpb.EntityRef{{Type: "host"}}}}}})),
		"two oneof members":     wireTwoOneofs(),
		"group wire type":       protowire.AppendTag(nil, 1, protowire.StartGroupType),
		"resource_logs varint":  append(protowire.AppendTag(nil, 1, protowire.VarintType), 1),
		"record time as varint": wireRecordTimeVarint(),
	} {
		if name == "resource twice" {
			rl := append(append([]byte{}, body...), body...)
			body = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rl)
		}
		if _, ok := (&otlpConverter{}).frameWire(nil, body); ok {
			t.Errorf("%s: the fast path took it", name)
		}
	}
}

// wireTwoOneofs is a request whose one record's body sets two members of
// AnyValue's oneof (protobuf keeps the last).
func wireTwoOneofs() []byte {
	av := protowire.AppendString(protowire.AppendTag(nil, fAVString, protowire.BytesType), "a")
	av = protowire.AppendVarint(protowire.AppendTag(av, fAVInt, protowire.VarintType), 7)
	lr := protowire.AppendBytes(protowire.AppendTag(nil, fLRBody, protowire.BytesType), av)
	sl := protowire.AppendBytes(protowire.AppendTag(nil, fSLLogRecords, protowire.BytesType), lr)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), sl)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

func wireRecordTimeVarint() []byte {
	lr := protowire.AppendVarint(protowire.AppendTag(nil, fLRTime, protowire.VarintType), 5)
	sl := protowire.AppendBytes(protowire.AppendTag(nil, fSLLogRecords, protowire.BytesType), lr)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), sl)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// appendNanos writes what cjAppendTime writes, cache or not.
func TestOTLPAppendNanos(t *testing.T) {
	var c otlpConverter
	r := rand.New(rand.NewPCG(3, 4))
	ns := uint64(1739370735_000000000)
	for range 20000 {
		switch r.IntN(3) {
		case 0:
			ns += uint64(r.IntN(1000)) // same second, mostly
		case 1:
			ns += uint64(r.Int64N(3e9))
		default:
			ns = uint64(r.Int64N(math.MaxInt64)) // up to year 2262
		}
		got := string(c.appendNanos(nil, ns))
		if want := string(cjAppendTime(nil, time.Unix(0, int64(ns)))); got != want {
			t.Fatalf("appendNanos(%d) = %s, want %s", ns, got, want)
		}
	}
}
