package api

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/secret"
)

// No answer of any endpoint, and no log line, contains a secret setting or
// a token.
func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/streams", e.admin, sampleStream("payments"))
	m := e.expect(r, 201, "")
	id := m["id"].(string)
	e.do("GET", "/v1/streams", e.admin, nil)
	e.do("GET", "/v1/streams/"+id, e.admin, nil)
	e.expect(e.do("PUT", "/v1/streams/"+id, e.admin, m), 200, "")
	e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"status":"inactive"}`), 200, "")
	e.do("GET", "/v1/streams/"+id+"/status", e.admin, nil)
	e.do("GET", "/v1/streams/"+id+"/dead-letters", e.admin, nil)
	res := e.expect(e.do("POST", "/v1/streams/"+id+"/destinations/hook/test", e.admin, nil), 200, "")
	if res["ok"] != false || !strings.Contains(res["error"].(string), secret.Mask) {
		t.Fatalf("test: %v", res)
	}
	// Error answers to bodies that carry secrets.
	bad := sampleStream("payments")
	bad["status"] = "paused"
	e.expect(e.do("PUT", "/v1/streams/"+id, e.admin, bad), 400, "invalid_config")
	e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 409, "conflict")
	b, _ := json.Marshal(sampleStream("x"))
	e.expect(e.do("POST", "/v1/streams", e.admin, string(b[:len(b)-3])), 400, "invalid_format")
	e.do("GET", "/v1/activity", e.admin, nil)
	e.do("GET", "/v1/openapi.json", "", nil)
	e.do("GET", "/metrics", "", nil)
	tok := e.expect(e.do("POST", "/v1/tokens", e.admin, `{"name":"n","scopes":["streams.read"]}`), 201, "")["token"].(string)
	e.do("GET", "/v1/tokens", e.admin, nil)
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil), 204, "")

	secrets := []string{apiKey, authHeader, "tok-SECRET-4d8e2a6c", url.QueryEscape(apiKey), base64.StdEncoding.EncodeToString([]byte(apiKey))}
	for i, body := range e.bodies {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("answer %d contains the secret %q: %s", i, s, body)
			}
		}
		if strings.Contains(body, e.admin) {
			t.Errorf("answer %d contains the admin token", i)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "api request") {
		t.Fatal("no request log captured: the check below would prove nothing")
	}
	for _, s := range append(secrets, e.admin, tok) {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains %q", s)
		}
	}
	// The token secret was shown exactly once: in the answer to POST /v1/tokens.
	n := 0
	for _, body := range e.bodies {
		n += strings.Count(body, tok)
	}
	if n != 1 {
		t.Errorf("token secret shown %d times", n)
	}
}

func TestScrub(t *testing.T) {
	s := "p@ss w0rd/+x"
	msg := "a " + s + " b " + url.QueryEscape(s) + " c " + url.PathEscape(s) + " d " + base64.StdEncoding.EncodeToString([]byte(s)) + ` e "p@ss w0rd\/+x"` + " f w0rd/+x"
	got := scrub(msg, []string{s, "", secret.Mask})
	if strings.Contains(got, "p@ss") || strings.Contains(got, "w0rd") {
		t.Fatalf("scrub left a secret: %s", got)
	}
	long := scrub(strings.Repeat("é", 3000), nil)
	if len(long) > maxTestError+4 || !strings.HasSuffix(long, "…") {
		t.Fatalf("long message: %d", len(long))
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	r := e.do("POST", "/v1/tokens", e.admin, map[string]any{"name": "ci", "scopes": []string{"streams.read", "events.ingest"}, "expires_at": exp})
	m := e.expect(r, 201, "")
	e.checkSchema("NewToken", r.body)
	for _, k := range []string{"id", "name", "scopes", "streams", "expires_at", "token"} {
		if _, ok := m[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, r.body)
		}
	}
	if _, ok := m["hash"]; ok {
		t.Fatal("hash returned")
	}
	sec := m["token"].(string)
	if !strings.HasPrefix(sec, "rnl_") || r.header.Get("Location") != "/v1/tokens/"+m["id"].(string) {
		t.Fatalf("token %q, Location %q", sec, r.header.Get("Location"))
	}
	if got, _ := time.Parse(time.RFC3339, m["expires_at"].(string)); !got.Equal(exp) {
		t.Fatalf("expires_at %v", m["expires_at"])
	}
	// The new token works with its scopes.
	e.expect(e.do("GET", "/v1/streams", sec, nil), 200, "")
	e.expect(e.do("POST", "/v1/streams", sec, sampleStream("x")), 403, "forbidden")

	r = e.do("GET", "/v1/tokens", e.admin, nil)
	e.checkSchema("TokenList", r.body)
	if strings.Contains(string(r.body), sec) || strings.Contains(string(r.body), `"hash"`) || strings.Contains(string(r.body), `"token"`) {
		t.Fatalf("token list shows a secret or hash: %s", r.body)
	}
	var list struct{ Items []map[string]any }
	_ = json.Unmarshal(r.body, &list)
	names := []string{}
	for _, it := range list.Items {
		names = append(names, it["name"].(string))
	}
	if !slices.Contains(names, "ci") || !slices.Contains(names, "admin") {
		t.Fatalf("tokens: %v", names)
	}
	e.expect(e.do("DELETE", "/v1/tokens/"+m["id"].(string), e.admin, nil), 204, "")
	e.expect(e.do("GET", "/v1/streams", sec, nil), 401, "unauthorized")
	e.expect(e.do("DELETE", "/v1/tokens/"+m["id"].(string), e.admin, nil), 404, "not_found")
}

func TestActivity(t *testing.T) {
	e := newEnv(t)
	m := e.expect(e.do("POST", "/v1/streams", e.admin, sampleStream("payments")), 201, "")
	id := m["id"].(string)
	e.expect(e.do("PATCH", "/v1/streams/"+id, e.admin, `{"status":"inactive"}`), 200, "")
	e.expect(e.do("DELETE", "/v1/streams/"+id, e.admin, nil), 204, "")
	r := e.do("GET", "/v1/activity", e.admin, nil)
	page := e.expect(r, 200, "")
	e.checkSchema("ActivityPage", r.body)
	items := page["items"].([]any)
	var got []string
	for _, it := range items[:3] {
		a := it.(map[string]any)
		got = append(got, a["type"].(string))
		if a["resource_id"] != id || a["resource_name"] != "payments" || a["author_name"] != "admin" ||
			!strings.Contains(a["client"].(string), "runnel-test/1.0") || !strings.Contains(a["client"].(string), "127.0.0.1") || a["time"] == "" {
			t.Fatalf("who/what/when: %v", a)
		}
	}
	if strings.Join(got, ",") != "DELETED,CHANGED,CREATED" {
		t.Fatalf("not newest first: %v", got)
	}
	// Pages.
	p1 := e.expect(e.do("GET", "/v1/activity?limit=2", e.admin, nil), 200, "")
	if len(p1["items"].([]any)) != 2 || p1["next"] == "" {
		t.Fatalf("page 1: %v", p1)
	}
	p2 := e.expect(e.do("GET", "/v1/activity?limit=2&before="+p1["next"].(string), e.admin, nil), 200, "")
	first := p2["items"].([]any)[0].(map[string]any)
	if first["type"] != "CREATED" || first["resource_id"] != id {
		t.Fatalf("page 2: %v", p2)
	}
}
