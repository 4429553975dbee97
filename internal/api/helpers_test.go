package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/spec"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/telemetry"
)

// hookConfig is the settings of the test kind "http" (alias "standard"):
// api_key and headers.Authorization are secrets.
type hookConfig struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	APIKey  string            `json:"api_key,omitempty"`
	Method  string            `json:"method,omitempty"`
}

func (c *hookConfig) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		errs.Add("url", "must be an http or https URL")
	}
	if c.Method != "" && c.Method != "POST" && c.Method != "PUT" {
		errs.Add("method", "must be POST or PUT")
	}
	return errs
}

func testKinds() *destination.Registry {
	return destination.NewRegistry(destination.Kind{
		Name: "http", Aliases: []string{"standard"},
		Config: func() destination.Config { return &hookConfig{} },
		New: func(context.Context, destination.Config, destination.Deps) (destination.Destination, error) {
			return nil, fmt.Errorf("not used")
		},
		Batch:  model.Batch{MaxEvents: 100, MaxAge: model.Duration(time.Second)},
		Secret: func(p string) bool { return p == "api_key" || p == "headers.Authorization" },
	})
}

// fakeDelivery answers like the delivery engine; its Test error quotes the
// secrets, as a careless destination might.
type fakeDelivery struct {
	mu       sync.Mutex
	replayed []uint64
	testedOK bool
}

func (f *fakeDelivery) Status(_ context.Context, st *model.Stream) (any, error) {
	var ds []map[string]any
	for _, d := range st.Destinations {
		ds = append(ds, map[string]any{"name": d.Name, "health": "available", "backlog_events": 0})
	}
	return map[string]any{"destinations": ds}, nil
}

func (f *fakeDelivery) DeadLetters(_ context.Context, streamID, dest string, after uint64, limit int) (any, uint64, error) {
	all := []map[string]any{
		{"id": 1, "destination": "hook", "error": "HTTP 400", "attempts": 1},
		{"id": 2, "destination": "hook", "error": "HTTP 400", "attempts": 3},
	}
	var out []map[string]any
	for _, d := range all {
		if uint64(d["id"].(int)) > after && (dest == "" || d["destination"] == dest) && len(out) < limit {
			out = append(out, d)
		}
	}
	var next uint64
	if len(out) == limit && out[len(out)-1]["id"].(int) < 2 {
		next = uint64(out[len(out)-1]["id"].(int))
	}
	return out, next, nil
}

func (f *fakeDelivery) Replay(_ context.Context, streamID, dest string, ids []uint64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replayed = ids
	if len(ids) == 0 {
		return 2, nil
	}
	return len(ids), nil
}

func (f *fakeDelivery) Test(_ context.Context, st *model.Stream, dest string) error {
	d, _ := st.Destination(dest)
	f.mu.Lock()
	ok := f.testedOK
	f.mu.Unlock()
	if ok {
		return nil
	}
	key, _ := d.Settings["api_key"].(string)
	h, _ := d.Settings["headers"].(map[string]any)
	auth, _ := h["Authorization"].(string)
	return fmt.Errorf("401 Unauthorized from %s: key %s rejected (sent %q, basic %s, query ?k=%s)",
		d.Settings["url"], key, auth, base64.StdEncoding.EncodeToString([]byte(key)), strings.ReplaceAll(key, "-", "%2D"))
}

// syncBuffer collects the log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t        *testing.T
	st       *store.Store
	srv      *httptest.Server
	admin    string // admin token secret
	logs     *syncBuffer
	delivery *fakeDelivery
	ready    bool
	mu       sync.Mutex
	now      time.Time // zero: time.Now
	bodies   []string  // every response body seen
	schema   []byte
}

