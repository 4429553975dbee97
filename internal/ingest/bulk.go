package ingest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
)

// Elasticsearch _bulk input (SPEC §2.4), docs/ingest/elasticsearch-bulk.md.
//
//	POST|PUT /_bulk, /{index}/_bulk   NDJSON action and document lines
//	GET  /                            the product check, for ES clients only
//	HEAD /                            the ping of ES clients (Logstash)
//	GET  /_cluster/health             the health check of Vector's ES sink
//
// These are served by Wrap, in front of the server's mux: a mux pattern
// "POST /{index}/_bulk" would overlap "POST /collection/{inlet}" and make
// ServeMux panic, and GET / belongs to the console unless the client is an
// Elasticsearch client.
//
// # Requests and items
//
// The index of an item names its stream (id or name): the action's
// "_index", else the URL's {index}, else X-Stream-Id / ?stream=, else the
// token's only stream. "index" and "create" store the document; "update"
// and "delete" are answered with a per-item 400 (streams are append-only)
// and store nothing. A document that is not a JSON object, or not valid
// JSON, gets a per-item 400 mapper_parsing_exception; one that does not
// match its stream's JSON Schema a per-item 400 document_parsing_exception
// naming the violations (schema.go); an unknown stream a
// per-item 404 index_not_found_exception; a stream the token may not use
// a 403 security_exception; an inactive stream a 400
// index_closed_exception. The valid items of a request are stored, one
// frame per stream, even when others fail: that is the _bulk contract, and
// what ES clients retry per item.
//
// The request as a whole is refused (400, nothing stored) when its lines
// cannot be read as _bulk: an action line that is not an object with one
// of index/create/update/delete, or an action without its document line.
// Credentials: 401/403 security_exception. A stream's rate limit or full
// buffer fails its items (429 es_rejected_execution_exception, 503
// unavailable_shards_exception); when every item failed that way the
// answer is that status itself, with Retry-After.
//
// Every answer carries X-Elastic-Product: Elasticsearch, which the
// official clients (8.x) require.
//
// # Credentials
//
// Authorization: ApiKey <token>, ApiKey base64(<id>:<token>) (what ES
// clients send when given an id and a key; the id is ignored), Bearer
// <token>, or Basic base64(<user>:<token>) (any user name).
//
// # Events
//
//	{"timestamp": <the document's "@timestamp", else its "timestamp": an
//	               RFC 3339 string, or epoch milliseconds; else received time>,
//	 "source":    "elasticsearch:<index>",
//	 "event":     <the document as sent>,
//	 "metadata":  {"es_index": <index>, "es_op": "index"|"create", "es_id": <_id>}}
//
// "_id" is the action's, else one generated like ES's (20 URL-safe
// characters) and returned in the item.

const dialectBulk = "elasticsearch"

// esVersion is the Elasticsearch version Runnel answers the product check with.
const esVersion = "8.11.0"

var (
	esProduct        = []string{"Elasticsearch"}
	esJSONType       = []string{"application/json"}
	esCompatJSONType = []string{"application/vnd.elasticsearch+json;compatible-with=8"}
)

