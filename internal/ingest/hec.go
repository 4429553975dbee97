package ingest

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/model"
)

// Splunk HTTP Event Collector input (SPEC §2.4), docs/ingest/splunk-hec.md.
//
//	POST /services/collector, /services/collector/event[/1.0]: concatenated
//	     JSON event objects {"time","host","source","sourcetype","index","event","fields"}
//	POST /services/collector/raw[/1.0]: one event per line (channel required)
//	GET  /services/collector/health[/1.0]: {"text":"HEC is healthy","code":17}
//	POST /services/collector/ack: {"text":"ACK is disabled","code":14} (a 200
//	     here already means the events are durably stored)
//
// Answers are HEC's {"text","code"} objects with HEC's codes. Runnel adds a
// "detail" member to every error that says exactly what was wrong (HEC
// clients read only text and code). The order of checks is the native
// dialect's: credentials (401 code 2/3, 403 code 4/1, 400 code 16 for
// ?token=), channel (400 code 10/11), stream (404/403 code 7, 409 code 1),
// Content-Encoding (400 code 6), rate limit (429 code 9), body size (413
// code 6), decoding (400 code 5/6/12/13/15 with invalid-event-number),
// the stream's JSON Schema (400 code 6 with invalid-event-number, the
// violations in detail; schema.go), rate limit for the N events (429 code
// 9), publish (503 code 9).
//
// A request is stored whole or not at all: unlike Splunk, which indexes
// the events before the invalid one, Runnel stores none of them, so a
// client that retries the corrected batch does not duplicate its prefix.

const dialectHEC = "splunk-hec"

// hecDefaultSource is the envelope source of an event without a HEC source.
const hecDefaultSource = "splunk-hec"

// HEC codes (Splunk's "Troubleshoot HTTP Event Collector" table).
const (
	hecSuccess         = 0
	hecTokenDisabled   = 1
	hecTokenRequired   = 2
	hecInvalidAuth     = 3
	hecInvalidToken    = 4
	hecNoData          = 5
	hecInvalidFormat   = 6
	hecIncorrectIndex  = 7
	hecServerBusy      = 9
	hecChannelMissing  = 10
	hecInvalidChannel  = 11
	hecEventRequired   = 12
	hecEventBlank      = 13
	hecAckDisabled     = 14
	hecIndexedFields   = 15
	hecQueryStringAuth = 16
	hecHealthy         = 17
)

var hecTexts = map[int]string{
	hecSuccess: "Success", hecTokenDisabled: "Token disabled", hecTokenRequired: "Token is required",
	hecInvalidAuth: "Invalid authorization", hecInvalidToken: "Invalid token", hecNoData: "No data",
	hecInvalidFormat: "Invalid data format", hecIncorrectIndex: "Incorrect index", hecServerBusy: "Server is busy",
	hecChannelMissing: "Data channel is missing", hecInvalidChannel: "Invalid data channel",
	hecEventRequired: "Event field is required", hecEventBlank: "Event field cannot be blank",
	hecAckDisabled: "ACK is disabled", hecIndexedFields: "Error in handling indexed fields",
	hecQueryStringAuth: "Query string authorization is not enabled", hecHealthy: "HEC is healthy",
}

// hecError is a refused HEC request: the HTTP status, HEC code, the index
// of the offending event (-1: none) and the rejection for metrics, detail
// and Retry-After.
type hecError struct {
	status int
	code   int
	event  int
	text   string // "" → hecTexts[code]
	rj     *rejection
}

func newHECError(status, code int, rj *rejection) *hecError {
	return &hecError{status: status, code: code, event: -1, rj: rj}
}

