package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/telemetry"
)

// The real dependencies satisfy the handler's interfaces.
var (
	_ Publisher    = (*bus.Bus)(nil)
	_ StreamLookup = (*store.Store)(nil)
)

// fakeKinds knows one destination type, "web", with no secrets.
type fakeKinds struct{}

func (fakeKinds) Canonical(t string) (string, bool)                         { return t, t == "web" }
func (fakeKinds) Names() []string                                           { return []string{"web"} }
func (fakeKinds) ValidateSettings(string, map[string]any) model.FieldErrors { return nil }
func (fakeKinds) DefaultBatch(string) model.Batch {
	return model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)}
}
func (fakeKinds) IsSecret(_, _ string) bool { return false }

// clock is a settable Deps.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a real embedded bus and store behind an httptest server.
type env struct {
	t       testing.TB
	ctx     context.Context
	bus     *bus.Bus
	store   *store.Store
	h       *Handler
	srv     *httptest.Server
	clock   *clock
	metrics *telemetry.Metrics
	token   string // events.ingest in workspace default
	streams []*model.Stream
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	box, err := secret.New([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, b, box, fakeKinds{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, bus: b, store: s, clock: &clock{t: time.Now().UTC().Truncate(time.Millisecond)}, metrics: telemetry.NewMetrics()}
	e.h = New(Deps{Bus: b, Streams: s, Tokens: s, Metrics: e.metrics, Log: slog.New(slog.DiscardHandler), Now: e.clock.Now})
	mux := http.NewServeMux()
	e.h.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.token = e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "ingest", Scopes: []string{model.ScopeIngest}})
	return e
}

// newStream creates a stream in ws; edit may change the definition first.
func (e *env) newStream(ws, name string, edit func(*model.Stream)) *model.Stream {
	e.t.Helper()
	st := &model.Stream{Name: name}
	if edit != nil {
		edit(st)
	}
	st.Normalize(fakeKinds{})
	out, _, err := e.store.CreateStream(e.ctx, ws, st, store.System)
	if err != nil {
		e.t.Fatal(err)
	}
	e.streams = append(e.streams, out)
	return out
}

func (e *env) newToken(ws string, req model.TokenRequest) string {
	e.t.Helper()
	_, sec, err := e.store.CreateToken(e.ctx, ws, &req, store.System)
	if err != nil {
		e.t.Fatal(err)
	}
	return sec
}

func (e *env) newWorkspace(name string) {
	e.t.Helper()
	if _, err := e.store.CreateWorkspace(e.ctx, name, store.System); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) jsStream(id string) jetstream.Stream {
	e.t.Helper()
	s, err := e.bus.JS.Stream(e.ctx, bus.EventStreamName(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// msgs is how many messages the stream's buffer holds.
func (e *env) msgs(id string) uint64 {
	e.t.Helper()
	info, err := e.jsStream(id).Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// counts is the message count of every stream created so far.
func (e *env) counts() map[string]uint64 {
	m := map[string]uint64{}
	for _, st := range e.streams {
		if _, err := e.bus.JS.Stream(e.ctx, bus.EventStreamName(st.ID)); err == nil {
			m[st.ID] = e.msgs(st.ID)
		}
	}
	return m
}

// lastFrame reads back the last stored message of a stream.
func (e *env) lastFrame(id string) (event.Frame, *jetstream.RawStreamMsg) {
	e.t.Helper()
	m, err := e.jsStream(id).GetLastMsgForSubject(e.ctx, bus.EventSubject(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return event.Parse(m.Header, m.Data), m
}

// req is one ingest request; zero fields take defaults.
type req struct {
	token    string // "" → env token; "-" → no Authorization header
	auth     string // raw Authorization value, overrides token
	stream   string // X-Stream-Id; "-" → none
	ctype    string // "" → application/json; "-" → none
	encoding string // Content-Encoding
	key      string // Idempotency-Key
	header   http.Header
	body     []byte
	chunked  bool // no Content-Length
}

// errBody is the native error body: apierr's, with the schema's violations.
type errBody struct {
	apierr.Body
	Violations []schema.Violation `json:"violations"`
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	err    errBody
	ok     struct {
		Status        string `json:"status"`
		IngestedBytes int    `json:"ingested_bytes"`
		Events        int    `json:"events"`
		StreamID      string `json:"stream_id"`
	}
}

func (e *env) post(r req) resp {
	e.t.Helper()
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body))
	}
	hr, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL+"/v1/streams/ingest", body)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case r.auth != "":
		hr.Header.Set("Authorization", r.auth)
	case r.token == "-":
	case r.token == "":
		hr.Header.Set("Authorization", "Bearer "+e.token)
	default:
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.stream != "-" {
		hr.Header.Set("X-Stream-Id", r.stream)
	}
	switch r.ctype {
	case "":
		hr.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.encoding != "" {
		hr.Header.Set("Content-Encoding", r.encoding)
	}
	if r.key != "" {
		hr.Header.Set("Idempotency-Key", r.key)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := resp{status: res.StatusCode, header: res.Header}
	out.raw, _ = io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		mustJSON(e.t, out.raw, &out.ok)
	} else {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			e.t.Fatalf("error answer %d has Content-Type %q: %s", res.StatusCode, ct, out.raw)
		}
		mustJSON(e.t, out.raw, &out.err)
	}
	return out
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("answer is not the expected JSON: %v: %s", err, b)
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ev returns a valid event; the i-th of a batch carries i.
func ev(i int) string {
	return `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_` + strconv.Itoa(i) +
		`","status":"approved","latency_ms":182},"metadata":{"env":"prod","team":"payments"}}`
}

// evs returns n valid events.
func evs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ev(i)
	}
	return out
}

func array(events ...string) []byte  { return []byte("[" + strings.Join(events, ",") + "]") }
func ndjson(events ...string) []byte { return []byte(strings.Join(events, "\n") + "\n") }
