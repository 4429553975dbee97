package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for name, hdr := range map[string][]string{
		"missing":      nil,
		"garbage":      {"Authorization: Bearer rnl_garbage"},
		"empty bearer": {"Authorization: Bearer "},
		"other scheme": {"Authorization: Basic " + e.admin},
		"no scheme":    {"Authorization: " + e.admin},
		"oversized":    {"Authorization: Bearer " + strings.Repeat("x", 600)},
	} {
		r := e.do("GET", "/v1/streams", "", nil, hdr...)
		e.expect(r, 401, "unauthorized")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}
	// Expiry: valid now, 401 once the clock passes expires_at.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	m := e.expect(e.do("POST", "/v1/tokens", e.admin, `{"name":"short","scopes":["streams.read"],"expires_at":"`+exp+`"}`), 201, "")
	tok := m["token"].(string)
	e.expect(e.do("GET", "/v1/streams", tok, nil), 200, "")
	e.mu.Lock()
	e.now = time.Now().Add(2 * time.Hour)
	e.mu.Unlock()
	if got := e.expect(e.do("GET", "/v1/streams", tok, nil), 401, "unauthorized"); got["detail"] != "token has expired" {
		t.Fatalf("expired: %v", got)
	}
	// A revoked token stops working.
	e.mu.Lock()
	e.now = time.Time{}
	e.mu.Unlock()
	e.expect(e.do("DELETE", "/v1/tokens/"+m["id"].(string), e.admin, nil), 204, "")
	e.expect(e.do("GET", "/v1/streams", tok, nil), 401, "unauthorized")
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	read, _ := e.token("default", []string{"streams.read"})
	write, _ := e.token("default", []string{"streams.write"})
	toks, _ := e.token("default", []string{"tokens.write"})
	ingest, _ := e.token("default", []string{"events.ingest"})
	type call struct{ method, path, body string }
	readCalls := []call{{"GET", "/v1/streams", ""}, {"GET", "/v1/streams/payments", ""}, {"GET", "/v1/streams/payments/status", ""},
		{"GET", "/v1/streams/payments/dead-letters", ""}, {"GET", "/v1/activity", ""}}
	writeCalls := []call{{"POST", "/v1/streams", `{"name":"x"}`}, {"PUT", "/v1/streams/payments", `{"name":"payments"}`},
		{"PATCH", "/v1/streams/payments", `{}`}, {"DELETE", "/v1/streams/payments", ""},
		{"POST", "/v1/streams/payments/dead-letters/replay", ""}, {"POST", "/v1/streams/payments/destinations/hook/test", ""}}
	tokenCalls := []call{{"GET", "/v1/tokens", ""}, {"POST", "/v1/tokens", `{"name":"a","scopes":["streams.read"]}`}, {"DELETE", "/v1/tokens/tok_x", ""}}
	adminCalls := []call{{"GET", "/v1/workspaces", ""}, {"POST", "/v1/workspaces", `{"name":"b"}`}}
	cases := []struct {
		token   string
		allowed [][]call
		denied  [][]call
	}{
		{read, [][]call{readCalls}, [][]call{writeCalls, tokenCalls, adminCalls}},
		{write, nil, [][]call{readCalls, tokenCalls, adminCalls}},
		{toks, [][]call{tokenCalls[:1]}, [][]call{readCalls, writeCalls, adminCalls}},
		{ingest, nil, [][]call{readCalls, writeCalls, tokenCalls, adminCalls}},
	}
	before := e.snapshot()
	for _, tc := range cases {
		for _, group := range tc.denied {
			for _, c := range group {
				var body any
				if c.body != "" {
					body = c.body
				}
				e.expect(e.do(c.method, c.path, tc.token, body), 403, "forbidden")
			}
		}
		for _, group := range tc.allowed {
			for _, c := range group {
				if r := e.do(c.method, c.path, tc.token, nil); r.status != 200 {
					t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
				}
			}
		}
	}
	if e.snapshot() != before {
		t.Fatal("a forbidden request changed the store")
	}
	// Only admin tokens choose a workspace.
	if got := e.expect(e.do("GET", "/v1/streams", read, nil, "X-Workspace: other"), 403, "forbidden"); !strings.Contains(got["detail"].(string), "X-Workspace") {
		t.Fatal(got)
	}
	e.expect(e.do("GET", "/v1/streams", read, nil, "X-Workspace: default"), 200, "")
	// A tokens.write token cannot grant admin, nor revoke an admin token.
	e.expect(e.do("POST", "/v1/tokens", toks, `{"name":"root","scopes":["admin"]}`), 403, "forbidden")
	adminID := ""
	var list struct {
		Items []struct {
			ID, Name string
			Scopes   []string
		}
	}
	_ = json.Unmarshal(e.do("GET", "/v1/tokens", toks, nil).body, &list)
	for _, it := range list.Items {
		if len(it.Scopes) == 1 && it.Scopes[0] == "admin" {
			adminID = it.ID
		}
	}
	if adminID == "" {
		t.Fatal("admin token not listed")
	}
	e.expect(e.do("DELETE", "/v1/tokens/"+adminID, toks, nil), 403, "forbidden")
	if e.snapshot() != before {
		t.Fatal("a forbidden request changed the store")
	}
}

