package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// fakeKinds is the server side of normalization in the fake: http with
// its default batch, and a secret header.
type fakeKinds struct{}

func (fakeKinds) Canonical(t string) (string, bool) {
	if t == "standard" {
		return "http", true
	}
	return t, t == "http"
}
func (fakeKinds) Names() []string                                           { return []string{"http"} }
func (fakeKinds) ValidateSettings(string, map[string]any) model.FieldErrors { return nil }
func (fakeKinds) DefaultBatch(string) model.Batch {
	return model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)}
}
func (fakeKinds) IsSecret(_, p string) bool { return p == "headers.Authorization" }

// fakeStreams is an in-memory stream API that stores what it is given the
// way the server does: normalized, with server fields, secrets masked on
// the way out.
type fakeStreams struct {
	mu      sync.Mutex
	byName  map[string]*model.Stream
	etags   map[string]int
	nextID  int
	patched []string
}

func newFakeStreams() *fakeStreams {
	return &fakeStreams{byName: map[string]*model.Stream{}, etags: map[string]int{}}
}

func (fs *fakeStreams) find(idOrName string) *model.Stream {
	if s, ok := fs.byName[idOrName]; ok {
		return s
	}
	for _, s := range fs.byName {
		if s.ID == idOrName {
			return s
		}
	}
	return nil
}

func (fs *fakeStreams) resource(s *model.Stream) map[string]any {
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, d := range m["destinations"].([]any) {
		settings := d.(map[string]any)["settings"].(map[string]any)
		if h, ok := settings["headers"].(map[string]any); ok {
			if _, ok := h["Authorization"]; ok {
				h["Authorization"] = "********"
			}
		}
	}
	m["etag"] = strconv.Itoa(fs.etags[s.ID])
	m["inlet_url"] = "http://runnel.example/collection/" + s.InletID
	return m
}

func (fs *fakeStreams) decode(w http.ResponseWriter, body []byte) (*model.Stream, bool) {
	var st model.Stream
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		apiErr(w, 400, "invalid_config", err.Error())
		return nil, false
	}
	st.Normalize(fakeKinds{})
	if errs := st.Validate(fakeKinds{}); len(errs) > 0 {
		writeJSONResp(w, 400, map[string]any{"error": "invalid_config", "detail": errs.Error(), "fields": errs})
		return nil, false
	}
	return &st, true
}

func (fs *fakeStreams) handler(t *testing.T) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		path := r.URL.Path
		switch {
		case r.Method == "GET" && path == "/v1/streams":
			items := []any{}
			for _, s := range fs.byName {
				items = append(items, fs.resource(s))
			}
			writeJSONResp(w, 200, map[string]any{"items": items})
		case r.Method == "POST" && path == "/v1/streams":
			st, ok := fs.decode(w, body)
			if !ok {
				return
			}
			if fs.byName[st.Name] != nil {
				apiErr(w, 409, "conflict", "exists")
				return
			}
			fs.nextID++
			st.ID = fmt.Sprintf("str_%d", fs.nextID)
			st.Workspace = "default"
			st.InletID = strings.Repeat("a", 64)
			st.CreatedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			st.UpdatedAt = st.CreatedAt
			fs.byName[st.Name] = st
			fs.etags[st.ID] = 1
			w.Header().Set("ETag", `"1"`)
			w.Header().Set("Location", "/v1/streams/"+st.ID)
			writeJSONResp(w, 201, fs.resource(st))
		case strings.HasPrefix(path, "/v1/streams/"):
			key := strings.TrimPrefix(path, "/v1/streams/")
			cur := fs.find(key)
			if cur == nil {
				apiErr(w, 404, "stream_not_found", "no stream "+key)
				return
			}
			switch r.Method {
			case "GET":
				w.Header().Set("ETag", strconv.Quote(strconv.Itoa(fs.etags[cur.ID])))
				writeJSONResp(w, 200, fs.resource(cur))
			case "PUT":
				if im := r.Header.Get("If-Match"); im != strconv.Quote(strconv.Itoa(fs.etags[cur.ID])) {
					apiErr(w, 412, "precondition_failed", "etag "+im)
					return
				}
				st, ok := fs.decode(w, body)
				if !ok {
					return
				}
				st.ID, st.Workspace, st.InletID, st.CreatedAt = cur.ID, cur.Workspace, cur.InletID, cur.CreatedAt
				// a masked secret keeps the stored value
				for i := range st.Destinations {
					if h, ok := st.Destinations[i].Settings["headers"].(map[string]any); ok && h["Authorization"] == "********" {
						if old, ok := cur.Destination(st.Destinations[i].Name); ok {
							h["Authorization"] = old.Settings["headers"].(map[string]any)["Authorization"]
						}
					}
				}
				delete(fs.byName, cur.Name)
				fs.byName[st.Name] = st
				fs.etags[st.ID]++
				writeJSONResp(w, 200, fs.resource(st))
			case "PATCH":
				var p struct{ Status string }
				_ = json.Unmarshal(body, &p)
				cur.Status = p.Status
				fs.patched = append(fs.patched, p.Status)
				fs.etags[cur.ID]++
				writeJSONResp(w, 200, fs.resource(cur))
			case "DELETE":
				delete(fs.byName, cur.Name)
				w.WriteHeader(204)
			}
		default:
			t.Errorf("unexpected %s %s", r.Method, path)
			apiErr(w, 404, "not_found", path)
		}
	}
}

