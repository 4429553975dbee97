package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/store"
)

// Events v2 dialect (SPEC §2.3), for tools that post events to an Events
// API v2 (deployment, configuration, annotation and alert events):
//
//	POST /api/v2/events/ingest
//	POST /e/{workspace}/api/v2/events/ingest
//
// Auth: "Authorization: Api-Token <token>" or "Bearer <token>", scope
// events.ingest. The workspace is the token's (an admin token: the one in
// the path, else X-Workspace, else its own); a path naming another
// workspace than a non-admin token's is 404.
//
// Target stream: X-Stream-Id (id or name), else the token's only stream,
// else the workspace's stream named "events". When that one does not exist
// it is created (through the store, as actor "runnel", status inactive, no
// destinations) once the body has been found valid; like any inactive
// stream it answers 409 until it is given a destination and activated.
// A token limited to several streams must name one (403 otherwise).
//
// Body: one EventIngest object, or (a Runnel extension) a JSON array of
// them, reported per event in order. Answers:
//   - 201 {"reportCount":N,"eventIngestResults":[{"correlationId":"<16 hex>","status":"OK"}, …]}:
//     reportCount is the number of results, one per event. An event whose
//     status is not OK is not stored: INVALID_TIMESTAMPS (startTime more than
//     30 days in the past or 7 days in the future, endTime before
//     startTime), INVALID_ENTITY_TYPE (entitySelector not a comma-separated
//     list of name(args) terms starting with type(…)), INVALID_METADATA
//     (properties: more than 100 entries, an empty key or one longer than
//     100 characters, a value longer than 4096, a dt.* key other than
//     dt.event.*, dt.davis.*, dt.entity.*).
//   - 400 invalid_format: malformed JSON, a missing or mistyped field,
//     eventType not one of the enum, an unknown field, a non-scalar
//     property value, timeout below 1; an event (as stored, computed
//     fields included) that does not match the stream's JSON Schema, with
//     "violations" (schema.go). Nothing is stored.
//   - 401/403/404/409/429/503 as the native dialect, in its error shape.
//
// Computed fields: startTime defaults to the time received; timeout
// (minutes) defaults to 15 and is capped at 360; endTime defaults to
// startTime + timeout. The stored event is the envelope
//
//	{"timestamp":"<startTime, RFC 3339 ms>","source":"events-v2","event":{"eventType",…,"startTime","endTime","timeout",…,"correlationId"}}

const (
	dialectEventsV2 = "events-v2"
	// EventsStreamName is the stream Events v2 uses when no other is named.
	EventsStreamName = "events"

	ev2DefaultTimeout = 15
	ev2MaxTimeout     = 360
	ev2MaxPast        = 30 * 24 * time.Hour
	ev2MaxFuture      = 7 * 24 * time.Hour
	ev2MaxProperties  = 100
	ev2MaxKey         = 100
	ev2MaxValue       = 4096
)

// Per-event statuses of an Events v2 answer.
const (
	EventOK                = "OK"
	EventInvalidTimestamps = "INVALID_TIMESTAMPS"
	EventInvalidEntityType = "INVALID_ENTITY_TYPE"
	EventInvalidMetadata   = "INVALID_METADATA"
)

// EventTypes are the accepted values of eventType.
var EventTypes = []string{
	"AVAILABILITY_EVENT", "CUSTOM_ALERT", "CUSTOM_ANNOTATION", "CUSTOM_CONFIGURATION",
	"CUSTOM_DEPLOYMENT", "CUSTOM_INFO", "ERROR_EVENT", "MARKED_FOR_TERMINATION",
	"PERFORMANCE_EVENT", "RESOURCE_CONTENTION_EVENT",
}

// StreamCreator creates streams. *store.Store satisfies it.
type StreamCreator interface {
	CreateStream(ctx context.Context, ws string, st *model.Stream, a store.Actor) (*model.Stream, uint64, error)
}