type envOpt func(*Deps)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	box, err := secret.New([]byte("test-key"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, logs: &syncBuffer{}, delivery: &fakeDelivery{}, ready: true}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kinds := testKinds()
	e.st, err = store.Open(ctx, b, box, kinds, log)
	if err != nil {
		t.Fatal(err)
	}
	if e.admin, err = e.st.Bootstrap(ctx, "", ""); err != nil || e.admin == "" {
		t.Fatalf("bootstrap: %v", err)
	}
	d := Deps{
		Store: e.st, Kinds: kinds, Delivery: e.delivery, Metrics: telemetry.NewMetrics(), Log: log,
		Ready: func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.ready && b.Ready() },
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.now.IsZero() {
				return time.Now()
			}
			return e.now
		},
	}
	for _, o := range opts {
		o(&d)
	}
	mux := http.NewServeMux()
	New(d).Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.schema, err = spec.OpenAPIWith(spec.Options{Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request; body is a string (sent as is) or a value (JSON);
// hdr are "Name: value" pairs.
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "runnel-test/1.0")
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, string(b)+fmt.Sprint(res.Header))
	e.mu.Unlock()
	if res.StatusCode >= 400 {
		e.checkError(method, path, res, b)
	}
	return resp{res.StatusCode, res.Header, b}
}

// checkError: every 4xx/5xx is a JSON error body of the catalogue.
func (e *env) checkError(method, path string, res *http.Response, b []byte) {
	e.t.Helper()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		e.t.Errorf("%s %s: %d with Content-Type %q", method, path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	e.checkSchema("Error", b)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["error"] == "" || m["detail"] == "" {
		e.t.Errorf("%s %s: %d without an error body: %s", method, path, res.StatusCode, b)
	}
}

// checkSchema validates body against a component schema of the OpenAPI document.
func (e *env) checkSchema(name string, body []byte) {
	e.t.Helper()
	s, err := spec.Compile(e.schema, "#/components/schemas/"+name)
	if err != nil {
		e.t.Fatal(err)
	}
	if errs := s.ValidateJSON(body); len(errs) > 0 {
		e.t.Errorf("answer does not match schema %s: %v\n%s", name, errs, body)
	}
}

func (e *env) expect(r resp, status int, code string) map[string]any {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		return nil
	}
	m := r.json(e.t)
	if code != "" && m["error"] != code {
		e.t.Fatalf("error %v, want %s: %s", m["error"], code, r.body)
	}
	return m
}

// token issues a token in ws with scopes (and streams) through the API.
func (e *env) token(ws string, scopes []string, streams ...string) (secret, id string) {
	e.t.Helper()
	req := map[string]any{"name": "t-" + strings.Join(scopes, "+"), "scopes": scopes}
	if len(streams) > 0 {
		req["streams"] = streams
	}
	m := e.expect(e.do("POST", "/v1/tokens", e.admin, req, "X-Workspace: "+ws), 201, "")
	return m["token"].(string), m["id"].(string)
}

// snapshot is the store's state: workspaces, streams with revisions,
// tokens, activity counts.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, ws := range e.st.Workspaces() {
		fmt.Fprintf(&b, "ws %s\n", ws.Name)
		for _, s := range e.st.Streams(ws.Name) {
			_, rev, _ := e.st.Stream(ws.Name, s.ID)
			fmt.Fprintf(&b, " stream %s %s %d\n", s.ID, s.Name, rev)
		}
		for _, t := range e.st.Tokens(ws.Name) {
			fmt.Fprintf(&b, " token %s\n", t.ID)
		}
		acts, _, err := e.st.Activity(e.t.Context(), ws.Name, 0, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, " activity %d\n", len(acts))
	}
	return b.String()
}

const (
	apiKey     = "sk-LIVE-7f3a9c1e5b2d"
	authHeader = "Bearer tok-SECRET-4d8e2a6c"
)

func sampleStream(name string) map[string]any {
	return map[string]any{
		"name": name,
		"destinations": []any{map[string]any{
			"name": "hook", "type": "http",
			"settings": map[string]any{
				"url": "https://collector.example.com/in", "api_key": apiKey,
				"headers": map[string]any{"Authorization": authHeader, "X-Plain": "visible"},
			},
			"batch": map[string]any{"max_events": 50, "max_age": "5s"},
		}},
	}
}
