package splunktest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

type answer struct {
	Text  string `json:"text"`
	Code  int    `json:"code"`
	Event *int   `json:"invalid-event-number"`
}

func do(t *testing.T, method, url, auth string, body []byte, hdr ...string) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a answer
	json.Unmarshal(b, &a)
	return resp.StatusCode, a
}

func TestFakeCodes(t *testing.T) {
	const tok = "tok-1"
	s := New(t, tok)
	s.AddToken("off", true)
	s.AddToken("only-web", false, "web")
	ev := s.URL + "/services/collector/event"
	good := "Splunk " + tok
	for _, tc := range []struct {
		name, url, auth, body string
		status, code          int
		event                 int // -1: none
	}{
		{"token required", ev, "", `{"event":1}`, 401, 2, -1},
		{"invalid authorization", ev, tok, `{"event":1}`, 401, 3, -1},
		{"invalid token", ev, "Splunk nope", `{"event":1}`, 403, 4, -1},
		{"token disabled", ev, "Splunk off", `{"event":1}`, 403, 1, -1},
		{"no data", ev, good, ``, 400, 5, -1},
		{"invalid data format", ev, good, `{"event":"a"}{"event":`, 400, 6, 1},
		{"event null", ev, good, `{"event":null}`, 400, 6, 0},
		{"event required", ev, good, `{"event":"a"}{"host":"h"}`, 400, 12, 1},
		{"event blank", ev, good, `{"event":" "}`, 400, 13, 0},
		{"indexed fields", ev, good, `{"event":"a","fields":{"x":{"y":1}}}`, 400, 15, 0},
		{"incorrect index", ev, "Splunk only-web", `{"event":"a","index":"web"}{"event":"b","index":"main"}`, 400, 7, 1},
		{"query string token", ev + "?token=" + tok, good, `{"event":1}`, 400, 16, -1},
		{"success", s.URL + "/services/collector", good, `{"event":{"a":1},"time":1.5} {"event":"x"}`, 200, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, a := do(t, http.MethodPost, tc.url, tc.auth, []byte(tc.body))
			if status != tc.status || a.Code != tc.code {
				t.Errorf("status %d code %d (%q), want %d %d", status, a.Code, a.Text, tc.status, tc.code)
			}
			if (a.Event == nil) != (tc.event < 0) || (a.Event != nil && *a.Event != tc.event) {
				t.Errorf("invalid-event-number %v, want %d", a.Event, tc.event)
			}
		})
	}
	// Events before a bad one are kept: "a" (twice: format, required),
	// "a" (index web), then the success's two.
	var got []string
	for _, e := range s.Events() {
		got = append(got, string(e.Event))
	}
	if want := `"a" "a" "a" {"a":1} "x"`; strings.Join(got, " ") != want {
		t.Errorf("events %s, want %s", strings.Join(got, " "), want)
	}

	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, `{"event":"zipped"}`)
	zw.Close()
	if status, a := do(t, http.MethodPost, ev, good, zb.Bytes(), "Content-Encoding", "gzip"); status != 200 || a.Code != 0 {
		t.Errorf("gzip: %d %+v", status, a)
	}

	if status, a := do(t, http.MethodGet, s.URL+"/services/collector/health", "", nil); status != 200 || a.Code != 17 {
		t.Errorf("health: %d %+v", status, a)
	}
	s.Busy(1)
	if status, a := do(t, http.MethodGet, s.URL+"/services/collector/health", "", nil); status != 503 || a.Code != 18 {
		t.Errorf("health busy: %d %+v", status, a)
	}
	if status, a := do(t, http.MethodPost, ev, good, []byte(`{"event":1}`)); status != 503 || a.Code != 9 {
		t.Errorf("busy: %d %+v", status, a)
	}
	s.SetMaxContentLength(5)
	if status, _ := do(t, http.MethodPost, ev, good, []byte(`{"event":1}`)); status != 413 {
		t.Errorf("over max_content_length: %d", status)
	}
}
