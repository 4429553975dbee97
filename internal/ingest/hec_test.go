package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

const testChannel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"

func TestHECAccepts(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "splunk", nil)
	only := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})
	now := c.clock.Now().UTC().Format(time.RFC3339Nano)
	auth := []string{"Authorization", "Splunk " + c.token, "X-Stream-Id", st.ID}

	full := `{"time":1433188255.5,"host":"web-1","source":"nginx","sourcetype":"access_combined","index":"main",` +
		`"event":{"status":200,"path":"/x"},"fields":{"region":"eu","tags":["a","b"]},"unknown":1}`
	pretty := "{\n  \"event\": \"hello\",\n  \"time\": \"1433188255.123456789\"\n}"
	tests := []struct {
		name   string
		path   string
		hdr    []string
		body   []byte
		events []map[string]any // expected members (dotted paths)
	}{
		{"one event, every field", "/services/collector/event", auth, []byte(full), []map[string]any{{
			"timestamp": "2015-06-01T19:50:55.5Z", "source": "nginx", "event.event.status": json.Number("200"),
			"event.host": "web-1", "event.sourcetype": "access_combined", "event.index": "main",
			"event.fields.region": "eu", "event.unknown": nil, "metadata": nil,
		}}},
		{"concatenated, pretty-printed, string time", "/services/collector", auth,
			[]byte(`{"event":"a"}` + "\n" + pretty + `  {"event":3}{"event":[1,{"b":null}],"source":""}`), []map[string]any{
				{"event.event": "a", "timestamp": now, "source": "splunk-hec"},
				{"event.event": "hello", "timestamp": "2015-06-01T19:50:55.123456789Z"},
				{"event.event": json.Number("3")},
				{"source": "splunk-hec", "event.host": nil},
			}},
		{"/event/1.0 with query defaults", "/services/collector/event/1.0?host=h&source=q-src&sourcetype=st&index=ix&channel=" + testChannel, auth,
			[]byte(`{"event":"x","host":"own"}`), []map[string]any{{
				"event.host": "own", "source": "q-src", "event.sourcetype": "st", "event.index": "ix", "metadata.hec_channel": testChannel,
			}}},
		{"Bearer, token limited to the stream", "/services/collector/event", []string{"Authorization", "Bearer " + only},
			[]byte(`{"event":"x"}`), []map[string]any{{"event.event": "x"}}},
		{"Basic with the token as password", "/services/collector/event?stream=splunk",
			[]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+c.token))},
			[]byte(`{"event":"x","time":1700000000}`), []map[string]any{{"timestamp": "2023-11-14T22:13:20Z"}}},
		{"raw lines", "/services/collector/raw?sourcetype=syslog", append([]string{"X-Splunk-Request-Channel", testChannel}, auth...),
			[]byte("line one\r\n\n  \nline \"two\"\ttab\nlast é"), []map[string]any{
				{"event.event": "line one", "event.sourcetype": "syslog", "source": "splunk-hec", "timestamp": now, "metadata.hec_channel": testChannel},
				{"event.event": "line \"two\"\ttab"},
				{"event.event": "last é"},
			}},
		{"raw with ?channel and ?time", "/services/collector/raw/1.0?channel=" + testChannel + "&time=1433188255&source=app", auth,
			[]byte("x\n"), []map[string]any{{"event.event": "x", "timestamp": "2015-06-01T19:50:55Z", "source": "app"}}},
		{"gzip", "/services/collector/event", append([]string{"Content-Encoding", "gzip"}, auth...),
			gz(t, []byte(`{"event":"zipped"}{"event":"twice"}`)), []map[string]any{{"event.event": "zipped"}, {"event.event": "twice"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(c.frames(st.ID))
			r := c.do("POST", tt.path, tt.body, tt.hdr...)
			if r.status != 200 || string(r.body) != `{"text":"Success","code":0}`+"\n" || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %q", r.status, r.header.Get("Content-Type"), r.body)
			}
			frames := c.frames(st.ID)
			if len(frames) != before+1 {
				t.Fatalf("%d frames stored, want 1", len(frames)-before)
			}
			f := frames[len(frames)-1]
			if f.Workspace != st.Workspace || f.Stream != st.ID || !f.Received.Equal(c.clock.Now()) {
				t.Fatalf("frame %+v", f)
			}
			got := frameEvents(t, f)
			if len(got) != len(tt.events) {
				t.Fatalf("%d events stored, want %d: %q", len(got), len(tt.events), f.Body)
			}
			for i, want := range tt.events {
				for p, v := range want {
					if g := jpath(got[i], p); fmt.Sprint(g) != fmt.Sprint(v) {
						t.Errorf("event %d: %s = %#v, want %#v\n%v", i, p, g, v, got[i])
					}
				}
			}
		})
	}
	// The stored event of the full example, exactly.
	c.do("POST", "/services/collector/event", []byte(full), auth...)
	f, m := c.lastFrame(st.ID)
	if string(f.Body) != `{"timestamp":"2015-06-01T19:50:55.5Z","source":"nginx","event":{"event":{"status":200,"path":"/x"},`+
		`"host":"web-1","sourcetype":"access_combined","index":"main","fields":{"region":"eu","tags":["a","b"]}}}` {
		t.Fatalf("stored %s", f.Body)
	}
	if m.Header.Get(event.HdrSource) != dialectHEC {
		t.Fatalf("dialect header %q", m.Header.Get(event.HdrSource))
	}
}