func TestWorkspaceIsolation(t *testing.T) {
	e := newEnv(t)
	a := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	aID := a["id"].(string)
	ws := e.expect(e.do("POST", "/v1/workspaces", e.admin, `{"name":"team-b"}`), 201, "")
	if ws["name"] != "team-b" {
		t.Fatal(ws)
	}
	b, bTokID := e.token("team-b", []string{"streams.read", "streams.write", "tokens.write"})
	bStream := e.expect(e.do("POST", "/v1/streams", b, sampleStream("payments")), 201, "") // same name, other workspace
	if bStream["workspace"] != "team-b" {
		t.Fatalf("created in %v", bStream["workspace"])
	}
	before := e.snapshot()

	// B sees only its own stream.
	l := e.expect(e.do("GET", "/v1/streams", b, nil), 200, "")
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != bStream["id"] {
		t.Fatalf("B lists %v", l)
	}
	// A's stream does not exist for B, by id.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/streams/" + aID, ""},
		{"PUT", "/v1/streams/" + aID, `{"name":"payments"}`},
		{"PATCH", "/v1/streams/" + aID, `{"status":"inactive"}`},
		{"DELETE", "/v1/streams/" + aID, ""},
		{"GET", "/v1/streams/" + aID + "/status", ""},
		{"GET", "/v1/streams/" + aID + "/dead-letters", ""},
		{"POST", "/v1/streams/" + aID + "/dead-letters/replay", ""},
		{"POST", "/v1/streams/" + aID + "/destinations/hook/test", ""},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		e.expect(e.do(c.method, c.path, b, body), 404, "not_found")
	}
	// By name, B reaches its own stream, never A's.
	if got := e.expect(e.do("GET", "/v1/streams/payments", b, nil), 200, ""); got["id"] == aID {
		t.Fatal("B read A's stream by name")
	}
	// Tokens: B sees only team-b's, cannot revoke default's.
	var toks struct{ Items []map[string]any }
	_ = json.Unmarshal(e.do("GET", "/v1/tokens", b, nil).body, &toks)
	for _, it := range toks.Items {
		if it["workspace"] != "team-b" {
			t.Fatalf("B sees token %v", it)
		}
	}
	if len(toks.Items) != 1 || toks.Items[0]["id"] != bTokID {
		t.Fatalf("B tokens: %v", toks.Items)
	}
	for _, tk := range e.st.Tokens("default") {
		e.expect(e.do("DELETE", "/v1/tokens/"+tk.ID, b, nil), 404, "not_found")
	}
	// A token for a stream of A cannot be made in B.
	e.expect(e.do("POST", "/v1/tokens", b, `{"name":"x","scopes":["events.ingest"],"streams":["`+aID+`"]}`), 400, "invalid_config")
	// Activity: B sees none of A's changes.
	act := e.expect(e.do("GET", "/v1/activity", b, nil), 200, "")
	for _, it := range act["items"].([]any) {
		if m := it.(map[string]any); m["resource_id"] == aID || m["workspace"] != "team-b" {
			t.Fatalf("B sees activity %v", m)
		}
	}
	// Workspaces are admin only.
	e.expect(e.do("GET", "/v1/workspaces", b, nil), 403, "forbidden")
	if e.snapshot() != before {
		t.Fatal("B's attempts changed the store")
	}

	// The admin reaches B with X-Workspace.
	l = e.expect(e.do("GET", "/v1/streams", e.admin, nil, "X-Workspace: team-b"), 200, "")
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != bStream["id"] {
		t.Fatalf("admin lists team-b: %v", l)
	}
	e.expect(e.do("GET", "/v1/streams/"+aID, e.admin, nil, "X-Workspace: team-b"), 404, "not_found")
	e.expect(e.do("PATCH", "/v1/streams/payments", e.admin, `{"description":"by admin"}`, "X-Workspace: team-b"), 200, "")
	if st, _, _ := e.st.Stream("default", aID); st.Description != "" {
		t.Fatal("admin PATCH in team-b changed A's stream")
	}
	// An admin token issued in team-b still defaults to "default".
	bAdmin, _ := e.token("team-b", []string{"admin"})
	l = e.expect(e.do("GET", "/v1/streams", bAdmin, nil), 200, "")
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != aID {
		t.Fatalf("admin of team-b without X-Workspace: %v", l)
	}
	wl := e.expect(e.do("GET", "/v1/workspaces", e.admin, nil), 200, "")
	if len(wl["items"].([]any)) != 2 {
		t.Fatalf("workspaces: %v", wl)
	}
}

