package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/telemetry"
)

// checkStored reads back the last frame of stream st and compares its
// events (compacted) and headers with want.
func (e *env) checkStored(st *model.Stream, want []string) {
	e.t.Helper()
	f, m := e.lastFrame(st.ID)
	if f.Workspace != st.Workspace || f.Stream != st.ID || f.Count != len(want) {
		e.t.Fatalf("frame headers: workspace %q stream %q count %d; want %q %q %d", f.Workspace, f.Stream, f.Count, st.Workspace, st.ID, len(want))
	}
	if !f.Received.Equal(e.clock.Now()) {
		e.t.Fatalf("frame received %v, want %v", f.Received, e.clock.Now())
	}
	if got := m.Header.Get(event.HdrSource); got != dialectNative {
		e.t.Fatalf("frame dialect %q", got)
	}
	got := event.Split(f.Body)
	if len(got) != len(want) || bytes.HasSuffix(f.Body, []byte("\n")) {
		e.t.Fatalf("frame holds %d events, want %d: %q", len(got), len(want), f.Body)
	}
	for i := range want {
		var a, b bytes.Buffer
		if err := json.Compact(&a, got[i]); err != nil {
			e.t.Fatalf("stored event %d is not JSON: %v: %q", i, err, got[i])
		}
		if err := json.Compact(&b, []byte(want[i])); err != nil {
			e.t.Fatal(err)
		}
		if a.String() != b.String() {
			e.t.Fatalf("stored event %d:\n got %s\nwant %s", i, a.String(), b.String())
		}
	}
}

func TestNativeAccepts(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "payments", nil)
	admin := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "admin", Scopes: []string{model.ScopeAdmin}})
	limited := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})

	pretty := "{\n  \"timestamp\": \"2025-02-12T14:32:15.5+02:00\",\n  \"source\": \"a\",\n  \"event\": {\"k\": [1, 2]}\n}"
	three := evs(3)
	multi := append(gz(t, ndjson(three[:2]...)), gz(t, ndjson(three[2]))...)
	tests := []struct {
		name   string
		r      req
		plain  []byte // decompressed body, when r.body is compressed
		events []string
	}{
		{"single object", req{body: []byte(ev(0))}, nil, three[:1]},
		{"array", req{body: array(three...)}, nil, three},
		{"array pretty-printed", req{body: []byte("[\n" + pretty + ",\n" + ev(1) + "\n]")}, nil, []string{pretty, ev(1)}},
		{"ndjson", req{ctype: "application/x-ndjson", body: ndjson(three...)}, nil, three},
		{"ndjson crlf no final newline", req{ctype: "application/x-ndjson", body: []byte(ev(0) + "\r\n\r\n" + ev(1))}, nil, three[:2]},
		{"application/ndjson", req{ctype: "application/ndjson", body: ndjson(three...)}, nil, three},
		{"application/jsonl with charset", req{ctype: "application/jsonl; charset=utf-8", body: ndjson(three...)}, nil, three},
		{"json with charset, odd case", req{ctype: "Application/JSON ; charset=UTF-8", body: array(three...)}, nil, three},
		{"gzip ndjson", req{ctype: "application/x-ndjson", encoding: "gzip", body: gz(t, ndjson(three...))}, ndjson(three...), three},
		{"x-gzip array", req{encoding: "x-gzip", body: gz(t, array(three...))}, array(three...), three},
		{"gzip multi-member", req{ctype: "application/x-ndjson", encoding: "GZIP", body: multi}, ndjson(three...), three},
		{"identity encoding", req{encoding: "identity", body: []byte(ev(0))}, nil, three[:1]},
		{"chunked", req{ctype: "application/x-ndjson", chunked: true, body: ndjson(three...)}, nil, three},
		{"chunked gzip", req{ctype: "application/x-ndjson", chunked: true, encoding: "gzip", body: gz(t, ndjson(three...))}, ndjson(three...), three},
		{"stream by name", req{stream: st.Name, body: []byte(ev(0))}, nil, three[:1]},
		{"admin token", req{token: admin, body: []byte(ev(0))}, nil, three[:1]},
		{"token limited to this stream", req{token: limited, body: []byte(ev(0))}, nil, three[:1]},
		{"lower-case bearer", req{auth: "bearer " + e.token, body: []byte(ev(0))}, nil, three[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.stream == "" {
				r.stream = st.ID
			}
			before := e.msgs(st.ID)
			res := e.post(r)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			plain := tt.plain
			if plain == nil {
				plain = r.body
			}
			if res.ok.Status != "accepted" || res.ok.Events != len(tt.events) || res.ok.IngestedBytes != len(plain) || res.ok.StreamID != st.ID {
				t.Fatalf("answer %s; want %d events, %d bytes", res.raw, len(tt.events), len(plain))
			}
			if res.header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", res.header.Get("Content-Type"))
			}
			if got := e.msgs(st.ID); got != before+1 {
				t.Fatalf("stream holds %d messages, want %d: one message per request", got, before+1)
			}
			e.checkStored(st, tt.events)
		})
	}
	// The exact 200 body of SPEC §2.1.
	res := e.post(req{stream: st.ID, body: []byte(ev(0))})
	want := `{"status":"accepted","ingested_bytes":` + strconv.Itoa(len(ev(0))) + `,"events":1,"stream_id":"` + st.ID + `"}` + "\n"
	if string(res.raw) != want {
		t.Fatalf("body %q, want %q", res.raw, want)
	}
}

