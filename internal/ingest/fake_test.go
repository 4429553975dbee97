package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/telemetry"
)

// Fakes for handler-only tests, the fuzz target and the benchmarks.

type fakeStreams map[string]*model.Stream // "ws/idOrName"

func (f fakeStreams) Stream(ws, ref string) (*model.Stream, uint64, bool) {
	st, ok := f[ws+"/"+ref]
	return st, 1, ok
}

func (f fakeStreams) add(st *model.Stream) {
	f[st.Workspace+"/"+st.ID] = st
	f[st.Workspace+"/"+st.Name] = st
}

type fakeTokens map[string]*model.Token // by hash

func (f fakeTokens) TokenByHash(h string) (*model.Token, bool) { t, ok := f[h]; return t, ok }

// newFakeToken adds a token and returns its secret.
func (f fakeTokens) add(t *model.Token) string {
	sec, hash := auth.NewSecret()
	t.Hash = hash
	f[hash] = t
	return sec
}

// published is a copy of a published message.
type published struct {
	header nats.Header
	data   []byte
}

// recorder is a Publisher that keeps a copy of every message, or fails.
type recorder struct {
	mu   sync.Mutex
	msgs []published
	err  error
	wait bool // block until the context ends
	seen map[string]bool
}

func (p *recorder) Publish(ctx context.Context, m *nats.Msg) (bool, error) {
	if p.wait {
		<-ctx.Done()
		return false, fmt.Errorf("bus: publish: %w", ctx.Err())
	}
	if p.err != nil {
		return false, p.err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("bus: publish: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id := m.Header.Get(nats.MsgIdHdr); id != "" {
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		if p.seen[id] {
			return true, nil
		}
		p.seen[id] = true
	}
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = append([]string(nil), v...)
	}
	p.msgs = append(p.msgs, published{header: h, data: bytes.Clone(m.Data)})
	return false, nil
}

func (p *recorder) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.msgs) }

// discard is the cheapest Publisher.
type discard struct{}

func (discard) Publish(context.Context, *nats.Msg) (bool, error) { return false, nil }

// fake is a handler over fakes, with one active stream "s" (id str_fake)
// in workspace "w" and an events.ingest token.
type fake struct {
	h      *Handler
	pub    *recorder
	st     *model.Stream
	token  string
	tokens fakeTokens
}

func newFake(pub Publisher, edit func(*model.Stream)) *fake {
	st := &model.Stream{ID: "str_fake", Workspace: "w", Name: "s", Status: model.StatusActive}
	st.Normalize(fakeKinds{})
	if edit != nil {
		edit(st)
	}
	streams := fakeStreams{}
	streams.add(st)
	tokens := fakeTokens{}
	f := &fake{st: st, tokens: tokens}
	f.token = tokens.add(&model.Token{ID: "tok_fake", Workspace: "w", Scopes: []string{model.ScopeIngest}})
	if pub == nil {
		f.pub = &recorder{}
		pub = f.pub
	}
	f.h = New(Deps{Bus: pub, Streams: streams, Tokens: tokens, Metrics: telemetry.NewMetrics()})
	return f
}

func (f *fake) request(ctype, enc string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/streams/ingest", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+f.token)
	r.Header.Set("X-Stream-Id", f.st.ID)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if enc != "" {
		r.Header.Set("Content-Encoding", enc)
	}
	return r
}

func (f *fake) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.serveNative(w, r)
	return w
}

func TestPublishFailuresAnswer503(t *testing.T) {
	tests := []struct {
		name   string
		pub    *recorder
		detail string
		retry  string
	}{
		{"buffer full", &recorder{err: fmt.Errorf("%w: nats: maximum bytes exceeded", bus.ErrBufferFull)}, "buffer is full", "5"},
		{"no event stream", &recorder{err: fmt.Errorf("%w: no responders", bus.ErrNoStream)}, "unavailable", "2"},
		{"store down", &recorder{err: errors.New("bus: publish: nats: connection closed")}, "unavailable", "2"},
		{"ack timeout", &recorder{wait: true}, "unavailable", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.pub, nil)
			f.h.publishTimeout = 20 * time.Millisecond
			w := f.serve(f.request("application/json", "", []byte(ev(0))))
			if w.Code != 503 || !strings.Contains(w.Body.String(), `"error":"unavailable"`) || !strings.Contains(w.Body.String(), tt.detail) {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retry {
				t.Fatalf("Retry-After %q, want %q", got, tt.retry)
			}
		})
	}
}