func TestStreamLimitedToken(t *testing.T) {
	e := newEnv(t)
	s1 := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("s1")), 201, "")
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("s2")), 201, "")
	lim, _ := e.token("default", []string{"streams.read", "streams.write", "tokens.write"}, "s1")
	l := e.expect(e.do("GET", "/v1/streams", lim, nil), 200, "")
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != s1["id"] {
		t.Fatalf("limited list: %v", l)
	}
	before := e.snapshot()
	e.expect(e.do("GET", "/v1/streams/s2", lim, nil), 403, "forbidden")
	e.expect(e.do("PATCH", "/v1/streams/s2", lim, `{"status":"inactive"}`), 403, "forbidden")
	e.expect(e.do("DELETE", "/v1/streams/s2", lim, nil), 403, "forbidden")
	e.expect(e.do("POST", "/v1/streams", lim, sampleStream("s3")), 403, "forbidden")
	e.expect(e.do("POST", "/v1/tokens", lim, `{"name":"x","scopes":["events.ingest"]}`), 403, "forbidden")
	e.expect(e.do("POST", "/v1/tokens", lim, `{"name":"x","scopes":["events.ingest"],"streams":["s2"]}`), 403, "forbidden")
	if e.snapshot() != before {
		t.Fatal("a forbidden request changed the store")
	}
	e.expect(e.do("PATCH", "/v1/streams/s1", lim, `{"description":"mine"}`), 200, "")
	m := e.expect(e.do("POST", "/v1/tokens", lim, `{"name":"ingest-s1","scopes":["events.ingest"],"streams":["s1"]}`), 201, "")
	if st := m["streams"].([]any); len(st) != 1 || st[0] != s1["id"] {
		t.Fatalf("streams resolved to %v", st)
	}
	// It sees the tokens within its streams only, and the history of its streams only.
	var toks struct{ Items []map[string]any }
	_ = json.Unmarshal(e.do("GET", "/v1/tokens", lim, nil).body, &toks)
	for _, it := range toks.Items {
		if len(it["streams"].([]any)) == 0 {
			t.Fatalf("limited token sees unlimited token %v", it["name"])
		}
	}
	act := e.expect(e.do("GET", "/v1/activity?limit=1", lim, nil), 200, "")
	items := act["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["resource_id"] != s1["id"] || act["next"] == "" {
		t.Fatalf("limited activity: %v", act)
	}
	act = e.expect(e.do("GET", "/v1/activity?before="+act["next"].(string), lim, nil), 200, "")
	for _, it := range act["items"].([]any) {
		if it.(map[string]any)["resource_id"] != s1["id"] {
			t.Fatalf("limited token sees %v", it)
		}
	}
}
