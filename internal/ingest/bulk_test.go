package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// esBulkResponse is the 200 answer of _bulk.
type esBulkResponse struct {
	Took   *int                          `json:"took"`
	Errors bool                          `json:"errors"`
	Items  []map[string]esBulkResultItem `json:"items"`
}

type esBulkResultItem struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Version     int             `json:"_version"`
	Result      string          `json:"result"`
	Shards      json.RawMessage `json:"_shards"`
	SeqNo       *int            `json:"_seq_no"`
	PrimaryTerm int             `json:"_primary_term"`
	Status      int             `json:"status"`
	Error       *struct {
		Type      string `json:"type"`
		Reason    string `json:"reason"`
		Index     string `json:"index"`
		IndexUUID string `json:"index_uuid"`
		CausedBy  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"caused_by"`
	} `json:"error"`
}

func decodeBulk(t testing.TB, r hres) esBulkResponse {
	t.Helper()
	var out esBulkResponse
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.DisallowUnknownFields()
	if err := d.Decode(&out); err != nil || out.Took == nil {
		t.Fatalf("not a _bulk answer: %v %q", err, r.body)
	}
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("X-Elastic-Product missing: %v", r.header)
	}
	return out
}

// esErrorBody is ES's error shape.
type esErrorBody struct {
	Error struct {
		RootCause []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"root_cause"`
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

func nd(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func TestWrapRoutes(t *testing.T) {
	c := newCompat(t)
	for _, tt := range []struct {
		method, path string
		hdr          []string
		status       int
		want         string // in the body
		es           bool   // X-Elastic-Product expected
	}{
		{"GET", "/", []string{"User-Agent", "Mozilla/5.0", "Accept", "text/html"}, consoleStatus, "console", false},
		{"GET", "/", []string{"User-Agent", "curl/8.0"}, consoleStatus, "console", false},
		{"GET", "/", []string{"X-Elastic-Client-Meta", "es=8.19.0,go=1.26"}, 200, `"tagline":"You Know, for Search"`, true},
		{"GET", "/", []string{"Accept", "application/vnd.elasticsearch+json; compatible-with=8"}, 200, `"number":"8.11.0"`, true},
		{"GET", "/", []string{"User-Agent", "Fluent-Bit"}, 200, `"build_flavor":"default"`, true},
		{"GET", "/", []string{"User-Agent", "Vector/0.50.0 (x86_64-unknown-linux-gnu)"}, 200, `"cluster_name":"runnel"`, true},
		{"GET", "/", []string{"User-Agent", "Logstash/8.15.0 (OS=Linux) logstash-output-elasticsearch/11.22.0"}, 200, `"name":"runnel"`, true},
		{"GET", "/", []string{"Authorization", "ApiKey abc"}, 200, `"tagline"`, true},
		{"HEAD", "/", nil, 200, "", true},
		{"GET", "/_cluster/health", nil, 200, `"status":"green"`, true},
		{"GET", "/_bulk", nil, 405, `"Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]"`, true},
		{"DELETE", "/logs/_bulk", nil, 405, `allowed: [POST, PUT]`, true},
		{"POST", "/a/b/_bulk", nil, consoleStatus, "console", false},
		{"POST", "/collection/abc", nil, 404, "", false},
		{"GET", "/healthz-nope", nil, consoleStatus, "console", false},
		{"POST", "/_bulk", nil, 401, `"security_exception"`, true},
		{"PUT", "/logs/_bulk", nil, 401, `"security_exception"`, true},
	} {
		r := c.do(tt.method, tt.path, nil, tt.hdr...)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("%s %s %v: %d %s", tt.method, tt.path, tt.hdr, r.status, r.body)
		}
		if got := r.header.Get("X-Elastic-Product") == "Elasticsearch"; got != tt.es {
			t.Errorf("%s %s %v: X-Elastic-Product %v", tt.method, tt.path, tt.hdr, got)
		}
	}
	// The content type follows the compatibility Accept header.
	r := c.do("GET", "/", nil, "Accept", "application/vnd.elasticsearch+json; compatible-with=8")
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.elasticsearch+json;compatible-with=8" {
		t.Errorf("Content-Type %q", ct)
	}
	var info map[string]any
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
}