func (h *Handler) serveEventsV2(w http.ResponseWriter, r *http.Request) {
	q := request{dialect: dialectEventsV2, start: time.Now(), now: h.now()}
	var buf *[]byte
	defer func() { h.bufs.put(buf) }()
	results, dup, rj := h.eventsV2(w, r, &q, &buf)
	if rj != nil {
		h.fail(&q, rj)
		rj.write(w)
		return
	}
	if q.events > 0 {
		h.succeed(&q, dup)
	} else {
		h.logRequest(&q, http.StatusCreated, "")
	}
	b := make([]byte, 0, 48+len(results)*64)
	b = append(b, `{"reportCount":`...)
	b = strconv.AppendInt(b, int64(len(results)), 10)
	b = append(b, `,"eventIngestResults":[`...)
	for i, res := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"correlationId":"`...)
		b = append(b, res.correlationID...)
		b = append(b, `","status":"`...)
		b = append(b, res.status...)
		b = append(b, `"}`...)
	}
	b = append(b, "]}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
}

// eventsV2 runs the request up to the publish ack. *frame is the pooled
// frame buffer, for the caller to return.
func (h *Handler) eventsV2(w http.ResponseWriter, r *http.Request, q *request, frame **[]byte) ([]ev2Result, bool, *rejection) {
	if rj := h.authenticate(r, q, model.ScopeIngest, "Api-Token", "Bearer"); rj != nil {
		return nil, false, rj
	}
	if ws := r.PathValue("workspace"); ws != "" {
		switch {
		case q.tok.Has(model.ScopeAdmin):
			q.ws = ws
		case ws != q.tok.Workspace:
			return nil, false, reject(apierr.NotFound, "no workspace %s for this token", quoteClient(ws))
		}
	}
	enc, rj := contentEncoding(r.Header)
	if rj != nil {
		return nil, false, rj
	}
	key, rj := idempotencyKey(r.Header)
	if rj != nil {
		return nil, false, rj
	}
	ref := strings.TrimSpace(r.Header.Get("X-Stream-Id"))
	create := false
	switch {
	case ref != "":
	case len(q.tok.Streams) == 1:
		ref = q.tok.Streams[0]
	case len(q.tok.Streams) > 1:
		return nil, false, reject(apierr.Forbidden, "the token may ingest into %d streams: name one with the X-Stream-Id header", len(q.tok.Streams))
	default:
		ref = EventsStreamName
		_, _, exists := h.streams.Stream(q.ws, ref)
		create = !exists
	}

	var (
		body    *[]byte
		results []ev2Result
	)
	parse := func(limit int) *rejection {
		var rj *rejection
		if body, rj = h.readBody(w, r, enc, limit); rj != nil {
			return rj
		}
		q.bytes = len(*body)
		*frame = h.bufs.get(len(*body) + 512)
		var out []byte
		out, results, q.events, rj = parseEventsV2((**frame)[:0], *body, q.now)
		**frame = out
		return rj
	}
	defer func() { h.bufs.put(body) }()
	if create {
		// The body is checked before the stream is made: a rejected
		// request changes nothing.
		if rj := parse(int(model.DefaultMaxPayload)); rj != nil {
			return nil, false, rj
		}
		if rj := h.createEventsStream(r.Context(), q); rj != nil {
			return nil, false, rj
		}
	}
	if rj := h.resolveStream(q, ref); rj != nil {
		if rj.code == apierr.StreamInactive && q.st.Name == EventsStreamName && r.Header.Get("X-Stream-Id") == "" {
			rj.detail = `stream "events" takes the Events v2 events no other stream is named for; it is inactive until it has a destination: ` +
				`add one and activate it (PATCH /v1/streams/events {"status":"active","destinations":[…]}), or name a stream with X-Stream-Id`
		}
		return nil, false, rj
	}
	if rj := h.precheck(q); rj != nil {
		return nil, false, rj
	}
	if body == nil {
		if rj := parse(payloadLimit(q.st)); rj != nil {
			return nil, false, rj
		}
	}
	q.state.received.Add(float64(q.events))
	if q.events == 0 {
		return results, false, nil // no event passed its checks: nothing to store
	}
	if len(q.st.Schema) != 0 { // schema.go: 400 naming the event, with the violations
		if i, rj := h.validateFrame(q, **frame, false); rj != nil {
			if i >= 0 {
				rj = schemaMismatch(ev2Index(results, i), rj.violations)
			}
			return nil, false, rj
		}
	}
	if rj := h.admit(q); rj != nil {
		return nil, false, rj
	}
	dup, rj := h.publish(r.Context(), q, **frame, msgID(q.st.ID, key))
	if rj != nil {
		return nil, false, rj
	}
	return results, dup, nil
}