const twoStreams = `# streams of the payments team
name: payments
status: active
template: {variables: [timestamp, source, event.status]}
buffer: {max_bytes: 10GiB, max_age: 168h}
destinations:
  - name: web
    type: http
    settings:
      url: https://collector.example/in
      headers: {X-Team: payments}
    batch: {max_age: 60s}
---
name: audit
destinations: []
`

func methods(reqs []recorded) string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.Method+" "+r.Path)
	}
	return strings.Join(s, ", ")
}

func TestApplyCreateUnchangedConfigured(t *testing.T) {
	fs := newFakeStreams()
	f := newFakeAPI(t, fs.handler(t))
	dir := t.TempDir()
	file := filepath.Join(dir, "streams.yaml")
	if err := os.WriteFile(file, []byte(twoStreams), 0o600); err != nil {
		t.Fatal(err)
	}

	res := f.run("streams", "apply", "-f", file)
	if res.err != nil {
		t.Fatalf("apply: %v\n%s", res.err, res.stderr)
	}
	if want := "stream payments created (id str_1)\nstream audit created (id str_2)\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	reqs := f.requests()
	if got := methods(reqs); got != "GET /v1/streams/payments, POST /v1/streams, GET /v1/streams/audit, POST /v1/streams" {
		t.Fatalf("requests: %s", got)
	}
	var created map[string]any
	if err := json.Unmarshal(reqs[1].Body, &created); err != nil {
		t.Fatal(err)
	}
	if created["name"] != "payments" || created["buffer"].(map[string]any)["max_bytes"] != "10GiB" {
		t.Errorf("create body %s", reqs[1].Body)
	}
	if reqs[1].Header.Get("Content-Type") != "application/json" || reqs[1].Header.Get("Authorization") != "Bearer tok-secret" {
		t.Errorf("create headers %v", reqs[1].Header)
	}

	// The same file again changes nothing: defaults filled by the server,
	// sizes and durations spelled differently, all compare equal.
	f.reset()
	res = f.run("streams", "apply", "-f", file)
	if res.err != nil {
		t.Fatalf("re-apply: %v\n%s", res.err, res.stderr)
	}
	if want := "stream payments unchanged (id str_1)\nstream audit unchanged (id str_2)\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	if got := methods(f.requests()); got != "GET /v1/streams/payments, GET /v1/streams/audit" {
		t.Errorf("requests: %s", got)
	}

	// A change is a PUT with If-Match of the revision read.
	f.reset()
	changed := strings.Replace(twoStreams, "batch: {max_age: 60s}", "batch: {max_age: 60s, max_events: 500}", 1)
	res = f.runWith(runOpts{stdin: changed}, "streams", "apply", "-f", "-")
	if res.err != nil {
		t.Fatalf("apply change: %v\n%s", res.err, res.stderr)
	}
	if want := "stream payments configured (id str_1)\nstream audit unchanged (id str_2)\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	reqs = f.requests()
	if got := methods(reqs); got != "GET /v1/streams/payments, PUT /v1/streams/str_1, GET /v1/streams/audit" {
		t.Fatalf("requests: %s", got)
	}
	if im := reqs[1].Header.Get("If-Match"); im != `"1"` {
		t.Errorf("If-Match %q", im)
	}
	if fs.byName["payments"].Destinations[0].Batch.MaxEvents != 500 {
		t.Errorf("not updated: %+v", fs.byName["payments"].Destinations[0].Batch)
	}
}