func TestBulkAccepts(t *testing.T) {
	c := newCompat(t)
	logs := c.stream(model.DefaultWorkspace, "logs", nil)
	audit := c.stream(model.DefaultWorkspace, "audit", nil)
	only := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{audit.ID}})
	now := c.clock.Now().UTC().Format(time.RFC3339Nano)

	body := nd(
		`{"index":{"_index":"logs","_id":"a1"}}`,
		`{"@timestamp":"2025-02-12T14:32:15.123Z","message":"hello","n":1}`,
		`{"create":{}}`,
		`{"timestamp":"2025-02-12T14:32:16+01:00","message":"two"}`,
		``,
		`{ "create" : { "_index" : "audit" , "_type": "_doc", "pipeline": "x" } }`,
		`{"@timestamp":1739370735123,"who":"me"}`,
		`{"index":{"_index":"`+logs.ID+`"}}`+"\r",
		"{\"@timestamp\":\"not a date\",\"timestamp\":\"also not\",\"nested\":{\"a\":[1,2]}}\r",
	)
	auths := map[string][]string{
		"ApiKey raw":       {"Authorization", "ApiKey " + c.token},
		"ApiKey base64":    {"Authorization", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("my-id:"+c.token))},
		"Bearer":           {"Authorization", "Bearer " + c.token},
		"Basic":            {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:"+c.token))},
		"gzip, vnd ndjson": {"Authorization", "ApiKey " + c.token, "Content-Encoding", "gzip", "Content-Type", "application/vnd.elasticsearch+x-ndjson;compatible-with=8"},
	}
	for name, hdr := range auths {
		t.Run(name, func(t *testing.T) {
			before := c.counts()
			b := body
			if strings.HasPrefix(name, "gzip") {
				b = gz(t, body)
			}
			r := c.do("POST", "/logs/_bulk", b, hdr...)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			res := decodeBulk(t, r)
			if res.Errors || len(res.Items) != 4 {
				t.Fatalf("answer %s", r.body)
			}
			for i, want := range []struct{ op, index, id string }{{"index", "logs", "a1"}, {"create", "logs", ""}, {"create", "audit", ""}, {"index", logs.ID, ""}} {
				it, ok := res.Items[i][want.op]
				if !ok || len(res.Items[i]) != 1 || it.Status != 201 || it.Result != "created" || it.Index != want.index || it.Version != 1 ||
					it.SeqNo == nil || it.PrimaryTerm != 1 || it.Error != nil || string(it.Shards) != `{"total":1,"successful":1,"failed":0}` {
					t.Fatalf("item %d: %+v", i, res.Items[i])
				}
				if want.id != "" && it.ID != want.id || len(it.ID) != 20 && want.id == "" {
					t.Fatalf("item %d id %q", i, it.ID)
				}
			}
			after := c.counts()
			if after[logs.ID] != before[logs.ID]+1 || after[audit.ID] != before[audit.ID]+1 {
				t.Fatalf("one frame per stream expected: %v → %v", before, after)
			}
			f, m := c.lastFrame(logs.ID)
			if m.Header.Get(event.HdrSource) != dialectBulk {
				t.Fatalf("dialect %q", m.Header.Get(event.HdrSource))
			}
			evs := frameEvents(t, f)
			if len(evs) != 3 {
				t.Fatalf("%d events in logs", len(evs))
			}
			check := func(ev map[string]any, p string, want any) {
				t.Helper()
				if g := jpath(ev, p); fmt.Sprint(g) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v: %v", p, g, want, ev)
				}
			}
			check(evs[0], "timestamp", "2025-02-12T14:32:15.123Z")
			check(evs[0], "source", "elasticsearch:logs")
			check(evs[0], "event.message", "hello")
			check(evs[0], "metadata.es_id", "a1")
			check(evs[0], "metadata.es_op", "index")
			check(evs[0], "metadata.es_index", "logs")
			check(evs[1], "timestamp", "2025-02-12T14:32:16+01:00")
			check(evs[1], "metadata.es_id", res.Items[1]["create"].ID)
			check(evs[2], "timestamp", now)
			check(evs[2], "source", "elasticsearch:"+logs.ID)
			check(evs[2], "event.nested.a", "[1 2]")
			a := frameEvents(t, must(c.lastFrame(audit.ID)))
			check(a[0], "timestamp", "2025-02-12T14:32:15.123Z")
			check(a[0], "event.who", "me")
			check(a[0], "source", "elasticsearch:audit")
		})
	}

	// No index anywhere: X-Stream-Id, ?stream=, the token's only stream.
	for name, hdr := range map[string][]string{
		"X-Stream-Id":       {"Authorization", "ApiKey " + c.token, "X-Stream-Id", "audit"},
		"?stream=":          {"Authorization", "ApiKey " + c.token},
		"token's only one":  {"Authorization", "ApiKey " + only},
		"URL index of only": {"Authorization", "ApiKey " + only},
	} {
		p := "/_bulk"
		switch name {
		case "?stream=":
			p = "/_bulk?stream=audit"
		case "URL index of only":
			p = "/audit/_bulk"
		}
		before := c.msgs(audit.ID)
		r := c.do("POST", p, nd(`{"index":{}}`, `{"m":1}`), hdr...)
		res := decodeBulk(t, r)
		if r.status != 200 || res.Errors || res.Items[0]["index"].Index != "audit" || c.msgs(audit.ID) != before+1 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
	}
}

