// Package estest is a fake Elasticsearch 8 for tests: the cluster info
// endpoint and the _bulk API, with API key authentication, the NDJSON
// rules, http.max_content_length, per-item errors and the real response
// shapes. Accepted documents are kept, per index, for assertions.
//
// Per-item errors come from a document field or from hooks:
//
//	"fail":"mapper_parsing"   400 mapper_parsing_exception
//	"fail":"429"              429 es_rejected_execution_exception
//	"fail":"500"              500 internal_server_error (exception)
//
// or from AddFault, which matches documents with a predicate.
package estest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultMaxContentLength is Elasticsearch's http.max_content_length
// default (100mb).
const DefaultMaxContentLength = 100 << 20

// Fault is a per-item error the fake returns for matching documents.
type Fault struct {
	Status int
	Type   string
	Reason string
}

// Server is a fake Elasticsearch cluster.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	apiKey   string // encoded key expected after "ApiKey "; "" accepts none
	maxLen   int
	docs     map[string][][]byte
	order    [][]byte // every accepted document, in order
	faults   []fault
	failNext []int // statuses of the next whole-request failures
	hang     chan struct{}
	requests []Request
	seq      int
}

type fault struct {
	match func(doc []byte) bool
	f     Fault
}

// Request is what the fake saw of one _bulk request.
type Request struct {
	Path        string
	ContentType string
	Bytes       int
	Actions     int
	Status      int
}

// New starts a fake cluster that requires "Authorization: ApiKey <apiKey>"
// (no authentication when apiKey is ""). It is closed at test cleanup.
func New(t testing.TB, apiKey string) *Server {
	s := &Server{apiKey: apiKey, maxLen: DefaultMaxContentLength, docs: map[string][][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.Release()
		s.srv.Close()
	})
	return s
}

// EncodedKey returns the encoded form of an "id:key" API key, as
// Elasticsearch's create API key answer gives it.
func EncodedKey(id, key string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + key))
}

// SetMaxContentLength sets http.max_content_length in bytes.
func (s *Server) SetMaxContentLength(n int) {
	s.mu.Lock()
	s.maxLen = n
	s.mu.Unlock()
}

// AddFault makes every document for which match is true fail with f.
// Faults are checked in the order added, before the "fail" field.
func (s *Server) AddFault(match func(doc []byte) bool, f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, fault{match, f})
	s.mu.Unlock()
}

// FailNext makes the next requests fail as a whole with these statuses
// (e.g. 503, 429), one status per request; they index nothing.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	s.failNext = append(s.failNext, statuses...)
	s.mu.Unlock()
}

// Hang holds every request until Release.
func (s *Server) Hang() {
	s.mu.Lock()
	if s.hang == nil {
		s.hang = make(chan struct{})
	}
	s.mu.Unlock()
}

// Release lets held requests go on.
func (s *Server) Release() {
	s.mu.Lock()
	if s.hang != nil {
		close(s.hang)
		s.hang = nil
	}
	s.mu.Unlock()
}

// Docs returns the documents accepted into index, in order.
func (s *Server) Docs(index string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.docs[index])
}

// All returns every accepted document, in order.
func (s *Server) All() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// Requests returns the _bulk requests seen.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if !s.authorized(w, r) {
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.info(w)
	case path == "/_bulk" || strings.HasSuffix(path, "/_bulk"):
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception",
				fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST, PUT]", r.URL.Path, r.Method))
			return
		}
		index := strings.TrimPrefix(strings.TrimSuffix(path, "/_bulk"), "/")
		s.bulk(w, r, index)
	default:
		writeError(w, http.StatusNotFound, "resource_not_found_exception", "no handler found for uri ["+r.URL.Path+"]")
	}
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.apiKey == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "security_exception",
			"missing authentication credentials for REST request ["+r.URL.Path+"]")
		return false
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "ApiKey") || cred != s.apiKey {
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "security_exception",
			"unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		return false
	}
	return true
}

func (s *Server) info(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	io.WriteString(w, `{"name":"estest-node","cluster_name":"estest","cluster_uuid":"dGVzdGNsdXN0ZXJ1dWlk",`+
		`"version":{"number":"8.15.0","build_flavor":"default","build_type":"docker","build_hash":"0000000",`+
		`"build_date":"2024-08-05T10:05:34.233336849Z","build_snapshot":false,"lucene_version":"9.11.1",`+
		`"minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},`+
		`"tagline":"You Know, for Search"}`)
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.WriteHeader(status)
	cause := map[string]string{"type": typ, "reason": reason}
	json.NewEncoder(w).Encode(map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason},
		"status": status,
	})
}