func TestHECRejects(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "splunk", nil)
	other := c.stream(model.DefaultWorkspace, "other", nil)
	small := c.stream(model.DefaultWorkspace, "small", func(s *model.Stream) { s.Limits.MaxPayload = 1024 })
	inactive := c.stream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { s.Status = model.StatusInactive })
	limited := c.stream(model.DefaultWorkspace, "limited", func(s *model.Stream) { s.Limits.EventsPerSecond, s.Limits.Burst = 1, 2 })
	c.newWorkspace("acme")
	foreign := c.stream("acme", "foreign", nil)
	noScope := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	onlyOther := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-other", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID}})
	past := c.clock.Now().Add(-time.Hour)
	expired := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "old", Scopes: []string{model.ScopeIngest}, ExpiresAt: &past})

	tok := "Splunk " + c.token
	to := func(s *model.Stream) []string { return []string{"Authorization", tok, "X-Stream-Id", s.ID} }
	ok := []byte(`{"event":"x"}`)
	deep := []byte(`{"event":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`)
	tests := []struct {
		name   string
		path   string
		hdr    []string
		body   []byte
		status int
		code   int
		event  int // invalid-event-number; -1 none
		detail string
	}{
		{"no token", "/services/collector/event", []string{"X-Stream-Id", st.ID}, ok, 401, 2, -1, "missing token"},
		{"empty Splunk token", "/services/collector/event", []string{"Authorization", "Splunk ", "X-Stream-Id", st.ID}, ok, 401, 2, -1, "missing"},
		{"other scheme", "/services/collector/event", []string{"Authorization", "Token " + c.token}, ok, 401, 3, -1, "Splunk <token>"},
		{"bad Basic", "/services/collector/event", []string{"Authorization", "Basic !!"}, ok, 401, 3, -1, "Splunk <token>"},
		{"unknown token", "/services/collector/event", []string{"Authorization", "Splunk rnl_nope", "X-Stream-Id", st.ID}, ok, 403, 4, -1, "unknown token"},
		{"expired token", "/services/collector/event", []string{"Authorization", "Splunk " + expired, "X-Stream-Id", st.ID}, ok, 403, 1, -1, "expired"},
		{"token without events.ingest", "/services/collector/event", []string{"Authorization", "Splunk " + noScope, "X-Stream-Id", st.ID}, ok, 403, 4, -1, "events.ingest"},
		{"valid token in the query", "/services/collector/event?token=" + c.token + "&stream=splunk", nil, ok, 400, 16, -1, "query string"},
		{"unknown token in the query", "/services/collector/event?token=rnl_nope", nil, ok, 403, 4, -1, "unknown token"},
		{"no stream chosen", "/services/collector/event", []string{"Authorization", tok}, ok, 404, 7, -1, "X-Stream-Id"},
		{"unknown stream", "/services/collector/event?stream=nope", []string{"Authorization", tok}, ok, 404, 7, -1, `"nope"`},
		{"stream of another workspace", "/services/collector/event", to(foreign), ok, 404, 7, -1, "no stream"},
		{"token limited to another stream", "/services/collector/event", []string{"Authorization", "Splunk " + onlyOther, "X-Stream-Id", st.ID}, ok, 403, 7, -1, "not allowed"},
		{"inactive stream", "/services/collector/event", to(inactive), ok, 409, 1, -1, "inactive"},
		{"raw without channel", "/services/collector/raw", to(st), []byte("x"), 400, 10, -1, "channel"},
		{"bad channel", "/services/collector/event?channel=abc", to(st), ok, 400, 11, -1, "GUID"},
		{"unsupported encoding", "/services/collector/event", append([]string{"Content-Encoding", "br"}, to(st)...), ok, 400, 6, -1, "Content-Encoding"},
		{"broken gzip", "/services/collector/event", append([]string{"Content-Encoding", "gzip"}, to(st)...), ok, 400, 6, -1, "gzip"},
		{"empty body", "/services/collector/event", to(st), nil, 400, 5, -1, "empty"},
		{"only whitespace", "/services/collector/event", to(st), []byte(" \n\t"), 400, 5, -1, "empty"},
		{"raw, only blank lines", "/services/collector/raw?channel=" + testChannel, to(st), []byte("\n \r\n"), 400, 5, -1, "no lines"},
		{"malformed JSON", "/services/collector/event", to(st), []byte(`{"event":"x"}{"event":`), 400, 6, 1, "event 1"},
		{"trailing garbage", "/services/collector/event", to(st), []byte(`{"event":"x"} nope`), 400, 6, 1, "expected a JSON object"},
		{"array", "/services/collector/event", to(st), []byte(`[{"event":"x"}]`), 400, 6, 0, "expected a JSON object"},
		{"invalid UTF-8", "/services/collector/event", to(st), []byte("{\"event\":\"\xff\"}"), 400, 6, 0, "UTF-8"},
		{"too deep", "/services/collector/event", to(st), deep, 400, 6, 0, "deep"},
		{"no event", "/services/collector/event", to(st), []byte(`{"event":"x"}{"host":"h"}`), 400, 12, 1, `"event" field is required`},
		{"null event", "/services/collector/event", to(st), []byte(`{"event":null}`), 400, 12, 0, "required"},
		{"blank event", "/services/collector/event", to(st), []byte(`{"event":""}`), 400, 13, 0, "empty"},
		{"nested fields", "/services/collector/event", to(st), []byte(`{"event":"x","fields":{"a":{"b":1}}}`), 400, 15, 0, "flat"},
		{"fields not an object", "/services/collector/event", to(st), []byte(`{"event":"x","fields":[1]}`), 400, 15, 0, "object"},
		{"bad time", "/services/collector/event", to(st), []byte(`{"event":"x","time":"yesterday"}`), 400, 6, 0, "epoch seconds"},
		{"time in milliseconds", "/services/collector/event", to(st), []byte(`{"event":"x","time":1433188255500000}`), 400, 6, 0, "epoch seconds"},
		{"host not a string", "/services/collector/event", to(st), []byte(`{"event":"x","host":1}`), 400, 6, 0, `"host" must be a string`},
		{"duplicate event", "/services/collector/event", to(st), []byte(`{"event":"x","event":"y"}`), 400, 6, 0, "duplicate"},
		{"raw invalid UTF-8", "/services/collector/raw?channel=" + testChannel, to(st), []byte("ok\n\xff\n"), 400, 6, 1, "line 2"},
		{"raw bad ?time", "/services/collector/raw?time=x&channel=" + testChannel, to(st), []byte("ok"), 400, 6, -1, "time"},
		{"too large", "/services/collector/event", to(small), []byte(`{"event":"` + strings.Repeat("x", 2000) + `"}`), 413, 6, -1, "limit"},
		{"gzip bomb", "/services/collector/event", append([]string{"Content-Encoding", "gzip"}, to(small)...),
			gz(t, []byte(`{"event":"`+strings.Repeat("x", 1<<20)+`"}`)), 413, 6, -1, "after decompression"},
		{"more events than the burst", "/services/collector/event", to(limited), []byte(`{"event":1}{"event":2}{"event":3}`), 429, 9, -1, "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.counts()
			r := c.do("POST", tt.path, tt.body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			var got struct {
				Text   string `json:"text"`
				Code   *int   `json:"code"`
				Event  *int   `json:"invalid-event-number"`
				Detail string `json:"detail"`
			}
			d := json.NewDecoder(bytes.NewReader(r.body))
			d.DisallowUnknownFields()
			if err := d.Decode(&got); err != nil || got.Code == nil || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("answer is not HEC's: %v %q", err, r.body)
			}
			if *got.Code != tt.code || got.Text != hecTexts[tt.code] && tt.status != 413 {
				t.Errorf("code %d %q, want %d %q", *got.Code, got.Text, tt.code, hecTexts[tt.code])
			}
			if (got.Event == nil) != (tt.event < 0) || got.Event != nil && *got.Event != tt.event {
				t.Errorf("invalid-event-number %v, want %d", got.Event, tt.event)
			}
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", got.Detail, tt.detail)
			}
			if (tt.status == 429 || tt.status == 503) != (r.header.Get("Retry-After") != "") {
				t.Errorf("Retry-After %q with %d", r.header.Get("Retry-After"), tt.status)
			}
			if after := c.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}
	// The burst of 2 takes two single-event requests, then 429 with Retry-After.
	for i, want := range []int{200, 200, 429} {
		r := c.do("POST", "/services/collector/event", ok, to(limited)...)
		if r.status != want {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if want == 429 && (r.header.Get("Retry-After") == "" || !bytes.Contains(r.body, []byte(`"text":"Server is busy","code":9`))) {
			t.Fatalf("429 answer: %v %s", r.header, r.body)
		}
	}
}