func must[T any, U any](v T, _ U) T { return v }

func TestBulkItemErrors(t *testing.T) {
	c := newCompat(t)
	logs := c.stream(model.DefaultWorkspace, "logs", nil)
	other := c.stream(model.DefaultWorkspace, "other", nil)
	sleepy := c.stream(model.DefaultWorkspace, "sleepy", func(s *model.Stream) { s.Status = model.StatusInactive })
	onlyLogs := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "only", Scopes: []string{model.ScopeIngest}, Streams: []string{logs.ID, sleepy.ID}})

	body := nd(
		`{"index":{}}`, `{"ok":1}`,
		`{"index":{}}`, `[1,2]`,
		`{"index":{}}`, `{"broken":`,
		`{"create":{"_index":"nope"}}`, `{"x":1}`,
		`{"delete":{"_id":"1"}}`,
		`{"update":{"_id":"1"}}`, `{"doc":{"a":1}}`,
		`{"index":{"_index":"sleepy"}}`, `{"x":1}`,
		`{"index":{"_index":"other"}}`, `{"x":1}`,
		`{"index":{}}`, ``,
		`{"create":{"_id":"last"}}`, `{"ok":2}`,
	)
	before := c.counts()
	r := c.do("POST", "/logs/_bulk", body, "Authorization", "ApiKey "+onlyLogs)
	res := decodeBulk(t, r)
	if r.status != 200 || !res.Errors || len(res.Items) != 10 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := []struct {
		op, typ string
		status  int
		reason  string
	}{
		{"index", "", 201, ""},
		{"index", "mapper_parsing_exception", 400, "must be a JSON object, got an array"},
		{"index", "mapper_parsing_exception", 400, "failed to parse"},
		{"create", "index_not_found_exception", 404, "no such index [nope]"},
		{"delete", "illegal_argument_exception", 400, "append-only"},
		{"update", "illegal_argument_exception", 400, "append-only"},
		{"index", "index_closed_exception", 400, "inactive"},
		{"index", "security_exception", 403, "not allowed"},
		{"index", "mapper_parsing_exception", 400, "empty"},
		{"create", "", 201, ""},
	}
	for i, w := range want {
		it, ok := res.Items[i][w.op]
		if !ok || it.Status != w.status {
			t.Fatalf("item %d: %+v, want %+v", i, res.Items[i], w)
		}
		if w.typ == "" {
			if it.Error != nil || it.Result != "created" {
				t.Errorf("item %d: %+v", i, it)
			}
			continue
		}
		if it.Error == nil || it.Error.Type != w.typ || !strings.Contains(it.Error.Reason, w.reason) || it.Result != "" {
			t.Errorf("item %d: %+v, want %+v", i, it.Error, w)
		}
	}
	if it := res.Items[2]["index"]; it.Error.CausedBy == nil || !strings.Contains(it.Error.CausedBy.Reason, "event") && it.Error.CausedBy.Reason == "" {
		t.Errorf("caused_by missing: %+v", it.Error)
	}
	if it := res.Items[3]["create"]; it.Error.Index != "nope" || it.Error.IndexUUID != "_na_" {
		t.Errorf("index_not_found_exception without its index: %+v", it.Error)
	}
	after := c.counts()
	if after[logs.ID] != before[logs.ID]+1 || after[other.ID] != before[other.ID] {
		t.Fatalf("%v → %v", before, after)
	}
	evs := frameEvents(t, must(c.lastFrame(logs.ID)))
	if len(evs) != 2 || jpath(evs[0], "event.ok") != json.Number("1") || jpath(evs[1], "metadata.es_id") != "last" {
		t.Fatalf("stored %v", evs)
	}

	// Every item failed, none for a retryable reason: still 200.
	r = c.do("POST", "/nope/_bulk", nd(`{"index":{}}`, `{"x":1}`), "Authorization", "ApiKey "+c.token)
	if res := decodeBulk(t, r); r.status != 200 || !res.Errors || res.Items[0]["index"].Status != 404 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestBulkRejects(t *testing.T) {
	c := newCompat(t)
	c.stream(model.DefaultWorkspace, "logs", nil)
	c.stream(model.DefaultWorkspace, "small", func(s *model.Stream) { s.Limits.MaxPayload = 1024 })
	c.stream(model.DefaultWorkspace, "limited", func(s *model.Stream) { s.Limits.EventsPerSecond, s.Limits.Burst = 1, 2 })
	noScope := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	past := c.clock.Now().Add(-time.Hour)
	expired := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "old", Scopes: []string{model.ScopeIngest}, ExpiresAt: &past})
	key := []string{"Authorization", "ApiKey " + c.token}
	ok := nd(`{"index":{}}`, `{"x":1}`)
	big := nd(`{"index":{}}`, `{"x":"`+strings.Repeat("y", 2000)+`"}`)

	tests := []struct {
		name, path string
		hdr        []string
		body       []byte
		status     int
		typ        string
		reason     string
	}{
		{"no credentials", "/logs/_bulk", nil, ok, 401, "security_exception", "missing authentication credentials"},
		{"unknown scheme", "/logs/_bulk", []string{"Authorization", "Negotiate x"}, ok, 401, "security_exception", "ApiKey"},
		{"unknown token", "/logs/_bulk", []string{"Authorization", "ApiKey rnl_nope"}, ok, 401, "security_exception", "unknown token"},
		{"unknown base64 key", "/logs/_bulk", []string{"Authorization", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id:key"))}, ok, 401, "security_exception", "unknown token"},
		{"expired token", "/logs/_bulk", []string{"Authorization", "Bearer " + expired}, ok, 401, "security_exception", "expired"},
		{"no scope", "/logs/_bulk", []string{"Authorization", "ApiKey " + noScope}, ok, 403, "security_exception", "events.ingest"},
		{"empty body", "/logs/_bulk", key, nil, 400, "action_request_validation_exception", "no requests added"},
		{"blank lines only", "/logs/_bulk", key, []byte("\n\n"), 400, "action_request_validation_exception", "no requests added"},
		{"action not JSON", "/logs/_bulk", key, nd(`{"index":`, `{}`), 400, "illegal_argument_exception", "Malformed action/metadata line [1]"},
		{"action not an object", "/logs/_bulk", key, nd(`"index"`, `{}`), 400, "illegal_argument_exception", "expected START_OBJECT"},
		{"unknown action", "/logs/_bulk", key, nd(`{"upsert":{}}`, `{}`), 400, "illegal_argument_exception", "but found [upsert]"},
		{"empty action", "/logs/_bulk", key, nd(`{}`, `{}`), 400, "illegal_argument_exception", "expected FIELD_NAME"},
		{"two actions in one line", "/logs/_bulk", key, nd(`{"index":{},"create":{}}`, `{}`), 400, "illegal_argument_exception", "another field"},
		{"_index not a string", "/logs/_bulk", key, nd(`{"index":{"_index":{}}}`, `{}`), 400, "illegal_argument_exception", "[_index]"},
		{"missing document line", "/logs/_bulk", key, []byte(`{"index":{}}`), 400, "illegal_argument_exception", "no document line"},
		{"bad line later stores nothing", "/logs/_bulk", key, append(ok, nd(`{"index":{}}`, `{"x":1}`, `nope`, `{}`)...), 400, "illegal_argument_exception", "line [5]"},
		{"unsupported encoding", "/logs/_bulk", append([]string{"Content-Encoding", "br"}, key...), ok, 400, "illegal_argument_exception", "Content-Encoding"},
		{"too large for the stream", "/small/_bulk", key, big, 413, "content_too_long_exception", "limit"},
		{"too large for an item's stream", "/logs/_bulk", key, append(nd(`{"index":{"_index":"small"}}`), big[len(`{"index":{}}`)+1:]...), 413, "content_too_long_exception", "small"},
		{"gzip bomb", "/small/_bulk", append([]string{"Content-Encoding", "gzip"}, key...), gz(t, bytes.Repeat(ok, 1000)), 413, "content_too_long_exception", "decompression"},
		{"more than the burst", "/limited/_bulk", key, bytes.Repeat(ok, 3), 429, "es_rejected_execution_exception", "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.counts()
			r := c.do("POST", tt.path, tt.body, tt.hdr...)
			var e esErrorBody
			d := json.NewDecoder(bytes.NewReader(r.body))
			d.DisallowUnknownFields()
			if err := d.Decode(&e); err != nil {
				t.Fatalf("%d: not ES's error shape: %v %s", r.status, err, r.body)
			}
			if r.status != tt.status || e.Status != tt.status || e.Error.Type != tt.typ || !strings.Contains(e.Error.Reason, tt.reason) ||
				len(e.Error.RootCause) != 1 || e.Error.RootCause[0].Type != tt.typ || e.Error.RootCause[0].Reason != e.Error.Reason {
				t.Fatalf("got %d %s, want %d %s %q", r.status, r.body, tt.status, tt.typ, tt.reason)
			}
			if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Error("X-Elastic-Product missing")
			}
			if tt.status == 401 && len(r.header.Values("WWW-Authenticate")) != 3 {
				t.Errorf("WWW-Authenticate %v", r.header.Values("WWW-Authenticate"))
			}
			if (tt.status == 429) != (r.header.Get("Retry-After") != "") {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if after := c.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}
	// Within the burst: 200; then 429 for the whole request with Retry-After.
	for i, want := range []int{200, 429} {
		r := c.do("POST", "/limited/_bulk", bytes.Repeat(ok, 2), key...)
		if r.status != want || want == 429 && r.header.Get("Retry-After") == "" {
			t.Fatalf("request %d: %d %v %s", i, r.status, r.header, r.body)
		}
	}
	// A request that stores some items and is refused for others by the
	// rate limit answers 200 with per-item 429s (and Retry-After).
	r := c.do("POST", "/_bulk", nd(`{"index":{"_index":"logs"}}`, `{"x":1}`, `{"index":{"_index":"limited"}}`, `{"x":1}`), key...)
	res := decodeBulk(t, r)
	if r.status != 200 || !res.Errors || res.Items[0]["index"].Status != 201 || res.Items[1]["index"].Status != 429 ||
		res.Items[1]["index"].Error.Type != "es_rejected_execution_exception" || r.header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
}

// A full buffer or a store that is down fails the items of that stream;
// when that is every item, the answer is 503 with Retry-After.
func TestBulkPublishFailures(t *testing.T) {
	for _, tt := range []struct {
		err   error
		retry string
	}{
		{fmt.Errorf("%w: nats: maximum bytes exceeded", bus.ErrBufferFull), "5"},
		{errors.New("bus: publish: nats: connection closed"), "2"},
	} {
		f := newFake(&recorder{err: tt.err}, nil)
		r := httptest.NewRequest("POST", "/s/_bulk", bytes.NewReader(nd(`{"index":{}}`, `{"x":1}`, `{"index":{}}`, `{"x":2}`)))
		r.Header.Set("Authorization", "ApiKey "+f.token)
		w := httptest.NewRecorder()
		f.h.Wrap(nil).ServeHTTP(w, r)
		var e esErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 503 || e.Error.Type != "unavailable_shards_exception" ||
			w.Header().Get("Retry-After") != tt.retry || w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("%v: %d %v %s", tt.err, w.Code, w.Header(), w.Body)
		}
	}
}

func TestESAPIKey(t *testing.T) {
	for in, want := range map[string]string{
		"rnl_abc-def_ghi": "rnl_abc-def_ghi",
		base64.StdEncoding.EncodeToString([]byte("id:rnl_key")):    "rnl_key",
		base64.RawStdEncoding.EncodeToString([]byte("id:rnl_key")): "rnl_key",
		base64.StdEncoding.EncodeToString([]byte("no-colon")):      base64.StdEncoding.EncodeToString([]byte("no-colon")),
		base64.StdEncoding.EncodeToString([]byte("id:")):           base64.StdEncoding.EncodeToString([]byte("id:")),
	} {
		if got := esAPIKey(in); got != want {
			t.Errorf("esAPIKey(%q) = %q, want %q", in, got, want)
		}
	}
}
