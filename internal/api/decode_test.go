package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/store"
)

func TestDecodeStrict(t *testing.T) {
	var v view.Stream
	errs, ie := decodeStrict([]byte(`{"name":"p","etag":"3","inlet_url":"http://x","id":"str_x","destinations":[{"name":"d","type":"http","settings":{"url":"http://x","n":1.5,"m":{"a":[1]}},"payload":{"max_size":"1MiB","line_separator":null}}],"buffer":{"max_age":60}}`), &v)
	if ie != nil || len(errs) > 0 {
		t.Fatalf("%v %v", ie, errs)
	}
	d := v.Destinations[0]
	if v.Name != "p" || d.Payload.MaxSize != 1<<20 || d.Settings["n"] != 1.5 || v.Buffer.MaxAge.D().Seconds() != 60 || d.Payload.LineSeparator != nil {
		t.Fatalf("decoded %+v", v)
	}
	if !depthOK([]byte(`{"a":"{{{{{{[[[["}`), 2) || depthOK([]byte(`[[[]]]`), 2) {
		t.Fatal("depthOK")
	}
}

func TestMergePatch(t *testing.T) {
	for _, c := range []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{"n":12345678901234567890}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}},"n":12345678901234567890}`},
	} {
		got, err := mergePatch([]byte(c.doc), []byte(c.patch))
		if err != nil || string(got) != c.want {
			t.Errorf("%s + %s = %s (%v), want %s", c.doc, c.patch, got, err, c.want)
		}
	}
}

// The API coexists on one mux with the ingest dialects and the console.
// (Note: "POST /collection/{inlet}" and "POST /{index}/_bulk" conflict with
// each other — "/collection/_bulk" — whatever the API registers, and so
// does any prefix pattern without a method, such as "/flowservice/".)
func TestMuxCoexistence(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	New(Deps{Store: e.st, Kinds: testKinds()}).Register(mux)
	hit := ""
	for _, p := range []string{"POST /v1/streams/ingest", "POST /collection/batch/{inlet}", "POST /v1/logs",
		"POST /api/v2/events/ingest", "POST /_bulk", "POST /{index}/_bulk", "POST /services/collector/event", "/", "GET /flowservice/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { hit = p })
	}
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/v1/streams/ingest", "POST /v1/streams/ingest"},
		{"POST", "/v1/logs", "POST /v1/logs"},
		{"GET", "/", "/"},
		{"GET", "/flowservice/flows", "GET /flowservice/"},
		{"POST", "/v1/_bulk", "POST /{index}/_bulk"},
		{"POST", "/logs/_bulk", "POST /{index}/_bulk"},
	} {
		hit = ""
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, nil))
		if hit != c.want {
			t.Errorf("%s %s went to %q", c.method, c.path, hit)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/logs", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "not_found") {
		t.Errorf("GET /v1/logs: %d %s", rec.Code, rec.Body)
	}
}

func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte(`{"name":"p","destinations":[{"name":"d","type":"http","settings":{"url":"http://x"}}]}`))
	f.Add([]byte(`{"buffer":{"max_bytes":"1MiB","max_age":"1h"},"template":{"dataset":{"a":"$b"}}}`))
	f.Add([]byte(`{"name":null,"destinations":[null,{"payload":{"line_separator":"\n"}}]}`))
	f.Add([]byte(`{"limits":{"burst":1e400}}`))
	kinds := testKinds()
	f.Fuzz(func(t *testing.T, b []byte) {
		var v view.Stream
		errs, ie := decodeStrict(b, &v)
		if ie != nil {
			return
		}
		v.Normalize(kinds)
		_ = v.Validate(kinds)
		if _, err := json.Marshal(v); err != nil && len(errs) == 0 {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		_ = store.Clone(&v.Stream)
		_, _ = mergePatch([]byte(`{"a":{"b":1}}`), b)
	})
}
