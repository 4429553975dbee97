package ingest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
)

// Native dialect: POST /v1/streams/ingest (SPEC §2.1).
//
// Order of checks (the first failing one answers): token (401) and scope
// (403); headers: X-Stream-Id, Content-Type, Content-Encoding,
// Idempotency-Key (400 invalid_format); stream (404, 403 for a token limited
// to other streams, 409 inactive); its data source (400 invalid_format:
// activity_history takes no ingest, text/plain only edge_applications;
// records.go); rate limits that cannot admit a single
// event (429, before the body is read); body size (400 payload_too_large)
// and gzip (400 invalid_format); envelope (400 invalid_format, naming the
// event); the stream's JSON Schema (400 invalid_format naming the event,
// with "violations"; schema.go); rate limits for the request's N events
// (429); publish (503).

const dialectNative = "native"

// Accepted media types of the native dialect (parameters such as charset
// are ignored; bodies are UTF-8 JSON regardless).
const nativeTypes = "application/json (one event or an array of events) or application/x-ndjson (one event per line; also application/ndjson, application/jsonl)"

// nativeFormat maps a Content-Type onto a body format.
func nativeFormat(ct string) (decode.Format, *rejection) {
	mt := ct
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/json"):
		return decode.FormatJSON, nil
	case strings.EqualFold(mt, "application/x-ndjson"), strings.EqualFold(mt, "application/ndjson"),
		strings.EqualFold(mt, "application/jsonl"):
		return decode.FormatNDJSON, nil
	case strings.EqualFold(mt, "text/plain"):
		return formatLines, nil // access-log lines; records.go
	case mt == "":
		return 0, reject(apierr.InvalidFormat, "missing Content-Type: send %s", nativeTypes)
	}
	return 0, reject(apierr.InvalidFormat, "unsupported Content-Type %s: send %s", quoteClient(ct), nativeTypes)
}

func (h *Handler) serveNative(w http.ResponseWriter, r *http.Request) {
	q := request{dialect: dialectNative, start: time.Now(), now: h.now()}
	dup, rj := h.native(w, r, &q)
	if rj != nil {
		h.fail(&q, rj)
		rj.write(w)
		return
	}
	h.succeed(&q, dup)
	writeAccepted(w, &q)
}

// native runs the request up to the publish ack.
func (h *Handler) native(w http.ResponseWriter, r *http.Request, q *request) (dup bool, rj *rejection) {
	if rj := h.authenticate(r, q, model.ScopeIngest, "Bearer"); rj != nil {
		return false, rj
	}
	ref := strings.TrimSpace(r.Header.Get("X-Stream-Id"))
	if ref == "" {
		return false, reject(apierr.InvalidFormat, "missing X-Stream-Id header: give the id or the name of the stream to ingest into")
	}
	format, rj := nativeFormat(r.Header.Get("Content-Type"))
	if rj != nil {
		return false, rj
	}
	enc, rj := contentEncoding(r.Header)
	if rj != nil {
		return false, rj
	}
	key, rj := idempotencyKey(r.Header)
	if rj != nil {
		return false, rj
	}
	if rj := h.resolveStream(q, ref); rj != nil {
		return false, rj
	}
	if rj := checkDataSource(q.st, format); rj != nil { // records.go
		return false, rj
	}
	if rj := h.precheck(q); rj != nil {
		return false, rj
	}

	body, rj := h.readBody(w, r, enc, payloadLimit(q.st))
	if rj != nil {
		return false, rj
	}
	defer h.bufs.put(body)
	q.bytes = len(*body)

	frame := h.bufs.get(len(*body)) // a frame is never longer than its body (but for access-log lines: records.go)
	defer h.bufs.put(frame)
	out, n, rj := h.decodeNative(frame, *body, format, q.st) // by data source: records.go
	*frame = out
	if rj != nil {
		return false, rj
	}
	q.events = n
	q.state.received.Add(float64(n))
	if len(q.st.Schema) != 0 {
		if _, rj := h.validateFrame(q, out, hasCatalog(q.st.DataSource)); rj != nil { // schema.go
			return false, rj
		}
	}

	if rj := h.admit(q); rj != nil {
		return false, rj
	}
	// The frame buffer is returned to the pool (deferred above) only after
	// Publish has returned; the bus has copied it by then.
	return h.publish(r.Context(), q, out, msgID(q.st.ID, key))
}

func decodeDetail(err error) string {
	if e, ok := err.(*decode.Error); ok {
		return e.Detail
	}
	return err.Error()
}

var jsonContentType = []string{"application/json"}

// writeAccepted writes the 200 body without encoding/json:
// {"status":"accepted","ingested_bytes":527,"events":1,"stream_id":"…"}.
func writeAccepted(w http.ResponseWriter, q *request) {
	var a [160]byte
	b := append(a[:0], `{"status":"accepted","ingested_bytes":`...)
	b = strconv.AppendInt(b, int64(q.bytes), 10)
	b = append(b, `,"events":`...)
	b = strconv.AppendInt(b, int64(q.events), 10)
	b = append(b, `,"stream_id":`...)
	b = appendJSONString(b, q.st.ID)
	b = append(b, "}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendJSONString appends s as a JSON string. Stream ids are "str_" and
// hex; anything else is escaped correctly but without finesse.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c) // bytes >= 0x80 pass through: ids are valid UTF-8
		}
	}
	return append(b, '"')
}
