package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/telemetry"
)

// The store provides what the collection and Events v2 dialects look for.
var (
	_ InletLookup   = (*store.Store)(nil)
	_ StreamCreator = (*store.Store)(nil)
)

// creq is one HTTP request to an ingest path of the env's server.
type creq struct {
	method string // "" → POST
	path   string
	auth   string // raw Authorization value; "" → none
	header http.Header
	body   []byte
}

// cres is an answer, with the body decoded when it is JSON.
type cres struct {
	status int
	header http.Header
	raw    []byte
}

func (e *env) do(srv *httptest.Server, r creq) cres {
	e.t.Helper()
	if srv == nil {
		srv = e.srv
	}
	m := r.method
	if m == "" {
		m = http.MethodPost
	}
	hr, err := http.NewRequestWithContext(e.ctx, m, srv.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatal(err)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	hr.Header.Set("Content-Type", "application/json")
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return cres{status: res.StatusCode, header: res.Header, raw: raw}
}

// problemBody is the collection dialect's error body, decoded strictly.
type problemBody struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Title  string `json:"title"`
	Report struct {
		Message string             `json:"message"`
		Cause   []schema.Violation `json:"cause"`
	} `json:"report"`
}

// problem checks that res is an application/problem+json answer with
// status, type …/kind and a message containing detail.
func (c cres) problem(t testing.TB, status int, kind, detail string) problemBody {
	t.Helper()
	if c.status != status {
		t.Fatalf("status %d, want %d: %s", c.status, status, c.raw)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, c.raw)
	}
	var p problemBody
	mustJSON(t, c.raw, &p)
	if p.Type != problemBase+kind || p.Status != strconv.Itoa(status) || p.Title == "" || p.Report.Message == "" {
		t.Fatalf("problem %+v, want type …/%s, status %q", p, kind, strconv.Itoa(status))
	}
	if !strings.Contains(p.Report.Message, detail) {
		t.Fatalf("message %q does not say %q", p.Report.Message, detail)
	}
	return p
}

type collectionOK struct {
	InletID        string `json:"inletId"`
	XactionID      string `json:"xactionId"`
	ReceivedTimeMs int64  `json:"receivedTimeMs"`
}

type batchOK struct {
	InletID        string `json:"inletId"`
	BatchID        string `json:"batchId"`
	ReceivedTimeMs int64  `json:"receivedTimeMs"`
	Responses      []struct {
		XactionID  string `json:"xactionId,omitempty"`
		StatusCode int    `json:"statusCode,omitempty"`
		Message    string `json:"message,omitempty"`
	} `json:"responses"`
}

var xactionRe = regexp.MustCompile(`^([0-9]+):[0-9]+:[0-9]+$`)

func open(s *model.Stream) { f := false; s.AuthenticationRequired = &f }

// stamped is the stored form of a collection record.
func stamped(at time.Time, inlet, record, xaction string) string {
	return `{"timestamp":"` + at.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `","source":"collection:` + inlet +
		`","event":` + record + `,"metadata":{"xactionId":"` + xaction + `"}}`
}

// checkFrame compares the last frame of st with want (events compacted)
// and its headers with the dialect and the env clock.
func (e *env) checkFrame(st *model.Stream, dialect string, want []string) {
	e.t.Helper()
	f, m := e.lastFrame(st.ID)
	if f.Stream != st.ID || f.Workspace != st.Workspace || f.Count != len(want) || !f.Received.Equal(e.clock.Now()) {
		e.t.Fatalf("frame headers %+v", f)
	}
	if got := m.Header.Get(event.HdrSource); got != dialect {
		e.t.Fatalf("frame dialect %q, want %q", got, dialect)
	}
	got := event.Split(f.Body)
	if len(got) != len(want) {
		e.t.Fatalf("frame holds %d events, want %d: %q", len(got), len(want), f.Body)
	}
	for i := range want {
		var a, b bytes.Buffer
		if err := json.Compact(&a, got[i]); err != nil {
			e.t.Fatalf("stored event %d is not JSON: %q", i, got[i])
		}
		if err := json.Compact(&b, []byte(want[i])); err != nil {
			e.t.Fatal(err)
		}
		if a.String() != b.String() {
			e.t.Fatalf("stored event %d:\n got %s\nwant %s", i, a.String(), b.String())
		}
	}
	// Stored events pass the native envelope rules.
	if _, n, err := decode.Envelope(nil, f.Body, decode.FormatNDJSON, decode.Limits{MaxDepth: MaxDepth}); err != nil || n != len(want) {
		e.t.Fatalf("stored frame is not a valid native frame: %v", err)
	}
}

