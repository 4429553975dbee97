package flowservice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/ingest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/spec"
	"github.com/runnel/runnel/internal/store"
)

// lakeSettings is a stand-in for the data lake destination's settings.
type lakeSettings struct {
	Path string `json:"path"`
}

func (*lakeSettings) Validate() model.FieldErrors { return nil }

func lakeKind() destination.Kind {
	return destination.Kind{
		Name:   DataLakeType,
		Config: func() destination.Config { return &lakeSettings{} },
		New: func(context.Context, destination.Config, destination.Deps) (destination.Destination, error) {
			return nil, nil
		},
		Batch: model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)},
	}
}

// env is a real embedded bus and store behind the API, the facade and
// the ingest dialects.
type env struct {
	t      *testing.T
	ctx    context.Context
	bus    *bus.Bus
	store  *store.Store
	srv    *httptest.Server
	writer string // streams.read + streams.write in default
}

func newEnv(t *testing.T, kinds ...destination.Kind) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	box, err := secret.New([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	reg := destination.NewRegistry(append([]destination.Kind{httpdest.Kind()}, kinds...)...)
	s, err := store.Open(ctx, b, box, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	fs := New(Deps{Store: s, Kinds: reg})
	mux := http.NewServeMux()
	api.New(api.Deps{Store: s, Kinds: reg, Extensions: fs.Extensions()}).Register(mux)
	ingest.New(ingest.Deps{Bus: b, Streams: s, Tokens: s}).Register(mux)
	e := &env{t: t, ctx: ctx, bus: b, store: s, srv: httptest.NewServer(mux)}
	t.Cleanup(e.srv.Close)
	e.writer = e.token(model.DefaultWorkspace, model.TokenRequest{Name: "writer", Scopes: []string{model.ScopeStreamsRead, model.ScopeStreamsWrite}})
	return e
}

func (e *env) token(ws string, req model.TokenRequest) string {
	e.t.Helper()
	_, sec, err := e.store.CreateToken(e.ctx, ws, &req, store.System)
	if err != nil {
		e.t.Fatal(err)
	}
	return sec
}

type answer struct {
	status int
	header http.Header
	raw    []byte
}

func (e *env) call(method, path, tok string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, raw: raw}
}

func (a answer) decode(t *testing.T, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if v != nil {
		if err := json.Unmarshal(a.raw, v); err != nil {
			t.Fatalf("%v: %s", err, a.raw)
		}
	}
}

// created checks a 201 {"id","etag"} answer and returns the id.
func (a answer) created(t *testing.T, base string) string {
	t.Helper()
	var c map[string]string
	a.decode(t, http.StatusCreated, &c)
	if len(c) != 2 || !uuidRe.MatchString(c["id"]) || c["etag"] == "" {
		t.Fatalf("201 body %s", a.raw)
	}
	if a.header.Get("Location") != base+c["id"] || a.header.Get("ETag") != `"`+c["etag"]+`"` {
		t.Fatalf("Location %q ETag %q", a.header.Get("Location"), a.header.Get("ETag"))
	}
	return c["id"]
}

// apiError checks a /v1 error answer; field, when set, must be named.
func (a answer) apiError(t *testing.T, status int, code, detail, field string) {
	t.Helper()
	var b apierr.Body
	a.decode(t, status, &b)
	if b.Error != code || !strings.Contains(b.Detail, detail) {
		t.Fatalf("error %s, want %s with %q", a.raw, code, detail)
	}
	if field != "" && !slices.ContainsFunc(b.Fields, func(f model.FieldError) bool { return f.Path == field }) {
		t.Fatalf("no error for field %s: %s", field, a.raw)
	}
}

var (
	uuidRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	inletRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (e *env) msgs(streamID string) uint64 {
	e.t.Helper()
	s, err := e.bus.JS.Stream(e.ctx, bus.EventStreamName(streamID))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// snapshot is what a rejected request must leave unchanged.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, st := range e.store.Streams("") {
		j, _ := json.Marshal(st)
		b.Write(j)
	}
	for _, k := range []string{kindConnection, kindSource, kindTarget, kindFlow} {
		objs, err := e.store.Objects(e.ctx, model.DefaultWorkspace, k)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range objs {
			b.Write(o.Value)
		}
	}
	return b.String()
}

func TestRoutesHaveHandlers(t *testing.T) {
	fs := New(Deps{Store: &store.Store{}, Kinds: destination.NewRegistry()})
	ext := fs.Extensions()
	n := 0
	for _, rt := range spec.Routes() {
		if !strings.HasPrefix(rt.Path, "/flowservice/") {
			continue
		}
		n++
		if !rt.Extension || ext[rt.ID] == nil {
			t.Errorf("route %s (%s) has no facade handler", rt.ID, rt.Pattern())
		}
		want := model.ScopeStreamsRead
		if rt.Method == http.MethodPost {
			want = model.ScopeStreamsWrite
		}
		if rt.Scope != want {
			t.Errorf("route %s: scope %s, want %s", rt.ID, rt.Scope, want)
		}
	}
	if n != len(ext) {
		t.Errorf("%d facade routes, %d handlers", n, len(ext))
	}
}

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	w := e.writer

	// Base connection: a stream with its inlet, inactive.
	conn := e.call("POST", "/flowservice/connections", w, map[string]any{
		"name": "ACME Streaming Connection", "description": "ACME data",
		"auth":           map[string]any{"specName": "Streaming Connection", "params": map[string]any{"authenticationRequired": false, "dataType": "xdm"}},
		"connectionSpec": map[string]any{"id": HTTPAPISpecID, "version": "1.0"},
	}).created(t, "/flowservice/connections/")

	var list struct {
		Items []ConnectionView `json:"items"`
	}
	e.call("GET", "/flowservice/connections", w, nil).decode(t, 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("items %+v", list.Items)
	}
	c := list.Items[0]
	p := c.Auth.Params
	if c.ID != conn || c.Name != "ACME Streaming Connection" || c.Description != "ACME data" || c.State != "disabled" ||
		c.ConnectionSpec.ID != HTTPAPISpecID || !inletRe.MatchString(p.InletID) || p.InletURL != e.srv.URL+"/collection/"+p.InletID ||
		p.AuthenticationRequired || c.ETag == "" || c.StreamID == "" {
		t.Fatalf("connection %+v", c)
	}
	var one struct {
		Items []ConnectionView `json:"items"`
	}
	e.call("GET", "/flowservice/connections/"+conn, w, nil).decode(t, 200, &one)
	if len(one.Items) != 1 || one.Items[0].Auth.Params.InletID != p.InletID {
		t.Fatalf("get: %+v", one)
	}

	// It is a normal stream in /v1.
	var st view.Stream
	e.call("GET", "/v1/streams/"+c.StreamID, w, nil).decode(t, 200, &st)
	if st.Name != "ACME-Streaming-Connection" || st.Status != model.StatusInactive || st.InletID != p.InletID ||
		st.InletURL != p.InletURL || st.AuthRequired() || len(st.Destinations) != 0 {
		t.Fatalf("stream %+v", st)
	}
	// Until a flow binds it, its inlet answers 409.
	res := e.call("POST", "/collection/"+p.InletID, "", `{"a":1}`)
	if res.status != http.StatusConflict {
		t.Fatalf("inactive inlet: %d %s", res.status, res.raw)
	}

	src := e.call("POST", "/flowservice/sourceConnections", w, map[string]any{
		"name": "ACME source", "baseConnectionId": conn, "data": map[string]any{"format": "json"},
		"connectionSpec": map[string]any{"id": HTTPAPISpecID, "version": "1.0"},
	}).created(t, "/flowservice/sourceConnections/")
	tgt := e.call("POST", "/flowservice/targetConnections", w, map[string]any{
		"name": "Hook target", "connectionSpec": map[string]any{"id": "standard", "version": "1.0"},
		"params": map[string]any{"url": "http://127.0.0.1:9/hook", "headers": map[string]any{"Authorization": "Bearer s3cret"}},
		"data":   map[string]any{"format": "json"},
	}).created(t, "/flowservice/targetConnections/")

	// The target's secret is sealed at rest and masked when read.
	var raw json.RawMessage
	if _, err := e.store.GetObject(e.ctx, model.DefaultWorkspace, kindTarget, tgt, &raw); err != nil || bytes.Contains(raw, []byte("s3cret")) {
		t.Fatalf("stored target %s (%v)", raw, err)
	}
	var targets struct {
		Items []targetView `json:"items"`
	}
	e.call("GET", "/flowservice/targetConnections", w, nil).decode(t, 200, &targets)
	if len(targets.Items) != 1 || targets.Items[0].DestinationType != "http" || targets.Items[0].DestinationName != "Hook-target" ||
		targets.Items[0].Params["headers"].(map[string]any)["Authorization"] != secret.Mask || targets.Items[0].Params["url"] != "http://127.0.0.1:9/hook" {
		t.Fatalf("targets %s", mustMarshal(targets))
	}
	var sources struct {
		Items []sourceView `json:"items"`
	}
	e.call("GET", "/flowservice/sourceConnections/"+src, w, nil).decode(t, 200, &sources)
	if len(sources.Items) != 1 || sources.Items[0].BaseConnectionID != conn || sources.Items[0].Data.Format != "json" || sources.Items[0].StreamID != c.StreamID {
		t.Fatalf("source %s", mustMarshal(sources))
	}

	// The flow adds the target to the stream and activates it.
	flowID := e.call("POST", "/flowservice/flows", w, map[string]any{
		"name": "ACME flow", "flowSpec": map[string]any{"id": "d8a6f005-7eaf-4153-983e-e8574508b877", "version": "1.0"},
		"sourceConnectionIds": []string{src}, "targetConnectionIds": []string{tgt},
		"transformations": []any{},
	}).created(t, "/flowservice/flows/")
	e.call("GET", "/v1/streams/"+c.StreamID, w, nil).decode(t, 200, &st)
	if st.Status != model.StatusActive || len(st.Destinations) != 1 {
		t.Fatalf("stream after the flow %+v", st)
	}
	d := st.Destinations[0]
	if d.Name != "Hook-target" || d.Type != "http" || d.Settings["url"] != "http://127.0.0.1:9/hook" ||
		d.Settings["headers"].(map[string]any)["Authorization"] != secret.Mask {
		t.Fatalf("destination %+v", d)
	}
	stored, _, _ := e.store.Stream(model.DefaultWorkspace, c.StreamID)
	clear, err := e.store.Decrypted(stored)
	if err != nil || clear.Destinations[0].Settings["headers"].(map[string]any)["Authorization"] != "Bearer s3cret" {
		t.Fatalf("the secret did not survive: %v", err)
	}
	e.call("GET", "/flowservice/connections/"+conn, w, nil).decode(t, 200, &one)
	if one.Items[0].State != "enabled" {
		t.Fatalf("state %s", one.Items[0].State)
	}
	var flows struct {
		Items []flowView `json:"items"`
	}
	e.call("GET", "/flowservice/flows", w, nil).decode(t, 200, &flows)
	if len(flows.Items) != 1 || flows.Items[0].ID != flowID || flows.Items[0].State != "enabled" ||
		!slices.Equal(flows.Items[0].Destinations, []Binding{{StreamID: c.StreamID, Destination: "Hook-target"}}) {
		t.Fatalf("flows %s", mustMarshal(flows))
	}

	// Records posted to the inlet URL are stored.
	before := e.msgs(c.StreamID)
	res = e.call("POST", strings.TrimPrefix(p.InletURL, e.srv.URL), "", `{"a":1}`)
	if res.status != 200 || e.msgs(c.StreamID) != before+1 {
		t.Fatalf("inlet: %d %s", res.status, res.raw)
	}

	// A second flow with the same target gets a free destination name.
	e.call("POST", "/flowservice/flows", w, map[string]any{"name": "again", "sourceConnectionIds": []string{src}, "targetConnectionIds": []string{tgt}}).created(t, "/flowservice/flows/")
	e.call("GET", "/v1/streams/"+c.StreamID, w, nil).decode(t, 200, &st)
	if len(st.Destinations) != 2 || st.Destinations[1].Name != "Hook-target-2" {
		t.Fatalf("destinations %+v", st.Destinations)
	}

	// Every object is in the activity history.
	acts, _, err := e.store.Activity(e.ctx, model.DefaultWorkspace, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range acts {
		seen[a.Resource] = true
		if a.AuthorName != "writer" && a.Resource != "token" && a.Resource != "workspace" {
			t.Errorf("activity by %q: %+v", a.AuthorName, a)
		}
	}
	for _, r := range []string{"stream", kindConnection, kindSource, kindTarget, kindFlow} {
		if !seen[r] {
			t.Errorf("no activity for %s", r)
		}
	}

	// A connection whose stream is deleted in /v1 is gone too.
	e.call("DELETE", "/v1/streams/"+c.StreamID, w, nil).decode(t, 204, nil)
	e.call("GET", "/flowservice/connections", w, nil).decode(t, 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("items %+v", list.Items)
	}
	e.call("GET", "/flowservice/connections/"+conn, w, nil).apiError(t, 404, "not_found", "deleted", "")
}

func TestDefaultsAndNames(t *testing.T) {
	e := newEnv(t)
	w := e.writer
	// authenticationRequired defaults to true; names are made valid and unique.
	a := e.call("POST", "/flowservice/connections", w, map[string]any{"name": "str_ déjà vu!"}).created(t, "/flowservice/connections/")
	b := e.call("POST", "/flowservice/connections", w, map[string]any{"name": "str_ déjà vu!", "auth": map[string]any{"params": map[string]any{}}}).created(t, "/flowservice/connections/")
	var list struct {
		Items []ConnectionView `json:"items"`
	}
	e.call("GET", "/flowservice/connections", w, nil).decode(t, 200, &list)
	if len(list.Items) != 2 {
		t.Fatalf("%+v", list)
	}
	names := map[string]string{}
	for _, c := range list.Items {
		if !c.Auth.Params.AuthenticationRequired || c.ConnectionSpec.ID != HTTPAPISpecID {
			t.Fatalf("%+v", c)
		}
		st, _, _ := e.store.Stream(model.DefaultWorkspace, c.StreamID)
		names[c.ID] = st.Name
	}
	if names[a] != "s-str_-d-j-vu" || names[b] != "s-str_-d-j-vu-"+b[:8] {
		t.Fatalf("stream names %v", names)
	}
}

func TestRejects(t *testing.T) {
	e := newEnv(t)
	w := e.writer
	conn := e.call("POST", "/flowservice/connections", w, map[string]any{"name": "base"}).created(t, "/flowservice/connections/")
	src := e.call("POST", "/flowservice/sourceConnections", w, map[string]any{"name": "s", "baseConnectionId": conn}).created(t, "/flowservice/sourceConnections/")
	tgt := e.call("POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "http"}, "params": map[string]any{"url": "http://127.0.0.1:9/"}}).created(t, "/flowservice/targetConnections/")
	reader := e.token(model.DefaultWorkspace, model.TokenRequest{Name: "reader", Scopes: []string{model.ScopeStreamsRead}})
	ingestTok := e.token(model.DefaultWorkspace, model.TokenRequest{Name: "ingest", Scopes: []string{model.ScopeIngest}})
	st, _, _ := e.store.Stream(model.DefaultWorkspace, "base")
	limited := e.token(model.DefaultWorkspace, model.TokenRequest{Name: "limited", Scopes: []string{model.ScopeStreamsWrite, model.ScopeStreamsRead}, Streams: []string{st.ID}})
	if _, err := e.store.CreateWorkspace(e.ctx, "acme", store.System); err != nil {
		t.Fatal(err)
	}
	foreign := e.token("acme", model.TokenRequest{Name: "acme", Scopes: []string{model.ScopeStreamsWrite, model.ScopeStreamsRead}})

	tests := []struct {
		name, method, path, tok string
		body                    any
		status                  int
		code, detail, field     string
	}{
		{"no token", "POST", "/flowservice/connections", "", map[string]any{"name": "x"}, 401, "unauthorized", "missing token", ""},
		{"read-only token writes", "POST", "/flowservice/connections", reader, map[string]any{"name": "x"}, 403, "forbidden", "streams.write", ""},
		{"ingest token reads", "GET", "/flowservice/connections", ingestTok, nil, 403, "forbidden", "streams.read", ""},
		{"limited token creates a stream", "POST", "/flowservice/connections", limited, map[string]any{"name": "x"}, 403, "forbidden", "limited to streams", ""},
		{"another workspace's connection", "GET", "/flowservice/connections/" + conn, foreign, nil, 404, "not_found", "not found", ""},
		{"another workspace's base connection", "POST", "/flowservice/sourceConnections", foreign, map[string]any{"name": "s", "baseConnectionId": conn}, 400, "invalid_config", "no base connection", "baseConnectionId"},
		{"unknown id", "GET", "/flowservice/flows/nope", w, nil, 404, "not_found", "not found", ""},
		{"PUT", "PUT", "/flowservice/connections", w, map[string]any{}, 405, "method_not_allowed", "GET, HEAD, POST", ""},
		{"malformed JSON", "POST", "/flowservice/connections", w, `{"name":`, 400, "invalid_format", "invalid JSON", ""},
		{"not an object", "POST", "/flowservice/connections", w, `["x"]`, 400, "invalid_format", "JSON object", ""},
		{"empty body", "POST", "/flowservice/connections", w, ``, 400, "invalid_format", "empty body", ""},
		{"missing name", "POST", "/flowservice/connections", w, map[string]any{"description": "d"}, 400, "invalid_config", "is required", "name"},
		{"name a number", "POST", "/flowservice/connections", w, map[string]any{"name": 5}, 400, "invalid_config", "must be of type string", "name"},
		{"authenticationRequired a string", "POST", "/flowservice/connections", w, map[string]any{"name": "x", "auth": map[string]any{"params": map[string]any{"authenticationRequired": "no"}}}, 400, "invalid_config", "boolean", "auth.params.authenticationRequired"},
		{"description too long", "POST", "/flowservice/connections", w, map[string]any{"name": "x", "description": strings.Repeat("d", 1025)}, 400, "invalid_config", "1024", "description"},
		{"source without base", "POST", "/flowservice/sourceConnections", w, map[string]any{"name": "s"}, 400, "invalid_config", "is required", "baseConnectionId"},
		{"source with unknown base", "POST", "/flowservice/sourceConnections", w, map[string]any{"name": "s", "baseConnectionId": "nope"}, 400, "invalid_config", "no base connection", "baseConnectionId"},
		{"source in parquet", "POST", "/flowservice/sourceConnections", w, map[string]any{"name": "s", "baseConnectionId": conn, "data": map[string]any{"format": "parquet"}}, 400, "invalid_config", "supported: json", "data.format"},
		{"target of unknown type", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "ftp"}}, 400, "invalid_config", `unknown destination type "ftp"`, "connectionSpec.id"},
		{"target without type", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "params": map[string]any{}}, 400, "invalid_config", "is required", "connectionSpec.id"},
		{"target with invalid settings", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "http"}, "params": map[string]any{"url": "ftp://x", "nope": 1}}, 400, "invalid_config", "unknown setting", "params.nope"},
		{"target in parquet", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": DataLakeSpecID}, "params": map[string]any{}, "data": map[string]any{"format": "parquet"}}, 400, "invalid_config", "data lake destination not available yet; supported: json", "data.format"},
		{"target in parquet_xdm", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "http"}, "data": map[string]any{"format": "parquet_xdm"}}, 400, "invalid_config", "data lake destination not available yet", "data.format"},
		{"target in avro", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "http"}, "data": map[string]any{"format": "avro"}}, 400, "invalid_config", "supported: json", "data.format"},
		{"target with a masked secret", "POST", "/flowservice/targetConnections", w, map[string]any{"name": "t", "connectionSpec": map[string]any{"id": "http"}, "params": map[string]any{"url": "http://x/", "headers": map[string]any{"X-Api-Key": secret.Mask}}}, 400, "invalid_config", "placeholder", "params.headers.X-Api-Key"},
		{"flow without ids", "POST", "/flowservice/flows", w, map[string]any{"name": "f"}, 400, "invalid_config", "at least one", "sourceConnectionIds"},
		{"flow with unknown source", "POST", "/flowservice/flows", w, map[string]any{"name": "f", "sourceConnectionIds": []string{"nope"}, "targetConnectionIds": []string{tgt}}, 400, "invalid_config", "no source connection", "sourceConnectionIds[0]"},
		{"flow with unknown target", "POST", "/flowservice/flows", w, map[string]any{"name": "f", "sourceConnectionIds": []string{src}, "targetConnectionIds": []string{tgt, "nope"}}, 400, "invalid_config", "no target connection", "targetConnectionIds[1]"},
		{"flow ids not strings", "POST", "/flowservice/flows", w, map[string]any{"name": "f", "sourceConnectionIds": []int{1}}, 400, "invalid_config", "must be of type", "sourceConnectionIds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			e.call(tt.method, tt.path, tt.tok, tt.body).apiError(t, tt.status, tt.code, tt.detail, tt.field)
			if e.snapshot() != before {
				t.Fatal("a rejected request changed the configuration")
			}
		})
	}
	// The token limited to the base connection's stream may still read
	// it and bind it; a workspace's objects are invisible to others.
	var list struct {
		Items []ConnectionView `json:"items"`
	}
	e.call("GET", "/flowservice/connections", limited, nil).decode(t, 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("%+v", list)
	}
	e.call("GET", "/flowservice/connections", foreign, nil).decode(t, 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("another workspace sees %+v", list)
	}
	e.call("POST", "/flowservice/flows", limited, map[string]any{"name": "f", "sourceConnectionIds": []string{src}, "targetConnectionIds": []string{tgt}}).created(t, "/flowservice/flows/")
}

