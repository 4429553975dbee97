package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	p := ev2Parsers.Get().(*ev2Parser)
	defer p.release()
	results, dup, rj := h.eventsV2(w, r, &q, &buf, p)
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
	b := append(p.out[:0], `{"reportCount":`...)
	b = strconv.AppendInt(b, int64(len(results)), 10)
	b = append(b, `,"eventIngestResults":[`...)
	for i, res := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"correlationId":"`...)
		b = append(b, res.correlationID[:]...)
		b = append(b, `","status":"`...)
		b = append(b, res.status...)
		b = append(b, `"}`...)
	}
	b = append(b, "]}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b) // copied by the ResponseWriter: p.out is reused
	p.out = b
}

// eventsV2 runs the request up to the publish ack. *frame is the pooled
// frame buffer, for the caller to return. The results belong to p.
func (h *Handler) eventsV2(w http.ResponseWriter, r *http.Request, q *request, frame **[]byte, p *ev2Parser) ([]ev2Result, bool, *rejection) {
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
		out, results, q.events, rj = p.parse((**frame)[:0], *body, q.now)
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
//
// The decoder builds nothing it does not store: one walk over the body
// (parseWith) finds each event's members, checks the JSON as decode.Valid
// would on the way, decodes only the strings that hold escapes (into a
// scratch buffer), checks the event and appends its stored form to the
// frame. No maps, no reflection, no allocation per event; the parser's
// buffers are pooled. Anything out of the ordinary (a malformed event,
// JSON the walk does not vouch for) goes the old way: decode.Valid first,
// then the event's fault. The answers and frames are those of the
// encoding/json decoder it replaced, which eventsv2_ref_test.go keeps as
// the reference that the differential tests and FuzzEventsV2 hold it to.

// ev2Result is the answer for one event.
type ev2Result struct {
	correlationID [16]byte // lower-case hex
	status        string
}

// ev2Event is one decoded EventIngest. Its byte slices point into the
// body (strings without escapes) or into the parser's scratch buffer.
type ev2Event struct {
	eventType                   string // one of EventTypes
	title                       []byte
	selector                    []byte // empty: none
	startTime, endTime, timeout int64
	has                         uint8 // ev2Has*: what was given (not null)
	titleAs, selectorAs         uint8 // ev2Str flags of the strings as sent
	props                       []ev2Prop
	propsAsSent                 []byte // "properties" as sent, when it is stored so
}

const (
	ev2HasStart = 1 << iota
	ev2HasEnd
	ev2HasTimeout
	ev2HasProps
)

// ev2Prop is a member of "properties": its key, escapes decoded, the
// ev2Str flags of the key as sent, and its raw value (a JSON string,
// number or boolean, as sent).
type ev2Prop struct {
	key, raw []byte
	keyAs    uint8
}

// ev2Parser is what the decoder reuses from one request to the next,
// and the state of the walk.
type ev2Parser struct {
	results []ev2Result
	props   []ev2Prop
	scratch []byte  // decoded strings of the event being parsed
	slots   []int32 // hash table of firstDup
	out     []byte  // the answer's body (serveEventsV2)
	random  [256]byte
	left    int // unused bytes at the end of random

	strict bool // the walk checks the JSON as it goes (else: trusts it)
	doubt  bool // the strict walk met what it does not vouch for

	// The last timestamp and numbers written, and how: the events of a
	// request mostly share them.
	lastMs                    int64
	lastTime                  [24]byte
	hasLast                   bool
	startMemo, endMemo, tMemo ev2IntMemo
	lastSel                   []byte
	lastSelOK, hasSel         bool
}

var ev2Parsers = sync.Pool{New: func() any { return new(ev2Parser) }}

// release returns p to the pool, unless a large request made it large.
func (p *ev2Parser) release() {
	if cap(p.results) > 1<<14 || cap(p.props) > 1<<12 || cap(p.scratch) > 1<<20 || cap(p.slots) > 1<<13 || cap(p.out) > 1<<20 || cap(p.lastSel) > 1<<12 {
		return
	}
	clear(p.props[:cap(p.props)]) // no references into the body
	p.results, p.props, p.scratch, p.out = p.results[:0], p.props[:0], p.scratch[:0], p.out[:0]
	ev2Parsers.Put(p)
}

// parse decodes an Events v2 body (one EventIngest object or an array of
// them), appends the stored form of every event whose status is OK to dst
// (one per line), and returns one result per event (p's until its next
// use) and the number stored. A malformed body or event is a 400 for the
// whole request.
func (p *ev2Parser) parse(dst, body []byte, now time.Time) ([]byte, []ev2Result, int, *rejection) {
	return p.parseWith(dst, body, now, true)
}

// parseWith is parse. One walk over the body usually does it all: with
// strict set it checks the JSON as decode.Valid would, while it decodes.
// When it stops, at a malformed event or at anything it does not vouch
// for, decode.Valid has the first word (invalid JSON anywhere is a 400 of
// its own, before any event's fault); then the event's fault is the
// answer, or, when the walk only doubted, a walk that trusts the JSON
// decode.Valid accepted. !fast: decode.Valid, then that walk, always (the
// way the reference goes; the tests hold both ways to its answers).
func (p *ev2Parser) parseWith(dst, body []byte, now time.Time, fast bool) ([]byte, []ev2Result, int, *rejection) {
	b := collTrim(body)
	if len(b) == 0 {
		return dst, nil, 0, reject(apierr.InvalidFormat, "empty body: send one EventIngest object")
	}
	base, nowMs := len(dst), now.UnixMilli()
	if fast {
		p.strict, p.doubt = true, false
		out, n, msg := p.walk(dst, b, nowMs)
		if msg == "" && !p.doubt {
			return out, p.results, n, nil
		}
		if err := decode.Valid(b, decode.Limits{MaxDepth: MaxDepth}); err != nil {
			return dst[:base], nil, 0, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
		}
		if !p.doubt {
			return dst[:base], nil, 0, reject(apierr.InvalidFormat, "%s", msg)
		}
	} else if err := decode.Valid(b, decode.Limits{MaxDepth: MaxDepth}); err != nil {
		return dst, nil, 0, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	p.strict, p.doubt = false, false
	out, n, msg := p.walk(dst[:base], b, nowMs)
	if msg != "" {
		return dst[:base], nil, 0, reject(apierr.InvalidFormat, "%s", msg)
	}
	return out, p.results, n, nil
}

// suspect records that the strict walk cannot vouch for the body.
func (p *ev2Parser) suspect() (int, string) {
	p.doubt = true
	return -1, ""
}

// walk decodes the body b (trimmed, not empty) event by event, storing
// each in dst as it goes, and returns the frame, the number stored and
// why the body is malformed ("" when it is not, or when p.doubt is set).
func (p *ev2Parser) walk(dst, b []byte, nowMs int64) ([]byte, int, string) {
	n := 0
	p.results = p.results[:0]
	var ev ev2Event
	switch b[0] {
	case '{':
		end, msg := p.event(b, 0, &ev)
		if msg != "" || p.doubt {
			return dst, 0, msg
		}
		if p.strict && end != len(b) {
			p.suspect()
			return dst, 0, ""
		}
		dst, n = p.store(dst, &ev, nowMs, n)
	case '[':
		j := ev2WS(b, 1)
		if ev2At(b, j) == ']' {
			return dst, 0, "empty array: send at least one EventIngest object"
		}
		for k := 0; ; k++ {
			end, msg := 0, ""
			if c := ev2At(b, j); c == '{' {
				end, msg = p.event(b, j, &ev)
			} else {
				msg = "must be an EventIngest object, got " + collKind(c)
			}
			if msg != "" {
				return dst, 0, fmt.Sprintf("event %d: %s", k, msg)
			}
			if p.doubt {
				return dst, 0, ""
			}
			dst, n = p.store(dst, &ev, nowMs, n)
			j = ev2WS(b, end)
			if c := ev2At(b, j); c == ']' {
				if p.strict && j+1 != len(b) {
					p.suspect()
					return dst, 0, ""
				}
				break
			} else if p.strict && c != ',' {
				p.suspect()
				return dst, 0, ""
			}
			j = ev2WS(b, j+1)
		}
	default:
		return dst, 0, "the body must be an EventIngest object, got " + collKind(b[0])
	}
	return dst, n, ""
}

// store gives ev its result and, when it is OK, appends it to dst, the
// n-th event stored.
func (p *ev2Parser) store(dst []byte, ev *ev2Event, nowMs int64, n int) ([]byte, int) {
	p.results = append(p.results, ev2Result{})
	res := &p.results[len(p.results)-1]
	p.newCorrelationID(&res.correlationID)
	start, end, timeout, status := p.check(ev, nowMs)
	res.status = status
	if status != EventOK {
		return dst, n
	}
	if n > 0 {
		dst = append(dst, '\n')
	}
	return p.appendStored(dst, ev, start, end, timeout, &res.correlationID), n + 1
}

// newCorrelationID writes 8 random bytes in hex to id, reading the
// random source 32 ids at a time.
func (p *ev2Parser) newCorrelationID(id *[16]byte) {
	if p.left < 8 {
		_, _ = rand.Read(p.random[:])
		p.left = len(p.random)
	}
	i := len(p.random) - p.left
	hex.Encode(id[:], p.random[i:i+8])
	clear(p.random[i : i+8]) // each byte is used once
	p.left -= 8
}

// ev2Fields names the members of EventIngest, for error details.
const ev2Fields = "eventType, title, startTime, endTime, timeout, entitySelector, properties"

// Members of EventIngest, as bit numbers of a set.
const (
	ev2EventType = iota
	ev2Title
	ev2StartTime
	ev2EndTime
	ev2Timeout
	ev2EntitySelector
	ev2Properties
)

var ev2FieldNames = [...]string{"eventType", "title", "startTime", "endTime", "timeout", "entitySelector", "properties"}

// ev2Member recognizes a member's key, as most are sent (without
// escapes), from the opening quote at b[i]: the member and the index
// after the closing quote; -1 when it is not one spelt so.
func ev2Member(b []byte, i int) (int, int) {
	f := -1
	switch ev2At(b, i+1) {
	case 'e':
		switch ev2At(b, i+2) {
		case 'v':
			f = ev2EventType
		case 'n':
			f = ev2EndTime
			if ev2At(b, i+3) == 't' {
				f = ev2EntitySelector
			}
		}
	case 't':
		f = ev2Title
		if ev2At(b, i+3) == 'm' {
			f = ev2Timeout
		}
	case 's':
		f = ev2StartTime
	case 'p':
		f = ev2Properties
	}
	if f < 0 {
		return -1, i
	}
	name := ev2FieldNames[f]
	end := i + 1 + len(name)
	if end >= len(b) || b[end] != '"' || string(b[i+1:end]) != name {
		return -1, i
	}
	return f, end + 1
}

// ev2Field identifies a member from its key (escapes decoded); -1: unknown.
func ev2Field(key []byte) int {
	switch string(key) {
	case "eventType":
		return ev2EventType
	case "title":
		return ev2Title
	case "startTime":
		return ev2StartTime
	case "endTime":
		return ev2EndTime
	case "timeout":
		return ev2Timeout
	case "entitySelector":
		return ev2EntitySelector
	case "properties":
		return ev2Properties
	}
	return -1
}

// event decodes the EventIngest object whose '{' is at b[i] into ev and
// returns the index after it, or why the event is malformed. Members are
// taken in order and the first problem is the answer: a key seen before,
// an unknown key, a value of the wrong type; then a missing eventType or
// title. (A value the event refuses is not looked into: decode.Valid
// judges it, before the answer is given.)
func (p *ev2Parser) event(b []byte, i int, ev *ev2Event) (int, string) {
	*ev = ev2Event{props: p.props[:0]}
	p.scratch = p.scratch[:0]
	seen := 0
	if i = ev2WS(b, i+1); ev2At(b, i) == '}' {
		i++
	} else {
		for {
			if p.strict && ev2At(b, i) != '"' {
				return p.suspect()
			}
			f, next := ev2Member(b, i)
			var key []byte // decoded, for an unknown member
			if f < 0 {
				key, _, next = p.str(b, i)
				f = ev2Field(key)
			}
			if i = ev2WS(b, next); p.doubt || p.strict && ev2At(b, i) != ':' {
				return p.suspect()
			}
			i = ev2WS(b, i+1) // the value
			if f >= 0 {
				if seen&(1<<f) != 0 {
					return -1, fmt.Sprintf("%q appears twice", ev2FieldNames[f])
				}
				seen |= 1 << f
			}
			null := ev2At(b, i) == 'n'
			if null && p.strict && !ev2Lit(b, i, "null") {
				return p.suspect()
			}
			switch f {
			case -1:
				return -1, fmt.Sprintf("unknown field %s (EventIngest has %s)", quoteClient(string(key)), ev2Fields)
			case ev2EventType:
				if null {
					break
				}
				if ev2At(b, i) != '"' {
					return -1, `"eventType" must be a string, one of ` + strings.Join(EventTypes, ", ")
				}
				s, _, next := p.str(b, i)
				if p.doubt {
					return -1, ""
				}
				if ev.eventType = ev2EventTypeOf(s); ev.eventType == "" {
					return -1, fmt.Sprintf(`"eventType" %s is not one of %s`, quoteClient(string(s)), strings.Join(EventTypes, ", "))
				}
				i = next
			case ev2Title:
				if null {
					break
				}
				if ev2At(b, i) != '"' {
					return -1, `"title" must be a string`
				}
				s, as, next := p.str(b, i)
				if p.doubt {
					return -1, ""
				}
				if ev2Blank(s) {
					return -1, `"title" must not be empty`
				}
				ev.title, ev.titleAs, i = s, as, next
			case ev2StartTime, ev2EndTime, ev2Timeout:
				if null {
					break
				}
				v, next, ok := ev2Int(b, i)
				switch {
				case !ok && f == ev2Timeout:
					return -1, `"timeout" must be an integer number of minutes`
				case !ok && f == ev2StartTime:
					return -1, `"startTime" must be an integer: UTC milliseconds since the epoch`
				case !ok:
					return -1, `"endTime" must be an integer: UTC milliseconds since the epoch`
				case p.strict && ev2LeadingZero(b[i:next]):
					return p.suspect() // not JSON
				case f == ev2StartTime:
					ev.startTime, ev.has = v, ev.has|ev2HasStart
				case f == ev2EndTime:
					ev.endTime, ev.has = v, ev.has|ev2HasEnd
				case v < 1:
					return -1, `"timeout" must be at least 1 minute`
				default:
					ev.timeout, ev.has = v, ev.has|ev2HasTimeout
				}
				i = next
			case ev2EntitySelector:
				if null {
					break
				}
				if ev2At(b, i) != '"' {
					return -1, `"entitySelector" must be a string such as type(HOST),entityName("web-1")`
				}
				ev.selector, ev.selectorAs, i = p.str(b, i)
				if p.doubt {
					return -1, ""
				}
			case ev2Properties:
				if null {
					break
				}
				if ev2At(b, i) != '{' {
					return -1, `"properties" must be an object of string values`
				}
				var msg string
				if i, msg = p.properties(b, i, ev); msg != "" || p.doubt {
					return -1, msg
				}
			}
			if null {
				i += len("null")
			}
			i = ev2WS(b, i)
			if c := ev2At(b, i); c == '}' {
				i++
				break
			} else if p.strict && c != ',' {
				return p.suspect()
			}
			i = ev2WS(b, i+1)
		}
	}
	switch {
	case ev.eventType == "":
		return -1, `"eventType" is required: one of ` + strings.Join(EventTypes, ", ")
	case ev.title == nil:
		return -1, `"title" is required`
	}
	return i, ""
}

// ev2LeadingZero reports whether the integer num has a leading zero.
func ev2LeadingZero(num []byte) bool {
	if num[0] == '-' {
		num = num[1:]
	}
	return len(num) > 1 && num[0] == '0'
}

// properties decodes the object whose '{' is at b[i] into ev.props and
// returns the index after it, or why it is malformed: the first member
// whose key an earlier one has or whose value is not a scalar.
func (p *ev2Parser) properties(b []byte, i int, ev *ev2Event) (int, string) {
	ev.has |= ev2HasProps
	props := ev.props[:0]
	bad := byte(0) // the first non-scalar value (the last member scanned)
	// loose: white space between the tokens, or a key that is not stored
	// as sent; else the object is stored as sent (appendStored).
	start, loose := i, 0
	if j := ev2WS(b, i+1); ev2At(b, j) == '}' {
		loose |= j - (i + 1)
		i = j + 1
	} else {
		i = j
		loose |= j - (start + 1)
		for {
			if p.strict && ev2At(b, i) != '"' {
				return p.suspect()
			}
			// ev2Quick and p.str, inlined by hand: most keys are short.
			var key []byte
			var keyAs uint8
			next := -1
			if k := i + 1; k+8 < len(b) {
				if t := bits.TrailingZeros64(ev2Special(binary.LittleEndian.Uint64(b[k:]))) >> 3; b[k+t] == '"' {
					key, next = b[k:k+t], k+t+1
				}
			}
			if next < 0 {
				key, keyAs, next = p.str(b, i)
			}
			if i = ev2WS(b, next); p.doubt || p.strict && ev2At(b, i) != ':' {
				return p.suspect()
			}
			j := ev2WS(b, i+1)
			loose |= (i - next) | (j - (i + 1)) | int(keyAs&(ev2Esc|ev2HTML))
			i = j
			end := -1
			switch c := ev2At(b, i); {
			case c == '{' || c == '[' || c == 'n':
				bad = c
			case c == '"':
				if k := i + 1; k+8 < len(b) { // ev2Quick, inlined by hand
					if t := bits.TrailingZeros64(ev2Special(binary.LittleEndian.Uint64(b[k:]))) >> 3; b[k+t] == '"' {
						end = k + t + 1
						break
					}
				}
				e, as := ev2Str(b, i+1)
				if p.strict && as&ev2Bad != 0 {
					return p.suspect()
				}
				end = e + 1
			case !p.strict:
				end = ev2LitEnd(b, i)
			case c == 't':
				if ev2Lit(b, i, "true") {
					end = i + len("true")
				}
			case c == 'f':
				if ev2Lit(b, i, "false") {
					end = i + len("false")
				}
			default:
				end = ev2NumEnd(b, i)
			}
			if bad != 0 {
				props = append(props, ev2Prop{key: key, keyAs: keyAs})
				break
			}
			if end < 0 {
				return p.suspect()
			}
			// Field by field: a composite literal is built on the stack
			// and copied, which costs a stall on every property.
			props = append(props, ev2Prop{})
			pp := &props[len(props)-1]
			pp.key, pp.raw, pp.keyAs = key, b[i:end], keyAs
			i = ev2WS(b, end)
			loose |= i - end
			if c := ev2At(b, i); c == '}' {
				i++
				break
			} else if p.strict && c != ',' {
				return p.suspect()
			}
			j = ev2WS(b, i+1)
			loose |= j - (i + 1)
			i = j
		}
	}
	ev.props, p.props = props, props[:0]
	if loose == 0 {
		ev.propsAsSent = b[start:i]
	}
	if k := p.firstDup(props); k >= 0 {
		return -1, fmt.Sprintf("property %s appears twice", quoteClient(string(props[k].key)))
	}
	if bad != 0 {
		return -1, fmt.Sprintf("property %s must be a string (or a number or boolean), got %s", quoteClient(string(props[len(props)-1].key)), collKind(bad))
	}
	return i, ""
}

// str returns the contents of the string whose opening quote is at b[i],
// escapes decoded (into the scratch buffer), its ev2Str flags and the
// index after it. A string the strict walk cannot vouch for sets p.doubt.
func (p *ev2Parser) str(b []byte, i int) ([]byte, uint8, int) {
	if end, ok := ev2Quick(b, i+1); ok {
		return b[i+1 : end], 0, end + 1
	}
	return p.strSlow(b, i)
}

func (p *ev2Parser) strSlow(b []byte, i int) ([]byte, uint8, int) {
	end, as := ev2Str(b, i+1)
	s := b[i+1 : end]
	if as&ev2Bad != 0 && p.strict {
		p.doubt = true
		return s, as, end
	}
	if as&ev2Esc != 0 {
		at := len(p.scratch)
		p.scratch = ev2Unescape(p.scratch, s)
		s = p.scratch[at:len(p.scratch):len(p.scratch)]
	}
	return s, as, end + 1
}

func ev2EventTypeOf(s []byte) string {
	for _, t := range EventTypes {
		if string(s) == t {
			return t
		}
	}
	return ""
}

// check computes start, end and timeout and the event's status.
func (p *ev2Parser) check(ev *ev2Event, nowMs int64) (start, end, timeout int64, status string) {
	start = nowMs
	if ev.has&ev2HasStart != 0 {
		start = ev.startTime
	}
	timeout = ev2DefaultTimeout
	if ev.has&ev2HasTimeout != 0 {
		timeout = min(ev.timeout, ev2MaxTimeout)
	}
	if ev.has&ev2HasEnd != 0 {
		end = ev.endTime
	} else {
		end = start + timeout*int64(time.Minute/time.Millisecond)
	}
	switch {
	case start < nowMs-ev2MaxPast.Milliseconds() || start > nowMs+ev2MaxFuture.Milliseconds() || end < start:
		return start, end, timeout, EventInvalidTimestamps
	case len(ev.selector) > 0 && !p.validSelector(ev.selector):
		return start, end, timeout, EventInvalidEntityType
	case !ev.validProperties():
		return start, end, timeout, EventInvalidMetadata
	}
	return start, end, timeout, EventOK
}

// validProperties applies the limits (in characters) and the reserved
// dt.* namespace.
func (ev *ev2Event) validProperties() bool {
	if len(ev.props) > ev2MaxProperties {
		return false
	}
	for _, p := range ev.props {
		// A string has at most as many characters as bytes: count them
		// only when there are more bytes than the limit.
		if len(p.key) == 0 || len(p.key) > ev2MaxKey && utf8.RuneCount(p.key) > ev2MaxKey || !allowedPropertyKey(p.key) {
			return false
		}
		if n := len(p.raw); n > ev2MaxValue && (p.raw[0] != '"' || n-2 > ev2MaxValue && ev2RuneCount(p.raw[1:n-1]) > ev2MaxValue) {
			return false
		}
	}
	return true
}

// allowedPropertyKey: keys starting "dt." (any case) are reserved, except
// dt.event.*, dt.davis.* and dt.entity.* with a name after the prefix.
func allowedPropertyKey(k []byte) bool {
	// ASCII case folding is strings.EqualFold's here: no other character
	// folds to 'd', 't' or '.'.
	if len(k) < 3 || k[0]|0x20 != 'd' || k[1]|0x20 != 't' || k[2] != '.' {
		return true
	}
	for _, p := range [...]string{"dt.event.", "dt.davis.", "dt.entity."} {
		if len(k) > len(p) && string(k[:len(p)]) == p {
			return true
		}
	}
	return false
}

// validSelector is validEntitySelector, remembering the last selector
// and its verdict: the events of a request often share theirs.
func (p *ev2Parser) validSelector(s []byte) bool {
	if !p.hasSel || !bytes.Equal(s, p.lastSel) {
		p.lastSel = append(p.lastSel[:0], s...)
		p.lastSelOK, p.hasSel = validEntitySelector(s), true
	}
	return p.lastSelOK
}

// ValidEntitySelector checks the syntax of an entity selector: one or more
// comma-separated terms name(args), the first being type(…). A name is a
// letter followed by letters, digits, '_' and '.'; args are not empty and
// may hold nested terms, quoted strings and '~'-escaped characters.
func ValidEntitySelector(s string) bool { return validEntitySelector([]byte(s)) }

func validEntitySelector(s []byte) bool {
	i := 0
	for term := 0; ; term++ {
		i = ev2SkipBlanks(s, i)
		start := i
		if i >= len(s) || !ev2IsLetter(s[i]) {
			return false
		}
		for i < len(s) && ev2SelClass[s[i]]&ev2SelName != 0 {
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
			if ev2SelClass[s[i]]&ev2SelArg == 0 { // nothing the cases below see
				i++
				continue
			}
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
		if depth != 0 || ev2Blank(s[argStart:i-1]) {
			return false
		}
		if term == 0 && string(name) != "type" {
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

// Classes of bytes in an entity selector.
const (
	ev2SelName = 1 << iota // may follow a name's first letter
	ev2SelArg              // '~', '"', '(', ')': what the args loop looks at
)

var ev2SelClass = func() (t [256]uint8) {
	for c := range 256 {
		if ev2IsLetter(byte(c)) || '0' <= c && c <= '9' || c == '_' || c == '.' {
			t[c] |= ev2SelName
		}
	}
	for _, c := range `~"()` {
		t[c] |= ev2SelArg
	}
	return t
}()

// ev2Blank reports whether strings.TrimSpace(string(s)) is empty.
func ev2Blank(s []byte) bool {
	if len(s) > 0 && s[0] > ' ' && s[0] < 0x80 { // not a space: the common case
		return false
	}
	return len(bytes.TrimSpace(s)) == 0
}

func ev2SkipBlanks(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func ev2IsLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// ev2IntMemo remembers the decimal form of the last number it wrote.
type ev2IntMemo struct {
	v   int64
	n   int // digits in buf; 0: none yet
	buf [20]byte
}

// append appends strconv.AppendInt(dst, v, 10).
func (m *ev2IntMemo) append(dst []byte, v int64) []byte {
	if m.n == 0 || v != m.v {
		m.v, m.n = v, len(strconv.AppendInt(m.buf[:0], v, 10))
	}
	return append(dst, m.buf[:m.n]...)
}

// appendTimestamp appends ev2AppendMillis(dst, ms), remembering the last.
func (p *ev2Parser) appendTimestamp(dst []byte, ms int64) []byte {
	if p.hasLast && ms == p.lastMs {
		return append(dst, p.lastTime[:]...)
	}
	at := len(dst)
	dst = ev2AppendMillis(dst, ms)
	if len(dst)-at == len(p.lastTime) { // years 0 to 9999
		copy(p.lastTime[:], dst[at:])
		p.lastMs, p.hasLast = ms, true
	}
	return dst
}

// appendStored appends the stored envelope of an event.
func (p *ev2Parser) appendStored(dst []byte, ev *ev2Event, start, end, timeout int64, correlationID *[16]byte) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = p.appendTimestamp(dst, start)
	dst = append(dst, `","source":"`+dialectEventsV2+`","event":{"eventType":"`...)
	dst = append(dst, ev.eventType...) // a constant: nothing to escape
	dst = append(dst, `","title":`...)
	dst = ev2AppendText(dst, ev.title, ev.titleAs)
	dst = append(dst, `,"startTime":`...)
	dst = p.startMemo.append(dst, start)
	dst = append(dst, `,"endTime":`...)
	dst = p.endMemo.append(dst, end)
	dst = append(dst, `,"timeout":`...)
	dst = p.tMemo.append(dst, timeout)
	if len(ev.selector) > 0 {
		dst = append(dst, `,"entitySelector":`...)
		dst = ev2AppendText(dst, ev.selector, ev.selectorAs)
	}
	if ev.propsAsSent != nil {
		// Compact, keys without escapes or '<', '>', '&': what the loop
		// below would write.
		dst = append(dst, `,"properties":`...)
		dst = append(dst, ev.propsAsSent...)
	} else if ev.has&ev2HasProps != 0 {
		dst = append(dst, `,"properties":{`...)
		for i, p := range ev.props {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = ev2AppendText(dst, p.key, p.keyAs)
			dst = append(dst, ':')
			dst = append(dst, p.raw...) // a scalar: never spans lines
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"correlationId":"`...)
	dst = append(dst, correlationID[:]...)
	return append(dst, `"}}`...)
}
