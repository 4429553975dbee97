package ingest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
)

// Collection (inlet) dialect (SPEC §2.2), for clients written against the
// streaming-connection style of ingestion:
//
//	POST /collection/{inlet_id}         one record (any JSON object)
//	POST /collection/batch/{inlet_id}   {"messages":[{…},{…}]}
//
// The inlet id names the stream. A stream with authentication_required
// (the default) demands "Authorization: Bearer <token>" with
// events.ingest, in the stream's workspace (an admin token: any) and not
// limited to other streams: 401 without a valid token, 403 when it is not
// allowed. Otherwise the inlet id is the credential and Authorization is
// ignored.
//
// Order of checks: inlet (404); token (401, 403) when the inlet demands one;
// stream status (409); Content-Encoding and Idempotency-Key (400); rate
// limits that cannot admit one record (429); body size (413) and gzip
// (400); JSON (400); schema, with ?syncValidation=true (400 with
// report.cause); rate limits for the records (429); publish (503). Every
// error is application/problem+json:
//
//	{"type":"https://runnel.dev/problems/<kind>","status":"401","title":"Authorization","report":{"message":"…"}}
//
// with status as a string, as streaming-connection clients expect.
//
// Each record is stored stamped, in one frame per request like every
// dialect:
//
//	{"timestamp":"<received, RFC 3339 ms>","source":"collection:<inlet_id>","event":<record>,"metadata":{"xactionId":"<ms>:<node>:<seq>"}}
//
// # Dependencies found on Deps.Streams
//
// The collection and Events v2 dialects need more of the configuration
// store than StreamLookup. Rather than widening Deps, they look for these
// optional interfaces on Deps.Streams (*store.Store has the first two):
//   - InletLookup: the stream of an inlet id. Without it every inlet is 404.
//   - StreamCreator: Events v2 creates the workspace's "events" stream on
//     demand. Without it a missing "events" stream is 404.
//
// # Schema validation
//
// A record of a stream with a JSON Schema is validated before anything is
// stored (schema.go). With ?syncValidation=true a record that does not
// match is refused: 400 problem+json with report.cause (at most MaxCause
// violations), or in a batch a {"statusCode":400,"message"} entry in its
// place. Without it (asynchronous validation) the record is acknowledged
// like a valid one, with its transaction id, but it does not enter the
// stream: it is stored, stamped as it would have been, as a dead letter of
// the stream (destination "*") whose error lists the violations, and shows
// in GET /v1/streams/{id}/dead-letters. Dead letters and the frame of the
// valid records are both durable before the answer; rate limits count
// both.

const (
	dialectCollection = "collection"
	problemBase       = "https://runnel.dev/problems/"
	// MaxCause is the most violations a syncValidation answer lists.
	MaxCause = schema.MaxViolations
)

// InletLookup finds a stream by its inlet id. *store.Store satisfies it.
type InletLookup interface {
	StreamByInlet(inletID string) (*model.Stream, uint64, bool)
}

// codeValidation is a record refused by its stream's schema.
var codeValidation = apierr.Code{Name: "validation_failed", Status: http.StatusBadRequest}

// collectionReject is a rejection with the violations of a syncValidation.
type collectionReject struct {
	*rejection
	cause []schema.Violation
}

// collProblemOf spells a rejection as the dialect's problem: status, type and title.
func collProblemOf(c apierr.Code) (status int, kind, title string) {
	switch c {
	case apierr.Unauthorized:
		return http.StatusUnauthorized, "authorization", "Authorization"
	case apierr.Forbidden:
		return http.StatusForbidden, "authorization", "Authorization"
	case apierr.PayloadTooLarge:
		return http.StatusRequestEntityTooLarge, "payload-too-large", "Payload Too Large"
	case apierr.StreamNotFound:
		return http.StatusNotFound, "inlet-not-found", "Inlet Not Found"
	case apierr.StreamInactive:
		return http.StatusConflict, "inlet-inactive", "Inlet Inactive"
	case apierr.RateLimited:
		return http.StatusTooManyRequests, "rate-limited", "Too Many Requests"
	case apierr.Unavailable:
		return http.StatusServiceUnavailable, "unavailable", "Service Unavailable"
	case codeValidation:
		return http.StatusBadRequest, "validation", "Validation"
	case apierr.MethodNotAllowed:
		return http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed"
	}
	return http.StatusBadRequest, "invalid-request", "Invalid Request"
}