func TestParquetTargetWithDataLake(t *testing.T) {
	e := newEnv(t, lakeKind())
	id := e.call("POST", "/flowservice/targetConnections", e.writer, map[string]any{
		"name": "lake", "connectionSpec": map[string]any{"id": DataLakeSpecID, "version": "1.0"},
		"params": map[string]any{"path": "/tmp/lake"}, "data": map[string]any{"format": "parquet_xdm"},
	}).created(t, "/flowservice/targetConnections/")
	var got struct {
		Items []targetView `json:"items"`
	}
	e.call("GET", "/flowservice/targetConnections/"+id, e.writer, nil).decode(t, 200, &got)
	if got.Items[0].DestinationType != DataLakeType || got.Items[0].Data.Format != "parquet" || got.Items[0].Params["path"] != "/tmp/lake" {
		t.Fatalf("%s", mustMarshal(got))
	}
	// json to a data lake spec, parquet to another type.
	e.call("POST", "/flowservice/targetConnections", e.writer, map[string]any{"name": "x", "connectionSpec": map[string]any{"id": "http"}, "data": map[string]any{"format": "parquet"}}).
		apiError(t, 400, "invalid_config", "parquet data goes to the datalake destination type", "connectionSpec.id")
}

func mustMarshal(v any) string { b, _ := json.Marshal(v); return string(b) }
