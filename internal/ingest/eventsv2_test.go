package ingest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/store"
)

type ev2Answer struct {
	ReportCount        int `json:"reportCount"`
	EventIngestResults []struct {
		CorrelationID string `json:"correlationId"`
		Status        string `json:"status"`
	} `json:"eventIngestResults"`
}

var correlationRe = regexp.MustCompile(`^[0-9a-f]{16}$`)

// storedEvent is the stored form of an Events v2 event, decoded strictly.
type storedEvent struct {
	Timestamp string `json:"timestamp"`
	Source    string `json:"source"`
	Event     struct {
		EventType      string         `json:"eventType"`
		Title          string         `json:"title"`
		StartTime      int64          `json:"startTime"`
		EndTime        int64          `json:"endTime"`
		Timeout        int64          `json:"timeout"`
		EntitySelector string         `json:"entitySelector,omitempty"`
		Properties     map[string]any `json:"properties,omitempty"`
		CorrelationID  string         `json:"correlationId"`
	} `json:"event"`
}

func (e *env) postEvents(path, auth, stream string, body string) cres {
	e.t.Helper()
	h := http.Header{}
	if stream != "" {
		h.Set("X-Stream-Id", stream)
	}
	if path == "" {
		path = "/api/v2/events/ingest"
	}
	return e.do(nil, creq{path: path, auth: auth, header: h, body: []byte(body)})
}

func (c cres) events(t testing.TB) ev2Answer {
	t.Helper()
	if c.status != http.StatusCreated || c.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q: %s", c.status, c.header.Get("Content-Type"), c.raw)
	}
	var a ev2Answer
	mustJSON(t, c.raw, &a)
	if a.ReportCount != len(a.EventIngestResults) {
		t.Fatalf("reportCount %d for %d results", a.ReportCount, len(a.EventIngestResults))
	}
	for _, r := range a.EventIngestResults {
		if !correlationRe.MatchString(r.CorrelationID) {
			t.Fatalf("correlationId %q", r.CorrelationID)
		}
	}
	return a
}

func (c cres) apiError(t testing.TB, status int, code, detail string) {
	t.Helper()
	if c.status != status || c.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q, want %d: %s", c.status, c.header.Get("Content-Type"), status, c.raw)
	}
	var b errBody // apierr.Body, with "violations" for a schema mismatch
	mustJSON(t, c.raw, &b)
	if b.Error != code || !strings.Contains(b.Detail, detail) {
		t.Fatalf("error %+v, want %s with %q", b, code, detail)
	}
}

// storedEvents reads back the events of the last frame of a stream.
func (e *env) storedEvents(st *model.Stream) []storedEvent {
	e.t.Helper()
	f, m := e.lastFrame(st.ID)
	if m.Header.Get(event.HdrSource) != dialectEventsV2 {
		e.t.Fatalf("frame dialect %q", m.Header.Get(event.HdrSource))
	}
	var out []storedEvent
	for _, line := range event.Split(f.Body) {
		var s storedEvent
		mustJSON(e.t, line, &s)
		out = append(out, s)
	}
	if len(out) != f.Count {
		e.t.Fatalf("frame count %d, %d events", f.Count, len(out))
	}
	return out
}