// createEventsStream creates the workspace's "events" stream: inactive,
// without destinations, by actor "runnel".
func (h *Handler) createEventsStream(ctx context.Context, q *request) *rejection {
	sc, ok := h.streams.(StreamCreator)
	if !ok {
		return reject(apierr.StreamNotFound, "no stream %q in this workspace: create it, or name a stream with X-Stream-Id", EventsStreamName)
	}
	st := &model.Stream{
		Name:        EventsStreamName,
		Description: "Events v2 API events. Created on demand; inactive until a destination is set.",
		Status:      model.StatusInactive,
	}
	st.Normalize(noKinds{})
	if errs := st.Validate(noKinds{}); len(errs) > 0 {
		return reject(apierr.Internal, "the events stream definition is invalid: %v", errs)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.publishTimeout)
	defer cancel()
	_, _, err := sc.CreateStream(ctx, q.ws, st, store.System)
	switch {
	case err == nil, errors.Is(err, store.ErrConflict): // made here, or concurrently
		return nil
	case errors.Is(err, store.ErrNotFound):
		return reject(apierr.NotFound, "workspace %s not found", quoteClient(q.ws))
	}
	h.warnThrottled("create events stream failed", "workspace", q.ws, "error", err)
	return &rejection{code: apierr.Unavailable, retry: retryUnavailable,
		detail: "the configuration store is unavailable; nothing was stored, retry later"}
}

// noKinds knows no destination type: enough for a stream without destinations.
type noKinds struct{}

func (noKinds) Canonical(string) (string, bool)                           { return "", false }
func (noKinds) Names() []string                                           { return nil }
func (noKinds) ValidateSettings(string, map[string]any) model.FieldErrors { return nil }
func (noKinds) DefaultBatch(string) model.Batch                           { return model.Batch{} }
func (noKinds) IsSecret(string, string) bool                              { return false }

// ---- decoding ----

// ev2Result is the answer for one event.
type ev2Result struct {
	correlationID string
	status        string
}

// ev2Event is one decoded EventIngest.
type ev2Event struct {
	eventType, title string
	startTime        *int64
	endTime          *int64
	timeout          *int64
	entitySelector   *string
	properties       []ev2Property
	hasProperties    bool
}

type ev2Property struct {
	key string
	raw []byte // a JSON string, number or boolean
}

