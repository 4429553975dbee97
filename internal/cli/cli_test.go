package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/runnel/runnel/internal/server"
)

// recorded is one request the fake API received.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// fakeAPI is an httptest server whose handler the test writes; it records
// every request.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
}

func newFakeAPI(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

func (f *fakeAPI) reset() {
	f.mu.Lock()
	f.got = nil
	f.mu.Unlock()
}

// result of one CLI run.
type result struct {
	stdout, stderr string
	err            error
	sleeps         []time.Duration
}

type runOpts struct {
	env   map[string]string
	stdin string
	now   time.Time
	serve func(ctx context.Context, cfg server.Config, stdout, stderr io.Writer) error
}

// run executes the CLI with args against the fake API (RUNNEL_URL points
// at it unless env overrides it) and a token.
func (f *fakeAPI) run(args ...string) result {
	return f.runWith(runOpts{}, args...)
}

func (f *fakeAPI) runWith(o runOpts, args ...string) result {
	env := map[string]string{"RUNNEL_TOKEN": "tok-secret"}
	if f != nil {
		env["RUNNEL_URL"] = f.srv.URL
	}
	for k, v := range o.env {
		env[k] = v
	}
	var client *http.Client
	if f != nil {
		client = f.srv.Client()
	} else {
		client = &http.Client{}
	}
	return runCLI(o, env, client, args...)
}

func runCLI(o runOpts, env map[string]string, client *http.Client, args ...string) result {
	var stdout, stderr bytes.Buffer
	var res result
	now := o.now
	if now.IsZero() {
		now = time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	}
	serve := o.serve
	if serve == nil {
		serve = func(context.Context, server.Config, io.Writer, io.Writer) error { return nil }
	}
	root := newRoot(deps{
		stdin:      strings.NewReader(o.stdin),
		stdout:     &stdout,
		stderr:     &stderr,
		env:        func(k string) string { return env[k] },
		httpClient: client,
		sleep: func(ctx context.Context, d time.Duration) error {
			res.sleeps = append(res.sleeps, d)
			return ctx.Err()
		},
		now:   func() time.Time { return now },
		serve: serve,
	})
	root.SetArgs(args)
	res.err = root.ExecuteContext(context.Background())
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

func writeJSONResp(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, detail string) {
	writeJSONResp(w, status, map[string]any{"error": code, "detail": detail})
}

func TestVersionAndUnknownCommand(t *testing.T) {
	res := runCLI(runOpts{}, nil, nil, "version")
	if res.err != nil || !strings.HasPrefix(res.stdout, "runnel ") {
		t.Fatalf("version: %v %q %q", res.err, res.stdout, res.stderr)
	}
	res = runCLI(runOpts{}, nil, nil, "frobnicate")
	if res.err == nil || !strings.Contains(res.stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v %q", res.err, res.stderr)
	}
}

func TestAuthorizationAndWorkspaceHeaders(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSONResp(w, 200, map[string]any{"items": []any{}})
	})
	// Flags win over the environment.
	res := f.runWith(runOpts{env: map[string]string{"RUNNEL_WORKSPACE": "env-ws"}}, "streams", "list", "--token", "flag-token")
	if res.err != nil {
		t.Fatalf("list: %v %s", res.err, res.stderr)
	}
	r := f.requests()[0]
	if r.Method != "GET" || r.Path != "/v1/streams" {
		t.Fatalf("request %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer flag-token" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("X-Workspace"); got != "env-ws" {
		t.Errorf("X-Workspace = %q", got)
	}
	f.reset()
	res = f.run("tokens", "list", "--workspace", "team-a")
	if res.err != nil {
		t.Fatal(res.err)
	}
	r = f.requests()[0]
	if r.Header.Get("Authorization") != "Bearer tok-secret" || r.Header.Get("X-Workspace") != "team-a" {
		t.Errorf("headers %v", r.Header)
	}
}

func TestNetworkErrorIsReported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res := runCLI(runOpts{}, map[string]string{"RUNNEL_URL": url}, &http.Client{}, "streams", "list")
	if res.err == nil {
		t.Fatal("no error")
	}
	if !strings.HasPrefix(res.stderr, "error: cannot reach Runnel: GET "+url+"/v1/streams") {
		t.Errorf("stderr %q", res.stderr)
	}
	if strings.Contains(res.stderr, "Usage:") {
		t.Errorf("usage printed for a runtime error: %q", res.stderr)
	}
	// send does not retry a refused connection before anything was sent.
	res = runCLI(runOpts{stdin: "{}"}, map[string]string{"RUNNEL_URL": url}, &http.Client{}, "send", "--stream", "s")
	if res.err == nil || len(res.sleeps) != 0 || !strings.Contains(res.stderr, "connection refused") {
		t.Errorf("send: %v, waits %v, %q", res.err, res.sleeps, res.stderr)
	}
}

func TestErrorBodyPrintedWithFields(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == "GET" {
			apiErr(w, 404, "stream_not_found", "no stream payments")
			return
		}
		writeJSONResp(w, 400, map[string]any{
			"error":  "invalid_config",
			"detail": "2 invalid fields: destinations[0].settings.url: is required; buffer.max_bytes: must be at least 1MiB",
			"fields": []map[string]string{
				{"path": "destinations[0].settings.url", "message": "is required"},
				{"path": "buffer.max_bytes", "message": "must be at least 1MiB"},
			},
		})
	})
	res := f.runWith(runOpts{stdin: "name: payments\ndestinations: [{name: web, type: http, settings: {}}]\n"}, "streams", "apply", "-f", "-")
	if res.err == nil {
		t.Fatal("no error")
	}
	want := "error: invalid_config: 2 invalid fields: destinations[0].settings.url: is required; buffer.max_bytes: must be at least 1MiB\n" +
		"  destinations[0].settings.url: is required\n" +
		"  buffer.max_bytes: must be at least 1MiB\n"
	if res.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", res.stderr, want)
	}
	if res.stdout != "" {
		t.Errorf("stdout %q", res.stdout)
	}

	// A non-JSON error answer is shown with its status.
	g := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	res = g.run("streams", "get", "x")
	if res.err == nil || res.stderr != "error: HTTP 502 Bad Gateway: bad gateway\n" {
		t.Errorf("non-JSON error: %v %q", res.err, res.stderr)
	}
}