// problem is the application/problem+json body of the collection dialect.
type collProblem struct {
	Type   string            `json:"type"`
	Status string            `json:"status"`
	Title  string            `json:"title"`
	Report collProblemReport `json:"report"`
}

type collProblemReport struct {
	Message string             `json:"message"`
	Cause   []schema.Violation `json:"cause,omitempty"`
}

// writeCollProblem answers rj as application/problem+json; 401 carries
// WWW-Authenticate, 429 and 503 Retry-After.
func writeCollProblem(w http.ResponseWriter, rj *rejection, cause []schema.Violation) {
	status, kind, title := collProblemOf(rj.code)
	hdr := w.Header()
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		secs := int((rj.retry + time.Second - 1) / time.Second)
		hdr.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Bearer realm="runnel"`)
	}
	if len(cause) > MaxCause {
		cause = cause[:MaxCause]
	}
	hdr.Set("Content-Type", "application/problem+json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(collProblem{
		Type: problemBase + kind, Status: strconv.Itoa(status), Title: title,
		Report: collProblemReport{Message: rj.detail, Cause: cause},
	})
}

// ---- transaction ids ----

// xactionNode tells this process's transaction ids from other nodes'.
var xactionNode = func() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) % 100000
}()

var xactionSeq atomic.Uint64

// appendXactionID appends a new "<ms>:<node>:<seq>" transaction id.
func appendXactionID(b []byte, ms int64) []byte {
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(xactionNode), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, xactionSeq.Add(1), 10)
}

// ---- handlers ----

func (h *Handler) serveCollection(w http.ResponseWriter, r *http.Request) {
	h.collectionRequest(w, r, false)
}

func (h *Handler) serveCollectionBatch(w http.ResponseWriter, r *http.Request) {
	h.collectionRequest(w, r, true)
}

func (h *Handler) collectionRequest(w http.ResponseWriter, r *http.Request, batch bool) {
	q := request{dialect: dialectCollection, start: time.Now(), now: h.now()}
	inlet := r.PathValue("inlet")
	var c collection
	dup, cr := h.collection(w, r, &q, inlet, batch, &c)
	defer h.bufs.put(c.frame)
	if cr != nil {
		h.fail(&q, cr.rejection)
		writeCollProblem(w, cr.rejection, cr.cause)
		return
	}
	switch {
	case q.events > 0:
		h.succeed(&q, dup)
	case batch:
		h.logRequest(&q, http.StatusMultiStatus, "")
	default: // a record kept as a dead letter
		h.logRequest(&q, http.StatusOK, "")
	}
	ms := q.now.UnixMilli()
	var a [256]byte
	b := append(a[:0], `{"inletId":`...)
	b = appendJSONString(b, inlet)
	if !batch {
		b = append(b, `,"xactionId":"`...)
		b = append(b, c.ids[0]...)
		b = append(b, `","receivedTimeMs":`...)
		b = strconv.AppendInt(b, ms, 10)
		b = append(b, "}\n"...)
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return
	}
	b = append(b, `,"batchId":"`...)
	b = append(b, c.batchID...)
	b = append(b, `","receivedTimeMs":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"responses":[`...)
	for i, res := range c.results {
		if i > 0 {
			b = append(b, ',')
		}
		if res.failure == "" {
			b = append(b, `{"xactionId":"`...)
			b = append(b, res.id...)
			b = append(b, `"}`...)
			continue
		}
		b = append(b, `{"statusCode":400,"message":`...)
		b = appendJSONString(b, res.failure)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusMultiStatus)
	_, _ = w.Write(b)
}

// collection is the collOutcome of a collection request.
type collection struct {
	batchID []byte        // batch: the batch's own transaction id
	frame   *[]byte       // pooled; returned by the caller
	ids     [][]byte      // transaction ids of stored records, in order (alias the frame)
	results []collOutcome // batch: one per message
}

// collOutcome of one batch message: its transaction id, or why it failed.
type collOutcome struct {
	id      []byte
	failure string
}