func TestCollectionAccepts(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "web", open)
	inlet := st.InletID
	pretty := "{\n  \"user\": {\"id\": 7, \"tags\": [\"a\", \"b\"]},\n  \"ok\": true\n}"
	tests := []struct {
		name   string
		r      creq
		stored string
	}{
		{"record", creq{body: []byte(`{"action":"click","n":1}`)}, `{"action":"click","n":1}`},
		{"pretty record is compacted", creq{body: []byte(pretty)}, pretty},
		{"surrounding whitespace", creq{body: []byte("\n  {\"a\":1}  \n")}, `{"a":1}`},
		{"empty object", creq{body: []byte(`{}`)}, `{}`},
		{"gzip", creq{header: http.Header{"Content-Encoding": {"gzip"}}, body: gz(t, []byte(`{"z":"zip"}`))}, `{"z":"zip"}`},
		{"Authorization ignored on an open inlet", creq{auth: "Bearer nonsense", body: []byte(`{"a":2}`)}, `{"a":2}`},
		{"no Content-Type needed", creq{header: http.Header{"Content-Type": {"text/plain"}}, body: []byte(`{"a":3}`)}, `{"a":3}`},
		{"syncValidation without a schema accepts", creq{path: "/collection/" + inlet + "?syncValidation=true", body: []byte(`{"a":4}`)}, `{"a":4}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.path == "" {
				r.path = "/collection/" + inlet
			}
			before := e.msgs(st.ID)
			res := e.do(nil, r)
			if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q: %s", res.status, res.header.Get("Content-Type"), res.raw)
			}
			var ok collectionOK
			mustJSON(t, res.raw, &ok)
			m := xactionRe.FindStringSubmatch(ok.XactionID)
			if ok.InletID != inlet || m == nil || m[1] != strconv.FormatInt(e.clock.Now().UnixMilli(), 10) || ok.ReceivedTimeMs != e.clock.Now().UnixMilli() {
				t.Fatalf("answer %s", res.raw)
			}
			want := `{"inletId":"` + inlet + `","xactionId":"` + ok.XactionID + `","receivedTimeMs":` + strconv.FormatInt(ok.ReceivedTimeMs, 10) + "}\n"
			if string(res.raw) != want {
				t.Fatalf("body %q, want %q", res.raw, want)
			}
			if got := e.msgs(st.ID); got != before+1 {
				t.Fatalf("%d messages, want %d", got, before+1)
			}
			e.checkFrame(st, dialectCollection, []string{stamped(e.clock.Now(), inlet, tt.stored, ok.XactionID)})
		})
	}

	// Transaction ids are unique.
	a, b := e.do(nil, creq{path: "/collection/" + inlet, body: []byte(`{}`)}), e.do(nil, creq{path: "/collection/" + inlet, body: []byte(`{}`)})
	var x, y collectionOK
	mustJSON(t, a.raw, &x)
	mustJSON(t, b.raw, &y)
	if x.XactionID == y.XactionID {
		t.Fatalf("two records share xactionId %s", x.XactionID)
	}

	// A retry with the same Idempotency-Key is stored once.
	before := e.msgs(st.ID)
	for range 2 {
		res := e.do(nil, creq{path: "/collection/" + inlet, header: http.Header{"Idempotency-Key": {"k1"}}, body: []byte(`{"once":true}`)})
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	}
	if got := e.msgs(st.ID); got != before+1 {
		t.Fatalf("idempotent retry stored %d messages", got-before)
	}
}

func TestCollectionAuthentication(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "secure", nil) // authentication_required defaults to true
	if !st.AuthRequired() {
		t.Fatal("stream does not require authentication")
	}
	other := e.newStream(model.DefaultWorkspace, "other", nil)
	e.newWorkspace("acme")
	foreignTok := e.newToken("acme", model.TokenRequest{Name: "acme", Scopes: []string{model.ScopeIngest}})
	foreignAdmin := e.newToken("acme", model.TokenRequest{Name: "acme-admin", Scopes: []string{model.ScopeAdmin}})
	reader := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	onlyOther := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-other", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID}})
	onlyThis := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-this", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})
	past := e.clock.Now().Add(-time.Hour)
	expired := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "old", Scopes: []string{model.ScopeIngest}, ExpiresAt: &past})
	path := "/collection/" + st.InletID

	rejects := []struct {
		name   string
		auth   string
		status int
		detail string
	}{
		{"no token", "", 401, "requires authentication"},
		{"unknown token", "Bearer rnl_nope", 401, "unknown token"},
		{"expired token", "Bearer " + expired, 401, "expired"},
		{"wrong scheme", "Basic " + e.token, 401, "Bearer"},
		{"token without events.ingest", "Bearer " + reader, 403, "events.ingest"},
		{"token of another workspace", "Bearer " + foreignTok, 403, "another workspace"},
		{"token limited to another stream", "Bearer " + onlyOther, 403, "not allowed"},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counts()
			res := e.do(nil, creq{path: path, auth: tt.auth, body: []byte(`{"a":1}`)})
			p := res.problem(t, tt.status, "authorization", tt.detail)
			if p.Title != "Authorization" {
				t.Fatalf("title %q", p.Title)
			}
			if tt.status == 401 && res.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if got := e.counts(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("stored something: %v → %v", before, got)
			}
		})
	}
	// The exact 401 body of SPEC §2.2.
	res := e.do(nil, creq{path: path, body: []byte(`{}`)})
	want := `{"type":"https://runnel.dev/problems/authorization","status":"401","title":"Authorization","report":{"message":"this inlet requires authentication: missing token: send Authorization: Bearer <token>"}}` + "\n"
	if string(res.raw) != want {
		t.Fatalf("401 body %q\nwant %q", res.raw, want)
	}

	for name, tok := range map[string]string{"ingest token": e.token, "token limited to this stream": onlyThis, "admin of another workspace": foreignAdmin} {
		t.Run(name, func(t *testing.T) {
			res := e.do(nil, creq{path: path, auth: "Bearer " + tok, body: []byte(`{"who":"` + name + `"}`)})
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			var ok collectionOK
			mustJSON(t, res.raw, &ok)
			e.checkFrame(st, dialectCollection, []string{stamped(e.clock.Now(), st.InletID, `{"who":"`+name+`"}`, ok.XactionID)})
		})
	}
}

func TestCollectionRejects(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "web", open)
	small := e.newStream(model.DefaultWorkspace, "small", func(s *model.Stream) { open(s); s.Limits.MaxPayload = 1024 })
	sleepy := e.newStream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { open(s); s.Status = model.StatusInactive })
	path := "/collection/" + st.InletID
	big := []byte(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	deep := []byte(strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64))
	okDeep := []byte(strings.Repeat(`{"a":`, 63) + "1" + strings.Repeat("}", 63))

	tests := []struct {
		name   string
		r      creq
		status int
		kind   string
		detail string
	}{
		{"unknown inlet", creq{path: "/collection/" + strings.Repeat("0", 64)}, 404, "inlet-not-found", "no inlet"},
		{"inlet is not an id", creq{path: "/collection/" + st.ID}, 404, "inlet-not-found", "no inlet"},
		{"inactive stream", creq{path: "/collection/" + sleepy.InletID, body: []byte(`{}`)}, 409, "inlet-inactive", "inactive"},
		{"over 1 MiB", creq{body: big}, 413, "payload-too-large", "limit of 1048576 bytes"},
		{"over 1 MiB gzipped", creq{header: http.Header{"Content-Encoding": {"gzip"}}, body: gz(t, big)}, 413, "payload-too-large", "after decompression"},
		{"over the stream's own limit", creq{path: "/collection/" + small.InletID, body: []byte(`{"pad":"` + strings.Repeat("x", 1100) + `"}`)}, 413, "payload-too-large", "1024"},
		{"malformed JSON", creq{body: []byte(`{"a":`)}, 400, "invalid-request", "invalid JSON"},
		{"not JSON", creq{body: []byte(`hello`)}, 400, "invalid-request", "invalid JSON"},
		{"empty body", creq{body: nil}, 400, "invalid-request", "empty body"},
		{"array", creq{body: []byte(`[{"a":1}]`)}, 400, "invalid-request", "must be a JSON object, got an array"},
		{"string", creq{body: []byte(`"x"`)}, 400, "invalid-request", "got a string"},
		{"two objects", creq{body: []byte(`{"a":1}{"b":2}`)}, 400, "invalid-request", "invalid JSON"},
		{"too deep", creq{body: deep}, 400, "invalid-request", "nested deeper than 63"},
		{"invalid UTF-8", creq{body: []byte("{\"a\":\"\xff\"}")}, 400, "invalid-request", "UTF-8"},
		{"bad gzip", creq{header: http.Header{"Content-Encoding": {"gzip"}}, body: []byte("nope")}, 400, "invalid-request", "gzip"},
		{"unsupported encoding", creq{header: http.Header{"Content-Encoding": {"br"}}, body: []byte(`{}`)}, 400, "invalid-request", "Content-Encoding"},
		{"GET", creq{method: http.MethodGet}, 405, "method-not-allowed", "POST"},
		{"batch malformed", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[{"a":1},`)}, 400, "invalid-request", "invalid JSON"},
		{"batch not an object", creq{path: "/collection/batch/" + st.InletID, body: []byte(`[{"a":1}]`)}, 400, "invalid-request", `{"messages":[…]}`},
		{"batch without messages", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"records":[{"a":1}]}`)}, 400, "invalid-request", `missing "messages"`},
		{"batch messages not an array", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":{"a":1}}`)}, 400, "invalid-request", "must be an array"},
		{"batch messages empty", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[]}`)}, 400, "invalid-request", "empty"},
		{"batch messages twice", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[{}],"messages":[{}]}`)}, 400, "invalid-request", "twice"},
		{"batch over 1 MiB", creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[` + string(big) + `]}`)}, 413, "payload-too-large", "limit"},
		{"batch unknown inlet", creq{path: "/collection/batch/" + strings.Repeat("a", 64), body: []byte(`{"messages":[{}]}`)}, 404, "inlet-not-found", "no inlet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.path == "" {
				r.path = path
			}
			before := e.counts()
			res := e.do(nil, r)
			res.problem(t, tt.status, tt.kind, tt.detail)
			if got := e.counts(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("stored something: %v → %v", before, got)
			}
		})
	}
	// A record at the depth limit passes.
	if res := e.do(nil, creq{path: path, body: okDeep}); res.status != 200 {
		t.Fatalf("depth 63: %d %s", res.status, res.raw)
	}
}

func TestCollectionRateLimitAndUnavailable(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "slow", func(s *model.Stream) { open(s); s.Limits.EventsPerSecond = 1; s.Limits.Burst = 2 })
	path := "/collection/" + st.InletID
	if res := e.do(nil, creq{path: path, body: []byte(`{}`)}); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	before := e.msgs(st.ID)
	res := e.do(nil, creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[{},{},{}]}`)})
	res.problem(t, 429, "rate-limited", "burst")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if e.msgs(st.ID) != before {
		t.Fatal("a rate-limited batch was stored")
	}

	// A bus that fails answers 503 with Retry-After and the problem shape.
	f := newDialectFake(&recorder{err: fmt.Errorf("bus: publish: nats: connection closed")})
	w := f.serve(f.collectionRequest("", false, []byte(`{}`)))
	res = cres{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	res.problem(t, 503, "unavailable", "retry later")
	if w.Header().Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}