// bomb100 is 100 MiB of zeros, gzipped (about 100 KiB).
var bomb100 = sync.OnceValue(func() []byte { return bomb(nil, 100<<20) })

// bomb returns size bytes of zeros, gzipped, without holding them in memory.
func bomb(t testing.TB, size int) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		_, _ = w.Write(zeros[:min(len(zeros), size-n)]) // a bytes.Buffer does not fail
	}
	_ = w.Close()
	return buf.Bytes()
}

func TestNativeRejects(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "payments", nil)
	other := e.newStream(model.DefaultWorkspace, "other", nil)
	small := e.newStream(model.DefaultWorkspace, "small", func(s *model.Stream) { s.Limits.MaxPayload = 1024 })
	inactive := e.newStream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { s.Status = model.StatusInactive })
	e.newWorkspace("acme")
	foreign := e.newStream("acme", "foreign", nil)
	foreignTok := e.newToken("acme", model.TokenRequest{Name: "acme", Scopes: []string{model.ScopeIngest}})
	noScope := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	onlyOther := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-other", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID}})
	past := e.clock.Now().Add(-time.Hour)
	expired := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "old", Scopes: []string{model.ScopeIngest}, ExpiresAt: &past})

	tsBad := `{"timestamp":"12/02/2025 14:32","source":"a","event":{}}`
	deep := `{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	big := `{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	three := evs(3)

	tests := []struct {
		name   string
		r      req
		status int
		code   string
		detail string // substring of the detail
	}{
		// 400 invalid_format: the body.
		{"bad JSON", req{body: []byte(`{"timestamp":`)}, 400, "invalid_format", "invalid JSON"},
		{"not JSON at all", req{body: []byte(`hello`)}, 400, "invalid_format", "invalid JSON"},
		{"bad timestamp", req{body: []byte(tsBad)}, 400, "invalid_format", "timestamp"},
		{"timestamp not a string", req{body: []byte(`{"timestamp":1739370735,"source":"a","event":{}}`)}, 400, "invalid_format", "timestamp"},
		{"missing timestamp", req{body: []byte(`{"source":"a","event":{}}`)}, 400, "invalid_format", "timestamp"},
		{"missing source", req{body: []byte(`{"timestamp":"2025-02-12T14:32:15Z","event":{}}`)}, 400, "invalid_format", "source"},
		{"empty source", req{body: []byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"","event":{}}`)}, 400, "invalid_format", "source"},
		{"missing event", req{body: []byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"a"}`)}, 400, "invalid_format", "event"},
		{"event not an object", req{body: []byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":"x"}`)}, 400, "invalid_format", "event"},
		{"metadata not an object", req{body: []byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{},"metadata":[]}`)}, 400, "invalid_format", "metadata"},
		{"array element not an object", req{body: []byte(`[` + ev(0) + `,42]`)}, 400, "invalid_format", "event 1"},
		{"batch with one bad event names its index", req{body: array(ev(0), ev(1), tsBad, ev(3))}, 400, "invalid_format", "event 2"},
		{"ndjson with one bad line names its index", req{ctype: "application/x-ndjson", body: ndjson(ev(0), `{"source":"a","event":{}}`, ev(2))}, 400, "invalid_format", "event 1"},
		{"invalid UTF-8", req{body: []byte("{\"timestamp\":\"2025-02-12T14:32:15Z\",\"source\":\"a\xff\",\"event\":{}}")}, 400, "invalid_format", "UTF-8"},
		{"10000-deep nesting", req{body: []byte(deep)}, 400, "invalid_format", "deeper than 64"},
		{"empty body", req{body: nil}, 400, "invalid_format", "no events"},
		{"empty array", req{body: []byte(`[]`)}, 400, "invalid_format", "no events"},
		{"two objects as application/json", req{body: []byte(ev(0) + "\n" + ev(1))}, 400, "invalid_format", "NDJSON"},
		// 400 invalid_format: the headers.
		{"wrong content type", req{ctype: "text/plain", body: []byte(ev(0))}, 400, "invalid_format", "application/x-ndjson"},
		{"form content type", req{ctype: "application/x-www-form-urlencoded", body: []byte(ev(0))}, 400, "invalid_format", "application/json"},
		{"missing content type", req{ctype: "-", body: []byte(ev(0))}, 400, "invalid_format", "missing Content-Type"},
		{"missing X-Stream-Id", req{stream: "-", body: []byte(ev(0))}, 400, "invalid_format", "X-Stream-Id"},
		{"malformed gzip", req{encoding: "gzip", body: []byte("this is not gzip")}, 400, "invalid_format", "gzip"},
		{"truncated gzip", req{encoding: "gzip", body: gz(t, array(three...))[:40]}, 400, "invalid_format", "gzip"},
		{"gzip with trailing garbage", req{encoding: "gzip", body: append(gz(t, array(three...)), "garbage"...)}, 400, "invalid_format", "gzip"},
		{"empty gzip body", req{encoding: "gzip", body: nil}, 400, "invalid_format", "gzip"},
		{"gzip of invalid events", req{encoding: "gzip", body: gz(t, []byte(tsBad))}, 400, "invalid_format", "timestamp"},
		{"unsupported encoding", req{encoding: "br", body: []byte(ev(0))}, 400, "invalid_format", "Content-Encoding"},
		{"two encodings", req{header: http.Header{"Content-Encoding": {"gzip", "gzip"}}, body: gz(t, gz(t, []byte(ev(0))))}, 400, "invalid_format", "Content-Encoding"},
		{"Idempotency-Key too long", req{key: strings.Repeat("k", 257), body: []byte(ev(0))}, 400, "invalid_format", "Idempotency-Key"},
		{"Idempotency-Key not printable ASCII", req{header: http.Header{"Idempotency-Key": {"k\ty"}}, body: []byte(ev(0))}, 400, "invalid_format", "Idempotency-Key"},
		{"Idempotency-Key not ASCII", req{key: "clé", body: []byte(ev(0))}, 400, "invalid_format", "Idempotency-Key"},
		// 400 payload_too_large.
		{"over 1 MiB", req{body: []byte(big)}, 400, "payload_too_large", "1048576"},
		{"over 1 MiB chunked", req{chunked: true, body: []byte(big)}, 400, "payload_too_large", "1048576"},
		{"over 1 MiB after gunzip", req{encoding: "gzip", body: gz(t, []byte(big))}, 400, "payload_too_large", "after decompression"},
		{"gzip bomb", req{encoding: "gzip", body: bomb100()}, 400, "payload_too_large", "after decompression"},
		{"over the stream's lower max_payload", req{stream: small.ID, body: array(evs(10)...)}, 400, "payload_too_large", "1024"},
		// 401.
		{"no token", req{token: "-", body: []byte(ev(0))}, 401, "unauthorized", "missing token"},
		{"garbage token", req{token: "rnl_garbage", body: []byte(ev(0))}, 401, "unauthorized", "unknown token"},
		{"wrong scheme", req{auth: "Basic dXNlcjpwYXNz", body: []byte(ev(0))}, 401, "unauthorized", "Bearer"},
		{"scheme without token", req{auth: "Bearer", body: []byte(ev(0))}, 401, "unauthorized", ""},
		{"expired token", req{token: expired, body: []byte(ev(0))}, 401, "unauthorized", "expired"},
		// 403.
		{"token without events.ingest", req{token: noScope, body: []byte(ev(0))}, 403, "forbidden", "events.ingest"},
		{"token limited to another stream", req{token: onlyOther, body: []byte(ev(0))}, 403, "forbidden", "not allowed"},
		// 404.
		{"unknown stream", req{stream: "nope", body: []byte(ev(0))}, 404, "stream_not_found", "nope"},
		{"unknown stream id", req{stream: "str_000000000000000000000000", body: []byte(ev(0))}, 404, "stream_not_found", ""},
		{"stream of another workspace by id", req{stream: foreign.ID, body: []byte(ev(0))}, 404, "stream_not_found", ""},
		{"stream of another workspace by name", req{stream: foreign.Name, body: []byte(ev(0))}, 404, "stream_not_found", ""},
		{"other workspace's token on our stream", req{token: foreignTok, body: []byte(ev(0))}, 404, "stream_not_found", ""},
		// 409.
		{"inactive stream", req{stream: inactive.ID, body: []byte(ev(0))}, 409, "stream_inactive", "inactive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.stream == "" {
				r.stream = st.ID
			}
			before := e.counts()
			res := e.post(r)
			t.Logf("%d %s", res.status, res.raw)
			if res.status != tt.status || res.err.Error != tt.code || !strings.Contains(res.err.Detail, tt.detail) || res.err.Detail == "" {
				t.Fatalf("got %d %s; want %d %s with detail containing %q", res.status, res.raw, tt.status, tt.code, tt.detail)
			}
			if after := e.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}
}

func TestNativeGzipBombStopsInflating(t *testing.T) {
	h := New(Deps{})
	b := bomb100()
	if len(b) > 200<<10 {
		t.Fatalf("bomb is %d bytes compressed", len(b))
	}
	buf, consumed, rj := h.gunzip(b, 1<<20)
	if buf != nil || rj == nil || rj.code.Name != "payload_too_large" {
		t.Fatalf("got %v", rj)
	}
	// Inflation stopped at the limit: 1 MiB of zeros is about 1 KiB of
	// deflate, the whole bomb about 100 KiB.
	if consumed > len(b)/20 {
		t.Fatalf("inflating stopped only after %d of %d compressed bytes", consumed, len(b))
	}
	// The same through the handler's body reader.
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	if _, rj := h.readBody(httptest.NewRecorder(), r, encGzip, 1<<20); rj == nil || rj.code.Name != "payload_too_large" {
		t.Fatalf("readBody: %v", rj)
	}
}

func TestNativeIdempotency(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "payments", nil)
	st2 := e.newStream(model.DefaultWorkspace, "refunds", nil)
	body := array(evs(3)...)

	first := e.post(req{stream: st.ID, key: "order-42", body: body})
	second := e.post(req{stream: st.ID, key: "order-42", body: body})
	if first.status != 200 || second.status != 200 || string(first.raw) != string(second.raw) {
		t.Fatalf("want two identical 200s: %d %s / %d %s", first.status, first.raw, second.status, second.raw)
	}
	if n := e.msgs(st.ID); n != 1 {
		t.Fatalf("a retried request was stored %d times", n)
	}
	_, m := e.lastFrame(st.ID)
	if got := m.Header.Get(event.HdrMsgID); got != st.ID+":order-42" {
		t.Fatalf("Nats-Msg-Id %q", got)
	}
	// The same key on another stream is another request.
	if res := e.post(req{stream: st2.ID, key: "order-42", body: body}); res.status != 200 || e.msgs(st2.ID) != 1 {
		t.Fatalf("other stream: %d %s, %d msgs", res.status, res.raw, e.msgs(st2.ID))
	}
	// Another key, and no key at all, store again.
	e.post(req{stream: st.ID, key: "order-43", body: body})
	e.post(req{stream: st.ID, body: body})
	e.post(req{stream: st.ID, body: body})
	if n := e.msgs(st.ID); n != 4 {
		t.Fatalf("want 4 messages, have %d", n)
	}
	_, m = e.lastFrame(st.ID)
	if got := m.Header.Get(event.HdrMsgID); got != "" {
		t.Fatalf("no key, yet Nats-Msg-Id %q", got)
	}
}

func TestNativeRateLimits(t *testing.T) {
	e := newEnv(t)
	// Stream: 0.5 events/s, burst 2.
	st := e.newStream(model.DefaultWorkspace, "slow", func(s *model.Stream) {
		s.Limits.EventsPerSecond, s.Limits.Burst = 0.5, 2
	})
	free := e.newStream(model.DefaultWorkspace, "free", nil)
	free2 := e.newStream(model.DefaultWorkspace, "free2", nil)
	// Token: 1 event/s, burst 3, on any stream.
	tok := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "metered", Scopes: []string{model.ScopeIngest},
		Limits: model.RateLimit{EventsPerSecond: 1, Burst: 3}})

	expect429 := func(t *testing.T, r req, retryAfter, detail string) {
		t.Helper()
		before := e.counts()
		res := e.post(r)
		if res.status != 429 || res.err.Error != "rate_limited" || !strings.Contains(res.err.Detail, detail) {
			t.Fatalf("got %d %s; want 429 with %q", res.status, res.raw, detail)
		}
		if got := res.header.Get("Retry-After"); got != retryAfter {
			t.Fatalf("Retry-After %q, want %q", got, retryAfter)
		}
		if after := e.counts(); !maps.Equal(before, after) {
			t.Fatalf("a rate-limited request stored something")
		}
	}
	expect200 := func(t *testing.T, r req) {
		t.Helper()
		if res := e.post(r); res.status != 200 {
			t.Fatalf("got %d %s", res.status, res.raw)
		}
	}

	t.Run("stream", func(t *testing.T) {
		expect200(t, req{stream: st.ID, body: array(evs(2)...)})
		// 1 more event needs 1 token at 0.5/s: 2 s.
		expect429(t, req{stream: st.ID, body: []byte(ev(0))}, "2", "the stream's rate limit of 0.5 events/s")
		e.clock.Advance(time.Second)
		// Half a token now, refused before the body is even read: 1 s more.
		expect429(t, req{stream: st.ID, body: []byte(ev(0))}, "1", "the stream's rate limit")
		e.clock.Advance(time.Second)
		// One token: a request of 2 must wait 2 s more.
		expect429(t, req{stream: st.ID, body: array(evs(2)...)}, "2", "the stream's rate limit")
		expect200(t, req{stream: st.ID, body: []byte(ev(0))})
		// Larger than the burst: never passes, and says so.
		e.clock.Advance(time.Hour)
		expect429(t, req{stream: st.ID, body: array(evs(3)...)}, "4", "more than the stream's rate-limit burst of 2")
		expect200(t, req{stream: st.ID, body: array(evs(2)...)})
	})

	t.Run("token", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		expect200(t, req{token: tok, stream: free.ID, body: array(evs(2)...)})
		// The token's bucket spans streams.
		expect429(t, req{token: tok, stream: free2.ID, body: array(evs(3)...)}, "2", "the token's rate limit of 1 events/s")
		expect200(t, req{token: tok, stream: free2.ID, body: []byte(ev(0))})
		// An empty bucket refuses before the body is read.
		expect429(t, req{token: tok, stream: free.ID, body: array(evs(4)...)}, "1", "the token's rate limit")
		e.clock.Advance(time.Second)
		expect429(t, req{token: tok, stream: free.ID, body: array(evs(4)...)}, "3", "more than the token's rate-limit burst of 3")
		// Other tokens are not limited.
		expect200(t, req{stream: free.ID, body: array(evs(50)...)})
	})

	t.Run("all or nothing", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		// The token has 3, the stream 2: 3 events pass the token's bucket
		// but not the stream's, and the token's tokens are given back.
		expect429(t, req{token: tok, stream: st.ID, body: array(evs(3)...)}, "4", "the stream's rate-limit burst")
		expect200(t, req{token: tok, stream: free.ID, body: array(evs(3)...)})
	})

	t.Run("limit change re-creates the bucket", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		expect200(t, req{stream: st.ID, body: array(evs(2)...)})
		expect429(t, req{stream: st.ID, body: []byte(ev(0))}, "2", "0.5 events/s")
		upd := *st
		upd.Limits.EventsPerSecond, upd.Limits.Burst = 100, 100
		if _, _, err := e.store.UpdateStream(e.ctx, st.Workspace, st.ID, &upd, 0, store.System); err != nil {
			t.Fatal(err)
		}
		expect200(t, req{stream: st.ID, body: array(evs(100)...)})
	})
}

func TestNativeBufferFull(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "tiny", func(s *model.Stream) { s.Buffer.MaxBytes = 1 << 20 })
	pad := strings.Repeat("x", 600<<10)
	big := `{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{"pad":"` + pad + `"}}`
	if res := e.post(req{stream: st.ID, body: []byte(big)}); res.status != 200 {
		t.Fatalf("first: %d %s", res.status, res.raw)
	}
	res := e.post(req{stream: st.ID, body: []byte(big)})
	if res.status != 503 || res.err.Error != "unavailable" || !strings.Contains(res.err.Detail, "buffer is full") {
		t.Fatalf("got %d %s", res.status, res.raw)
	}
	if ra, _ := strconv.Atoi(res.header.Get("Retry-After")); ra < 1 {
		t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
	}
	if n := e.msgs(st.ID); n != 1 {
		t.Fatalf("buffer holds %d messages", n)
	}
	// Small requests still fit.
	if res := e.post(req{stream: st.ID, body: []byte(ev(0))}); res.status != 200 {
		t.Fatalf("small: %d %s", res.status, res.raw)
	}
}

func TestNativeStoreUnavailable(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "gone", nil)
	// The configuration says the stream exists, the bus has no buffer for it.
	if err := e.bus.DeleteEventStream(e.ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	res := e.post(req{stream: st.ID, body: []byte(ev(0))})
	if res.status != 503 || res.err.Error != "unavailable" || res.header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s %v", res.status, res.raw, res.header)
	}
}

func TestNativeMetrics(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "counted", nil)
	e.post(req{stream: st.ID, body: array(evs(3)...)})
	e.post(req{stream: st.ID, key: "k", body: array(evs(2)...)})
	e.post(req{stream: st.ID, key: "k", body: array(evs(2)...)}) // duplicate: received, not accepted again
	e.post(req{stream: st.ID, body: []byte(`[{}]`)})
	e.post(req{stream: "nope", body: []byte(ev(0))})
	e.post(req{token: "-", stream: st.ID, body: []byte(ev(0))})

	ws, name := st.Workspace, st.Name
	checks := []struct {
		what string
		got  float64
		want float64
	}{
		{"received", counterValue(t, e.metrics.Received.WithLabelValues(ws, name)), 7},
		{"accepted", counterValue(t, e.metrics.Accepted.WithLabelValues(ws, name)), 5},
		{"accepted bytes", counterValue(t, e.metrics.AcceptedBytes.WithLabelValues(ws, name)), float64(len(array(evs(3)...)) + len(array(evs(2)...)))},
		{"rejected invalid_format", counterValue(t, e.metrics.Rejected.WithLabelValues(ws, name, "invalid_format")), 1},
		{"rejected stream_not_found", counterValue(t, e.metrics.Rejected.WithLabelValues(ws, "", "stream_not_found")), 1},
		{"rejected unauthorized", counterValue(t, e.metrics.Rejected.WithLabelValues("", "", "unauthorized")), 1},
		{"latency observations", float64(histogramCount(t, e.metrics, "runnel_ingest_ack_seconds")), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestRegisterBesideManagementRoutes(t *testing.T) {
	mux := http.NewServeMux()
	for _, p := range []string{"GET /v1/streams/{id}", "PUT /v1/streams/{id}", "PATCH /v1/streams/{id}", "DELETE /v1/streams/{id}", "GET /v1/streams", "POST /v1/streams"} {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	New(Deps{}).Register(mux) // panics on a conflicting pattern
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func histogramCount(t *testing.T, m *telemetry.Metrics, name string) uint64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range fams {
		if f.GetName() == name {
			for _, s := range f.GetMetric() {
				n += s.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}