func TestApplyGetRoundTripAndSecrets(t *testing.T) {
	fs := newFakeStreams()
	f := newFakeAPI(t, fs.handler(t))
	def := `name: orders
destinations:
  - name: web
    type: http
    settings:
      url: https://collector.example/in
      headers: {Authorization: Bearer s3cr3t}
`
	res := f.runWith(runOpts{stdin: def}, "streams", "apply", "-f", "-")
	if res.err != nil || res.stdout != "stream orders created (id str_1)\n" {
		t.Fatalf("create: %v %q %q", res.err, res.stdout, res.stderr)
	}
	// A secret spelled out cannot be compared (never returned): configured.
	res = f.runWith(runOpts{stdin: def}, "streams", "apply", "-f", "-")
	if res.err != nil || res.stdout != "stream orders configured (id str_1)\n" {
		t.Fatalf("re-apply with secret: %v %q %q", res.err, res.stdout, res.stderr)
	}

	// get -o yaml prints the resource; applying it back changes nothing
	// (read-only fields dropped, the masked secret kept).
	res = f.run("streams", "get", "orders")
	if res.err != nil {
		t.Fatal(res.err)
	}
	got := res.stdout
	for _, want := range []string{"id: str_1\n", "name: orders\n", `Authorization: "********"`, "etag: \"2\"\n", "max_events: 2000\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("get output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "s3cr3t") {
		t.Fatal("secret printed")
	}
	f.reset()
	res = f.runWith(runOpts{stdin: got}, "streams", "apply", "-f", "-")
	if res.err != nil || res.stdout != "stream orders unchanged (id str_1)\n" {
		t.Fatalf("apply get output: %v %q %q", res.err, res.stdout, res.stderr)
	}
	// Edited and applied back: the body carries no read-only fields.
	f.reset()
	edited := strings.Replace(got, "status: active", "status: inactive", 1)
	res = f.runWith(runOpts{stdin: edited}, "streams", "apply", "-f", "-")
	if res.err != nil || res.stdout != "stream orders configured (id str_1)\n" {
		t.Fatalf("apply edited: %v %q %q", res.err, res.stdout, res.stderr)
	}
	put := f.requests()[1]
	for _, k := range readOnlyFields {
		if strings.Contains(string(put.Body), `"`+k+`"`) {
			t.Errorf("PUT body has %s: %s", k, put.Body)
		}
	}
	if h := fs.byName["orders"].Destinations[0].Settings["headers"].(map[string]any); h["Authorization"] != "Bearer s3cr3t" {
		t.Errorf("secret lost: %v", h)
	}

	// -o json keeps the server's document.
	res = f.run("streams", "get", "str_1", "-o", "json")
	var m map[string]any
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &m) != nil || m["name"] != "orders" {
		t.Errorf("get -o json: %v %q", res.err, res.stdout)
	}
}

func TestApplyJSONArrayAndBadInput(t *testing.T) {
	fs := newFakeStreams()
	f := newFakeAPI(t, fs.handler(t))
	res := f.runWith(runOpts{stdin: `[{"name":"a","destinations":[]},{"name":"b","destinations":[]}]`}, "streams", "apply", "-f", "-")
	if res.err != nil || res.stdout != "stream a created (id str_1)\nstream b created (id str_2)\n" {
		t.Fatalf("%v %q %q", res.err, res.stdout, res.stderr)
	}
	res = f.runWith(runOpts{stdin: "destinations: []\n"}, "streams", "apply", "-f", "-")
	if res.err == nil || res.stderr != "error: standard input: name is required\n" {
		t.Errorf("missing name: %v %q", res.err, res.stderr)
	}
	res = f.runWith(runOpts{stdin: "name: [\n"}, "streams", "apply", "-f", "-")
	if res.err == nil || !strings.HasPrefix(res.stderr, "error: standard input: ") {
		t.Errorf("bad yaml: %v %q", res.err, res.stderr)
	}
	res = f.run("streams", "apply")
	if res.err == nil || !strings.Contains(res.stderr, `required flag(s) "filename" not set`) {
		t.Errorf("no -f: %v %q", res.err, res.stderr)
	}
}

func TestApplyPartialFailureContinues(t *testing.T) {
	fs := newFakeStreams()
	f := newFakeAPI(t, fs.handler(t))
	in := "name: good\ndestinations: []\n---\nname: bad\nbuffer: {max_bytes: 10}\ndestinations: []\n---\nname: good2\n"
	res := f.runWith(runOpts{stdin: in}, "streams", "apply", "-f", "-")
	if res.err == nil {
		t.Fatal("no error")
	}
	if res.stdout != "stream good created (id str_1)\nstream good2 created (id str_2)\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	want := "error: stream bad: invalid_config: buffer.max_bytes: must be at least 1MiB\n  buffer.max_bytes: must be at least 1MiB\nerror: 1 of 3 streams not applied\n"
	if res.stderr != want {
		t.Errorf("stderr %q\nwant   %q", res.stderr, want)
	}
}