func TestEventsV2Accepts(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "deploys", nil)
	now := e.clock.Now()
	ms := now.UnixMilli()
	const minute = int64(60_000)

	// A minimal event: computed startTime, endTime and timeout.
	res := e.postEvents("", "Api-Token "+e.token, st.Name, `{"eventType":"CUSTOM_DEPLOYMENT","title":"v1.2 deployed"}`)
	a := res.events(t)
	if a.ReportCount != 1 || a.EventIngestResults[0].Status != EventOK {
		t.Fatalf("%s", res.raw)
	}
	want := `{"reportCount":1,"eventIngestResults":[{"correlationId":"` + a.EventIngestResults[0].CorrelationID + `","status":"OK"}]}` + "\n"
	if string(res.raw) != want {
		t.Fatalf("body %s\nwant %s", res.raw, want)
	}
	got := e.storedEvents(st)
	s := got[0]
	if s.Timestamp != now.UTC().Format("2006-01-02T15:04:05.000Z07:00") || s.Source != "events-v2" ||
		s.Event.EventType != "CUSTOM_DEPLOYMENT" || s.Event.Title != "v1.2 deployed" ||
		s.Event.StartTime != ms || s.Event.Timeout != 15 || s.Event.EndTime != ms+15*minute ||
		s.Event.CorrelationID != a.EventIngestResults[0].CorrelationID {
		t.Fatalf("stored %+v", s)
	}

	start := ms - 24*time.Hour.Milliseconds()
	full := fmt.Sprintf(`{"eventType":"CUSTOM_INFO","title":"t","startTime":%d,"endTime":%d,"timeout":30,
		"entitySelector":"type(HOST),entityName.equals(\"web-1\")","properties":{"dt.event.deployment.version":"1.2","build":42,"ok":true}}`, start, start+5*minute)
	tests := []struct {
		name                  string
		body                  string
		start, end, timeout   int64
		selector              string
		props                 map[string]any
		stream, auth, workspc string
	}{
		{"all fields", full, start, start + 5*minute, 30, `type(HOST),entityName.equals("web-1")`,
			map[string]any{"dt.event.deployment.version": "1.2", "build": float64(42), "ok": true}, "", "", ""},
		{"startTime given", fmt.Sprintf(`{"eventType":"ERROR_EVENT","title":"t","startTime":%d}`, start), start, start + 15*minute, 15, "", nil, "", "", ""},
		{"timeout given", `{"eventType":"ERROR_EVENT","title":"t","timeout":60}`, ms, ms + 60*minute, 60, "", nil, "", "", ""},
		{"timeout capped at 360", `{"eventType":"ERROR_EVENT","title":"t","timeout":1000}`, ms, ms + 360*minute, 360, "", nil, "", "", ""},
		{"endTime equal to startTime", fmt.Sprintf(`{"eventType":"CUSTOM_ALERT","title":"t","startTime":%d,"endTime":%d}`, start, start), start, start, 15, "", nil, "", "", ""},
		{"29 days ago", fmt.Sprintf(`{"eventType":"CUSTOM_ALERT","title":"t","startTime":%d}`, ms-29*24*time.Hour.Milliseconds()), ms - 29*24*time.Hour.Milliseconds(), ms - 29*24*time.Hour.Milliseconds() + 15*minute, 15, "", nil, "", "", ""},
		{"6 days ahead", fmt.Sprintf(`{"eventType":"CUSTOM_ALERT","title":"t","startTime":%d}`, ms+6*24*time.Hour.Milliseconds()), ms + 6*24*time.Hour.Milliseconds(), ms + 6*24*time.Hour.Milliseconds() + 15*minute, 15, "", nil, "", "", ""},
		{"nulls are absent", `{"eventType":"CUSTOM_INFO","title":"t","startTime":null,"timeout":null,"entitySelector":null,"properties":null}`, ms, ms + 15*minute, 15, "", nil, "", "", ""},
		{"empty entitySelector is none", `{"eventType":"CUSTOM_INFO","title":"t","entitySelector":""}`, ms, ms + 15*minute, 15, "", nil, "", "", ""},
		{"nested selector", `{"eventType":"CUSTOM_INFO","title":"t","entitySelector":"type(PROCESS_GROUP_INSTANCE), fromRelationships.isProcessOf(type(HOST),tag(\"env:prod\")),entityName(\"a~)b\")"}`, ms, ms + 15*minute, 15,
			`type(PROCESS_GROUP_INSTANCE), fromRelationships.isProcessOf(type(HOST),tag("env:prod")),entityName("a~)b")`, nil, "", "", ""},
		{"reserved prefixes allowed", `{"eventType":"CUSTOM_INFO","title":"t","properties":{"dt.davis.is_frequent_event":"false","dt.entity.host":"HOST-1","dtx":"1"}}`, ms, ms + 15*minute, 15, "",
			map[string]any{"dt.davis.is_frequent_event": "false", "dt.entity.host": "HOST-1", "dtx": "1"}, "", "", ""},
		{"Bearer", `{"eventType":"CUSTOM_INFO","title":"t"}`, ms, ms + 15*minute, 15, "", nil, "", "Bearer " + e.token, ""},
		{"every event type", "", 0, 0, 0, "", nil, "", "", ""},
		{"workspace path", `{"eventType":"CUSTOM_INFO","title":"t"}`, ms, ms + 15*minute, 15, "", nil, "", "", model.DefaultWorkspace},
		{"stream by id", `{"eventType":"CUSTOM_INFO","title":"t"}`, ms, ms + 15*minute, 15, "", nil, st.ID, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "every event type" {
				for _, typ := range EventTypes {
					res := e.postEvents("", "Api-Token "+e.token, st.Name, `{"eventType":"`+typ+`","title":"x"}`)
					if a := res.events(t); a.EventIngestResults[0].Status != EventOK {
						t.Fatalf("%s: %s", typ, res.raw)
					}
					if got := e.storedEvents(st); got[0].Event.EventType != typ {
						t.Fatalf("stored %+v", got[0])
					}
				}
				return
			}
			auth, stream, path := tt.auth, tt.stream, ""
			if auth == "" {
				auth = "Api-Token " + e.token
			}
			if stream == "" {
				stream = st.Name
			}
			if tt.workspc != "" {
				path = "/e/" + tt.workspc + "/api/v2/events/ingest"
			}
			before := e.msgs(st.ID)
			res := e.postEvents(path, auth, stream, tt.body)
			a := res.events(t)
			if a.EventIngestResults[0].Status != EventOK {
				t.Fatalf("%s", res.raw)
			}
			if e.msgs(st.ID) != before+1 {
				t.Fatal("not stored as one message")
			}
			s := e.storedEvents(st)[0]
			if s.Event.StartTime != tt.start || s.Event.EndTime != tt.end || s.Event.Timeout != tt.timeout ||
				s.Event.EntitySelector != tt.selector || s.Event.CorrelationID != a.EventIngestResults[0].CorrelationID ||
				s.Timestamp != time.UnixMilli(tt.start).UTC().Format("2006-01-02T15:04:05.000Z07:00") {
				t.Fatalf("stored %+v", s)
			}
			if fmt.Sprint(s.Event.Properties) != fmt.Sprint(tt.props) {
				t.Fatalf("properties %v, want %v", s.Event.Properties, tt.props)
			}
		})
	}
}