// parseEventsV2 decodes an Events v2 body (one EventIngest object or an
// array of them), appends the stored form of every event whose status is
// OK to dst (one per line), and returns one result per event and the
// number stored. A malformed body or event is a 400 for the whole request.
func parseEventsV2(dst, body []byte, now time.Time) ([]byte, []ev2Result, int, *rejection) {
	b := collTrim(body)
	if len(b) == 0 {
		return dst, nil, 0, reject(apierr.InvalidFormat, "empty body: send one EventIngest object")
	}
	if err := decode.Valid(b, decode.Limits{MaxDepth: MaxDepth}); err != nil {
		return dst, nil, 0, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	var items [][]byte
	array := false
	switch b[0] {
	case '{':
		items = [][]byte{b}
	case '[':
		array = true
		for j := collSkipSpace(b, 1); b[j] != ']'; {
			end := collSkipValue(b, j)
			items = append(items, b[j:end])
			if j = collSkipSpace(b, end); b[j] == ',' {
				j = collSkipSpace(b, j+1)
			}
		}
		if len(items) == 0 {
			return dst, nil, 0, reject(apierr.InvalidFormat, "empty array: send at least one EventIngest object")
		}
	default:
		return dst, nil, 0, reject(apierr.InvalidFormat, "the body must be an EventIngest object, got %s", collKind(b[0]))
	}
	events := make([]ev2Event, len(items))
	for i, it := range items {
		if err := decodeEventIngest(it, &events[i]); err != "" {
			if array {
				err = fmt.Sprintf("event %d: %s", i, err)
			}
			return dst, nil, 0, reject(apierr.InvalidFormat, "%s", err)
		}
	}
	results := make([]ev2Result, len(events))
	n := 0
	for i := range events {
		ev := &events[i]
		results[i].correlationID = newCorrelationID()
		start, end, timeout, status := ev.check(now)
		results[i].status = status
		if status != EventOK {
			continue
		}
		if n > 0 {
			dst = append(dst, '\n')
		}
		dst = ev.appendStored(dst, start, end, timeout, results[i].correlationID)
		n++
	}
	return dst, results, n, nil
}

func newCorrelationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ev2Fields names the members of EventIngest, for error details.
const ev2Fields = "eventType, title, startTime, endTime, timeout, entitySelector, properties"

// decodeEventIngest decodes one event (valid JSON) into ev. It returns
// why the event is malformed, "" when it is not.
func decodeEventIngest(raw []byte, ev *ev2Event) string {
	if raw[0] != '{' {
		return "must be an EventIngest object, got " + collKind(raw[0])
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_, _ = dec.Token() // '{'
	seen := map[string]bool{}
	var hasType, hasTitle bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "malformed JSON"
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "malformed JSON"
		}
		if seen[key] {
			return fmt.Sprintf("%q appears twice", key)
		}
		seen[key] = true
		null := string(v) == "null"
		switch key {
		case "eventType":
			if null {
				continue
			}
			s, ok := ev2String(v)
			if !ok {
				return `"eventType" must be a string, one of ` + strings.Join(EventTypes, ", ")
			}
			if !isEventType(s) {
				return fmt.Sprintf(`"eventType" %s is not one of %s`, quoteClient(s), strings.Join(EventTypes, ", "))
			}
			ev.eventType, hasType = s, true
		case "title":
			if null {
				continue
			}
			s, ok := ev2String(v)
			if !ok {
				return `"title" must be a string`
			}
			if strings.TrimSpace(s) == "" {
				return `"title" must not be empty`
			}
			ev.title, hasTitle = s, true
		case "startTime", "endTime", "timeout":
			if null {
				continue
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				if key == "timeout" {
					return `"timeout" must be an integer number of minutes`
				}
				return fmt.Sprintf("%q must be an integer: UTC milliseconds since the epoch", key)
			}
			switch key {
			case "startTime":
				ev.startTime = &n
			case "endTime":
				ev.endTime = &n
			default:
				if n < 1 {
					return `"timeout" must be at least 1 minute`
				}
				ev.timeout = &n
			}
		case "entitySelector":
			if null {
				continue
			}
			s, ok := ev2String(v)
			if !ok {
				return `"entitySelector" must be a string such as type(HOST),entityName("web-1")`
			}
			if s != "" {
				ev.entitySelector = &s
			}
		case "properties":
			if null {
				continue
			}
			if msg := ev.decodeProperties(v); msg != "" {
				return msg
			}
		default:
			return fmt.Sprintf("unknown field %s (EventIngest has %s)", quoteClient(key), ev2Fields)
		}
	}
	switch {
	case !hasType:
		return `"eventType" is required: one of ` + strings.Join(EventTypes, ", ")
	case !hasTitle:
		return `"title" is required`
	}
	return ""
}

func (ev *ev2Event) decodeProperties(v json.RawMessage) string {
	if v[0] != '{' {
		return `"properties" must be an object of string values`
	}
	ev.hasProperties = true
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	_, _ = dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "malformed JSON in properties"
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "malformed JSON in properties"
		}
		if seen[key] {
			return fmt.Sprintf("property %s appears twice", quoteClient(key))
		}
		seen[key] = true
		switch raw[0] {
		case '{', '[', 'n':
			return fmt.Sprintf("property %s must be a string (or a number or boolean), got %s", quoteClient(key), collKind(raw[0]))
		}
		ev.properties = append(ev.properties, ev2Property{key: key, raw: raw})
	}
	return ""
}