// collection runs the request up to the publish ack.
func (h *Handler) collection(w http.ResponseWriter, r *http.Request, q *request, inlet string, batch bool, c *collection) (bool, *collectionReject) {
	wrap := func(rj *rejection) *collectionReject { return &collectionReject{rejection: rj} }
	if rj := h.resolveInlet(r, q, inlet); rj != nil {
		return false, wrap(rj)
	}
	enc, rj := contentEncoding(r.Header)
	if rj != nil {
		return false, wrap(rj)
	}
	key, rj := idempotencyKey(r.Header)
	if rj != nil {
		return false, wrap(rj)
	}
	if rj := h.precheck(q); rj != nil {
		return false, wrap(rj)
	}
	body, rj := h.readBody(w, r, enc, payloadLimit(q.st))
	if rj != nil {
		return false, wrap(rj)
	}
	defer h.bufs.put(body)
	q.bytes = len(*body)

	sch, rj := h.schemaOf(q.st)
	if rj != nil {
		return false, wrap(rj)
	}
	// Without ?syncValidation=true a record that fails the schema is
	// acknowledged and kept as a dead letter (schema.go).
	async := sch != nil && h.deadLetters != nil && !collSyncValidation(r)
	stamp := newCollStamper(q.now, inlet)
	var records [][]byte
	var invalid []collInvalid
	if batch {
		msgs, rj := collMessages(*body)
		if rj != nil {
			return false, wrap(rj)
		}
		c.batchID = appendXactionID(nil, q.now.UnixMilli())
		c.results = make([]collOutcome, len(msgs))
		for i, m := range msgs {
			switch {
			case m[0] != '{':
				c.results[i].failure = "message " + strconv.Itoa(i) + ": must be a JSON object, got " + collKind(m[0])
			case sch != nil:
				if v := sch.Validate(m); len(v) > 0 {
					if async {
						invalid = append(invalid, collInvalid{index: i, rec: m, v: v})
					} else {
						c.results[i].failure = "message " + strconv.Itoa(i) + " does not match the stream's schema: " + schema.Summary(v)
					}
					continue
				}
				fallthrough
			default:
				records = append(records, m)
			}
		}
	} else {
		rec, rj := collRecord(*body)
		if rj != nil {
			return false, wrap(rj)
		}
		var v []schema.Violation
		if sch != nil {
			v = sch.Validate(rec)
		}
		switch {
		case len(v) == 0:
			records = [][]byte{rec}
		case async:
			invalid = []collInvalid{{rec: rec, v: v}}
		default:
			return false, &collectionReject{
				rejection: reject(codeValidation, "the record does not match the stream's schema: %s", schema.Summary(v)),
				cause:     v,
			}
		}
	}

	q.events = len(records)
	q.state.received.Add(float64(q.events + len(invalid)))
	size := len(*body) + len(records)*stamp.overhead()
	c.frame = h.bufs.get(size)
	frame := (*c.frame)[:0]
	c.ids = make([][]byte, len(records))
	for i, rec := range records {
		if i > 0 {
			frame = append(frame, '\n')
		}
		start := len(frame)
		frame = stamp.append(frame, rec)
		c.ids[i] = stamp.lastID(frame[start:])
	}
	*c.frame = frame
	if q.events == 0 && len(invalid) == 0 {
		return false, nil // every message failed: nothing to store
	}
	// Rate limits count the records kept as dead letters too.
	q.events += len(invalid)
	rj = h.admit(q)
	q.events -= len(invalid)
	if rj != nil {
		return false, wrap(rj)
	}
	if len(invalid) > 0 {
		if rj := h.deadLetterCollection(r.Context(), q, stamp, invalid, key); rj != nil {
			return false, wrap(rj)
		}
	}
	if batch {
		k, d := 0, 0
		for i := range c.results {
			switch {
			case d < len(invalid) && invalid[d].index == i:
				c.results[i].id = invalid[d].id
				d++
			case c.results[i].failure == "":
				c.results[i].id = c.ids[k]
				k++
			}
		}
	} else if len(invalid) > 0 {
		c.ids = [][]byte{invalid[0].id}
	}
	if q.events == 0 {
		return false, nil // only dead letters
	}
	dup, rj := h.publish(r.Context(), q, frame, msgID(q.st.ID, key))
	if rj != nil {
		return false, wrap(rj)
	}
	return dup, nil
}