func TestEventsV2PerEventStatus(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "deploys", nil)
	ms := e.clock.Now().UnixMilli()
	day := 24 * time.Hour.Milliseconds()
	ev := func(extra string) string { return `{"eventType":"CUSTOM_INFO","title":"t"` + extra + `}` }
	props := func(n, keyLen, valLen int) string {
		var b strings.Builder
		b.WriteString(`,"properties":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			k := fmt.Sprintf("k%d", i)
			if keyLen > 0 && i == 0 {
				k = strings.Repeat("k", keyLen)
			}
			v := "v"
			if valLen > 0 && i == 0 {
				v = strings.Repeat("é", valLen) // characters, not bytes
			}
			fmt.Fprintf(&b, `%q:%q`, k, v)
		}
		b.WriteString("}")
		return b.String()
	}
	tests := []struct {
		name, extra, status string
	}{
		{"end before start", fmt.Sprintf(`,"startTime":%d,"endTime":%d`, ms, ms-1), EventInvalidTimestamps},
		{"31 days ago", fmt.Sprintf(`,"startTime":%d`, ms-31*day), EventInvalidTimestamps},
		{"8 days ahead", fmt.Sprintf(`,"startTime":%d`, ms+8*day), EventInvalidTimestamps},
		{"endTime before the default start", fmt.Sprintf(`,"endTime":%d`, ms-1000), EventInvalidTimestamps},
		{"negative startTime", `,"startTime":-1`, EventInvalidTimestamps},
		{"selector without type first", `,"entitySelector":"entityName(\"x\"),type(HOST)"`, EventInvalidEntityType},
		{"selector unbalanced", `,"entitySelector":"type(HOST"`, EventInvalidEntityType},
		{"selector empty args", `,"entitySelector":"type()"`, EventInvalidEntityType},
		{"selector trailing garbage", `,"entitySelector":"type(HOST) x"`, EventInvalidEntityType},
		{"selector trailing comma", `,"entitySelector":"type(HOST),"`, EventInvalidEntityType},
		{"selector leading comma", `,"entitySelector":",type(HOST)"`, EventInvalidEntityType},
		{"selector not a term", `,"entitySelector":"HOST"`, EventInvalidEntityType},
		{"selector only spaces", `,"entitySelector":"  "`, EventInvalidEntityType},
		{"selector unterminated quote", `,"entitySelector":"type(\"HOST)"`, EventInvalidEntityType},
		{"101 properties", props(101, 0, 0), EventInvalidMetadata},
		{"key of 101 characters", props(1, 101, 0), EventInvalidMetadata},
		{"value of 4097 characters", props(1, 0, 4097), EventInvalidMetadata},
		{"empty key", `,"properties":{"":"x"}`, EventInvalidMetadata},
		{"reserved dt key", `,"properties":{"dt.foo":"x"}`, EventInvalidMetadata},
		{"reserved DT key", `,"properties":{"DT.event.x":"x"}`, EventInvalidMetadata},
		{"bare dt.event. prefix", `,"properties":{"dt.event.":"x"}`, EventInvalidMetadata},
		{"dt.entity without a name", `,"properties":{"dt.entity":"x"}`, EventInvalidMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counts()
			res := e.postEvents("", "Api-Token "+e.token, st.ID, ev(tt.extra))
			a := res.events(t)
			if a.ReportCount != 1 || a.EventIngestResults[0].Status != tt.status {
				t.Fatalf("%s, want %s", res.raw, tt.status)
			}
			if got := e.counts(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("an invalid event was stored")
			}
		})
	}
	// The limits themselves are allowed.
	for _, extra := range []string{props(100, 0, 0), props(1, 100, 0), props(1, 0, 4096)} {
		res := e.postEvents("", "Api-Token "+e.token, st.ID, ev(extra))
		if a := res.events(t); a.EventIngestResults[0].Status != EventOK {
			t.Fatalf("%s", res.raw)
		}
	}

	// An array is reported per event, in order; only the OK ones are stored.
	body := "[" + ev(`,"properties":{"n":"0"}`) + "," + ev(fmt.Sprintf(`,"startTime":%d`, ms-40*day)) + "," +
		ev(`,"properties":{"n":"2"}`) + "," + ev(`,"entitySelector":"x"`) + "]"
	before := e.msgs(st.ID)
	res := e.postEvents("", "Api-Token "+e.token, st.ID, body)
	a := res.events(t)
	var statuses []string
	for _, r := range a.EventIngestResults {
		statuses = append(statuses, r.Status)
	}
	if a.ReportCount != 4 || strings.Join(statuses, ",") != "OK,INVALID_TIMESTAMPS,OK,INVALID_ENTITY_TYPE" {
		t.Fatalf("%s", res.raw)
	}
	if e.msgs(st.ID) != before+1 {
		t.Fatal("want one message")
	}
	stored := e.storedEvents(st)
	if len(stored) != 2 || stored[0].Event.Properties["n"] != "0" || stored[1].Event.Properties["n"] != "2" ||
		stored[0].Event.CorrelationID != a.EventIngestResults[0].CorrelationID || stored[1].Event.CorrelationID != a.EventIngestResults[2].CorrelationID {
		t.Fatalf("stored %+v", stored)
	}
}

func TestEventsV2Rejects(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "deploys", nil)
	other := e.newStream(model.DefaultWorkspace, "other", nil)
	small := e.newStream(model.DefaultWorkspace, "small", func(s *model.Stream) { s.Limits.MaxPayload = 1024 })
	sleepy := e.newStream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { s.Status = model.StatusInactive })
	e.newWorkspace("acme")
	e.newStream("acme", "foreign", nil)
	reader := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	onlyOther := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only-other", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID}})
	two := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "two", Scopes: []string{model.ScopeIngest}, Streams: []string{other.ID, st.ID}})
	past := e.clock.Now().Add(-time.Hour)
	expired := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "old", Scopes: []string{model.ScopeIngest}, ExpiresAt: &past})
	good := `{"eventType":"CUSTOM_INFO","title":"t"}`
	tok := "Api-Token " + e.token

	tests := []struct {
		name, path, auth, stream, body string
		status                         int
		code, detail                   string
	}{
		{"no token", "", "-", st.ID, good, 401, "unauthorized", "missing token: send Authorization: Api-Token"},
		{"unknown token", "", "Api-Token rnl_x", st.ID, good, 401, "unauthorized", "unknown token"},
		{"expired token", "", "Api-Token " + expired, st.ID, good, 401, "unauthorized", "expired"},
		{"wrong scheme", "", "Basic " + e.token, st.ID, good, 401, "unauthorized", "Api-Token, Bearer"},
		{"no events.ingest", "", "Api-Token " + reader, st.ID, good, 403, "forbidden", "events.ingest"},
		{"token limited to another stream", "", "Api-Token " + onlyOther, st.ID, good, 403, "forbidden", "not allowed"},
		{"token limited to two streams, none named", "", "Api-Token " + two, "", good, 403, "forbidden", "X-Stream-Id"},
		{"unknown stream", "", tok, "nope", good, 404, "stream_not_found", "nope"},
		{"stream of another workspace", "", tok, "foreign", good, 404, "stream_not_found", "foreign"},
		{"another workspace in the path", "/e/acme/api/v2/events/ingest", tok, st.ID, good, 404, "not_found", "acme"},
		{"inactive stream", "", tok, sleepy.ID, good, 409, "stream_inactive", "inactive"},
		{"over the stream's limit", "", tok, small.ID, `{"eventType":"CUSTOM_INFO","title":"` + strings.Repeat("x", 2000) + `"}`, 400, "payload_too_large", "1024"},
		{"malformed JSON", "", tok, st.ID, `{"eventType":`, 400, "invalid_format", "invalid JSON"},
		{"empty body", "", tok, st.ID, ``, 400, "invalid_format", "empty body"},
		{"not an object", "", tok, st.ID, `"CUSTOM_INFO"`, 400, "invalid_format", "EventIngest object"},
		{"empty array", "", tok, st.ID, `[]`, 400, "invalid_format", "empty array"},
		{"missing eventType", "", tok, st.ID, `{"title":"t"}`, 400, "invalid_format", `"eventType" is required`},
		{"null eventType", "", tok, st.ID, `{"eventType":null,"title":"t"}`, 400, "invalid_format", `"eventType" is required`},
		{"unknown eventType", "", tok, st.ID, `{"eventType":"CUSTOM","title":"t"}`, 400, "invalid_format", "is not one of AVAILABILITY_EVENT"},
		{"lower-case eventType", "", tok, st.ID, `{"eventType":"custom_info","title":"t"}`, 400, "invalid_format", "is not one of"},
		{"eventType a number", "", tok, st.ID, `{"eventType":1,"title":"t"}`, 400, "invalid_format", "must be a string"},
		{"missing title", "", tok, st.ID, `{"eventType":"CUSTOM_INFO"}`, 400, "invalid_format", `"title" is required`},
		{"empty title", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":" "}`, 400, "invalid_format", "must not be empty"},
		{"title an object", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":{}}`, 400, "invalid_format", "must be a string"},
		{"startTime a string", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","startTime":"now"}`, 400, "invalid_format", "startTime"},
		{"startTime fractional", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","startTime":1.5}`, 400, "invalid_format", "integer"},
		{"endTime a string", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","endTime":"x"}`, 400, "invalid_format", "endTime"},
		{"timeout zero", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","timeout":0}`, 400, "invalid_format", "at least 1 minute"},
		{"timeout a string", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","timeout":"15"}`, 400, "invalid_format", "timeout"},
		{"entitySelector a number", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","entitySelector":5}`, 400, "invalid_format", "entitySelector"},
		{"properties an array", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","properties":["a"]}`, 400, "invalid_format", "properties"},
		{"property an object", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","properties":{"a":{}}}`, 400, "invalid_format", `"a" must be a string`},
		{"property null", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","properties":{"a":null}}`, 400, "invalid_format", `"a" must be a string`},
		{"property twice", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","properties":{"a":"1","a":"2"}}`, 400, "invalid_format", "twice"},
		{"field twice", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","title":"u"}`, 400, "invalid_format", "twice"},
		{"unknown field", "", tok, st.ID, `{"eventType":"CUSTOM_INFO","title":"t","keepOpen":true}`, 400, "invalid_format", `unknown field "keepOpen"`},
		{"bad event in an array", "", tok, st.ID, `[` + good + `,{"title":"t"}]`, 400, "invalid_format", "event 1:"},
		{"trailing data", "", tok, st.ID, good + good, 400, "invalid_format", "invalid JSON"},
		{"bad encoding", "", tok, st.ID, good, 400, "invalid_format", "Content-Encoding"},
		{"GET", "", tok, st.ID, "", 405, "method_not_allowed", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := tt.auth
			if auth == "-" {
				auth = ""
			}
			h := http.Header{}
			if tt.stream != "" {
				h.Set("X-Stream-Id", tt.stream)
			}
			if tt.name == "bad encoding" {
				h.Set("Content-Encoding", "br")
			}
			r := creq{path: tt.path, auth: auth, header: h, body: []byte(tt.body)}
			if r.path == "" {
				r.path = "/api/v2/events/ingest"
			}
			if tt.name == "GET" {
				r.method = http.MethodGet
			}
			before := e.counts()
			res := e.do(nil, r)
			res.apiError(t, tt.status, tt.code, tt.detail)
			if got := e.counts(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("stored something")
			}
			if _, _, ok := e.store.Stream(model.DefaultWorkspace, EventsStreamName); ok {
				t.Fatal("a rejected request created the events stream")
			}
		})
	}
}

func TestEventsV2StreamSelection(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "deploys", nil)
	e.newStream(model.DefaultWorkspace, "other", nil)
	only := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})
	admin := e.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "admin", Scopes: []string{model.ScopeAdmin}})
	e.newWorkspace("acme")
	good := `{"eventType":"CUSTOM_INFO","title":"t"}`

	// The token's only stream.
	before := e.msgs(st.ID)
	e.postEvents("", "Api-Token "+only, "", good).events(t)
	if e.msgs(st.ID) != before+1 {
		t.Fatal("not stored in the token's only stream")
	}

	// No stream named, unlimited token: the workspace's "events" stream,
	// created on demand, inactive (409) until it has a destination.
	res := e.postEvents("", "Api-Token "+e.token, "", good)
	res.apiError(t, 409, "stream_inactive", EventsStreamName)
	ev, _, ok := e.store.Stream(model.DefaultWorkspace, EventsStreamName)
	if !ok || ev.Active() || len(ev.Destinations) != 0 || ev.InletID == "" {
		t.Fatalf("events stream %+v", ev)
	}
	acts, _, err := e.store.Activity(e.ctx, model.DefaultWorkspace, 0, 10)
	if err != nil || len(acts) == 0 || acts[0].ResourceID != ev.ID || acts[0].AuthorName != "runnel" || acts[0].Type != model.ActivityCreated {
		t.Fatalf("activity %+v %v", acts, err)
	}
	// Posting again neither fails differently nor makes a second stream.
	e.postEvents("", "Api-Token "+e.token, "", good).apiError(t, 409, "stream_inactive", "inactive")
	if n := len(e.store.Streams(model.DefaultWorkspace)); n != 3 {
		t.Fatalf("%d streams", n)
	}
	// Given a destination and activated, it takes the events.
	next := store.Clone(ev)
	next.Status = model.StatusActive
	next.Destinations = []model.Destination{{Name: "hook", Type: "web", Settings: map[string]any{}}}
	next.Normalize(fakeKinds{})
	if _, _, err := e.store.UpdateStream(e.ctx, model.DefaultWorkspace, ev.ID, next, 0, store.System); err != nil {
		t.Fatal(err)
	}
	e.streams = append(e.streams, ev)
	a := e.postEvents("", "Api-Token "+e.token, "", good).events(t)
	if s := e.storedEvents(ev); len(s) != 1 || s[0].Event.CorrelationID != a.EventIngestResults[0].CorrelationID {
		t.Fatalf("stored %+v", s)
	}

	// An admin token acts in the workspace of the path; "events" is made there.
	res = e.postEvents("/e/acme/api/v2/events/ingest", "Bearer "+admin, "", good)
	res.apiError(t, 409, "stream_inactive", "inactive")
	if _, _, ok := e.store.Stream("acme", EventsStreamName); !ok {
		t.Fatal("no events stream in acme")
	}
	// A workspace that does not exist.
	e.postEvents("/e/nowhere/api/v2/events/ingest", "Bearer "+admin, "", good).apiError(t, 404, "not_found", "nowhere")
}