// The documented answers that carry no event: health, ack, and the exact
// bodies of the common errors.
func TestHECExactAnswers(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "splunk", nil)
	for _, tt := range []struct {
		method, path string
		hdr          []string
		body         string
		status       int
		want         string // prefix of the answer
	}{
		{"GET", "/services/collector/health", nil, "", 200, `{"text":"HEC is healthy","code":17}` + "\n"},
		{"GET", "/services/collector/health/1.0", nil, "", 200, `{"text":"HEC is healthy","code":17}` + "\n"},
		{"POST", "/services/collector/ack", nil, `{"acks":[0]}`, 400, `{"text":"ACK is disabled","code":14,`},
		{"POST", "/services/collector/event", []string{"X-Stream-Id", st.ID}, `{"event":"x"}`, 401, `{"text":"Token is required","code":2,`},
		{"POST", "/services/collector/event", []string{"Authorization", "Splunk rnl_x"}, `{"event":"x"}`, 403, `{"text":"Invalid token","code":4,`},
		{"POST", "/services/collector/event", []string{"Authorization", "Splunk " + c.token, "X-Stream-Id", st.ID}, ``, 400, `{"text":"No data","code":5,`},
		{"POST", "/services/collector/event", []string{"Authorization", "Splunk " + c.token, "X-Stream-Id", st.ID}, `{"event":1}x`, 400,
			`{"text":"Invalid data format","code":6,"invalid-event-number":1,`},
		{"POST", "/services/collector/event", []string{"Authorization", "Splunk " + c.token, "X-Stream-Id", st.ID}, `{"event":1}`, 200, `{"text":"Success","code":0}` + "\n"},
	} {
		r := c.do(tt.method, tt.path, []byte(tt.body), tt.hdr...)
		if r.status != tt.status || !strings.HasPrefix(string(r.body), tt.want) {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
		}
	}
}