func TestOutputFlagValidated(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	res := f.run("streams", "list", "-o", "xml")
	if res.err == nil || !strings.Contains(res.stderr, `--output "xml": want one of table, json, yaml`) {
		t.Fatalf("%v %q", res.err, res.stderr)
	}
	if len(f.requests()) != 0 {
		t.Error("request sent despite a bad flag")
	}
}

func TestJSONToYAMLKeepsOrder(t *testing.T) {
	y, err := jsonToYAML([]byte(`{"name":"s","id":"str_1","big":10737418240,"f":1.5,"x":null,"l":[{"z":1,"a":2}],"e":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "name: s\nid: str_1\nbig: 10737418240\nf: 1.5\nx: null\nl:\n- z: 1\n  a: 2\ne: {}\n"
	if string(y) != want {
		t.Errorf("got\n%s\nwant\n%s", y, want)
	}
}

func TestJSONToYAMLRoundTrip(t *testing.T) {
	in := `{"s":"plain","q":["yes","No","on","1e3","","a: b","#x"," lead","-dash","$dataset","card payments","multi\nline","tab\t","ünï"],` +
		`"nested":{"list":[[1,[]],{"a":{"b":[{"c":null}]}}],"empty":{},"bools":[true,false]},"url":"http://h:1/p?q=1"}`
	y, err := jsonToYAML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	back, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if !jsonEqual(json.RawMessage(in), json.RawMessage(back)) {
		t.Errorf("round trip changed the document:\n%s\n%s\n%s", in, y, back)
	}
	for _, want := range []string{"s: plain\n", "- \"yes\"\n", "- $dataset\n", "- card payments\n", "- \"multi\\nline\"\n", "  empty: {}\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("lacks %q:\n%s", want, y)
		}
	}
}
