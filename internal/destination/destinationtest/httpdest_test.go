package destinationtest_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/destination/destinationtest"
	"github.com/runnel/runnel/internal/destination/httpdest"
)

// lineSink is an HTTP receiver for the http destination: it checks a
// bearer token, splits bodies into lines and keeps them.
type lineSink struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	lines    [][]byte
	failNext int
	reject   func([]byte) bool
	hang     chan struct{}
}

func newLineSink(t *testing.T, token string) *lineSink {
	s := &lineSink{token: token}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.release()
		s.srv.Close()
	})
	return s
}

func (s *lineSink) serve(w http.ResponseWriter, r *http.Request) {
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
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
		return
	}
	lines := bytes.Split(body, []byte("\n"))
	if s.reject != nil && slices.ContainsFunc(lines, s.reject) {
		http.Error(w, `{"error":"schema_violation: field msg not allowed"}`, http.StatusUnprocessableEntity)
		return
	}
	for _, l := range lines {
		s.lines = append(s.lines, bytes.Clone(l))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *lineSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang != nil {
		close(s.hang)
		s.hang = nil
	}
}

func TestHTTPDestConformance(t *testing.T) {
	const token = "tok-conformance-0123456789"
	destinationtest.Run(t, destinationtest.Harness{
		Kind: httpdest.Kind(),
		Cannot: map[string]string{
			destinationtest.SubPartialFailure: "the http destination sends a batch as one request, which the receiver accepts or rejects whole",
		},
		New: func(t *testing.T) *destinationtest.Target {
			s := newLineSink(t, token)
			settings := func(url, tok string) map[string]any {
				return map[string]any{
					"url":     url,
					"headers": map[string]any{"Authorization": "Bearer " + tok},
				}
			}
			return &destinationtest.Target{
				Settings: settings(s.srv.URL+"/in", token),
				Secrets:  []string{token},
				Received: func(testing.TB) [][]byte {
					s.mu.Lock()
					defer s.mu.Unlock()
					return slices.Clone(s.lines)
				},
				FailNext: func(n int) {
					s.mu.Lock()
					s.failNext += n
					s.mu.Unlock()
				},
				Reject: func(match func([]byte) bool) string {
					s.mu.Lock()
					s.reject = match
					s.mu.Unlock()
					return "schema_violation"
				},
				Hang: func() func() {
					s.mu.Lock()
					s.hang = make(chan struct{})
					s.mu.Unlock()
					return s.release
				},
				DeadSettings:      settings("http://"+destinationtest.DeadAddr(t)+"/in", token),
				BadSecretSettings: settings(s.srv.URL+"/in", "wrong-token-abcdef"),
			}
		},
	})
}
