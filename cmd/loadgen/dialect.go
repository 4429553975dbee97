package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Dialects: -dialect sends the same events (the fields of the native
// body: id, status, amount, currency, user, method, latency_ms, a note
// padded to -event-size, env/team/region) in another ingest dialect's
// shape, -batch of them per request. Bodies are built once per client and
// only the fixed-width ids are rewritten before each request, as for the
// native dialect (in the protobuf body too: the ids keep their length).
//
//	native      POST /v1/streams/ingest, NDJSON envelopes (Bearer)
//	hec         POST /services/collector/event, concatenated HEC events (Splunk)
//	hec-raw     POST /services/collector/raw, one key=value line per event (Splunk, a channel)
//	bulk        POST /{stream}/_bulk, create action + document pairs (ApiKey)
//	otlp-json   POST /v1/logs, ExportLogsServiceRequest as OTLP/JSON (Bearer)
//	otlp-proto  POST /v1/logs, the same as protobuf (Bearer)
//	collection  POST /collection/batch/{inlet_id}, {"messages":[…]} (Bearer; the inlet id is read from the stream)
//	eventsv2    POST /api/v2/events/ingest, EventIngest objects (Api-Token): a
//	            JSON array of -batch events (a Runnel extension), one object with -batch 1
//	            (what Events v2 clients send)
var dialectNames = []string{"native", "hec", "hec-raw", "bulk", "otlp-json", "otlp-proto", "collection", "eventsv2"}

// loadEvent is one event's data.
type loadEvent struct {
	ts                                             time.Time
	source, idPrefix                               string
	status, currency, user, method, region, amount string
	latency                                        int
	note                                           string
}

// loadEvents draws the events of a client's body as newBody does (same
// generator, same order), the note padded so that the native line would
// be about size bytes.
func loadEvents(client, n, size int) []loadEvent {
	rng := rand.New(rand.NewPCG(uint64(client)+1, 0x5eed))
	base := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	out := make([]loadEvent, n)
	for i := range out {
		e := loadEvent{ts: base.Add(time.Duration(i) * time.Millisecond), source: fmt.Sprintf("loadgen-%02d", client%100),
			idPrefix: fmt.Sprintf("c%03d-", client%1000)}
		e.status = statuses[rng.IntN(len(statuses))]
		e.amount = fmt.Sprintf("%d.%02d", rng.IntN(5000), rng.IntN(100))
		e.currency = currency[rng.IntN(len(currency))]
		e.user = fmt.Sprintf("user_%05d", rng.IntN(100000))
		e.method = methods[rng.IntN(len(methods))]
		e.latency = rng.IntN(900) + 5
		e.region = regions[rng.IntN(len(regions))]
		// The native line's length without the note (newBody's layout).
		fixed := len(fmt.Sprintf(`{"timestamp":%q,"source":%q,"event":{"id":"%s`, e.ts.Format("2006-01-02T15:04:05.000Z07:00"), e.source, e.idPrefix)) + idDigits +
			len(fmt.Sprintf(`","status":%q,"amount":%s,"currency":%q,"user":%q,"method":%q,"latency_ms":%d,"note":"`, e.status, e.amount, e.currency, e.user, e.method, e.latency)) +
			len(fmt.Sprintf(`"},"metadata":{"env":"bench","team":"payments","region":%q}}`, e.region))
		off := rng.IntN(len(filler))
		var note strings.Builder
		for j := 0; j < size-fixed; j++ {
			note.WriteByte(filler[(off+j)%len(filler)])
		}
		e.note = note.String()
		out[i] = e
	}
	return out
}

// placeholder is event i's id before the first next(): unique in the
// body, so that its position can be found in any encoding.
func (e *loadEvent) placeholder(i int) string {
	return e.idPrefix + fmt.Sprintf("%0*d", idDigits, i)
}

// newDialectBody builds a client's body in dialect d.
func newDialectBody(d string, client, n, size int) (*body, error) {
	if d == "" || d == "native" {
		return newBody(client, n, size), nil
	}
	if d == "native-plan" {
		return newPlanBody(client, n, size), nil
	}
	evs := loadEvents(client, n, size)
	var buf []byte
	switch d {
	case "hec":
		for i, e := range evs {
			buf = fmt.Appendf(buf, `{"time":%d.%03d,"host":"loadgen","source":%q,"sourcetype":"_json","event":%s,"fields":{"env":"bench","team":"payments","region":%q}}`+"\n",
				e.ts.Unix(), e.ts.Nanosecond()/1e6, e.source, e.object(i, ""), e.region)
		}
	case "hec-raw":
		for i, e := range evs {
			buf = fmt.Appendf(buf, `%s %s id=%s status=%s amount=%s currency=%s user=%s method=%s latency_ms=%d region=%s note="%s"`+"\n",
				e.ts.Format("2006-01-02T15:04:05.000Z07:00"), e.source, e.placeholder(i), e.status, e.amount, e.currency, e.user, e.method, e.latency, e.region, e.note)
		}
	case "bulk":
		for i, e := range evs {
			buf = append(buf, `{"create":{}}`+"\n"...)
			buf = append(buf, e.object(i, fmt.Sprintf(`"@timestamp":%q,"source":%q,`, e.ts.Format("2006-01-02T15:04:05.000Z07:00"), e.source))...)
			buf = append(buf, '\n')
		}
	case "otlp-json", "otlp-proto":
		req := otlpLoadRequest(evs)
		var err error
		if d == "otlp-proto" {
			buf, err = proto.Marshal(req)
		} else {
			buf, err = otlpJSON(req)
		}
		if err != nil {
			return nil, err
		}
	case "collection":
		buf = append(buf, `{"messages":[`...)
		for i, e := range evs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, e.object(i, fmt.Sprintf(`"timestamp":%q,"source":%q,`, e.ts.Format("2006-01-02T15:04:05.000Z07:00"), e.source))...)
		}
		buf = append(buf, "]}"...)
	case "eventsv2":
		if n > 1 {
			buf = append(buf, '[')
		}
		for i, e := range evs {
			if i > 0 {
				buf = append(buf, ',')
			}
			// No startTime: it defaults to the time received (a fixed one
			// would leave the 30-day window).
			buf = fmt.Appendf(buf, `{"eventType":"CUSTOM_INFO","title":"payment %s","timeout":5,`+
				`"properties":{"id":"%s","source":%q,"status":%q,"amount":%q,"currency":%q,"user":%q,"method":%q,"latency_ms":"%d","note":%q,"env":"bench","team":"payments","region":%q}}`,
				e.status, e.placeholder(i), e.source, e.status, e.amount, e.currency, e.user, e.method, e.latency, e.note, e.region)
		}
		if n > 1 {
			buf = append(buf, ']')
		}
	default:
		return nil, fmt.Errorf("-dialect %q: want one of %s", d, strings.Join(dialectNames, ", "))
	}
	b := &body{buf: buf, idPos: make([]int, 0, n), nextID: 1}
	from := 0
	for i, e := range evs {
		ph := []byte(e.placeholder(i))
		k := bytes.Index(buf[from:], ph)
		if k < 0 {
			return nil, fmt.Errorf("%s body: the id of event %d is not where expected", d, i)
		}
		b.idPos = append(b.idPos, from+k+len(e.idPrefix))
		from += k + len(ph)
	}
	return b, nil
}

