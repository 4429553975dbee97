package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
)

// OTLP/HTTP logs input (SPEC §2.4), docs/ingest/otlp.md.
//
//	POST /v1/logs   ExportLogsServiceRequest, application/x-protobuf or
//	                application/json (OTLP's JSON: protojson with hex
//	                trace and span ids), optionally gzipped
//
// Credentials: Authorization: Bearer <token> (or Basic with the token as
// the password). Stream: X-Stream-Id, else ?stream=, else the token's only
// stream. Answers follow the OTLP/HTTP specification: 200 with an
// ExportLogsServiceResponse in the request's encoding (partial_success
// counts the records that were refused and says why); errors carry a
// google.rpc.Status in the request's encoding: 400 bad data (nothing
// stored), 401/403 credentials, 404 no such stream, 409 inactive stream,
// 413 too large, 415 another Content-Type, 429 and 503 with Retry-After
// (the codes OTLP exporters retry).
//
// Each log record becomes one event:
//
//	{"timestamp": <time_unix_nano, else observed_time_unix_nano, else received time>,
//	 "source":    <resource attribute service.name, else "otlp">,
//	 "event":     {"body": <AnyValue as JSON>, "severity_text", "severity_number",
//	               "attributes": {<key>: <value>, …}, "trace_id", "span_id" (hex),
//	               "flags", "event_name", "observed_timestamp"},
//	 "metadata":  {"resource": {<resource attributes>},
//	               "scope": {"name", "version", "attributes"}}}
//
// AnyValue maps onto JSON as string, bool, number (int64 exact), array,
// object (kvlist; a repeated key keeps its last value), base64 string
// (bytes), "NaN"/"Infinity"/"-Infinity" strings for those doubles and null
// for an empty value. Empty optional members (severity_text, trace_id,
// span_id, flags 0, event_name, observed_timestamp 0) are left out. A
// record whose values nest deeper than MaxDepth levels in the event, whose
// time is past year 9999, or whose event does not match the stream's JSON
// Schema (schema.go), is refused alone (partial_success); when every
// record is refused, the answer is 400.

const (
	dialectOTLP       = "otlp"
	otlpDefaultSource = "otlp"
	// otlpJSONDepth bounds the nesting of an OTLP/JSON body: a kvlist level
	// of AnyValue costs four JSON levels there, and the request's own
	// structure eight, so every record that fits MaxDepth as an event fits.
	otlpJSONDepth = 4*MaxDepth + 16
)

// google.rpc.Code values used in answers.
const (
	rpcInvalidArgument    = 3
	rpcNotFound           = 5
	rpcPermissionDenied   = 7
	rpcResourceExhausted  = 8
	rpcFailedPrecondition = 9
	rpcUnavailable        = 14
	rpcUnauthenticated    = 16
)

type otlpEncoding uint8

const (
	otlpProtobuf otlpEncoding = iota
	otlpJSON
)

var (
	protobufContentType = []string{"application/x-protobuf"}
	otlpJSONMarshal     = protojson.MarshalOptions{}
	otlpJSONUnmarshal   = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// otlpError is a refused OTLP request.
type otlpError struct {
	status int
	code   int32 // google.rpc.Code
	rj     *rejection
}

func (e *otlpError) write(w http.ResponseWriter, enc otlpEncoding) {
	st := &spb.Status{Code: e.code, Message: e.rj.detail}
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		compatRetryAfter(w, e.rj.retry)
	}
	writeOTLP(w, enc, e.status, st)
}