func (e *hecError) write(w http.ResponseWriter) {
	text := e.text
	if text == "" {
		text = hecTexts[e.code]
	}
	b := make([]byte, 0, 128+len(e.rj.detail))
	b = append(b, `{"text":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(e.code), 10)
	if e.event >= 0 {
		b = append(b, `,"invalid-event-number":`...)
		b = strconv.AppendInt(b, int64(e.event), 10)
	}
	if e.rj.detail != "" {
		b = append(b, `,"detail":`...)
		b = cjAppendText(b, e.rj.detail)
	}
	b = append(b, "}\n"...)
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable || e.rj.retry > 0 {
		compatRetryAfter(w, e.rj.retry)
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// compatRetryAfter sets Retry-After in whole seconds, at least 1.
func compatRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

func writeHEC(w http.ResponseWriter, status int, body string) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// registerCompat adds the routes of the compatible inputs that the mux
// can hold (SPEC §2.4): Splunk HEC and OTLP/HTTP logs. Elasticsearch _bulk
// and its product check are served by Wrap, in front of the mux, because
// "POST /{index}/_bulk" would overlap other dialects' patterns
// ("POST /collection/{inlet}" for /collection/_bulk).
func (h *Handler) registerCompat(mux *http.ServeMux) {
	h.registerHEC(mux)
	mux.HandleFunc("POST /v1/logs", h.serveOTLPLogs)
}

// registerHEC adds the HEC routes.
func (h *Handler) registerHEC(mux *http.ServeMux) {
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		mux.HandleFunc("POST "+p, h.serveHECEvent)
	}
	for _, p := range []string{"/services/collector/raw", "/services/collector/raw/1.0"} {
		mux.HandleFunc("POST "+p, h.serveHECRaw)
	}
	for _, p := range []string{"/services/collector/health", "/services/collector/health/1.0"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			writeHEC(w, http.StatusOK, `{"text":"HEC is healthy","code":17}`+"\n")
		})
	}
	mux.HandleFunc("POST /services/collector/ack", func(w http.ResponseWriter, r *http.Request) {
		writeHEC(w, http.StatusBadRequest, `{"text":"ACK is disabled","code":14,"detail":"indexer acknowledgement is not needed: a 200 from Runnel means the events are durably stored"}`+"\n")
	})
}

func (h *Handler) serveHECEvent(w http.ResponseWriter, r *http.Request) { h.serveHEC(w, r, false) }
func (h *Handler) serveHECRaw(w http.ResponseWriter, r *http.Request)   { h.serveHEC(w, r, true) }

const hecSuccessBody = `{"text":"Success","code":0}` + "\n"

func (h *Handler) serveHEC(w http.ResponseWriter, r *http.Request, raw bool) {
	q := request{dialect: dialectHEC, start: time.Now(), now: h.now()}
	dup, e := h.hec(w, r, &q, raw)
	if e != nil {
		h.fail(&q, e.rj)
		e.write(w)
		return
	}
	h.succeed(&q, dup)
	writeHEC(w, http.StatusOK, hecSuccessBody)
}

// hecAuthError maps a failed authentication onto HEC's answers.
func hecAuthError(f credFailure, rj *rejection) *hecError {
	switch f {
	case credMissing:
		return newHECError(http.StatusUnauthorized, hecTokenRequired, rj)
	case credMalformed:
		return newHECError(http.StatusUnauthorized, hecInvalidAuth, rj)
	case credExpired:
		return newHECError(http.StatusForbidden, hecTokenDisabled, rj)
	}
	return newHECError(http.StatusForbidden, hecInvalidToken, rj) // unknown token, scope missing
}

// hecStreamError maps a failed stream choice onto HEC's answers.
func hecStreamError(rj *rejection) *hecError {
	switch rj.code {
	case apierr.StreamNotFound:
		return newHECError(http.StatusNotFound, hecIncorrectIndex, rj)
	case apierr.Forbidden:
		return newHECError(http.StatusForbidden, hecIncorrectIndex, rj)
	case apierr.StreamInactive:
		return newHECError(http.StatusConflict, hecTokenDisabled, rj)
	}
	return hecBodyError(rj)
}

// hecBodyError maps rejections of the shared body, rate and publish steps.
func hecBodyError(rj *rejection) *hecError {
	switch rj.code {
	case apierr.PayloadTooLarge:
		return &hecError{status: http.StatusRequestEntityTooLarge, code: hecInvalidFormat, event: -1, text: "Content too large", rj: rj}
	case apierr.RateLimited:
		return newHECError(http.StatusTooManyRequests, hecServerBusy, rj)
	case apierr.Unavailable:
		return newHECError(http.StatusServiceUnavailable, hecServerBusy, rj)
	}
	return newHECError(http.StatusBadRequest, hecInvalidFormat, rj)
}

// hec runs a HEC request up to the publish ack.
func (h *Handler) hec(w http.ResponseWriter, r *http.Request, q *request, raw bool) (bool, *hecError) {
	query := r.URL.Query()
	secret, f, rj := hecCredentials(r)
	if rj == nil {
		f, rj = h.compatAuth(r, q, secret)
	}
	if rj != nil {
		if f == credMissing && query.Get("token") != "" {
			// HEC's query-string authentication, off as in Splunk's default
			// (allowQueryStringAuth = false): a URL leaks into proxy and
			// access logs. Like splunkd, an unknown token is 403 code 4;
			// only a valid one learns that the method is disabled.
			if f2, rj2 := h.compatAuth(r, &request{now: q.now}, query.Get("token")); rj2 != nil && f2 != credMissing {
				return false, newHECError(http.StatusForbidden, hecInvalidToken, rj2)
			}
			return false, newHECError(http.StatusBadRequest, hecQueryStringAuth,
				reject(apierr.Unauthorized, "tokens in the query string are not accepted: send Authorization: Splunk <token>"))
		}
		return false, hecAuthError(f, rj)
	}

	channel := strings.TrimSpace(r.Header.Get("X-Splunk-Request-Channel"))
	if channel == "" {
		channel = query.Get("channel")
	}
	switch {
	case channel == "" && raw:
		return false, newHECError(http.StatusBadRequest, hecChannelMissing,
			reject(apierr.InvalidFormat, "the raw endpoint needs a channel: send the X-Splunk-Request-Channel header or ?channel=<GUID>"))
	case channel != "" && !hecIsGUID(channel):
		return false, newHECError(http.StatusBadRequest, hecInvalidChannel,
			reject(apierr.InvalidFormat, "the channel %s is not a GUID (such as 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba)", quoteClient(channel)))
	}

	ref, rj := compatStreamRef(r, q, query)
	if rj == nil {
		rj = h.resolveStream(q, ref)
	}
	if rj != nil {
		return false, hecStreamError(rj)
	}
	enc, rj := contentEncoding(r.Header)
	if rj != nil {
		return false, hecBodyError(rj)
	}
	if rj := h.precheck(q); rj != nil {
		return false, hecBodyError(rj)
	}
	body, rj := h.readBody(w, r, enc, payloadLimit(q.st))
	if rj != nil {
		return false, hecBodyError(rj)
	}
	defer h.bufs.put(body)
	q.bytes = len(*body)

	d := hecDefaults{channel: channel, now: q.now}
	d.fromQuery(query)
	frame := h.bufs.get(hecFrameHint(*body, raw))
	defer h.bufs.put(frame)
	var (
		out  []byte
		n    int
		derr *hecDecodeError
	)
	if raw {
		out, n, derr = hecRaw((*frame)[:0], *body, &d)
	} else {
		out, n, derr = hecEvents((*frame)[:0], *body, &d)
	}
	*frame = out
	if derr != nil {
		return false, &hecError{status: http.StatusBadRequest, code: derr.code, event: derr.event,
			rj: reject(apierr.InvalidFormat, "%s", derr.detail)}
	}
	q.events = n
	q.state.received.Add(float64(n))
	if len(q.st.Schema) != 0 { // schema.go: 400 code 6 naming the event
		if i, rj := h.validateFrame(q, out, false); rj != nil {
			if i < 0 {
				return false, &hecError{status: http.StatusInternalServerError, code: 8, event: -1, text: "Internal server error", rj: rj}
			}
			return false, &hecError{status: http.StatusBadRequest, code: hecInvalidFormat, event: i, rj: rj}
		}
	}
	if rj := h.admit(q); rj != nil {
		return false, hecBodyError(rj)
	}
	dup, rj := h.publish(r.Context(), q, out, "")
	if rj != nil {
		return false, hecBodyError(rj)
	}
	return dup, nil
}

// hecCredentials reads Authorization: Splunk <token>, Bearer <token> or
// Basic base64(<anything>:<token>) (HEC's basic authentication).
func hecCredentials(r *http.Request) (string, credFailure, *rejection) {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if v == "" {
		return "", credMissing, reject(apierr.Unauthorized, "missing token: send Authorization: Splunk <token>")
	}
	scheme, cred, _ := strings.Cut(v, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Splunk"), strings.EqualFold(scheme, "Bearer"):
		return cred, credOK, nil
	case strings.EqualFold(scheme, "Basic"):
		if pw, ok := compatBasicPassword(cred); ok {
			return pw, credOK, nil
		}
	}
	return "", credMalformed, reject(apierr.Unauthorized, "Authorization must be \"Splunk <token>\" (or Bearer, or Basic with the token as the password)")
}

// ---- shared by the compatible inputs (HEC, _bulk, OTLP) ----

// credFailure says why authentication failed, for dialects whose answers
// tell the cases apart.
type credFailure uint8

const (
	credOK        credFailure = iota
	credMissing               // no credentials at all
	credMalformed             // an Authorization header the dialect cannot read
	credUnknown               // no such token
	credExpired               // the token has expired
	credNoScope               // the token lacks events.ingest
)

// compatAuth authenticates a secret the dialect took from its own header
// forms, as (*Handler).authenticate does for "<scheme> <token>": the token
// must carry events.ingest; an admin token may choose the workspace with
// X-Workspace.
func (h *Handler) compatAuth(r *http.Request, q *request, secret string) (credFailure, *rejection) {
	tok, err := auth.Authenticate(h.tokens, secret, q.now)
	switch {
	case errors.Is(err, auth.ErrMissing):
		return credMissing, reject(apierr.Unauthorized, "missing token")
	case errors.Is(err, auth.ErrExpired):
		return credExpired, reject(apierr.Unauthorized, "the token has expired")
	case err != nil:
		return credUnknown, reject(apierr.Unauthorized, "unknown token")
	}
	q.tok, q.ws = tok, tok.Workspace
	if !tok.Has(model.ScopeIngest) {
		return credNoScope, reject(apierr.Forbidden, "the token lacks the %s scope", model.ScopeIngest)
	}
	if ws := strings.TrimSpace(r.Header.Get("X-Workspace")); ws != "" && tok.Has(model.ScopeAdmin) {
		q.ws = ws
	}
	return credOK, nil
}

// compatBasicPassword returns the password of a Basic credential.
func compatBasicPassword(cred string) (string, bool) {
	dec, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", false
	}
	_, pw, ok := strings.Cut(string(dec), ":")
	return pw, ok && pw != ""
}

// compatStreamRef is the stream a HEC or OTLP request (or a _bulk item
// without an index) goes to (SPEC §2.4): the X-Stream-Id header, else the
// stream query parameter, else the token's only stream.
func compatStreamRef(r *http.Request, q *request, query url.Values) (string, *rejection) {
	if ref := strings.TrimSpace(r.Header.Get("X-Stream-Id")); ref != "" {
		return ref, nil
	}
	if ref := strings.TrimSpace(query.Get("stream")); ref != "" {
		return ref, nil
	}
	if len(q.tok.Streams) == 1 {
		return q.tok.Streams[0], nil
	}
	return "", reject(apierr.StreamNotFound,
		"no stream chosen: send the X-Stream-Id header or the stream query parameter (the stream's id or name), or use a token limited to a single stream")
}

// hecIsGUID reports whether s looks like 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba.
func hecIsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