func ev2String(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func isEventType(s string) bool {
	for _, t := range EventTypes {
		if s == t {
			return true
		}
	}
	return false
}

// check computes start, end and timeout and the event's status.
func (ev *ev2Event) check(now time.Time) (start, end, timeout int64, status string) {
	nowMs := now.UnixMilli()
	start = nowMs
	if ev.startTime != nil {
		start = *ev.startTime
	}
	timeout = ev2DefaultTimeout
	if ev.timeout != nil {
		timeout = min(*ev.timeout, ev2MaxTimeout)
	}
	if ev.endTime != nil {
		end = *ev.endTime
	} else {
		end = start + timeout*int64(time.Minute/time.Millisecond)
	}
	switch {
	case start < nowMs-ev2MaxPast.Milliseconds() || start > nowMs+ev2MaxFuture.Milliseconds() || end < start:
		return start, end, timeout, EventInvalidTimestamps
	case ev.entitySelector != nil && !ValidEntitySelector(*ev.entitySelector):
		return start, end, timeout, EventInvalidEntityType
	case !ev.validProperties():
		return start, end, timeout, EventInvalidMetadata
	}
	return start, end, timeout, EventOK
}

// validProperties applies the limits and the reserved dt.* namespace.
func (ev *ev2Event) validProperties() bool {
	if len(ev.properties) > ev2MaxProperties {
		return false
	}
	for _, p := range ev.properties {
		if p.key == "" || utf8.RuneCountInString(p.key) > ev2MaxKey || !allowedPropertyKey(p.key) {
			return false
		}
		n := len(p.raw)
		if p.raw[0] == '"' {
			s, _ := ev2String(p.raw)
			n = utf8.RuneCountInString(s)
		}
		if n > ev2MaxValue {
			return false
		}
	}
	return true
}

// allowedPropertyKey: keys starting "dt." (any case) are reserved, except
// dt.event.*, dt.davis.* and dt.entity.* with a name after the prefix.
func allowedPropertyKey(k string) bool {
	if len(k) < 3 || !strings.EqualFold(k[:3], "dt.") {
		return true
	}
	for _, p := range []string{"dt.event.", "dt.davis.", "dt.entity."} {
		if len(k) > len(p) && strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// ValidEntitySelector checks the syntax of an entity selector: one or more
// comma-separated terms name(args), the first being type(…). A name is a
// letter followed by letters, digits, '_' and '.'; args are not empty and
// may hold nested terms, quoted strings and '~'-escaped characters.
func ValidEntitySelector(s string) bool {
	i := 0
	for term := 0; ; term++ {
		i = ev2SkipBlanks(s, i)
		start := i
		if i >= len(s) || !ev2IsLetter(s[i]) {
			return false
		}
		for i < len(s) && (ev2IsLetter(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '_' || s[i] == '.') {
			i++
		}
		name := s[start:i]
		if i = ev2SkipBlanks(s, i); i >= len(s) || s[i] != '(' {
			return false
		}
		i++
		argStart := i
		depth, quoted := 1, false
		for i < len(s) && depth > 0 {
			switch c := s[i]; {
			case c == '~':
				i++ // escapes the next character
			case quoted:
				quoted = c != '"'
			case c == '"':
				quoted = true
			case c == '(':
				depth++
			case c == ')':
				depth--
			}
			i++
		}
		if depth != 0 || strings.TrimSpace(s[argStart:i-1]) == "" {
			return false
		}
		if term == 0 && name != "type" {
			return false
		}
		if i = ev2SkipBlanks(s, i); i == len(s) {
			return true
		}
		if s[i] != ',' {
			return false
		}
		i++
	}
}

func ev2SkipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func ev2IsLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// appendStored appends the stored envelope of an event.
func (ev *ev2Event) appendStored(dst []byte, start, end, timeout int64, correlationID string) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = time.UnixMilli(start).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","source":"`+dialectEventsV2+`","event":{"eventType":`...)
	dst = appendJSONString(dst, ev.eventType)
	dst = append(dst, `,"title":`...)
	dst = appendJSONString(dst, ev.title)
	dst = append(dst, `,"startTime":`...)
	dst = strconv.AppendInt(dst, start, 10)
	dst = append(dst, `,"endTime":`...)
	dst = strconv.AppendInt(dst, end, 10)
	dst = append(dst, `,"timeout":`...)
	dst = strconv.AppendInt(dst, timeout, 10)
	if ev.entitySelector != nil {
		dst = append(dst, `,"entitySelector":`...)
		dst = appendJSONString(dst, *ev.entitySelector)
	}
	if ev.hasProperties {
		dst = append(dst, `,"properties":{`...)
		for i, p := range ev.properties {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, p.key)
			dst = append(dst, ':')
			dst = append(dst, p.raw...) // a scalar: never spans lines
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"correlationId":"`...)
	dst = append(dst, correlationID...)
	return append(dst, `"}}`...)
}