// A full buffer and an unavailable store answer 503 code 9 with
// Retry-After, and nothing is acknowledged.
func TestHECPublishFailures(t *testing.T) {
	for _, tt := range []struct {
		err   error
		retry string
	}{
		{fmt.Errorf("%w: nats: maximum bytes exceeded", bus.ErrBufferFull), "5"},
		{errors.New("bus: publish: nats: connection closed"), "2"},
	} {
		f := newFake(&recorder{err: tt.err}, nil)
		r := httptest.NewRequest("POST", "/services/collector/event", strings.NewReader(`{"event":"x"}`))
		r.Header.Set("Authorization", "Splunk "+f.token)
		r.Header.Set("X-Stream-Id", f.st.ID)
		w := httptest.NewRecorder()
		f.h.serveHECEvent(w, r)
		if w.Code != 503 || w.Header().Get("Retry-After") != tt.retry || !strings.HasPrefix(w.Body.String(), `{"text":"Server is busy","code":9,`) {
			t.Fatalf("%v: %d %v %s", tt.err, w.Code, w.Header(), w.Body)
		}
	}
}

func TestHECParseTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" → refused
	}{
		{"0", "1970-01-01T00:00:00Z"},
		{"1433188255", "2015-06-01T19:50:55Z"},
		{"1433188255.500", "2015-06-01T19:50:55.5Z"},
		{`"1433188255.000000001999"`, "2015-06-01T19:50:55.000000001Z"},
		{"1.4331882555e9", "2015-06-01T19:50:55.5Z"},
		{"253402300799.999", "9999-12-31T23:59:59.999Z"},
		{"253402300800", ""},
		{"-1", ""},
		{`""`, ""},
		{`"abc"`, ""},
		{"1e400", ""},
		{"NaN", ""},
		{"99999999999999999999999", ""},
	} {
		got, ok := hecParseTime([]byte(tt.in))
		if s := got.UTC().Format(time.RFC3339Nano); ok != (tt.want != "") || ok && s != tt.want {
			t.Errorf("hecParseTime(%s) = %s %v, want %q", tt.in, s, ok, tt.want)
		}
	}
}

func TestHECIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		testChannel: true, strings.ToUpper(testChannel): true, "": false, "0aeeac95ac744aa9b30d6c4c0ac581ba": false,
		"0aeeac95-ac74-4aa9-b30d-6c4c0ac581bx": false, "0aeeac95-ac74-4aa9-b30d_6c4c0ac581ba": false,
	} {
		if hecIsGUID(s) != want {
			t.Errorf("hecIsGUID(%q) != %v", s, want)
		}
	}
}

// cjAppendTime writes what time.RFC3339Nano writes.
func TestCJAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2025, 2, 12, 14, 32, 15, 100, time.FixedZone("x", 3600)), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(253402300800), r.Int64N(1e9)*int64(r.IntN(2))))
	}
	for _, tm := range times {
		want := `"` + tm.UTC().Format(time.RFC3339Nano) + `"`
		if got := string(cjAppendTime(nil, tm)); got != want {
			t.Fatalf("cjAppendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