// The frame given to Publish is intact while Publish runs, and the pooled
// buffers are reused afterwards without touching what was published.
func TestPooledBuffersAreReusedSafely(t *testing.T) {
	f := newFake(nil, nil)
	var want []string
	for i := range 50 {
		batch := evs(1 + i%7)
		body := ndjson(batch...)
		w := f.serve(f.request("application/x-ndjson", "", body))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		want = append(want, strings.Join(batch, "\n"))
	}
	for i, m := range f.pub.msgs {
		if string(m.data) != want[i] {
			t.Fatalf("message %d changed after publish:\n got %q\nwant %q", i, m.data, want[i])
		}
	}
}

func TestReadAllStopsAtLimit(t *testing.T) {
	var pool bufPool
	for _, limit := range []int{0, 1, 4095, 4096, 4097, 100_000, 1 << 20} {
		src := &countingReader{r: zeros{}}
		buf := pool.get(10)
		b, err := readAll(src, (*buf)[:0], limit, &pool)
		if err != errTooLarge || src.n > limit+1 || len(b) != limit+1 {
			t.Fatalf("limit %d: read %d, len %d, %v", limit, src.n, len(b), err)
		}
		// Exactly limit bytes are fine.
		b, err = readAll(io.LimitReader(zeros{}, int64(limit)), b[:0], limit, &pool)
		if err != nil || len(b) != limit {
			t.Fatalf("limit %d: len %d, %v", limit, len(b), err)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestBufPool(t *testing.T) {
	var p bufPool
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 1<<20 + 1, 16 << 20, 32 << 20, 32<<20 + 1} {
		b := p.get(n)
		if len(*b) != 0 || cap(*b) < n {
			t.Fatalf("get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		p.put(b)
		if b2 := p.get(n); cap(*b2) < n {
			t.Fatalf("reused get(%d): cap %d", n, cap(*b2))
		}
	}
	// A buffer whose cap is not a class goes to the class below.
	odd := make([]byte, 5, 6000)
	p.put(&odd)
	if b := p.get(4096); cap(*b) < 4096 {
		t.Fatal(cap(*b))
	}
	p.put(nil)
}

func TestPayloadLimit(t *testing.T) {
	for _, tt := range []struct{ set, want model.Size }{
		{0, 1 << 20}, {-1, 1 << 20}, {2048, 2048}, {16 << 20, 16 << 20}, {64 << 20, 16 << 20},
	} {
		st := &model.Stream{Limits: model.StreamLimits{MaxPayload: tt.set}}
		if got := payloadLimit(st); got != int(tt.want) {
			t.Errorf("max_payload %d: limit %d, want %d", tt.set, got, tt.want)
		}
	}
}

func TestLimitersEvictIdleFullBuckets(t *testing.T) {
	var l limiters
	l.m = map[string]*bucket{}
	t0 := time.Unix(1_700_000_000, 0)
	rl := model.RateLimit{EventsPerSecond: 1, Burst: 10}
	if l.get("none", model.RateLimit{}, t0) != nil {
		t.Fatal("no limit must mean no bucket")
	}
	full := l.get("full", rl, t0)
	drained := l.get("drained", model.RateLimit{EventsPerSecond: 0.001, Burst: 10}, t0)
	drained.lim.AllowN(t0, 10)
	if full.burst != 10 || l.len() != 2 {
		t.Fatal(full.burst, l.len())
	}
	// Same limit: same bucket. Changed limit: a new one.
	if l.get("full", rl, t0) != full {
		t.Fatal("bucket re-created without a change")
	}
	if b := l.get("full", model.RateLimit{EventsPerSecond: 2}, t0); b == full || b.burst != 2 {
		t.Fatalf("changed limit: %+v", b)
	}
	// Two minutes later: "full" is idle and full, so it goes; "drained"
	// has refilled 0.12 of 10 tokens and stays (evicting it would give
	// its client a fresh burst).
	l.get("other", rl, t0.Add(2*time.Minute))
	if _, ok := l.m["full"]; ok || l.len() != 2 {
		t.Fatalf("after sweep: %v", keys(l.m))
	}
	if _, ok := l.m["drained"]; !ok {
		t.Fatal("a drained bucket was evicted")
	}
	// Once it has refilled, it goes too.
	l.get("other", rl, t0.Add(3*time.Hour))
	if _, ok := l.m["drained"]; ok {
		t.Fatalf("after refill: %v", keys(l.m))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBurstDefaults(t *testing.T) {
	for _, tt := range []struct {
		rl   model.RateLimit
		want int
	}{
		{model.RateLimit{EventsPerSecond: 0.2}, 1},
		{model.RateLimit{EventsPerSecond: 100}, 100},
		{model.RateLimit{EventsPerSecond: 2.5}, 3},
		{model.RateLimit{EventsPerSecond: 10, Burst: 500}, 500},
	} {
		if got := burstOf(tt.rl); got != tt.want {
			t.Errorf("%+v: burst %d, want %d", tt.rl, got, tt.want)
		}
	}
}

func TestAdminTokenChoosesWorkspace(t *testing.T) {
	f := newFake(nil, nil)
	admin := f.tokens.add(&model.Token{ID: "tok_admin", Workspace: "default", Scopes: []string{model.ScopeAdmin}})
	plain := f.tokens.add(&model.Token{ID: "tok_plain", Workspace: "default", Scopes: []string{model.ScopeIngest}})
	for _, tt := range []struct {
		token, ws string
		want      int
	}{
		{admin, "", 404}, {admin, "w", 200}, {plain, "w", 404},
	} {
		r := f.request("application/json", "", []byte(ev(0)))
		r.Header.Set("Authorization", "Bearer "+tt.token)
		if tt.ws != "" {
			r.Header.Set("X-Workspace", tt.ws)
		}
		if w := f.serve(r); w.Code != tt.want {
			t.Errorf("X-Workspace %q: %d %s, want %d", tt.ws, w.Code, w.Body, tt.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"str_0123abcd", `a"b\c`, "x\ny\x00<>&", "é"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("%q → %s → %q, %v", s, got, back, err)
		}
	}
}

// The 200 is written only after the ack: nothing of the answer is written
// while Publish runs.
func TestAnswerAfterAck(t *testing.T) {
	w := &trackingWriter{ResponseWriter: httptest.NewRecorder()}
	calls := 0
	pub := publishFunc(func(ctx context.Context, m *nats.Msg) (bool, error) {
		calls++
		if w.wrote {
			t.Error("answer started before the ack")
		}
		if f := event.Parse(m.Header, m.Data); f.Count != 1 || f.Stream != "str_fake" || f.Workspace != "w" {
			t.Errorf("frame %+v", f)
		}
		return false, nil
	})
	f := newFake(pub, nil)
	f.h.serveNative(w, f.request("application/json", "", []byte(ev(0))))
	if rec := w.ResponseWriter.(*httptest.ResponseRecorder); rec.Code != 200 || calls != 1 || !w.wrote {
		t.Fatal(rec.Code, rec.Body, calls)
	}
}

type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) { w.wrote = true; w.ResponseWriter.WriteHeader(code) }
func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

type publishFunc func(context.Context, *nats.Msg) (bool, error)

func (f publishFunc) Publish(ctx context.Context, m *nats.Msg) (bool, error) { return f(ctx, m) }

// A client that hangs up does not turn a stored frame into a failure.
func TestClientGoneDoesNotCancelPublish(t *testing.T) {
	f := newFake(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := f.serve(f.request("application/json", "", []byte(ev(0))).WithContext(ctx))
	if w.Code != 200 || f.pub.count() != 1 {
		t.Fatalf("%d %s, %d published", w.Code, w.Body, f.pub.count())
	}
}

// Many requests at once, over several streams and tokens with rate limits,
// valid and invalid, plain and gzipped: for the race detector, and to check
// that what was published is exactly what was answered 200.
func TestConcurrentRequests(t *testing.T) {
	f := newFake(nil, func(st *model.Stream) { st.Limits.EventsPerSecond, st.Limits.Burst = 1e9, 1e6 })
	streams := f.h.streams.(fakeStreams)
	for i := range 3 {
		st := *f.st
		st.ID, st.Name = "str_"+strconv.Itoa(i), "s"+strconv.Itoa(i)
		streams.add(&st)
	}
	var secrets []string
	for i := range 4 {
		secrets = append(secrets, f.tokens.add(&model.Token{ID: "tok_" + strconv.Itoa(i), Workspace: "w", Scopes: []string{model.ScopeIngest},
			Limits: model.RateLimit{EventsPerSecond: 1e9, Burst: 1e6}}))
	}
	good := ndjson(evs(5)...)
	bodies := []struct {
		b   []byte
		enc string
		ok  bool
	}{{good, "", true}, {gz(t, good), "gzip", true}, {[]byte("{nope"), "", false}, {gz(t, []byte("[]")), "gzip", false}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				c := bodies[(g+i)%len(bodies)]
				r := f.request("application/x-ndjson", c.enc, c.b)
				r.Header.Set("Authorization", "Bearer "+secrets[(g+i)%len(secrets)])
				r.Header.Set("X-Stream-Id", "s"+strconv.Itoa(i%3))
				w := f.serve(r)
				if (w.Code == 200) != c.ok {
					t.Errorf("body %d: %d %s", (g+i)%len(bodies), w.Code, w.Body)
				}
				if w.Code == 200 {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if f.pub.count() != accepted {
		t.Fatalf("%d answered 200, %d published", accepted, f.pub.count())
	}
	for _, m := range f.pub.msgs {
		if string(m.data) != strings.Join(evs(5), "\n") {
			t.Fatalf("a frame was corrupted: %q", m.data)
		}
	}
}
