// Package splunktest is a fake Splunk HTTP Event Collector for tests. It
// answers like HEC does (Splunk Enterprise 9/10, as documented and as
// observed): the token in "Authorization: Splunk <token>" is checked
// first (codes 2, 3, 4, 1), the body is a sequence of concatenated JSON
// event objects processed in order, and the first bad one stops the
// request with its invalid-event-number (codes 6, 12, 13, 15; 7 for an
// index the token may not use) while the events before it are kept.
// An empty body is code 5, a body over max_content_length is HTTP 413.
// The health endpoint answers code 17 (healthy) without looking at the
// token, or 18 (queues full) while the server is busy.
package splunktest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// DefaultMaxContentLength is Splunk Enterprise's limits.conf
// [http_input] max_content_length (800 MiB). Splunk Cloud documents 1 MB.
const DefaultMaxContentLength = 838860800

// Event is one event the fake indexed.
type Event struct {
	Time       json.RawMessage // as sent (number or string), nil if absent
	Host       string
	Source     string
	Sourcetype string
	Index      string
	Event      json.RawMessage
}

// Server is a fake HEC.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port); events go to
	// URL + "/services/collector/event".
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]*token
	maxLen   int
	events   []Event
	busy     int // requests still answered 503 code 9
	reject   []func(event []byte) bool
	hang     chan struct{}
	requests []Request
}

type token struct {
	disabled bool
	indexes  []string // allowed; nil: any
	dflt     string
}

// Request is what the fake saw of one event request.
type Request struct {
	Bytes  int
	Events int // events in the body (as far as it was parsed)
	Status int
	Code   int
}

// New starts a fake HEC accepting tok (default index "main", any index
// allowed). It is closed at test cleanup.
func New(t testing.TB, tok string) *Server {
	s := &Server{tokens: map[string]*token{tok: {dflt: "main"}}, maxLen: DefaultMaxContentLength}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.Release()
		s.srv.Close()
	})
	return s
}

// AddToken adds a token; indexes lists those it may write (nil: any).
func (s *Server) AddToken(tok string, disabled bool, indexes ...string) {
	s.mu.Lock()
	s.tokens[tok] = &token{disabled: disabled, indexes: indexes, dflt: "main"}
	s.mu.Unlock()
}

// SetMaxContentLength sets max_content_length in bytes.
func (s *Server) SetMaxContentLength(n int) {
	s.mu.Lock()
	s.maxLen = n
	s.mu.Unlock()
}

// Busy makes the next n event requests fail with 503 code 9 (server is
// busy) and the health endpoint answer 503 code 18 meanwhile.
func (s *Server) Busy(n int) {
	s.mu.Lock()
	s.busy += n
	s.mu.Unlock()
}

// Reject makes the fake refuse events (their "event" value) for which
// match is true, with code 6 (invalid data format) and their
// invalid-event-number.
func (s *Server) Reject(match func(event []byte) bool) {
	s.mu.Lock()
	s.reject = append(s.reject, match)
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

// Events returns the indexed events, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Bodies returns the "event" value of every indexed event, in order.
func (s *Server) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.events))
	for i, e := range s.events {
		out[i] = e.Event
	}
	return out
}

// Requests returns the event requests seen.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func replyCode(w http.ResponseWriter, status, code int, text string) {
	reply(w, status, fmt.Sprintf(`{"text":%q,"code":%d}`, text, code))
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
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case "/services/collector/health", "/services/collector/health/1.0":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			reply(w, http.StatusMethodNotAllowed, `{"text":"The requested URL was not found on this server.","code":404}`)
			return
		}
		s.mu.Lock()
		busy := s.busy > 0
		s.mu.Unlock()
		if busy {
			replyCode(w, http.StatusServiceUnavailable, 18, "HEC is unhealthy, queues are full")
			return
		}
		replyCode(w, http.StatusOK, 17, "HEC is healthy")
	case "/services/collector", "/services/collector/event", "/services/collector/event/1.0":
		if r.Method != http.MethodPost {
			reply(w, http.StatusMethodNotAllowed, `{"text":"The requested URL was not found on this server.","code":404}`)
			return
		}
		s.event(w, r)
	default:
		reply(w, http.StatusNotFound, `{"text":"The requested URL was not found on this server.","code":404}`)
	}
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) (*token, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		replyCode(w, http.StatusUnauthorized, 2, "Token is required")
		return nil, false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || scheme != "Splunk" || tok == "" {
		replyCode(w, http.StatusUnauthorized, 3, "Invalid authorization")
		return nil, false
	}
	s.mu.Lock()
	t := s.tokens[tok]
	s.mu.Unlock()
	if t == nil {
		replyCode(w, http.StatusForbidden, 4, "Invalid token")
		return nil, false
	}
	if t.disabled {
		replyCode(w, http.StatusForbidden, 1, "Token disabled")
		return nil, false
	}
	return t, true
}