// Wrap serves the Elasticsearch endpoints (see above) and passes every
// other request to next.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/":
			switch {
			case r.Method == http.MethodHead:
				esHeaders(w, r)
				w.WriteHeader(http.StatusOK)
				return
			case r.Method == http.MethodGet && looksLikeES(r):
				esWrite(w, r, http.StatusOK, esInfoBody)
				return
			}
		case p == "/_cluster/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			esWrite(w, r, http.StatusOK, esHealthBody)
			return
		case strings.HasSuffix(p, "/_bulk"):
			if index, ok := bulkPathIndex(p); ok {
				if r.Method == http.MethodPost || r.Method == http.MethodPut {
					h.serveBulk(w, r, index)
					return
				}
				w.Header().Set("Allow", "POST, PUT")
				b := append([]byte(`{"error":`), cjAppendText(nil, "Incorrect HTTP method for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"], allowed: [POST, PUT]")...)
				esWrite(w, r, http.StatusMethodNotAllowed, append(b, `,"status":405}`+"\n"...))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bulkPathIndex reads /_bulk ("") and /{index}/_bulk.
func bulkPathIndex(p string) (string, bool) {
	if p == "/_bulk" {
		return "", true
	}
	index := strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/_bulk")
	if index == "" || strings.Contains(index, "/") {
		return "", false
	}
	return index, true
}

// esClientAgents are User-Agent prefixes (lower case) of Elasticsearch
// clients and shippers.
var esClientAgents = []string{
	"go-elasticsearch", "elasticsearch-", "elastic-", "elastic/", "fluent-bit", "fluentbit",
	"vector/", "logstash", "manticore", "opensearch",
}

// looksLikeES reports whether a GET / comes from an Elasticsearch client
// rather than a browser on its way to the console.
func looksLikeES(r *http.Request) bool {
	if r.Header.Get("X-Elastic-Client-Meta") != "" || strings.Contains(r.Header.Get("Accept"), "vnd.elasticsearch") {
		return true
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "ApiKey") {
		return true
	}
	ua := strings.ToLower(r.Header.Get("User-Agent"))
	for _, p := range esClientAgents {
		if strings.HasPrefix(ua, p) {
			return true
		}
	}
	return false
}

var esInfoBody = []byte(`{"name":"runnel","cluster_name":"runnel","cluster_uuid":"cnVubmVsLWNsdXN0ZXI",` +
	`"version":{"number":"` + esVersion + `","build_flavor":"default","build_type":"docker",` +
	`"build_hash":"d9ec3fa628c7b0ba3d25692e277ba26814820b20","build_date":"2023-11-04T10:04:57.184859352Z",` +
	`"build_snapshot":false,"lucene_version":"9.8.0","minimum_wire_compatibility_version":"7.17.0",` +
	`"minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}` + "\n")

var esHealthBody = []byte(`{"cluster_name":"runnel","status":"green","timed_out":false,"number_of_nodes":1,` +
	`"number_of_data_nodes":1,"active_primary_shards":0,"active_shards":0,"relocating_shards":0,` +
	`"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,` +
	`"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}` + "\n")

// esHeaders sets the headers of every Elasticsearch answer.
func esHeaders(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd["X-Elastic-Product"] = esProduct
	if strings.Contains(r.Header.Get("Accept"), "vnd.elasticsearch") {
		hd["Content-Type"] = esCompatJSONType
	} else {
		hd["Content-Type"] = esJSONType
	}
}

func esWrite(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	esHeaders(w, r)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// esError is a refused _bulk request, in ES's error shape:
// {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status"}.
type esError struct {
	status int
	typ    string
	reason string
	rj     *rejection // metrics, Retry-After
}

func (e *esError) write(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 0, 160+2*len(e.reason))
	b = append(b, `{"error":{"root_cause":[`...)
	cause := appendESCause(nil, e.typ, e.reason)
	b = append(b, cause...)
	b = append(b, `],`...)
	b = append(b, cause[1:len(cause)-1]...)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, "}\n"...)
	switch e.status {
	case http.StatusUnauthorized:
		w.Header()["Www-Authenticate"] = []string{`Basic realm="security", charset="UTF-8"`, `Bearer realm="security"`, "ApiKey"}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		compatRetryAfter(w, e.rj.retry)
	}
	esWrite(w, r, e.status, b)
}

func appendESCause(b []byte, typ, reason string) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"reason":`...)
	b = cjAppendText(b, reason)
	return append(b, '}')
}

// esCredentials reads the _bulk Authorization forms (see the file comment).
func esCredentials(r *http.Request) (string, credFailure, *rejection) {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if v == "" {
		return "", credMissing, reject(apierr.Unauthorized, "missing authentication credentials for REST request [%s]: send Authorization: ApiKey <token> (or Bearer, or Basic with the token as the password)", r.URL.Path)
	}
	scheme, cred, _ := strings.Cut(v, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "ApiKey"):
		return esAPIKey(cred), credOK, nil
	case strings.EqualFold(scheme, "Bearer"):
		return cred, credOK, nil
	case strings.EqualFold(scheme, "Basic"):
		if pw, ok := compatBasicPassword(cred); ok {
			return pw, credOK, nil
		}
	}
	return "", credMalformed, reject(apierr.Unauthorized, "unsupported Authorization: send ApiKey <token> (or Bearer, or Basic with the token as the password)")
}

// esAPIKey is the token of an ApiKey credential: the value itself (a
// Runnel token, never valid base64: it starts with "rnl_"), or the key of
// base64(<id>:<key>).
func esAPIKey(cred string) string {
	dec, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		dec, err = base64.RawStdEncoding.DecodeString(cred)
	}
	if err == nil {
		if _, key, ok := strings.Cut(string(dec), ":"); ok && key != "" {
			return key
		}
	}
	return cred
}

func esAuthError(f credFailure, rj *rejection) *esError {
	switch f {
	case credMissing, credMalformed:
		return &esError{status: http.StatusUnauthorized, typ: "security_exception", reason: rj.detail, rj: rj}
	case credNoScope:
		return &esError{status: http.StatusForbidden, typ: "security_exception",
			reason: "action [indices:data/write/bulk] is unauthorized: " + rj.detail, rj: rj}
	}
	return &esError{status: http.StatusUnauthorized, typ: "security_exception",
		reason: "unable to authenticate with provided credentials: " + rj.detail, rj: rj}
}

// esRequestError maps the shared body steps' rejections (encoding, size).
func esRequestError(rj *rejection) *esError {
	if rj.code == apierr.PayloadTooLarge {
		return &esError{status: http.StatusRequestEntityTooLarge, typ: "content_too_long_exception", reason: rj.detail, rj: rj}
	}
	return &esError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: rj.detail, rj: rj}
}

// serveBulk answers one _bulk request.
func (h *Handler) serveBulk(w http.ResponseWriter, r *http.Request, urlIndex string) {
	q := request{dialect: dialectBulk, start: time.Now(), now: h.now()}
	b := newBulk(h, r, &q, urlIndex)
	defer b.release()
	if e := b.run(w); e != nil {
		h.fail(&q, e.rj)
		e.write(w, r)
		return
	}
	status, retry := b.outcome()
	if status != http.StatusOK {
		// Every item failed for a reason a retry can cure: say it for the
		// whole request, with Retry-After, as ES does when it is overloaded.
		e := &esError{status: status, typ: "es_rejected_execution_exception", reason: b.items[0].reason, rj: &rejection{retry: retry}}
		if status == http.StatusServiceUnavailable {
			e.typ = "unavailable_shards_exception"
		}
		e.write(w, r)
		return
	}
	if retry > 0 {
		compatRetryAfter(w, retry)
	}
	out := h.bufs.get(64 + len(b.items)*(230+len(b.names[0].display)))
	*out = b.response((*out)[:0])
	esWrite(w, r, http.StatusOK, *out)
	h.bufs.put(out)
}

// run authenticates, reads and decodes the request and publishes its
// frames. An *esError refuses the whole request (nothing stored).
func (b *bulk) run(w http.ResponseWriter) *esError {
	h, r, q := b.h, b.r, b.base
	secret, f, rj := esCredentials(r)
	if rj == nil {
		f, rj = h.compatAuth(r, q, secret)
	}
	if rj != nil {
		return esAuthError(f, rj)
	}
	enc, rj := contentEncoding(r.Header)
	if rj != nil {
		return esRequestError(rj)
	}
	// The body is read against the limit of the request's default stream
	// when it has one; else against the hard cap, and each stream's own
	// limit is then applied to the bytes of its items.
	limit := int(model.HardMaxPayload)
	if g := b.groups[b.names[b.name([]byte(b.urlIndex))].group]; g.rj == nil {
		limit = payloadLimit(g.q.st)
	}
	body, rj := h.readBody(w, r, enc, limit)
	if rj != nil {
		return esRequestError(rj)
	}
	b.body = body
	q.bytes = len(*body)
	if e := b.decode(*body); e != nil {
		return e
	}
	if len(b.items) == 0 {
		return &esError{status: http.StatusBadRequest, typ: "action_request_validation_exception",
			reason: "Validation Failed: 1: no requests added;", rj: reject(apierr.InvalidFormat, "no requests added")}
	}
	for _, g := range b.groups {
		if g.rj == nil && g.q.events > 0 {
			if lim := payloadLimit(g.q.st); g.raw > lim {
				return esRequestError(reject(apierr.PayloadTooLarge,
					"the items for stream %s are %d bytes, more than its limit of %d bytes (limits.max_payload)", quoteClient(g.q.st.Name), g.raw, lim))
			}
		}
	}
	b.publish()
	return nil
}

// bulk is the state of one _bulk request. It is pooled: its slices keep
// their capacity from one request to the next, so a request allocates
// next to nothing per item.
type bulk struct {
	h        *Handler
	r        *http.Request
	base     *request
	urlIndex string
	query    url.Values
	body     *[]byte
	names    []bulkName  // the indexes the request names
	groups   []bulkGroup // one per stream (or per refused name)
	items    []bulkItem
	members  []cjMember // of the document being read
	ids      []byte     // the items' ids, one after another
	idPrefix [11]byte
	idReady  bool
}

var bulkPool = sync.Pool{New: func() any { return new(bulk) }}

func newBulk(h *Handler, r *http.Request, q *request, urlIndex string) *bulk {
	b := bulkPool.Get().(*bulk)
	b.h, b.r, b.base, b.urlIndex, b.query = h, r, q, urlIndex, r.URL.Query()
	return b
}

// release returns the pooled buffers and the state.
func (b *bulk) release() {
	b.h.bufs.put(b.body)
	for i := range b.groups {
		b.h.bufs.put(b.groups[i].frame)
	}
	clear(b.names)
	clear(b.groups)
	clear(b.items)
	clear(b.members)
	*b = bulk{names: b.names[:0], groups: b.groups[:0], items: b.items[:0], members: b.members[:0], ids: b.ids[:0]}
	bulkPool.Put(b)
}

// bulkName is an index named by the request, and the group of its stream.
type bulkName struct {
	index       string // as the client named it ("" → the request's default stream)
	display     string // as answered: the index, else the stream's name
	displayJSON []byte // display as a JSON string
	group       int
	// Envelope pieces, built when a document is stored:
	// `"elasticsearch:<index>"` and `,"metadata":{"es_index":<index>,"es_op":"`.
	source, meta []byte
}

// bulkGroup is the items of one stream and their frame. Names that
// resolve to the same stream (its name and its id) share a group.
type bulkGroup struct {
	q     request
	rj    *rejection // the stream cannot be used: every item fails with it
	frame *[]byte
	raw   int // bytes of its action and document lines
	dup   bool
	seq   int
}

// bulkItem is the answer of one action.
type bulkItem struct {
	op     string // "index", "create", "update", "delete"
	name   int    // in b.names
	id     []byte // in b.ids
	group  int
	seq    int
	status int
	typ    string // error type; "" when stored (or to be)
	reason string
	cause  string // caused_by reason of a mapper_parsing_exception
}

// name returns the position in b.names of an index (decoded bytes),
// resolving its stream the first time.
func (b *bulk) name(index []byte) int {
	for i := range b.names {
		if b.names[i].index == string(index) {
			return i
		}
	}
	q := *b.base
	q.st, q.state, q.events, q.bytes = nil, nil, 0, 0
	ref := string(index)
	var rj *rejection
	if ref == "" {
		ref, rj = compatStreamRef(b.r, &q, b.query)
	}
	if rj == nil {
		rj = b.h.resolveStream(&q, ref)
	}
	n := bulkName{index: string(index), display: string(index), group: -1}
	if n.display == "" && q.st != nil {
		n.display = q.st.Name
	}
	if rj == nil {
		for i := range b.groups {
			if g := &b.groups[i]; g.rj == nil && g.q.st.ID == q.st.ID {
				n.group = i
			}
		}
	}
	if n.group < 0 {
		n.group = len(b.groups)
		b.groups = append(b.groups, bulkGroup{q: q, rj: rj})
	}
	b.names = append(b.names, n)
	return len(b.names) - 1
}

// newID appends a generated document id to b.ids: 20 URL-safe
// characters, a random per-request prefix and the item's ordinal.
func (b *bulk) newID(n int) []byte {
	if !b.idReady {
		_, _ = rand.Read(b.idPrefix[:])
		b.idReady = true
	}
	var raw [15]byte
	copy(raw[:], b.idPrefix[:])
	binary.BigEndian.PutUint32(raw[11:], uint32(n))
	start := len(b.ids)
	b.ids = base64.RawURLEncoding.AppendEncode(b.ids, raw[:])
	return b.ids[start:len(b.ids):len(b.ids)]
}

// publish stores each group's frame and settles its items.
func (b *bulk) publish() {
	h := b.h
	for gi := range b.groups {
		g := &b.groups[gi]
		if g.rj != nil {
			if n := b.countItems(gi); n > 0 {
				g.q.events = n
				h.fail(&g.q, g.rj)
			}
			continue
		}
		if g.q.events == 0 {
			continue
		}
		g.q.state.received.Add(float64(g.q.events))
		rj := h.admit(&g.q)
		if rj == nil {
			g.dup, rj = h.publish(b.r.Context(), &g.q, (*g.frame)[:len(*g.frame)-1], "")
		}
		if rj != nil {
			g.rj = rj
			h.fail(&g.q, rj)
			for i := range b.items {
				if it := &b.items[i]; it.group == gi && it.typ == "" {
					it.status, it.typ, it.reason = esGroupError(rj, b.names[it.name].display)
				}
			}
			continue
		}
		h.succeed(&g.q, g.dup)
	}
}

func (b *bulk) countItems(gi int) int {
	n := 0
	for i := range b.items {
		if b.items[i].group == gi {
			n++
		}
	}
	return n
}

// esGroupError is the per-item answer when an item's stream refused it.
func esGroupError(rj *rejection, index string) (status int, typ, reason string) {
	switch rj.code {
	case apierr.StreamNotFound:
		return http.StatusNotFound, "index_not_found_exception", "no such index [" + index + "]: " + rj.detail
	case apierr.Forbidden:
		return http.StatusForbidden, "security_exception", "action [indices:data/write/bulk[s]] is unauthorized: " + rj.detail
	case apierr.StreamInactive:
		return http.StatusBadRequest, "index_closed_exception", "closed: " + rj.detail
	case apierr.RateLimited:
		return http.StatusTooManyRequests, "es_rejected_execution_exception", rj.detail
	case apierr.PayloadTooLarge:
		return http.StatusRequestEntityTooLarge, "content_too_long_exception", rj.detail
	}
	return http.StatusServiceUnavailable, "unavailable_shards_exception", rj.detail
}

// outcome is 200 unless every item failed with 429 or 503, and the
// longest Retry-After of the failed streams.
func (b *bulk) outcome() (status int, retry time.Duration) {
	status = http.StatusTooManyRequests
	for i := range b.groups {
		if g := &b.groups[i]; g.rj != nil && g.rj.retry > retry {
			retry = g.rj.retry
		}
	}
	for i := range b.items {
		switch b.items[i].status {
		case http.StatusTooManyRequests:
		case http.StatusServiceUnavailable:
			status = http.StatusServiceUnavailable
		default:
			return http.StatusOK, retry
		}
	}
	return status, retry
}

// response appends the 200 body, {"took","errors","items":[…]}, to out.
func (b *bulk) response(out []byte) []byte {
	out = append(out, `{"took":`...)
	out = strconv.AppendInt(out, time.Since(b.base.start).Milliseconds(), 10)
	errs := false
	for i := range b.items {
		if b.items[i].typ != "" {
			errs = true
			break
		}
	}
	out = strconv.AppendBool(append(out, `,"errors":`...), errs)
	out = append(out, `,"items":[`...)
	for i := range b.items {
		it := &b.items[i]
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"`...)
		out = append(out, it.op...)
		out = append(out, `":{"_index":`...)
		n := &b.names[it.name]
		if n.displayJSON == nil {
			n.displayJSON = cjAppendText(nil, n.display)
		}
		out = append(out, n.displayJSON...)
		out = append(out, `,"_id":`...)
		out = cjAppendEscaped(out, it.id)
		if it.typ == "" {
			out = append(out, `,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":`...)
			out = strconv.AppendInt(out, int64(it.seq), 10)
			out = append(out, `,"_primary_term":1,"status":201}}`...)
			continue
		}
		out = append(out, `,"status":`...)
		out = strconv.AppendInt(out, int64(it.status), 10)
		out = append(out, `,"error":{"type":`...)
		out = appendJSONString(out, it.typ)
		out = append(out, `,"reason":`...)
		out = cjAppendText(out, it.reason)
		if it.cause != "" {
			out = append(out, `,"caused_by":{"type":"x_content_parse_exception","reason":`...)
			out = cjAppendText(out, it.cause)
			out = append(out, '}')
		}
		if it.typ == "index_not_found_exception" || it.typ == "index_closed_exception" {
			out = append(out, `,"index":`...)
			out = append(out, n.displayJSON...)
			out = append(out, `,"index_uuid":"_na_"`...)
		}
		out = append(out, "}}}"...)
	}
	return append(out, "]}\n"...)
}