func (s *Server) record(r *http.Request, n, actions, status int) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Bytes: n, Actions: actions, Status: status,
	})
	s.mu.Unlock()
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, pathIndex string) {
	start := time.Now()
	s.mu.Lock()
	maxLen := s.maxLen
	var fail int
	if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	s.mu.Unlock()

	if r.ContentLength > int64(maxLen) {
		s.record(r, int(r.ContentLength), 0, http.StatusRequestEntityTooLarge)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(maxLen)+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", "request body is required")
		return
	}
	if len(body) > maxLen {
		s.record(r, len(body), 0, http.StatusRequestEntityTooLarge)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt != "application/x-ndjson" && mt != "application/json" {
		s.record(r, len(body), 0, http.StatusNotAcceptable)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotAcceptable)
		fmt.Fprintf(w, `{"error":"Content-Type header [%s] is not supported","status":406}`, ct)
		return
	}
	if fail != 0 {
		s.record(r, len(body), 0, fail)
		if fail == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			writeError(w, fail, "circuit_breaking_exception", "[parent] Data too large, data for [<http_request>] would be larger than limit")
		} else {
			writeError(w, fail, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
		}
		return
	}
	if len(body) == 0 {
		s.record(r, 0, 0, http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, "parse_exception", "request body is required")
		return
	}
	if body[len(body)-1] != '\n' {
		s.record(r, len(body), 0, http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	type op struct {
		action, index string
		doc           []byte
	}
	var ops []op
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			s.record(r, len(body), len(ops), http.StatusBadRequest)
			writeError(w, http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", i+1))
			return
		}
		var o op
		for k, v := range action {
			o.action, o.index = k, v.Index
		}
		switch o.action {
		case "create", "index":
		default:
			s.record(r, len(body), len(ops), http.StatusBadRequest)
			writeError(w, http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", i+1, o.action))
			return
		}
		if o.index == "" {
			o.index = pathIndex
		}
		if i+1 >= len(lines) {
			s.record(r, len(body), len(ops), http.StatusBadRequest)
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
			return
		}
		i++
		o.doc = lines[i]
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		s.record(r, len(body), 0, http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}

	type itemBody struct {
		Index       string         `json:"_index"`
		ID          string         `json:"_id"`
		Version     int            `json:"_version,omitempty"`
		Result      string         `json:"result,omitempty"`
		Shards      map[string]int `json:"_shards,omitempty"`
		SeqNo       *int           `json:"_seq_no,omitempty"`
		PrimaryTerm int            `json:"_primary_term,omitempty"`
		Status      int            `json:"status"`
		Error       map[string]any `json:"error,omitempty"`
	}
	items := make([]map[string]itemBody, len(ops))
	anyErr := false
	s.mu.Lock()
	for k, o := range ops {
		id := newID()
		it := itemBody{Index: o.index, ID: id}
		if f, ok := s.faultFor(o.index, o.doc); ok {
			anyErr = true
			it.Status = f.Status
			it.Error = map[string]any{"type": f.Type, "reason": f.Reason}
			if f.Type == "mapper_parsing_exception" || f.Type == "document_parsing_exception" {
				it.Error["caused_by"] = map[string]any{"type": "illegal_argument_exception", "reason": "field [fail] cannot be parsed"}
			}
		} else {
			s.seq++
			seq := s.seq
			it.Status, it.Version, it.Result = http.StatusCreated, 1, "created"
			it.Shards = map[string]int{"total": 2, "successful": 1, "failed": 0}
			it.SeqNo, it.PrimaryTerm = &seq, 1
			doc := bytes.Clone(o.doc)
			s.docs[o.index] = append(s.docs[o.index], doc)
			s.order = append(s.order, doc)
		}
		items[k] = map[string]itemBody{o.action: it}
	}
	s.mu.Unlock()
	s.record(r, len(body), len(ops), http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	json.NewEncoder(w).Encode(map[string]any{
		"errors": anyErr,
		"took":   time.Since(start).Milliseconds(),
		"items":  items,
	})
}

// faultFor decides a document's error; s.mu is held.
func (s *Server) faultFor(index string, doc []byte) (Fault, bool) {
	if why := invalidIndex(index); why != "" {
		return Fault{Status: 400, Type: "invalid_index_name_exception", Reason: fmt.Sprintf("Invalid index name [%s], %s", index, why)}, true
	}
	for _, f := range s.faults {
		if f.match(doc) {
			return f.f, true
		}
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(doc, &v); err != nil {
		return Fault{Status: 400, Type: "document_parsing_exception", Reason: "[1:1] failed to parse: " + firstLine(err.Error())}, true
	}
	var fail string
	if raw, ok := v["fail"]; ok && json.Unmarshal(raw, &fail) == nil {
		switch fail {
		case "mapper_parsing":
			return Fault{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [fail] of type [long] in document"}, true
		case "429":
			return Fault{Status: 429, Type: "es_rejected_execution_exception",
				Reason: "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]"}, true
		case "500":
			return Fault{Status: 500, Type: "exception", Reason: "simulated shard failure"}, true
		}
	}
	return Fault{}, false
}

func invalidIndex(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.ToLower(s) != s:
		return "must be lowercase"
	case strings.ContainsAny(s[:1], "-_+"):
		return "must not start with '_', '-', or '+'"
	case strings.ContainsAny(s, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// newID returns a 20-character id like Elasticsearch's auto-generated ones.
func newID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