func TestCollectionBatch(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "web", open)
	path := "/collection/batch/" + st.InletID
	body := `{"meta":{"ignored":true},"messages":[{"n":0}, 42, {"n":2,
	  "nested":{"k":[1,2]}}, "text", {"n":4}, [1], null]}`
	before := e.msgs(st.ID)
	res := e.do(nil, creq{path: path, body: []byte(body)})
	if res.status != http.StatusMultiStatus || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	var b batchOK
	mustJSON(t, res.raw, &b)
	if b.InletID != st.InletID || !xactionRe.MatchString(b.BatchID) || b.ReceivedTimeMs != e.clock.Now().UnixMilli() || len(b.Responses) != 7 {
		t.Fatalf("answer %s", res.raw)
	}
	var stored []string
	records := []string{`{"n":0}`, "", `{"n":2,"nested":{"k":[1,2]}}`, "", `{"n":4}`, "", ""}
	kinds := []string{"", "a number", "", "a string", "", "an array", "null"}
	seen := map[string]bool{b.BatchID: true}
	for i, r := range b.Responses {
		if records[i] != "" {
			if r.StatusCode != 0 || !xactionRe.MatchString(r.XactionID) || seen[r.XactionID] {
				t.Fatalf("response %d: %+v", i, r)
			}
			seen[r.XactionID] = true
			stored = append(stored, stamped(e.clock.Now(), st.InletID, records[i], r.XactionID))
			continue
		}
		if r.StatusCode != 400 || r.XactionID != "" || !strings.Contains(r.Message, "message "+strconv.Itoa(i)) || !strings.Contains(r.Message, kinds[i]) {
			t.Fatalf("response %d: %+v", i, r)
		}
	}
	if got := e.msgs(st.ID); got != before+1 {
		t.Fatalf("%d messages, want one frame for the batch", got-before)
	}
	e.checkFrame(st, dialectCollection, stored)

	// Every message failing: 207, nothing stored.
	before = e.msgs(st.ID)
	res = e.do(nil, creq{path: path, body: []byte(`{"messages":[1,"x"]}`)})
	mustJSON(t, res.raw, &b)
	if res.status != 207 || len(b.Responses) != 2 || b.Responses[0].StatusCode != 400 || b.Responses[1].StatusCode != 400 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	if e.msgs(st.ID) != before {
		t.Fatal("a batch of failures stored something")
	}
	// The exact shape of a 207 answer.
	res = e.do(nil, creq{path: path, body: []byte(`{"messages":[{},7]}`)})
	mustJSON(t, res.raw, &b)
	want := `{"inletId":"` + st.InletID + `","batchId":"` + b.BatchID + `","receivedTimeMs":` + strconv.FormatInt(b.ReceivedTimeMs, 10) +
		`,"responses":[{"xactionId":"` + b.Responses[0].XactionID + `"},{"statusCode":400,"message":"message 1: must be a JSON object, got a number"}]}` + "\n"
	if string(res.raw) != want {
		t.Fatalf("body %s\nwant %s", res.raw, want)
	}
}