func writeOTLP(w http.ResponseWriter, enc otlpEncoding, status int, m proto.Message) {
	var b []byte
	if enc == otlpJSON {
		b, _ = otlpJSONMarshal.Marshal(m)
		w.Header()["Content-Type"] = jsonContentType
	} else {
		b, _ = proto.Marshal(m)
		w.Header()["Content-Type"] = protobufContentType
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// otlpContentType reads the request's encoding.
func otlpContentType(ct string) (otlpEncoding, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return otlpProtobuf, true
	case "application/json":
		return otlpJSON, true
	}
	return otlpJSON, false
}

func newOTLPError(status int, code int32, rj *rejection) *otlpError {
	return &otlpError{status: status, code: code, rj: rj}
}

// otlpRejection maps the shared steps' rejections onto OTLP's answers.
func otlpRejection(rj *rejection) *otlpError {
	switch rj.code {
	case apierr.Unauthorized:
		return newOTLPError(http.StatusUnauthorized, rpcUnauthenticated, rj)
	case apierr.Forbidden:
		return newOTLPError(http.StatusForbidden, rpcPermissionDenied, rj)
	case apierr.StreamNotFound:
		return newOTLPError(http.StatusNotFound, rpcNotFound, rj)
	case apierr.StreamInactive:
		return newOTLPError(http.StatusConflict, rpcFailedPrecondition, rj)
	case apierr.PayloadTooLarge:
		return newOTLPError(http.StatusRequestEntityTooLarge, rpcInvalidArgument, rj)
	case apierr.RateLimited:
		return newOTLPError(http.StatusTooManyRequests, rpcResourceExhausted, rj)
	case apierr.Unavailable:
		return newOTLPError(http.StatusServiceUnavailable, rpcUnavailable, rj)
	}
	return newOTLPError(http.StatusBadRequest, rpcInvalidArgument, rj)
}

// otlpResult is what an accepted request answers.
type otlpResult struct {
	dup      bool
	rejected int
	message  string
}

func (h *Handler) serveOTLPLogs(w http.ResponseWriter, r *http.Request) {
	q := request{dialect: dialectOTLP, start: time.Now(), now: h.now()}
	enc, known := otlpContentType(r.Header.Get("Content-Type"))
	res, e := h.otlp(w, r, &q, enc, known)
	if e != nil {
		h.fail(&q, e.rj)
		e.write(w, enc)
		return
	}
	if q.events > 0 {
		h.succeed(&q, res.dup)
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if res.rejected > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: int64(res.rejected), ErrorMessage: res.message}
	}
	writeOTLP(w, enc, http.StatusOK, resp)
}

// otlpCredentials reads Authorization: Bearer <token> or Basic.
func otlpCredentials(r *http.Request) (string, credFailure, *rejection) {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if v == "" {
		return "", credMissing, reject(apierr.Unauthorized, "missing token: send Authorization: Bearer <token>")
	}
	scheme, cred, _ := strings.Cut(v, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return cred, credOK, nil
	case strings.EqualFold(scheme, "Basic"):
		if pw, ok := compatBasicPassword(cred); ok {
			return pw, credOK, nil
		}
	}
	return "", credMalformed, reject(apierr.Unauthorized, "Authorization must be \"Bearer <token>\"")
}

// otlp runs an OTLP request up to the publish ack.
func (h *Handler) otlp(w http.ResponseWriter, r *http.Request, q *request, enc otlpEncoding, known bool) (otlpResult, *otlpError) {
	secret, _, rj := otlpCredentials(r)
	if rj == nil {
		_, rj = h.compatAuth(r, q, secret)
	}
	if rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	if !known {
		return otlpResult{}, newOTLPError(http.StatusUnsupportedMediaType, rpcInvalidArgument,
			reject(apierr.UnsupportedMedia, "unsupported Content-Type %s: send application/x-protobuf or application/json", quoteClient(r.Header.Get("Content-Type"))))
	}
	ce, rj := contentEncoding(r.Header)
	if rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	ref, rj := compatStreamRef(r, q, r.URL.Query())
	if rj == nil {
		rj = h.resolveStream(q, ref)
	}
	if rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	if rj := h.precheck(q); rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	body, rj := h.readBody(w, r, ce, payloadLimit(q.st))
	if rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	defer h.bufs.put(body)
	q.bytes = len(*body)

	frame := h.bufs.get(2*len(*body) + 4096)
	defer h.bufs.put(frame)
	conv := otlpConverter{now: q.now}
	out, ok := (*frame)[:0], false
	// The fast paths (otlp_wire.go, otlp_json.go); what they leave, the
	// official types decode.
	if enc == otlpProtobuf {
		out, ok = conv.frameWire(out, *body)
	} else {
		out, ok = conv.frameJSON(out, *body)
	}
	if !ok {
		req, rj := h.otlpDecode(*body, enc)
		if rj != nil {
			return otlpResult{}, otlpRejection(rj)
		}
		out = conv.frame(out, req)
	}
	*frame = out
	if len(q.st.Schema) != 0 && conv.accepted > 0 { // schema.go: refused like the records above
		var rj *rejection
		if out, rj = h.filterOTLP(q, out, &conv); rj != nil {
			return otlpResult{}, newOTLPError(http.StatusInternalServerError, 13, rj) // google.rpc.Code INTERNAL
		}
	}
	res := otlpResult{rejected: conv.rejected, message: conv.message}
	if conv.accepted == 0 {
		if conv.rejected > 0 {
			return otlpResult{}, newOTLPError(http.StatusBadRequest, rpcInvalidArgument,
				reject(apierr.InvalidFormat, "every log record was refused: %s", conv.message))
		}
		return res, nil // an empty request: nothing to store
	}
	q.events = conv.accepted
	q.state.received.Add(float64(q.events))
	if rj := h.admit(q); rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	if res.dup, rj = h.publish(r.Context(), q, out[:len(out)-1], ""); rj != nil {
		return otlpResult{}, otlpRejection(rj)
	}
	return res, nil
}