// resolveInlet finds the inlet's stream and, when the stream demands it,
// authenticates the request: 404 for an unknown inlet, 401 without a
// valid token, 403 for a token that may not ingest into the stream, 409
// when the stream is inactive.
func (h *Handler) resolveInlet(r *http.Request, q *request, inlet string) *rejection {
	il, ok := h.streams.(InletLookup)
	if !ok {
		return reject(apierr.StreamNotFound, "no inlet %s", quoteClient(inlet))
	}
	st, _, ok := il.StreamByInlet(inlet)
	if !ok || inlet == "" {
		return reject(apierr.StreamNotFound, "no inlet %s: check the inlet URL (GET /v1/streams/{id} shows it as inlet_url)", quoteClient(inlet))
	}
	if st.AuthRequired() {
		if rj := h.authenticate(r, q, model.ScopeIngest, "Bearer"); rj != nil {
			if rj.code == apierr.Unauthorized {
				rj.detail = "this inlet requires authentication: " + rj.detail
			}
			return rj
		}
		if q.tok.Workspace != st.Workspace && !q.tok.Has(model.ScopeAdmin) {
			return reject(apierr.Forbidden, "the token belongs to another workspace than this inlet's stream")
		}
	} else {
		// The inlet id is the credential. A token of its own stands for
		// the inlet in the rate limiter (no token limits apply).
		q.tok = &model.Token{ID: "inlet:" + st.ID, Workspace: st.Workspace}
	}
	q.ws = st.Workspace
	return h.resolveStream(q, st.ID)
}

// syncValidation reports whether the request asks for ?syncValidation=true.
func collSyncValidation(r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return false
	}
	v := r.URL.Query().Get("syncValidation")
	return strings.EqualFold(v, "true") || v == "1"
}

// collRecordDepth is the nesting allowed inside a record: it is stored as the
// "event" of an envelope, which adds a level, and stored events are held
// to MaxDepth like native ones.
const collRecordDepth = MaxDepth - 1