func TestStreamsListDeleteEnableDisable(t *testing.T) {
	fs := newFakeStreams()
	f := newFakeAPI(t, fs.handler(t))
	if res := f.runWith(runOpts{stdin: twoStreams}, "streams", "apply", "-f", "-"); res.err != nil {
		t.Fatal(res.stderr)
	}
	res := f.run("streams", "list")
	if res.err != nil {
		t.Fatal(res.err)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(res.stdout, "web(http)") {
		t.Errorf("table:\n%s", res.stdout)
	}
	res = f.run("streams", "list", "-o", "json")
	var items []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &items); err != nil || len(items) != 2 {
		t.Errorf("json list %v %q", err, res.stdout)
	}

	f.reset()
	if res := f.run("streams", "disable", "payments"); res.err != nil || res.stdout != "stream payments disabled\n" {
		t.Fatalf("disable: %v %q %q", res.err, res.stdout, res.stderr)
	}
	if res := f.run("streams", "enable", "str_1"); res.err != nil || res.stdout != "stream payments enabled\n" {
		t.Fatalf("enable: %v %q %q", res.err, res.stdout, res.stderr)
	}
	reqs := f.requests()
	if reqs[0].Method != "PATCH" || string(reqs[0].Body) != `{"status":"inactive"}` || string(reqs[1].Body) != `{"status":"active"}` {
		t.Errorf("patch requests: %s %s / %s", reqs[0].Method, reqs[0].Body, reqs[1].Body)
	}
	if res := f.run("streams", "delete", "audit"); res.err != nil || res.stdout != "stream audit deleted\n" {
		t.Fatalf("delete: %v %q", res.err, res.stderr)
	}
	if res := f.run("streams", "delete", "audit"); res.err == nil || res.stderr != "error: stream_not_found: no stream audit\n" {
		t.Fatalf("delete again: %v %q", res.err, res.stderr)
	}
}

func TestSplitYAMLDocs(t *testing.T) {
	docs := splitYAMLDocs([]byte("---\na: 1\n--- # second\nb: |\n  ---\n  x\n---\n"))
	if len(docs) != 4 || string(docs[1]) != "a: 1\n" || string(docs[2]) != "b: |\n  ---\n  x\n" {
		t.Errorf("%q", docs)
	}
}

func TestSameDefinition(t *testing.T) {
	have := `{"id":"str_1","etag":"3","name":"s","status":"active","data_source":"custom","authentication_required":true,
	  "buffer":{"max_bytes":10737418240,"max_age":"168h0m0s","overflow":"reject"},"limits":{"max_payload":1048576},
	  "destinations":[{"name":"d","type":"http","settings":{"url":"u","n":1},"payload":{"max_size":1000000,"line_separator":"\n","format":"$dataset"},
	  "batch":{"max_events":2000,"max_age":"1m0s"},"health":{"interval":"1m0s"}}],"created_at":"2025-01-01T00:00:00Z"}`
	cases := []struct {
		want string
		same bool
	}{
		{`{"name":"s","destinations":[{"name":"d","type":"http","settings":{"url":"u","n":1}}]}`, true},
		{`{"name":"s","buffer":{"max_bytes":"10GiB","max_age":"168h"},"destinations":[{"name":"d","type":"http","settings":{"n":1.0,"url":"u"},"batch":{"max_age":60}}]}`, true},
		{`{"name":"s","status":"inactive","destinations":[{"name":"d","type":"http","settings":{"url":"u","n":1}}]}`, false},
		{`{"name":"s","destinations":[{"name":"d","type":"http","settings":{"url":"v","n":1}}]}`, false},
		{`{"name":"s","destinations":[{"name":"d","type":"http","settings":{"url":"u"}}]}`, false},
		{`{"name":"s","destinations":[]}`, false},
		{`{"name":"s","unknown":1,"destinations":[{"name":"d","type":"http","settings":{"url":"u","n":1}}]}`, false},
		{`{"name":"s","description":"x","destinations":[{"name":"d","type":"http","settings":{"url":"u","n":1}}]}`, false},
	}
	for i, c := range cases {
		if got := sameDefinition([]byte(c.want), []byte(have)); got != c.same {
			t.Errorf("case %d: same = %v, want %v", i, got, c.same)
		}
	}
}