// otlpDecode unmarshals the body.
func (h *Handler) otlpDecode(body []byte, enc otlpEncoding) (*collogspb.ExportLogsServiceRequest, *rejection) {
	req := new(collogspb.ExportLogsServiceRequest)
	if enc == otlpProtobuf {
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, reject(apierr.InvalidFormat, "the body is not a protobuf ExportLogsServiceRequest: %v", err)
		}
		return req, nil
	}
	if err := decode.Valid(body, decode.Limits{MaxDepth: otlpJSONDepth}); err != nil {
		return nil, reject(apierr.InvalidFormat, "the body is not valid JSON: %s", decodeDetail(err))
	}
	fixed, err := otlpJSONIDs(nil, body)
	if err != nil {
		return nil, reject(apierr.InvalidFormat, "%v", err)
	}
	if err := otlpJSONUnmarshal.Unmarshal(fixed, req); err != nil {
		return nil, reject(apierr.InvalidFormat, "the body is not an OTLP/JSON ExportLogsServiceRequest: %v", err)
	}
	return req, nil
}

// otlpIDKeys are the JSON keys of OTLP ids, hex in OTLP/JSON (base64 in
// protojson).
var otlpIDKeys = [...]struct {
	name string
	size int
}{{"traceId", 16}, {"spanId", 8}, {"trace_id", 16}, {"span_id", 8}}

// otlpJSONIDs rewrites the hex traceId and spanId strings of a valid
// OTLP/JSON body into base64, so that protojson reads them. b is returned
// as it is when it has none.
func otlpJSONIDs(dst, b []byte) ([]byte, error) {
	has := false
	for _, k := range otlpIDKeys {
		if bytes.Contains(b, []byte(`"`+k.name+`"`)) {
			has = true
			break
		}
	}
	if !has {
		return b, nil
	}
	last := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			break
		}
		s := i + j
		e := cjStrEnd(b, s+1)
		if e < 0 {
			break
		}
		i = e
		k := cjWS(b, e)
		if k >= len(b) || b[k] != ':' {
			continue // a value, not a key
		}
		size := 0
		for _, id := range otlpIDKeys {
			if string(b[s+1:e-1]) == id.name {
				size = id.size
			}
		}
		vs := cjWS(b, k+1)
		if size == 0 || vs >= len(b) || b[vs] != '"' {
			continue
		}
		ve := cjStrEnd(b, vs+1)
		val := b[vs+1 : ve-1]
		i = ve
		if len(val) == 0 {
			continue
		}
		var raw [18]byte // a 24-character base64 value decodes to at most 18 bytes
		if len(val) == 2*size {
			if _, err := hex.Decode(raw[:size], val); err == nil {
				dst = append(dst, b[last:vs]...)
				dst = append(dst, '"')
				dst = base64.StdEncoding.AppendEncode(dst, raw[:size])
				dst = append(dst, '"')
				last = ve
				continue
			}
		}
		if len(val) <= 24 {
			if n, err := base64.StdEncoding.Decode(raw[:], val); err == nil && n == size {
				continue // base64, as protojson writes it: accepted as it is
			}
		}
		return nil, fmt.Errorf("%s %s is not %d hex digits", string(b[s+1:e-1]), quoteClient(string(val)), 2*size)
	}
	if last == 0 {
		return b, nil
	}
	return append(dst, b[last:]...), nil
}

