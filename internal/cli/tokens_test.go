package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestTokensCreateListRevoke(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/tokens":
			var req map[string]any
			_ = json.Unmarshal(body, &req)
			resp := map[string]any{"id": "tok_1", "name": req["name"], "workspace": "default", "scopes": req["scopes"],
				"streams": req["streams"], "expires_at": req["expires_at"], "created_at": "2025-02-12T14:32:15Z", "token": "rnl_s3cr3t"}
			w.Header().Set("Location", "/v1/tokens/tok_1")
			writeJSONResp(w, 201, resp)
		case r.Method == "GET" && r.URL.Path == "/v1/tokens":
			writeJSONResp(w, 200, map[string]any{"items": []any{
				map[string]any{"id": "tok_1", "name": "ci", "scopes": []string{"events.ingest"}, "streams": []string{"str_1"}, "expires_at": "2025-03-14T14:32:15Z", "created_at": "2025-02-12T14:32:15Z"},
				map[string]any{"id": "tok_admin", "name": "admin", "scopes": []string{"admin"}, "streams": []string{}, "expires_at": nil, "created_at": "2025-02-01T00:00:00Z"},
			}})
		case r.Method == "DELETE" && r.URL.Path == "/v1/tokens/tok_1":
			w.WriteHeader(204)
		default:
			apiErr(w, 404, "not_found", "no token")
		}
	})
	res := f.run("tokens", "create", "--name", "ci", "--scope", "events.ingest", "--scope", "streams.read",
		"--stream", "payments", "--expires-in", "720h")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	if res.stdout != "rnl_s3cr3t\n" {
		t.Errorf("stdout %q (want the secret alone)", res.stdout)
	}
	if !strings.Contains(res.stderr, "will not be shown again") || !strings.Contains(res.stderr, "created token tok_1 (ci)") {
		t.Errorf("stderr %q", res.stderr)
	}
	var req map[string]any
	if err := json.Unmarshal(f.requests()[0].Body, &req); err != nil {
		t.Fatal(err)
	}
	want := `{"expires_at":"2025-03-14T14:32:15Z","name":"ci","scopes":["events.ingest","streams.read"],"streams":["payments"]}`
	if got, _ := json.Marshal(req); string(got) != want {
		t.Errorf("body %s\nwant %s", got, want)
	}

	res = f.run("tokens", "create", "--name", "ops", "--scope", "streams.read,streams.write", "-o", "json")
	var full map[string]any
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &full) != nil || full["token"] != "rnl_s3cr3t" || full["id"] != "tok_1" {
		t.Errorf("-o json: %v %q", res.err, res.stdout)
	}
	if _, ok := full["expires_at"]; !ok || full["expires_at"] != nil {
		t.Errorf("no expiry expected: %v", full["expires_at"])
	}

	res = f.run("tokens", "create", "--name", "x")
	if res.err == nil || !strings.Contains(res.stderr, `required flag(s) "scope" not set`) {
		t.Errorf("missing scope: %v %q", res.err, res.stderr)
	}

	res = f.run("tokens", "list")
	if res.err != nil {
		t.Fatal(res.err)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "tok_1") || !strings.Contains(lines[2], "never") || !strings.Contains(lines[2], "all") {
		t.Errorf("table:\n%s", res.stdout)
	}
	res = f.run("tokens", "list", "-o", "yaml")
	if res.err != nil || !strings.Contains(res.stdout, "  id: tok_1\n") {
		t.Errorf("yaml list %q", res.stdout)
	}

	res = f.run("tokens", "revoke", "tok_1")
	if res.err != nil || res.stdout != "token tok_1 revoked\n" {
		t.Errorf("revoke: %v %q %q", res.err, res.stdout, res.stderr)
	}
	res = f.run("tokens", "revoke", "tok_2")
	if res.err == nil || res.stderr != "error: not_found: no token\n" {
		t.Errorf("revoke unknown: %v %q", res.err, res.stderr)
	}
}