// object is the event's fields as a JSON object, with extra members
// (ending in a comma) first.
func (e *loadEvent) object(i int, extra string) string {
	return fmt.Sprintf(`{%s"id":"%s","status":%q,"amount":%s,"currency":%q,"user":%q,"method":%q,"latency_ms":%d,"note":%q,"env":"bench","team":"payments","region":%q}`,
		extra, e.placeholder(i), e.status, e.amount, e.currency, e.user, e.method, e.latency, e.note, e.region)
}

// otlpLoadRequest is the events as log records of one resource and scope,
// as an OpenTelemetry SDK exports them.
func otlpLoadRequest(evs []loadEvent) *collogspb.ExportLogsServiceRequest {
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	traceID, _ := hex.DecodeString("5b8efff798038103d269b633813fc60c")
	spanID, _ := hex.DecodeString("eee19b7ec3c1b174")
	var lrs []*logspb.LogRecord
	for i, e := range evs {
		amount, _ := strconv.ParseFloat(e.amount, 64)
		lrs = append(lrs, &logspb.LogRecord{
			TimeUnixNano: uint64(e.ts.UnixNano()), ObservedTimeUnixNano: uint64(e.ts.UnixNano()) + 1e6,
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
			Body: str(e.note), TraceId: traceID, SpanId: spanID, Flags: 1,
			Attributes: []*commonpb.KeyValue{
				kv("id", str(e.placeholder(i))), kv("status", str(e.status)),
				kv("amount", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: amount}}),
				kv("currency", str(e.currency)), kv("user", str(e.user)), kv("method", str(e.method)),
				kv("latency_ms", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(e.latency)}}),
				kv("region", str(e.region)),
			},
		})
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			kv("service.name", str(evs[0].source)), kv("deployment.environment", str("bench")), kv("team", str("payments")),
		}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "loadgen", Version: "1.0.0"}, LogRecords: lrs}},
	}}}
}