// otlpConverter turns log records into envelopes.
type otlpConverter struct {
	now      time.Time
	nowJSON  []byte
	accepted int
	rejected int
	message  string   // why the first refused record was refused
	attrs    []wireKV // scratch of the wire path

	lastSec    int64  // appendNanos' cache
	lastPrefix []byte // `"2006-01-02T15:04:05` of lastSec
}

func (c *otlpConverter) refuse(format string, args ...any) {
	if c.rejected == 0 {
		c.message = fmt.Sprintf(format, args...)
	}
	c.rejected++
}

// frame appends the envelopes of every record of req to dst, each
// followed by '\n'.
func (c *otlpConverter) frame(dst []byte, req *collogspb.ExportLogsServiceRequest) []byte {
	for ri, rl := range req.GetResourceLogs() {
		res := rl.GetResource()
		src := []byte(`"` + otlpDefaultSource + `"`)
		for _, kv := range res.GetAttributes() {
			if kv.GetKey() == "service.name" {
				if s, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok && s.StringValue != "" {
					src = cjAppendText(nil, s.StringValue)
				}
			}
		}
		// metadata.resource sits at level 3 of the envelope.
		resJSON, ok := appendKVs(nil, res.GetAttributes(), 3)
		for si, sl := range rl.GetScopeLogs() {
			scope := sl.GetScope()
			var scopeJSON []byte
			scopeOK := true
			if scope != nil {
				scopeJSON = append(scopeJSON, `,"scope":{`...)
				sep := ""
				if scope.GetName() != "" {
					scopeJSON = cjAppendText(append(scopeJSON, `"name":`...), scope.GetName())
					sep = ","
				}
				if scope.GetVersion() != "" {
					scopeJSON = cjAppendText(append(scopeJSON, sep+`"version":`...), scope.GetVersion())
					sep = ","
				}
				if len(scope.GetAttributes()) > 0 {
					scopeJSON, scopeOK = appendKVs(append(scopeJSON, sep+`"attributes":`...), scope.GetAttributes(), 4)
				}
				scopeJSON = append(scopeJSON, '}')
			}
			for li, lr := range sl.GetLogRecords() {
				if lr == nil {
					continue
				}
				if !ok || !scopeOK {
					c.refuse("log record %d (resource %d, scope %d): the resource or scope attributes nest deeper than %d levels", li, ri, si, MaxDepth)
					continue
				}
				start := len(dst)
				var why string
				if dst, why = c.appendRecord(dst, lr, src, resJSON, scopeJSON); why != "" {
					dst = dst[:start]
					c.refuse("log record %d (resource %d, scope %d): %s", li, ri, si, why)
					continue
				}
				c.accepted++
			}
		}
	}
	return dst
}

// appendRecord appends one envelope; why says what is wrong with a record
// that cannot be stored.
func (c *otlpConverter) appendRecord(dst []byte, lr *logspb.LogRecord, src, resJSON, scopeJSON []byte) ([]byte, string) {
	ts := lr.GetTimeUnixNano()
	if ts == 0 {
		ts = lr.GetObservedTimeUnixNano()
	}
	dst = append(dst, `{"timestamp":`...)
	switch {
	case ts == 0:
		if c.nowJSON == nil {
			c.nowJSON = cjAppendTime(nil, c.now)
		}
		dst = append(dst, c.nowJSON...)
	case !otlpTimeOK(ts):
		return dst, "time_unix_nano is past the year 9999"
	default:
		dst = c.appendNanos(dst, ts)
	}
	dst = append(dst, `,"source":`...)
	dst = append(dst, src...)
	dst = append(dst, `,"event":{"body":`...)
	var ok bool
	if dst, ok = appendAny(dst, lr.GetBody(), 3); !ok {
		return dst, fmt.Sprintf("the body nests deeper than %d levels", MaxDepth)
	}
	if lr.GetSeverityText() != "" {
		dst = cjAppendText(append(dst, `,"severity_text":`...), lr.GetSeverityText())
	}
	dst = strconv.AppendInt(append(dst, `,"severity_number":`...), int64(lr.GetSeverityNumber()), 10)
	if dst, ok = appendKVs(append(dst, `,"attributes":`...), lr.GetAttributes(), 3); !ok {
		return dst, fmt.Sprintf("the attributes nest deeper than %d levels", MaxDepth)
	}
	if id := lr.GetTraceId(); len(id) > 0 {
		dst = append(hex.AppendEncode(append(dst, `,"trace_id":"`...), id), '"')
	}
	if id := lr.GetSpanId(); len(id) > 0 {
		dst = append(hex.AppendEncode(append(dst, `,"span_id":"`...), id), '"')
	}
	if f := lr.GetFlags(); f != 0 {
		dst = strconv.AppendUint(append(dst, `,"flags":`...), uint64(f), 10)
	}
	if name := lr.GetEventName(); name != "" {
		dst = cjAppendText(append(dst, `,"event_name":`...), name)
	}
	if o := lr.GetObservedTimeUnixNano(); o != 0 && otlpTimeOK(o) {
		dst = c.appendNanos(append(dst, `,"observed_timestamp":`...), o)
	}
	dst = append(dst, `},"metadata":{"resource":`...)
	dst = append(dst, resJSON...)
	dst = append(dst, scopeJSON...)
	return append(dst, "}}\n"...), ""
}

