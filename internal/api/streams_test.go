package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/spec"
)

func TestStreamCRUD(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot()
	r := e.do("POST", "/v1/streams", e.admin, sampleStream("payments"))
	created := e.expect(r, 201, "")
	e.checkSchema("Stream", r.body)
	id := created["id"].(string)
	if !strings.HasPrefix(id, "str_") || r.header.Get("Location") != "/v1/streams/"+id {
		t.Fatalf("id %q, Location %q", id, r.header.Get("Location"))
	}
	etag := created["etag"].(string)
	if r.header.Get("ETag") != `"`+etag+`"` || etag == "" {
		t.Fatalf("ETag header %q, body etag %q", r.header.Get("ETag"), etag)
	}
	inlet := created["inlet_id"].(string)
	if len(inlet) != 64 || created["inlet_url"] != e.srv.URL+"/collection/"+inlet {
		t.Fatalf("inlet_url %v", created["inlet_url"])
	}
	dest := created["destinations"].([]any)[0].(map[string]any)
	settings := dest["settings"].(map[string]any)
	if settings["api_key"] != secret.Mask || settings["headers"].(map[string]any)["Authorization"] != secret.Mask ||
		settings["headers"].(map[string]any)["X-Plain"] != "visible" {
		t.Fatalf("secrets not masked: %v", settings)
	}
	if created["status"] != "active" || dest["payload"].(map[string]any)["format"] != "$dataset" {
		t.Fatalf("defaults not applied: %s", r.body)
	}
	if e.snapshot() == before {
		t.Fatal("store unchanged after create")
	}

	// By id and by name.
	for _, ref := range []string{id, "payments"} {
		r := e.do("GET", "/v1/streams/"+ref, e.admin, nil)
		got := e.expect(r, 200, "")
		if got["id"] != id || r.header.Get("ETag") != `"`+etag+`"` {
			t.Fatalf("GET %s: %s", ref, r.body)
		}
		e.checkSchema("Stream", r.body)
	}
	// Conditional GET.
	e.expect(e.do("GET", "/v1/streams/"+id, e.admin, nil, `If-None-Match: "`+etag+`"`), 304, "")

	// List.
	r = e.do("GET", "/v1/streams", e.admin, nil)
	list := e.expect(r, 200, "")
	e.checkSchema("StreamList", r.body)
	items := list["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["etag"] != etag {
		t.Fatalf("list: %s", r.body)
	}

	// PUT the resource back as read, with a change: the masked secrets keep their value.
	created["description"] = "card payments"
	r = e.do("PUT", "/v1/streams/payments", e.admin, created, `If-Match: "`+etag+`"`)
	put := e.expect(r, 200, "")
	if put["description"] != "card payments" || put["etag"] == etag || r.header.Get("ETag") != `"`+put["etag"].(string)+`"` {
		t.Fatalf("PUT: %s", r.body)
	}
	stored, _, _ := e.st.Stream("default", id)
	dec, err := e.st.Decrypted(stored)
	if err != nil {
		t.Fatal(err)
	}
	ds := dec.Destinations[0].Settings
	if ds["api_key"] != apiKey || ds["headers"].(map[string]any)["Authorization"] != authHeader {
		t.Fatalf("secrets lost by a PUT of the masked resource: %v", ds)
	}

	// PATCH: disable.
	r = e.do("PATCH", "/v1/streams/"+id, e.admin, `{"status":"inactive"}`, "Content-Type: application/merge-patch+json")
	patched := e.expect(r, 200, "")
	if patched["status"] != "inactive" || patched["description"] != "card payments" {
		t.Fatalf("PATCH: %s", r.body)
	}
	stored, _, _ = e.st.Stream("default", id)
	if stored.Active() {
		t.Fatal("stream still active in the store")
	}
	if dec, _ := e.st.Decrypted(stored); dec.Destinations[0].Settings["api_key"] != apiKey {
		t.Fatal("PATCH lost the secret")
	}
	// PATCH removing a member (null) and changing a nested one.
	r = e.do("PATCH", "/v1/streams/"+id, e.admin, `{"description":null,"buffer":{"overflow":"drop_oldest"}}`)
	patched = e.expect(r, 200, "")
	if _, ok := patched["description"]; ok || patched["buffer"].(map[string]any)["overflow"] != "drop_oldest" {
		t.Fatalf("PATCH null/nested: %s", r.body)
	}
	// Rename through PATCH; the old name no longer resolves.
	e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"name":"cards"}`), 200, "")
	e.expect(e.do("GET", "/v1/streams/cards", e.admin, nil), 200, "")
	e.expect(e.do("GET", "/v1/streams/payments", e.admin, nil), 404, "not_found")

	// Delete.
	e.expect(e.do("DELETE", "/v1/streams/cards", e.admin, nil), 204, "")
	e.expect(e.do("GET", "/v1/streams/"+id, e.admin, nil), 404, "not_found")
	if l := e.expect(e.do("GET", "/v1/streams", e.admin, nil), 200, ""); len(l["items"].([]any)) != 0 {
		t.Fatalf("deleted stream listed")
	}
}

func TestPublicURL(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.PublicURL = "https://runnel.example.com/" })
	m := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("p")), 201, "")
	if m["inlet_url"] != "https://runnel.example.com/collection/"+m["inlet_id"].(string) {
		t.Fatalf("inlet_url %v", m["inlet_url"])
	}
}

func TestIfMatch(t *testing.T) {
	e := newEnv(t)
	m := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	id, etag := m["id"].(string), m["etag"].(string)
	stale := `If-Match: "999999"`
	before := e.snapshot()
	e.expect(e.do("PUT", "/v1/streams/"+id, e.admin, m, stale), 412, "precondition_failed")
	e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"status":"inactive"}`, stale), 412, "precondition_failed")
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil, stale), 412, "precondition_failed")
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil, "If-Match: garbage"), 412, "precondition_failed")
	if e.snapshot() != before {
		t.Fatal("a failed precondition changed the store")
	}
	// Current etag, quoted or not, weak or not; and "*".
	m2 := e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"description":"a"}`, `If-Match: W/"`+etag+`"`), 200, "")
	m3 := e.expect(e.do("PUT", "/v1/streams/"+id, e.admin, m2, "If-Match: "+m2["etag"].(string)), 200, "")
	// The old etag no longer matches.
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil, `If-Match: "`+etag+`"`), 412, "precondition_failed")
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil, `If-Match: "1", "`+m3["etag"].(string)+`"`), 204, "")
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("other")), 201, "")
	e.expect(e.do("DELETE", "/v1/streams/other", e.admin, nil, "If-Match: *"), 204, "")
}

// Every 4xx leaves the store as it was.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	m := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	id := m["id"].(string)
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("orders")), 201, "")

	deep := strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70)
	huge := `{"name":"x","description":"` + strings.Repeat("a", MaxBody) + `"}`
	withDest := func(name, typ string, settings map[string]any) map[string]any {
		s := sampleStream("payments")
		s["destinations"] = []any{map[string]any{"name": name, "type": typ, "settings": settings}}
		return s
	}
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code               string
		fields             []string // paths that must be named
	}{
		{"several invalid fields", "POST", "/v1/streams", map[string]any{
			"name": "-bad", "status": "paused", "buffer": map[string]any{"overflow": "x", "max_age": "1s"},
			"destinations": []any{
				map[string]any{"name": "d", "type": "nope", "settings": map[string]any{}},
				map[string]any{"name": "e", "type": "http", "settings": map[string]any{"method": "GET"}, "payload": map[string]any{"format": "x"}},
			},
		}, nil, 400, "invalid_config", []string{"name", "status", "buffer.overflow", "buffer.max_age", "destinations[0].type",
			"destinations[1].settings.url", "destinations[1].settings.method", "destinations[1].payload.format"}},
		{"unknown fields", "POST", "/v1/streams", map[string]any{
			"name": "x", "colour": "red", "Description": "d",
			"destinations": []any{map[string]any{"name": "d", "type": "http", "settings": map[string]any{"url": "http://x"}, "batchh": map[string]any{}}},
		}, nil, 400, "invalid_config", []string{"colour", "Description", "destinations[0].batchh"}},
		{"mistyped fields", "POST", "/v1/streams", `{"name":5,"authentication_required":"yes","buffer":{"max_bytes":"lots","max_age":"1 day"},"limits":{"burst":1.5},"destinations":{}}`,
			nil, 400, "invalid_config", []string{"name", "authentication_required", "buffer.max_bytes", "buffer.max_age", "limits.burst", "destinations"}},
		{"bad domains", "POST", "/v1/streams", map[string]any{"name": "x", "domains": map[string]any{"all": false, "sampling_percent": 0}},
			nil, 400, "invalid_config", []string{"domains.list", "domains.sampling_percent"}},
		{"malformed JSON", "POST", "/v1/streams", `{"name": "x",`, nil, 400, "invalid_format", nil},
		{"trailing data", "POST", "/v1/streams", `{"name": "x"} {}`, nil, 400, "invalid_format", nil},
		{"invalid UTF-8", "POST", "/v1/streams", "{\"name\": \"x\xff\"}", nil, 400, "invalid_format", nil},
		{"too deep", "POST", "/v1/streams", deep, nil, 400, "invalid_format", nil},
		{"oversized", "POST", "/v1/streams", huge, nil, 400, "payload_too_large", nil},
		{"empty", "POST", "/v1/streams", "", nil, 400, "invalid_format", nil},
		{"not an object", "POST", "/v1/streams", `[{"name":"x"}]`, nil, 400, "invalid_format", nil},
		{"gzip", "POST", "/v1/streams", `{}`, []string{"Content-Encoding: gzip"}, 415, "unsupported_media_type", nil},
		{"form", "POST", "/v1/streams", `name=x`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "unsupported_media_type", nil},
		{"duplicate name", "POST", "/v1/streams", sampleStream("payments"), nil, 409, "conflict", nil},
		{"duplicate name, other case of id", "POST", "/v1/streams", sampleStream("orders"), nil, 409, "conflict", nil},
		{"mask on create", "POST", "/v1/streams", func() any {
			s := sampleStream("new")
			s["destinations"].([]any)[0].(map[string]any)["settings"].(map[string]any)["api_key"] = secret.Mask
			return s
		}(), nil, 400, "invalid_config", []string{"destinations[0].settings.api_key"}},
		{"PUT invalid", "PUT", "/v1/streams/" + id, withDest("hook", "http", map[string]any{"url": "ftp://x"}), nil, 400, "invalid_config", []string{"destinations[0].settings.url"}},
		{"PUT mask for a new destination", "PUT", "/v1/streams/" + id, withDest("renamed", "http", map[string]any{"url": "http://x", "api_key": secret.Mask}),
			nil, 400, "invalid_config", []string{"destinations[0].settings.api_key"}},
		{"PUT rename onto another", "PUT", "/v1/streams/" + id, sampleStream("orders"), nil, 409, "conflict", nil},
		{"PUT malformed", "PUT", "/v1/streams/" + id, `{`, nil, 400, "invalid_format", nil},
		{"PATCH invalid", "PATCH", "/v1/streams/" + id, `{"status":"paused","limits":{"max_payload":"1GiB"}}`, nil, 400, "invalid_config", []string{"status", "limits.max_payload"}},
		{"PATCH unknown field", "PATCH", "/v1/streams/" + id, `{"colour":"red"}`, nil, 400, "invalid_config", []string{"colour"}},
		{"PATCH json-patch", "PATCH", "/v1/streams/" + id, `[{"op":"remove","path":"/description"}]`, []string{"Content-Type: application/json-patch+json"}, 415, "unsupported_media_type", nil},
		{"PATCH not an object", "PATCH", "/v1/streams/" + id, `"x"`, nil, 400, "invalid_format", nil},
		{"PATCH rename onto another", "PATCH", "/v1/streams/" + id, `{"name":"orders"}`, nil, 409, "conflict", nil},
		{"GET unknown", "GET", "/v1/streams/nope", nil, nil, 404, "not_found", nil},
		{"PUT unknown", "PUT", "/v1/streams/nope", sampleStream("nope"), nil, 404, "not_found", nil},
		{"PATCH unknown", "PATCH", "/v1/streams/nope", `{}`, nil, 404, "not_found", nil},
		{"DELETE unknown", "DELETE", "/v1/streams/nope", nil, nil, 404, "not_found", nil},
		{"status unknown", "GET", "/v1/streams/nope/status", nil, nil, 404, "not_found", nil},
		{"dead letters unknown", "GET", "/v1/streams/nope/dead-letters", nil, nil, 404, "not_found", nil},
		{"dead letters unknown destination", "GET", "/v1/streams/" + id + "/dead-letters?destination=nope", nil, nil, 404, "not_found", nil},
		{"dead letters bad limit", "GET", "/v1/streams/" + id + "/dead-letters?limit=0", nil, nil, 400, "bad_request", nil},
		{"dead letters bad cursor", "GET", "/v1/streams/" + id + "/dead-letters?after=x", nil, nil, 400, "bad_request", nil},
		{"replay unknown destination", "POST", "/v1/streams/" + id + "/dead-letters/replay", `{"destination":"nope"}`, nil, 404, "not_found", nil},
		{"replay bad ids", "POST", "/v1/streams/" + id + "/dead-letters/replay", `{"ids":["a",-1],"dest":"x"}`, nil, 400, "invalid_config", []string{"ids[0]", "ids[1]", "dest"}},
		{"test unknown destination", "POST", "/v1/streams/" + id + "/destinations/nope/test", nil, nil, 404, "not_found", nil},
		{"test unknown stream", "POST", "/v1/streams/nope/destinations/hook/test", nil, nil, 404, "not_found", nil},
		{"token without scopes", "POST", "/v1/tokens", `{"name":"","scopes":["root"],"expires_at":"yesterday","x":1}`, nil, 400, "invalid_config", []string{"name", "scopes[0]", "expires_at", "x"}},
		{"token expired at birth", "POST", "/v1/tokens", `{"name":"a","scopes":["streams.read"],"expires_at":"2001-01-01T00:00:00Z"}`, nil, 400, "invalid_config", []string{"expires_at"}},
		{"token for unknown stream", "POST", "/v1/tokens", `{"name":"a","scopes":["events.ingest"],"streams":["nope"]}`, nil, 400, "invalid_config", []string{"streams[0]"}},
		{"delete unknown token", "DELETE", "/v1/tokens/tok_nope", nil, nil, 404, "not_found", nil},
		{"workspace bad name", "POST", "/v1/workspaces", `{"name":"Bad Name"}`, nil, 400, "invalid_config", []string{"name"}},
		{"workspace duplicate", "POST", "/v1/workspaces", `{"name":"default"}`, nil, 409, "conflict", nil},
		{"workspace unknown field", "POST", "/v1/workspaces", `{"name":"b","owner":"me"}`, nil, 400, "invalid_config", []string{"owner"}},
		{"activity bad cursor", "GET", "/v1/activity?before=-1", nil, nil, 400, "bad_request", nil},
		{"activity bad limit", "GET", "/v1/activity?limit=abc", nil, nil, 400, "bad_request", nil},
		{"unknown workspace", "GET", "/v1/streams", nil, []string{"X-Workspace: nope"}, 404, "not_found", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			before := e.snapshot()
			got := e.expect(e.do(tc.method, tc.path, e.admin, tc.body, tc.hdr...), tc.status, tc.code)
			var paths []string
			if fs, ok := got["fields"].([]any); ok {
				for _, f := range fs {
					paths = append(paths, f.(map[string]any)["path"].(string))
				}
			}
			for _, p := range tc.fields {
				if !slices.Contains(paths, p) {
					t.Errorf("field %s not named in %v (%s)", p, paths, got["detail"])
				}
			}
			if after := e.snapshot(); after != before {
				t.Errorf("the store changed:\n%s\n→\n%s", before, after)
			}
		})
	}
}

func TestOpsEndpoints(t *testing.T) {
	e := newEnv(t)
	m := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	id := m["id"].(string)

	r := e.do("GET", "/v1/streams/payments/status", e.admin, nil)
	st := e.expect(r, 200, "")
	e.checkSchema("StreamStatus", r.body)
	if st["id"] != id || st["name"] != "payments" || st["status"] != "active" || len(st["destinations"].([]any)) != 1 {
		t.Fatalf("status: %s", r.body)
	}

	r = e.do("GET", "/v1/streams/payments/dead-letters?limit=1", e.admin, nil)
	page := e.expect(r, 200, "")
	e.checkSchema("DeadLetterPage", r.body)
	if len(page["items"].([]any)) != 1 || page["next"] != "1" {
		t.Fatalf("dead letters page 1: %s", r.body)
	}
	page = e.expect(e.do("GET", "/v1/streams/payments/dead-letters?destination=hook&after=1", e.admin, nil), 200, "")
	if len(page["items"].([]any)) != 1 || page["next"] != "" {
		t.Fatalf("dead letters page 2: %v", page)
	}

	r = e.do("POST", "/v1/streams/payments/dead-letters/replay", e.admin, `{"destination":"hook","ids":[1,2]}`)
	if got := e.expect(r, 200, ""); got["replayed"] != float64(2) || len(e.delivery.replayed) != 2 {
		t.Fatalf("replay: %s", r.body)
	}
	if got := e.expect(e.do("POST", "/v1/streams/payments/dead-letters/replay", e.admin, nil), 200, ""); got["replayed"] != float64(2) {
		t.Fatalf("replay all: %v", got)
	}

	// Test: failing (scrubbed), then passing.
	r = e.do("POST", "/v1/streams/payments/destinations/hook/test", e.admin, nil)
	res := e.expect(r, 200, "")
	e.checkSchema("TestResult", r.body)
	msg, _ := res["error"].(string)
	if res["ok"] != false || !strings.Contains(msg, secret.Mask) || !strings.Contains(msg, "401 Unauthorized") {
		t.Fatalf("failed test: %s", r.body)
	}
	e.delivery.mu.Lock()
	e.delivery.testedOK = true
	e.delivery.mu.Unlock()
	if res := e.expect(e.do("POST", "/v1/streams/"+id+"/destinations/hook/test", e.admin, nil), 200, ""); res["ok"] != true {
		t.Fatalf("passing test: %v", res)
	}

	// Without a delivery engine: 503 with Retry-After.
	e2 := newEnv(t, func(d *Deps) { d.Delivery = nil })
	e2.expect(e2.do("POST", "/v1/streams", e2.admin, sampleStream("p")), 201, "")
	r = e2.do("GET", "/v1/streams/p/status", e2.admin, nil)
	e2.expect(r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestCheckHook(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.Check = func(st *model.Stream) model.FieldErrors {
			if st.Description == "bad template" {
				return model.FieldErrors{{Path: "template.dataset", Message: "does not compile"}}
			}
			return nil
		}
	})
	s := sampleStream("p")
	s["description"] = "bad template"
	before := e.snapshot()
	m := e.expect(e.do("POST", "/v1/streams", e.admin, s), 400, "invalid_config")
	if !strings.Contains(fmt.Sprint(m["fields"]), "template.dataset") || e.snapshot() != before {
		t.Fatalf("check: %v", m)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	e.expect(e.do("GET", "/v1/nope", e.admin, nil), 404, "not_found")
	e.expect(e.do("GET", "/v1/streams/x/nope", e.admin, nil), 404, "not_found")
	r := e.do("DELETE", "/v1/streams", e.admin, nil)
	e.expect(r, 405, "method_not_allowed")
	if r.header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	r = e.do("POST", "/v1/streams/x", e.admin, `{}`)
	e.expect(r, 405, "method_not_allowed")
	if !strings.Contains(r.header.Get("Allow"), "PATCH") {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	e.expect(e.do("POST", "/healthz", "", nil), 405, "method_not_allowed")
	// Data sources and templates have no extension here: not registered.
	e.expect(e.do("GET", "/v1/data-sources", e.admin, nil), 404, "not_found")

	if m := e.expect(e.do("GET", "/healthz", "", nil), 200, ""); m["status"] != "ok" {
		t.Fatal(m)
	}
	e.expect(e.do("GET", "/readyz", "", nil), 200, "")
	e.mu.Lock()
	e.ready = false
	e.mu.Unlock()
	r = e.do("GET", "/readyz", "", nil)
	e.expect(r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("readyz 503 without Retry-After")
	}
	r = e.do("GET", "/metrics", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "go_goroutines") {
		t.Fatalf("metrics: %d", r.status)
	}
	r = e.do("GET", "/v1/openapi.json", "", nil)
	doc := e.expect(r, 200, "")
	paths := doc["paths"].(map[string]any)
	for _, rt := range spec.Routes() {
		if _, ok := paths[rt.Path]; !ok {
			t.Errorf("%s not in the served document", rt.Path)
		}
	}
	if !strings.Contains(string(r.body), "settings.http") {
		t.Error("served document lacks the settings of the registered kinds")
	}
}

// Every route of spec.Routes() is served: an authorized request never
// gets the router's 404 or 405.
func TestEveryRouteServed(t *testing.T) {
	called := map[string]bool{}
	ext := func(id string) Extension {
		return func(w http.ResponseWriter, r *http.Request, c *Call) {
			called[id] = true
			if c == nil || c.Workspace != "default" || (strings.HasPrefix(r.Pattern, "GET /v1/streams/{id}") && c.Stream == nil) {
				t.Errorf("%s: call not resolved: %+v", id, c)
			}
			w.WriteHeader(299)
		}
	}
	e := newEnv(t, func(d *Deps) {
		d.Extensions = map[string]Extension{}
		for _, rt := range spec.Routes() {
			if rt.Extension {
				d.Extensions[rt.ID] = ext(rt.ID)
			}
		}
	})
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	_, tokID := e.token("default", []string{"streams.read"})
	for _, rt := range spec.Routes() {
		path := strings.NewReplacer("{id}", "payments", "{name}", "hook").Replace(rt.Path)
		if rt.Path == "/v1/tokens/{id}" {
			path = "/v1/tokens/" + tokID
		}
		var body any
		switch rt.ID {
		case "createStream":
			body = sampleStream("other")
		case "replaceStream":
			body = sampleStream("payments")
		case "patchStream":
			body = `{"description":"x"}`
		case "createToken":
			body = `{"name":"n","scopes":["streams.read"]}`
		case "createWorkspace":
			body = `{"name":"ws2"}`
		}
		r := e.do(rt.Method, path, e.admin, body)
		if r.status == 404 || r.status == 405 || r.status >= 500 {
			t.Errorf("%s %s: %d %s", rt.Method, path, r.status, r.body)
		}
		if rt.ID == "deleteStream" {
			e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
		}
	}
	for _, rt := range spec.Routes() {
		if rt.Extension && !called[rt.ID] {
			t.Errorf("extension %s not called", rt.ID)
		}
	}
}

// TestPatchKeepsDatasetOrder: a PATCH that does not touch the dataset
// keeps its keys in the written order (a merge patch goes through a map).
func TestPatchKeepsDatasetOrder(t *testing.T) {
	e := newEnv(t)
	body := `{"name":"ordered","template":{"dataset":{"zeta":"$source","alpha":"$timestamp","mid":1}},"destinations":[]}`
	m := e.expect(e.do("POST", "/v1/streams", e.admin, body), 201, "")
	id := m["id"].(string)
	e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"status":"inactive"}`), 200, "")
	st, _, _ := e.st.Stream("default", id)
	if got := string(st.Template.Dataset); got != `{"zeta":"$source","alpha":"$timestamp","mid":1}` {
		t.Fatalf("dataset after PATCH: %s", got)
	}
}
