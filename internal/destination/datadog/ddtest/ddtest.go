// Package ddtest is a fake Datadog logs intake for tests: POST
// /api/v2/logs (and /v1/input) with the DD-API-KEY header, a JSON array
// of log objects (or one object), optionally gzip-compressed, under the
// documented limits — 5 MB uncompressed per payload (413 above), 1000 logs
// per payload (413 above), 1 MB per log (accepted but truncated, as
// Datadog does; counted by Truncated so tests can assert it never
// happens) — answering 202 {} like the real intake; and GET
// /api/v1/validate for the key check.
//
// Stricter than Datadog on one point, to keep the destination honest:
// with RequireGzip (the default) an uncompressed payload is refused with
// 415.
package ddtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Limits of the intake.
const (
	MaxPayloadBytes = 5_000_000
	MaxLogBytes     = 1_000_000
	MaxLogs         = 1000
)

// Server is a fake Datadog logs intake.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port); logs go to
	// URL + "/api/v2/logs".
	URL string
	srv *httptest.Server

	mu          sync.Mutex
	key         string
	requireGzip bool
	logs        [][]byte
	truncated   int
	failNext    []int
	retryAfter  string
	reject      []func(log []byte) bool
	hang        chan struct{}
	requests    []Request
}

// Request is what the fake saw of one intake request.
type Request struct {
	Compressed   int // body bytes as sent
	Uncompressed int
	Logs         int
	Status       int
	Gzip         bool
	ContentType  string
	Query        string
}

// New starts a fake intake accepting the API key key. It is closed at
// test cleanup.
func New(t testing.TB, key string) *Server {
	s := &Server{key: key, requireGzip: true}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.Release()
		s.srv.Close()
	})
	return s
}

// RequireGzip sets whether uncompressed payloads are refused (415).
func (s *Server) RequireGzip(on bool) {
	s.mu.Lock()
	s.requireGzip = on
	s.mu.Unlock()
}

// FailNext makes the next requests fail with these statuses, one each
// (e.g. 503, 429), with Retry-After retryAfter when it is not "".
func (s *Server) FailNext(retryAfter string, statuses ...int) {
	s.mu.Lock()
	s.failNext = append(s.failNext, statuses...)
	s.retryAfter = retryAfter
	s.mu.Unlock()
}

// Reject makes the intake refuse (400) every payload holding a log for
// which match is true. (Datadog accepts or refuses a payload whole.)
func (s *Server) Reject(match func(log []byte) bool) {
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

// Logs returns the accepted logs (each a JSON object), in order.
func (s *Server) Logs() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs)
}

// Truncated returns how many logs were over 1 MB (Datadog truncates them).
func (s *Server) Truncated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.truncated
}

// Requests returns the intake requests seen.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func errorBody(status int, detail string) string {
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]string{
		"status": fmt.Sprint(status), "title": http.StatusText(status), "detail": detail,
	}}})
	return string(b)
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
	switch r.URL.Path {
	case "/api/v1/validate":
		if r.Header.Get("DD-API-KEY") != s.key {
			reply(w, http.StatusForbidden, `{"errors":["Forbidden"]}`)
			return
		}
		reply(w, http.StatusOK, `{"valid":true}`)
	case "/api/v2/logs", "/v1/input":
		if r.Method != http.MethodPost {
			reply(w, http.StatusMethodNotAllowed, errorBody(405, "method not allowed"))
			return
		}
		s.intake(w, r)
	default:
		reply(w, http.StatusNotFound, `{"errors":["Not Found"]}`)
	}
}

func (s *Server) intake(w http.ResponseWriter, r *http.Request) {
	req := Request{ContentType: r.Header.Get("Content-Type"), Query: r.URL.RawQuery}
	done := func(status int, body string) {
		req.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		reply(w, status, body)
	}
	switch key := r.Header.Get("DD-API-KEY"); {
	case key == "":
		done(http.StatusUnauthorized, errorBody(401, "API key is missing"))
		return
	case key != s.key:
		done(http.StatusForbidden, `{"errors":["Forbidden"]}`)
		return
	}
	s.mu.Lock()
	requireGzip := s.requireGzip
	var fail int
	if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	retryAfter := s.retryAfter
	s.mu.Unlock()

	compressed, err := io.ReadAll(io.LimitReader(r.Body, 2*MaxPayloadBytes))
	if err != nil {
		done(http.StatusBadRequest, errorBody(400, "cannot read the body"))
		return
	}
	req.Compressed = len(compressed)
	body := compressed
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "gzip":
		req.Gzip = true
		zr, err := gzip.NewReader(bytes.NewReader(compressed))
		if err != nil {
			done(http.StatusBadRequest, errorBody(400, "invalid gzip body"))
			return
		}
		body, err = io.ReadAll(io.LimitReader(zr, MaxPayloadBytes+1))
		if err != nil {
			done(http.StatusBadRequest, errorBody(400, "invalid gzip body"))
			return
		}
	case "", "identity":
		if requireGzip {
			done(http.StatusUnsupportedMediaType, errorBody(415, "ddtest: payloads must be gzip-compressed"))
			return
		}
	default:
		done(http.StatusUnsupportedMediaType, errorBody(415, "unsupported Content-Encoding "+enc))
		return
	}
	req.Uncompressed = len(body)
	if len(body) > MaxPayloadBytes {
		done(http.StatusRequestEntityTooLarge, errorBody(413, "payload is above 5MB uncompressed"))
		return
	}
	if fail != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		done(fail, errorBody(fail, "simulated failure"))
		return
	}
	var logs []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &logs); err != nil {
			done(http.StatusBadRequest, errorBody(400, "invalid JSON: "+err.Error()))
			return
		}
	default:
		var one json.RawMessage
		if err := json.Unmarshal(trimmed, &one); err != nil {
			done(http.StatusBadRequest, errorBody(400, "invalid JSON"))
			return
		}
		logs = []json.RawMessage{one}
	}
	req.Logs = len(logs)
	if len(logs) > MaxLogs {
		done(http.StatusRequestEntityTooLarge, errorBody(413, fmt.Sprintf("%d logs in the payload, at most %d", len(logs), MaxLogs)))
		return
	}
	for i, l := range logs {
		if len(l) == 0 || l[0] != '{' {
			done(http.StatusBadRequest, errorBody(400, fmt.Sprintf("log %d is not an object", i)))
			return
		}
	}
	s.mu.Lock()
	rejected := slices.ContainsFunc(logs, func(l json.RawMessage) bool {
		return slices.ContainsFunc(s.reject, func(m func([]byte) bool) bool { return m(l) })
	})
	if !rejected {
		for _, l := range logs {
			if len(l) > MaxLogBytes {
				s.truncated++
				l = l[:MaxLogBytes]
			}
			s.logs = append(s.logs, bytes.Clone(l))
		}
	}
	s.mu.Unlock()
	if rejected {
		done(http.StatusBadRequest, errorBody(400, "log rejected: invalid attribute"))
		return
	}
	done(http.StatusAccepted, `{}`)
}