// appendNanos appends a time in unix nanoseconds (otlpTimeOK) as a JSON
// string in RFC 3339, reusing the date and time of day of the previous
// call when it falls in the same second (records of a batch mostly do).
func (c *otlpConverter) appendNanos(dst []byte, ns uint64) []byte {
	sec, frac := int64(ns/1e9), int64(ns%1e9)
	if sec != c.lastSec || c.lastPrefix == nil {
		c.lastSec = sec
		c.lastPrefix = cjAppendTime(c.lastPrefix[:0], time.Unix(sec, 0))
		c.lastPrefix = c.lastPrefix[:len(c.lastPrefix)-2] // without `Z"`
	}
	dst = append(dst, c.lastPrefix...)
	if frac != 0 {
		var b [10]byte
		b[0] = '.'
		for i := 9; i >= 1; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for b[n-1] == '0' {
			n--
		}
		dst = append(dst, b[:n]...)
	}
	return append(dst, 'Z', '"')
}

func otlpTimeOK(ns uint64) bool {
	return ns <= math.MaxInt64 && time.Unix(0, int64(ns)).Before(cjMaxTime)
}

// appendAny appends an AnyValue as JSON; a container would sit at level
// depth of the envelope. false: it nests deeper than MaxDepth.
func appendAny(dst []byte, v *commonpb.AnyValue, depth int) ([]byte, bool) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return cjAppendText(dst, x.StringValue), true
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue), true
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(dst, x.IntValue, 10), true
	case *commonpb.AnyValue_DoubleValue:
		f := x.DoubleValue
		switch {
		case math.IsNaN(f):
			return append(dst, `"NaN"`...), true
		case math.IsInf(f, 1):
			return append(dst, `"Infinity"`...), true
		case math.IsInf(f, -1):
			return append(dst, `"-Infinity"`...), true
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), true
	case *commonpb.AnyValue_BytesValue:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x.BytesValue)
		return append(dst, '"'), true
	case *commonpb.AnyValue_ArrayValue:
		if depth > MaxDepth {
			return dst, false
		}
		dst = append(dst, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendAny(dst, e, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case *commonpb.AnyValue_KvlistValue:
		return appendKVs(dst, x.KvlistValue.GetValues(), depth)
	}
	return append(dst, "null"...), true // empty, or a Profiling string-table reference
}

// appendKVs appends key-values as a JSON object at level depth; a key
// that repeats keeps its last value (OTLP requires unique keys).
func appendKVs(dst []byte, kvs []*commonpb.KeyValue, depth int) ([]byte, bool) {
	if depth > MaxDepth {
		return dst, false
	}
	var last map[string]int
	if len(kvs) > 16 {
		last = make(map[string]int, len(kvs))
		for i, kv := range kvs {
			if kv != nil {
				last[kv.GetKey()] = i
			}
		}
	}
	dst = append(dst, '{')
	first := true
	for i, kv := range kvs {
		if kv == nil {
			continue
		}
		key := kv.GetKey()
		if repeated(kvs, i, key, last) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = cjAppendText(dst, key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendAny(dst, kv.GetValue(), depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// repeated reports whether key appears again after position i.
func repeated(kvs []*commonpb.KeyValue, i int, key string, last map[string]int) bool {
	if last != nil {
		return last[key] != i
	}
	for _, kv := range kvs[i+1:] {
		if kv != nil && kv.GetKey() == key {
			return true
		}
	}
	return false
}
