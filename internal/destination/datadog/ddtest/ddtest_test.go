package ddtest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Close()
	return b.Bytes()
}

func send(t *testing.T, s *Server, key string, body []byte, enc string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v2/logs", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("DD-API-KEY", key)
	}
	req.Header.Set("Content-Type", "application/json")
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFakeIntake(t *testing.T) {
	const key = "k0123456789"
	s := New(t, key)
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"m":1},`, MaxLogs+1), ",") + "]"
	big := `[{"pad":"` + strings.Repeat("x", MaxPayloadBytes) + `"}]`
	for _, tc := range []struct {
		name, key string
		body      []byte
		enc       string
		status    int
	}{
		{"missing key", "", gz(`[{"a":1}]`), "gzip", 401},
		{"wrong key", "nope", gz(`[{"a":1}]`), "gzip", 403},
		{"not gzip", key, []byte(`[{"a":1}]`), "", 415},
		{"bad gzip", key, []byte(`[{"a":1}]`), "gzip", 400},
		{"bad json", key, gz(`[{"a":1}`), "gzip", 400},
		{"not objects", key, gz(`[1,2]`), "gzip", 400},
		{"too many logs", key, gz(many), "gzip", 413},
		{"too large", key, gz(big), "gzip", 413},
		{"accepted", key, gz(`[{"a":1},{"b":2}]`), "gzip", 202},
		{"one object", key, gz(`{"c":3}`), "gzip", 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(t, s, tc.key, tc.body, tc.enc)
			if status != tc.status {
				t.Errorf("status %d, want %d: %s", status, tc.status, body)
			}
			if status == 202 && body != "{}" {
				t.Errorf("body %s", body)
			}
		})
	}
	if got := fmt.Sprintf("%s", s.Logs()); got != `[{"a":1} {"b":2} {"c":3}]` {
		t.Errorf("logs %s", got)
	}
	huge := `[{"pad":"` + strings.Repeat("y", MaxLogBytes) + `"}]`
	if status, _ := send(t, s, key, gz(huge), "gzip"); status != 202 || s.Truncated() != 1 {
		t.Errorf("a log over 1 MB: status %d, truncated %d (Datadog accepts and truncates)", status, s.Truncated())
	}
	s.RequireGzip(false)
	if status, _ := send(t, s, key, []byte(`[{"d":4}]`), ""); status != 202 {
		t.Errorf("plain: %d", status)
	}
	s.FailNext("2", 429)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v2/logs", strings.NewReader(`[{"e":5}]`))
	req.Header.Set("DD-API-KEY", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("FailNext: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for k, want := range map[string]int{key: 200, "bad": 403} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/validate", nil)
		req.Header.Set("DD-API-KEY", k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("validate %s: %d", k, resp.StatusCode)
		}
	}
}