var otlpIDField = regexp.MustCompile(`"(traceId|spanId)":\s*"([^"]*)"`)

// otlpJSON encodes a request in OTLP/JSON: protojson, with the trace and
// span ids in hex.
func otlpJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	b = otlpIDField.ReplaceAllFunc(b, func(s []byte) []byte {
		sub := otlpIDField.FindSubmatch(s)
		raw, _ := base64.StdEncoding.DecodeString(string(sub[2]))
		return []byte(`"` + string(sub[1]) + `":"` + hex.EncodeToString(raw) + `"`)
	})
	// Compact: protojson may put spaces after colons and commas.
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// dialectTarget is where and how a dialect's requests go.
type dialectTarget struct {
	endpoint string
	header   http.Header
}

// newDialectTarget resolves the endpoint (for collection, the stream's
// inlet id) and the request headers.
func newDialectTarget(ctx context.Context, c *config) (*dialectTarget, error) {
	base := strings.TrimRight(c.url, "/")
	h := http.Header{}
	t := &dialectTarget{header: h}
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("X-Stream-Id", c.stream)
	h.Set("Content-Type", "application/json")
	switch c.dialect {
	case "", "native":
		t.endpoint = base + "/v1/streams/ingest"
		h.Set("Content-Type", "application/x-ndjson")
	case "hec":
		t.endpoint = base + "/services/collector/event"
		h.Set("Authorization", "Splunk "+c.token)
	case "hec-raw":
		t.endpoint = base + "/services/collector/raw?sourcetype=loadgen"
		h.Set("Authorization", "Splunk "+c.token)
		h.Set("X-Splunk-Request-Channel", "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba")
		h.Set("Content-Type", "text/plain")
	case "bulk":
		t.endpoint = base + "/" + url.PathEscape(c.stream) + "/_bulk"
		h.Set("Authorization", "ApiKey "+c.token)
		h.Del("X-Stream-Id")
		h.Set("Content-Type", "application/x-ndjson")
	case "otlp-json":
		t.endpoint = base + "/v1/logs"
	case "otlp-proto":
		t.endpoint = base + "/v1/logs"
		h.Set("Content-Type", "application/x-protobuf")
	case "collection":
		inlet, err := streamInlet(ctx, c)
		if err != nil {
			return nil, err
		}
		t.endpoint = base + "/collection/batch/" + url.PathEscape(inlet)
		h.Del("X-Stream-Id")
	case "eventsv2":
		t.endpoint = base + "/api/v2/events/ingest"
		h.Set("Authorization", "Api-Token "+c.token)
	default:
		return nil, fmt.Errorf("-dialect %q: want one of %s", c.dialect, strings.Join(dialectNames, ", "))
	}
	return t, nil
}

// streamInlet reads the inlet id of -stream.
func streamInlet(ctx context.Context, c *config) (string, error) {
	code, b, err := apiDo(ctx, c, http.MethodGet, "/v1/streams/"+url.PathEscape(c.stream), nil)
	if err != nil {
		return "", fmt.Errorf("get stream: %w", err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("get stream %q: HTTP %d: %s", c.stream, code, bytes.TrimSpace(b))
	}
	var s struct {
		InletID string `json:"inlet_id"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.InletID == "" {
		return "", fmt.Errorf("stream %q has no inlet id: %s", c.stream, b)
	}
	return s.InletID, nil
}
