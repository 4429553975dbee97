package estest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, auth, ct, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestFakeProtocol(t *testing.T) {
	key := EncodedKey("id", "secret")
	s := New(t, key)
	auth := "ApiKey " + key
	const nd = "application/x-ndjson"
	for _, tc := range []struct {
		name, path, auth, ct, body string
		status                     int
		errType                    string
	}{
		{"no credentials", "/logs/_bulk", "", nd, "{\"create\":{}}\n{}\n", 401, "security_exception"},
		{"wrong key", "/logs/_bulk", "ApiKey " + EncodedKey("id", "nope"), nd, "{\"create\":{}}\n{}\n", 401, "security_exception"},
		{"content type", "/logs/_bulk", auth, "text/plain", "{\"create\":{}}\n{}\n", 406, ""},
		{"no final newline", "/logs/_bulk", auth, nd, "{\"create\":{}}\n{}", 400, "illegal_argument_exception"},
		{"action without document", "/logs/_bulk", auth, nd, "{\"create\":{}}\n", 400, "illegal_argument_exception"},
		{"unknown action", "/logs/_bulk", auth, nd, "{\"upsert\":{}}\n{}\n", 400, "illegal_argument_exception"},
		{"malformed action", "/logs/_bulk", auth, nd, "\"create\"\n{}\n", 400, "illegal_argument_exception"},
		{"empty", "/logs/_bulk", auth, nd, "", 400, "parse_exception"},
		{"unknown path", "/logs/_search", auth, nd, "{}", 404, "resource_not_found_exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := post(t, s.URL+tc.path, tc.auth, tc.ct, tc.body)
			if status != tc.status {
				t.Errorf("status %d, want %d (%v)", status, tc.status, m)
			}
			if tc.errType != "" {
				e, _ := m["error"].(map[string]any)
				if e == nil || e["type"] != tc.errType || m["status"] != float64(tc.status) {
					t.Errorf("body %v", m)
				}
			}
		})
	}
	if n := len(s.All()); n != 0 {
		t.Errorf("%d documents stored by refused requests", n)
	}

	body := "{\"create\":{}}\n{\"a\":1}\n{\"index\":{\"_index\":\"other\"}}\n{\"fail\":\"mapper_parsing\"}\n{\"create\":{}}\n{\"fail\":\"429\"}\n{\"create\":{}}\nnot json\n"
	status, m := post(t, s.URL+"/logs/_bulk", auth, nd+"; charset=UTF-8", body)
	if status != 200 || m["errors"] != true || m["took"] == nil {
		t.Fatalf("%d %v", status, m)
	}
	items := m["items"].([]any)
	want := []struct {
		action, index string
		status        int
		errType       string
	}{
		{"create", "logs", 201, ""},
		{"index", "other", 400, "mapper_parsing_exception"},
		{"create", "logs", 429, "es_rejected_execution_exception"},
		{"create", "logs", 400, "document_parsing_exception"},
	}
	if len(items) != len(want) {
		t.Fatalf("items %v", items)
	}
	for i, w := range want {
		it := items[i].(map[string]any)[w.action].(map[string]any)
		if it["_index"] != w.index || it["status"] != float64(w.status) || it["_id"] == nil {
			t.Errorf("item %d: %v", i, it)
		}
		if w.errType == "" {
			if it["result"] != "created" || it["_seq_no"] == nil {
				t.Errorf("item %d: %v", i, it)
			}
		} else if e := it["error"].(map[string]any); e["type"] != w.errType || e["reason"] == "" {
			t.Errorf("item %d error %v", i, e)
		}
	}
	if d := s.Docs("logs"); len(d) != 1 || string(d[0]) != `{"a":1}` {
		t.Errorf("stored %q", d)
	}

	s.SetMaxContentLength(10)
	if status, _ := post(t, s.URL+"/logs/_bulk", auth, nd, "{\"create\":{}}\n{}\n"); status != 413 {
		t.Errorf("over max_content_length: %d", status)
	}

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version struct{ Number string } `json:"version"`
		Tagline string                  `json:"tagline"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(info.Version.Number, "8.") || info.Tagline == "" {
		t.Errorf("cluster info %d %+v", resp.StatusCode, info)
	}
}
