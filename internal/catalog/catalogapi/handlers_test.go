package catalogapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/spec"
	"github.com/runnel/runnel/internal/store"
)

// The handlers alone: status, headers, and the catalog's JSON.
func TestHandlers(t *testing.T) {
	ext := Extensions()
	if len(ext) != 2 || ext["listDataSources"] == nil || ext["listTemplates"] == nil {
		t.Fatalf("extensions %v", ext)
	}
	for id, want := range map[string]any{
		"listDataSources": catalog.DataSourceList{Items: catalog.All()},
		"listTemplates":   catalog.TemplateList{Items: catalog.Templates()},
	} {
		rec := httptest.NewRecorder()
		ext[id](rec, httptest.NewRequest(http.MethodGet, "/", nil), &api.Call{Workspace: "default"})
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %v", id, rec.Code, rec.Header())
		}
		w, _ := json.Marshal(want)
		if got := bytes.TrimSpace(rec.Body.Bytes()); !bytes.Equal(got, w) {
			t.Errorf("%s: body differs from the catalog\n got %.300s\nwant %.300s", id, got, w)
		}
	}
}

// Through the management API: authentication and scope, the answers
// match their OpenAPI schemas, and a stream whose template does not fit
// its data source is refused naming the variable.
func TestThroughAPI(t *testing.T) {
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	box, err := secret.New([]byte("test-key"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := destination.NewRegistry()
	st, err := store.Open(ctx, b, box, kinds, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := st.Bootstrap(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Deps{
		Store: st, Kinds: kinds, Extensions: Extensions(),
		Check: func(s *model.Stream) model.FieldErrors { return pipeline.Check(s, pipeline.Options{}) },
	}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	doc, err := spec.OpenAPIWith(spec.Options{Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}

	do := func(method, path, token, body string) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}

	code, body := do("POST", "/v1/tokens", admin, `{"name":"ingest-only","scopes":["events.ingest"]}`)
	if code != 201 {
		t.Fatalf("token: %d %s", code, body)
	}
	var tok struct {
		Secret string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Secret == "" {
		t.Fatalf("token answer %s", body)
	}
	ingestOnly := tok.Secret

	for path, schema := range map[string]string{"/v1/data-sources": "DataSourceList", "/v1/templates": "TemplateList"} {
		if code, body := do("GET", path, "", ""); code != 401 {
			t.Errorf("%s without a token: %d %s", path, code, body)
		}
		if code, body := do("GET", path, ingestOnly, ""); code != 403 {
			t.Errorf("%s with an events.ingest token: %d %s", path, code, body)
		}
		if code, body := do("POST", path, admin, "{}"); code != 405 {
			t.Errorf("POST %s: %d %s", path, code, body)
		}
		code, body := do("GET", path, admin, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		sch, err := spec.Compile(doc, "#/components/schemas/"+schema)
		if err != nil {
			t.Fatal(err)
		}
		if errs := sch.ValidateJSON(body); len(errs) > 0 {
			t.Errorf("%s does not match %s: %v", path, schema, errs)
		}
	}

	// Streams: a preset and catalog variables are taken; a variable of
	// another data source and a preset of another are refused by name.
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"name":"a","data_source":"edge_applications","template":{"preset":"edge_applications_waf_collector"},"destinations":[]}`, 201, ""},
		{`{"name":"b","data_source":"waf_events","template":{"variables":["time","waf_score","host"]},"destinations":[]}`, 201, ""},
		{`{"name":"c","data_source":"edge_applications","template":{"variables":["status","host","time","request_path"]},"destinations":[]}`,
			400, `{"path":"template.variables[3]","message":"\"request_path\" is not a variable of data source edge_applications (did you mean \"requestPath\"?); see GET /v1/data-sources"}`},
		{`{"name":"d","data_source":"edge_functions","template":{"preset":"waf_collector"},"destinations":[]}`,
			400, `"path":"template.preset"`},
		{`{"name":"e","data_source":"edge_functions","template":{"preset":"edge_functions_collector","variables":["time"]},"destinations":[]}`,
			400, `a preset's variables cannot be changed`},
		{`{"name":"f","data_source":"syslog","destinations":[]}`, 400, `"path":"data_source"`},
		{`{"name":"g","data_source":"custom","template":{"variables":["event.anything"]},"destinations":[]}`, 201, ""},
	} {
		code, body := do("POST", "/v1/streams", admin, tc.body)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.body, code, body, tc.code, tc.want)
		}
	}
}