// ---- fakes for the fuzz targets ----

// inletStreams adds inlet lookup and stream creation to fakeStreams.
type inletStreams struct {
	fakeStreams
}

func (s inletStreams) StreamByInlet(id string) (*model.Stream, uint64, bool) {
	for _, st := range s.fakeStreams {
		if st.InletID == id {
			return st, 1, true
		}
	}
	return nil, 0, false
}

// dialectFake is a handler over fakes with one open, active stream whose
// inlet is "inlet0…" and an events.ingest token limited to nothing.
type dialectFake struct {
	h     *Handler
	pub   *recorder
	st    *model.Stream
	token string
	now   time.Time
}

func newDialectFake(pub *recorder) *dialectFake {
	if pub == nil {
		pub = &recorder{}
	}
	st := &model.Stream{ID: "str_fake", Workspace: "w", Name: "s", Status: model.StatusActive, InletID: strings.Repeat("ab", 32)}
	open(st)
	st.Normalize(fakeKinds{})
	st.Limits.MaxPayload = fuzzLimit
	streams := fakeStreams{}
	streams.add(st)
	tokens := fakeTokens{}
	f := &dialectFake{pub: pub, st: st, now: time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)}
	f.token = tokens.add(&model.Token{ID: "tok_fake", Workspace: "w", Scopes: []string{model.ScopeIngest}})
	f.h = New(Deps{Bus: pub, Streams: inletStreams{fakeStreams: streams}, Tokens: tokens, Metrics: telemetry.NewMetrics(), Now: func() time.Time { return f.now }})
	f.h.publishTimeout = 50 * time.Millisecond
	return f
}

// reset forgets the messages recorded so far.
func (p *recorder) reset() { p.mu.Lock(); p.msgs = nil; p.mu.Unlock() }

func (f *dialectFake) collectionRequest(query string, batch bool, body []byte) *http.Request {
	p := "/collection/"
	if batch {
		p += "batch/"
	}
	r := httptest.NewRequest(http.MethodPost, p+f.st.InletID+query, bytes.NewReader(body))
	r.SetPathValue("inlet", f.st.InletID)
	r.Header.Set("X-Batch", strconv.FormatBool(batch))
	return r
}

func (f *dialectFake) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	switch {
	case strings.HasPrefix(r.URL.Path, "/collection/"):
		f.h.collectionRequest(w, r, r.Header.Get("X-Batch") == "true")
	default:
		f.h.serveEventsV2(w, r)
	}
	return w
}