// collRecord checks the body of a single-record request: one JSON object
// (surrounding whitespace allowed). It returns the object's bytes.
func collRecord(body []byte) ([]byte, *rejection) {
	rec := collTrim(body)
	if len(rec) == 0 {
		return nil, reject(apierr.InvalidFormat, "empty body: send one JSON object (the record)")
	}
	if err := decode.Valid(rec, decode.Limits{MaxDepth: collRecordDepth}); err != nil {
		return nil, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	if rec[0] != '{' {
		return nil, reject(apierr.InvalidFormat, "the record must be a JSON object, got %s; send several records to /collection/batch/{inlet_id} as {\"messages\":[…]}", collKind(rec[0]))
	}
	return rec, nil
}

// collMessages checks a batch body, {"messages":[…]}, and returns each
// message's bytes (valid JSON, not necessarily objects). Other members of
// the body are ignored.
func collMessages(body []byte) ([][]byte, *rejection) {
	b := collTrim(body)
	if len(b) == 0 {
		return nil, reject(apierr.InvalidFormat, `empty body: send {"messages":[{…},{…}]}`)
	}
	// The messages sit two levels down: each may nest collRecordDepth deep.
	if err := decode.Valid(b, decode.Limits{MaxDepth: collRecordDepth + 2}); err != nil {
		return nil, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	if b[0] != '{' {
		return nil, reject(apierr.InvalidFormat, `the body must be an object {"messages":[…]}, got %s`, collKind(b[0]))
	}
	var msgs [][]byte
	found := false
	i := collSkipSpace(b, 1)
	for i < len(b) && b[i] != '}' {
		kEnd := collSkipValue(b, i)
		name := b[i:kEnd]
		i = collSkipSpace(b, kEnd)
		i = collSkipSpace(b, i+1) // ':'
		vEnd := collSkipValue(b, i)
		if collKeyIs(name, "messages") {
			if found {
				return nil, reject(apierr.InvalidFormat, `"messages" appears twice in the body`)
			}
			found = true
			if b[i] != '[' {
				return nil, reject(apierr.InvalidFormat, `"messages" must be an array of records, got %s`, collKind(b[i]))
			}
			for j := collSkipSpace(b, i+1); b[j] != ']'; {
				end := collSkipValue(b, j)
				msgs = append(msgs, b[j:end])
				j = collSkipSpace(b, end)
				if b[j] == ',' {
					j = collSkipSpace(b, j+1)
				}
			}
		}
		i = collSkipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = collSkipSpace(b, i+1)
		}
	}
	switch {
	case !found:
		return nil, reject(apierr.InvalidFormat, `missing "messages": send {"messages":[{…},{…}]}`)
	case len(msgs) == 0:
		return nil, reject(apierr.InvalidFormat, `"messages" is empty: send at least one record`)
	}
	return msgs, nil
}

// keyIs reports whether the JSON string token raw (quotes included)
// equals name, escapes decoded.
func collKeyIs(raw []byte, name string) bool {
	if len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name {
		return true
	}
	if strings.IndexByte(string(raw), '\\') < 0 {
		return false
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == name
}

// skipJSON returns the index after the JSON value starting at b[i]; b is
// known to be valid JSON.
func collSkipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return collSkipString(b, i+1)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = collSkipString(b, i+1) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// skipString returns the index after the closing quote of the string whose
// contents start at b[i].
func collSkipString(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

func collSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func collTrim(b []byte) []byte {
	i := collSkipSpace(b, 0)
	j := len(b)
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\n' || b[j-1] == '\r') {
		j--
	}
	return b[i:j]
}

// jsonKind names the JSON type of the value starting with byte c.
func collKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// collStamper builds the stored form of collection records.
type collStamper struct {
	prefix []byte // {"timestamp":"…","source":"collection:<inlet>","event":
	ms     int64
}

func newCollStamper(received time.Time, inlet string) collStamper {
	p := make([]byte, 0, 64+len(inlet))
	p = append(p, `{"timestamp":"`...)
	p = received.UTC().AppendFormat(p, "2006-01-02T15:04:05.000Z07:00")
	p = append(p, `","source":`...)
	p = appendJSONString(p, "collection:"+inlet)
	p = append(p, `,"event":`...)
	return collStamper{prefix: p, ms: received.UnixMilli()}
}

// overhead is an upper bound of the bytes a record gains when stamped.
func (s collStamper) overhead() int { return len(s.prefix) + 96 }

const collXactionSuffix = `,"metadata":{"xactionId":"`

// append appends the stamped record to dst; records with line breaks are
// compacted so that the stored event is one line.
func (s collStamper) append(dst, rec []byte) []byte {
	dst = append(dst, s.prefix...)
	if collHasLineBreak(rec) {
		dst = decode.Compact(dst, rec)
	} else {
		dst = append(dst, rec...)
	}
	dst = append(dst, collXactionSuffix...)
	dst = appendXactionID(dst, s.ms)
	return append(dst, `"}}`...)
}

// lastID returns the transaction id inside one stamped record.
func (s collStamper) lastID(stamped []byte) []byte {
	end := len(stamped) - len(`"}}`)
	i := end - 1
	for i > 0 && stamped[i] != '"' {
		i--
	}
	return stamped[i+1 : end]
}

func collHasLineBreak(b []byte) bool {
	for _, c := range b {
		if c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// registerDialects adds the collection and Events v2 routes, and a 405 in
// each dialect's error shape for the other methods on their paths.
func (h *Handler) registerDialects(mux *http.ServeMux) {
	routes := []struct {
		pattern    string
		h          http.HandlerFunc
		collection bool
	}{
		{"/collection/{inlet}", h.serveCollection, true},
		{"/collection/batch/{inlet}", h.serveCollectionBatch, true},
		{"/api/v2/events/ingest", h.serveEventsV2, false},
		{"/e/{workspace}/api/v2/events/ingest", h.serveEventsV2, false},
	}
	for _, rt := range routes {
		mux.HandleFunc(http.MethodPost+" "+rt.pattern, rt.h)
		collection := rt.collection
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			mux.HandleFunc(m+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", http.MethodPost)
				rj := reject(apierr.MethodNotAllowed, "method %s is not allowed here; send POST", r.Method)
				if collection {
					writeCollProblem(w, rj, nil)
					return
				}
				rj.write(w)
			})
		}
	}
}