func (s *Server) record(n, events, status, code int) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Bytes: n, Events: events, Status: status, Code: code})
	s.mu.Unlock()
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.auth(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Has("token") {
		replyCode(w, http.StatusBadRequest, 16, "Query string authorization is not enabled")
		return
	}
	s.mu.Lock()
	maxLen := s.maxLen
	busy := s.busy > 0
	if busy {
		s.busy--
	}
	s.mu.Unlock()
	if r.ContentLength > int64(maxLen) {
		s.record(int(r.ContentLength), 0, http.StatusRequestEntityTooLarge, -1)
		reply(w, http.StatusRequestEntityTooLarge, `{"text":"Content-Length of request exceeds max_content_length"}`)
		return
	}
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			replyCode(w, http.StatusBadRequest, 6, "Invalid data format")
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, int64(maxLen)+1))
	if err != nil {
		replyCode(w, http.StatusBadRequest, 6, "Invalid data format")
		return
	}
	if len(raw) > maxLen {
		s.record(len(raw), 0, http.StatusRequestEntityTooLarge, -1)
		reply(w, http.StatusRequestEntityTooLarge, `{"text":"Content-Length of request exceeds max_content_length"}`)
		return
	}
	if busy {
		s.record(len(raw), 0, http.StatusServiceUnavailable, 9)
		replyCode(w, http.StatusServiceUnavailable, 9, "Server is busy")
		return
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		s.record(len(raw), 0, http.StatusBadRequest, 5)
		replyCode(w, http.StatusBadRequest, 5, "No data")
		return
	}
	q := r.URL.Query()
	var kept []Event
	n := 0
	fail := func(code int, text string) {
		s.mu.Lock()
		s.events = append(s.events, kept...)
		s.mu.Unlock()
		s.record(len(raw), n+1, http.StatusBadRequest, code)
		reply(w, http.StatusBadRequest, fmt.Sprintf(`{"text":%q,"code":%d,"invalid-event-number":%d}`, text, code, n))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for ; ; n++ {
		var obj map[string]json.RawMessage
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || obj == nil {
			fail(6, "Invalid data format")
			return
		}
		ev, hasEvent := obj["event"]
		if !hasEvent {
			if _, hasFields := obj["fields"]; hasFields {
				continue // a metric-style object: skipped
			}
			fail(12, "Event field is required")
			return
		}
		switch t := string(bytes.TrimSpace(ev)); {
		case t == "null" || t == "false":
			fail(6, "Invalid data format")
			return
		case strings.TrimSpace(strings.Trim(t, `"`)) == "" && strings.HasPrefix(t, `"`):
			fail(13, "Event field cannot be blank")
			return
		}
		if f, ok := obj["fields"]; ok {
			var m map[string]any
			if json.Unmarshal(f, &m) != nil {
				fail(15, "Error in handling indexed fields")
				return
			}
			for _, v := range m {
				if _, nested := v.(map[string]any); nested {
					fail(15, "Error in handling indexed fields")
					return
				}
			}
		}
		e := Event{Time: obj["time"], Event: bytes.Clone(ev)}
		str := func(k string) string {
			var v string
			if raw, ok := obj[k]; ok {
				json.Unmarshal(raw, &v)
			} else {
				v = q.Get(k)
			}
			return v
		}
		e.Host, e.Source, e.Sourcetype, e.Index = str("host"), str("source"), str("sourcetype"), str("index")
		if e.Index == "" {
			e.Index = tok.dflt
		}
		if tok.indexes != nil && !slices.Contains(tok.indexes, e.Index) {
			fail(7, "Incorrect index")
			return
		}
		s.mu.Lock()
		rejected := slices.ContainsFunc(s.reject, func(m func([]byte) bool) bool { return m(ev) })
		s.mu.Unlock()
		if rejected {
			fail(6, "Invalid data format")
			return
		}
		kept = append(kept, e)
	}
	s.mu.Lock()
	s.events = append(s.events, kept...)
	s.mu.Unlock()
	s.record(len(raw), n, http.StatusOK, 0)
	replyCode(w, http.StatusOK, 0, "Success")
}
