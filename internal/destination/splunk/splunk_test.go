package splunk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/splunk/splunktest"
	"github.com/runnel/runnel/internal/retry"
)

const tok = "12345678-abcd-1234-abcd-1234abcd5678"

func newDest(t *testing.T, settings map[string]any, deps destination.Deps) *Destination {
	t.Helper()
	k := Kind()
	c, errs := k.Decode(settings)
	if len(errs) > 0 {
		t.Fatalf("settings: %v", errs)
	}
	d, err := k.New(t.Context(), c, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(t.Context()) })
	return d.(*Destination)
}

func deliver(t *testing.T, d *Destination, recs ...string) error {
	t.Helper()
	b := destination.Batch{}
	for _, r := range recs {
		b.Records = append(b.Records, []byte(r))
	}
	return d.Deliver(t.Context(), b)
}

func TestEventFormat(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	d := newDest(t, map[string]any{"url": srv.URL + "?index=web&channel=abc", "api_key": tok}, destination.Deps{Stream: "payments"})
	now := time.Date(2025, 2, 12, 14, 32, 15, 987654321, time.UTC)
	d.now = func() time.Time { return now }
	err := deliver(t, d,
		`{"timestamp":"2024-05-01T12:00:00.123Z","a":1}`,
		`{"timestamp":1714564800456,"b":"x"}`,
		`{"c":true}`,
		`{"timestamp":"not a time"}`,
	)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.URL.Path != "/services/collector/event" || got.URL.RawQuery != "channel=abc" {
		t.Errorf("posted to %s?%s", got.URL.Path, got.URL.RawQuery)
	}
	if a := got.Header.Get("Authorization"); a != "Splunk "+tok {
		t.Errorf("Authorization %q", a)
	}
	host, _ := os.Hostname()
	hq, _ := json.Marshal(host)
	meta := fmt.Sprintf(`"host":%s,"source":"runnel:payments","sourcetype":"_json","index":"web"`, hq)
	want := `{"time":1714564800.123,` + meta + `,"event":{"timestamp":"2024-05-01T12:00:00.123Z","a":1}}` +
		`{"time":1714564800.456,` + meta + `,"event":{"timestamp":1714564800456,"b":"x"}}` +
		`{"time":1739370735.987,` + meta + `,"event":{"c":true}}` +
		`{"time":1739370735.987,` + meta + `,"event":{"timestamp":"not a time"}}`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
}

func TestQueryOverridesAndFake(t *testing.T) {
	srv := splunktest.New(t, tok)
	d := newDest(t, map[string]any{"url": srv.URL + "/services/collector?host=web-1&source=app&sourcetype=myjson", "api_key": tok}, destination.Deps{})
	if err := deliver(t, d, `{"a":1}`, `"a string"`, `42`); err != nil {
		t.Fatal(err)
	}
	evs := srv.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		if e.Host != "web-1" || e.Source != "app" || e.Sourcetype != "myjson" || e.Index != "main" || len(e.Time) == 0 {
			t.Errorf("event %+v", e)
		}
	}
	if string(evs[1].Event) != `"a string"` || string(evs[2].Event) != `42` {
		t.Errorf("events %s %s", evs[1].Event, evs[2].Event)
	}
}

func TestDefaultPath(t *testing.T) {
	for raw, want := range map[string]string{
		"https://s:8088":                                "https://s:8088/services/collector/event",
		"https://s:8088/":                               "https://s:8088/services/collector/event",
		"https://s/services/collector":                  "https://s/services/collector",
		"https://s/splunk/services/collector/event/1.0": "https://s/splunk/services/collector/event/1.0",
	} {
		e, err := parseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.event != want {
			t.Errorf("%s: event URL %s, want %s", raw, e.event, want)
		}
	}
	e, _ := parseURL("https://s/splunk/services/collector/event")
	if e.health != "https://s/splunk/services/collector/health" {
		t.Errorf("health %s", e.health)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		url, key string
		bad      []string
		msg      string
	}{
		{"https://splunk:8088/services/collector/event?index=main", tok, nil, ""},
		{"", tok, []string{"url"}, "required"},
		{"https://s/services/collector/event", "", []string{"api_key"}, "required"},
		{"https://s/services/collector/event", "Splunk " + tok, []string{"api_key"}, "token alone"},
		{"gopher://s/", tok, []string{"url"}, "scheme"},
		{"https://u:p@s/", tok, []string{"url"}, "user"},
		{"https://s/services/collector/raw", tok, []string{"url"}, "/raw"},
		{"https://s/?index=", tok, []string{"url"}, "index is empty"},
		{"https://s/?index=a&index=b", tok, []string{"url"}, "2 times"},
		{"https://s/?token=abc", tok, []string{"url"}, "api_key"},
		{"https://s/?source=" + strings.Repeat("s", 300), tok, []string{"url"}, "at most"},
		{"::", "", []string{"url", "api_key"}, ""},
	} {
		errs := (&Config{URL: tc.url, APIKey: tc.key}).Validate()
		var paths []string
		for _, e := range errs {
			paths = append(paths, e.Path)
			if strings.Contains(e.Message, tok) {
				t.Errorf("message repeats the token: %s", e.Message)
			}
		}
		if !slices.Equal(paths, tc.bad) {
			t.Errorf("%q: errors %v, want paths %v", tc.url, errs, tc.bad)
		}
		if tc.msg != "" && !strings.Contains(errs.Error(), tc.msg) {
			t.Errorf("%q: %v does not say %q", tc.url, errs, tc.msg)
		}
	}
}

// TestCodeMapping: every documented HEC answer to an event request, as
// the deliverer sees it.
func TestCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		status, code int
		text         string
		retryAfter   string
		perm         bool
		say          string
	}{
		{403, 1, "Token disabled", "", true, "enable the HEC token"},
		{401, 2, "Token is required", "", true, "Token is required"},
		{401, 3, "Invalid authorization", "", true, "token alone"},
		{403, 4, "Invalid token", "", true, "check api_key"},
		{400, 5, "No data", "", true, "No data"},
		{400, 6, "Invalid data format", "", true, "Invalid data format"}, // no invalid-event-number: whole batch
		{400, 7, "Incorrect index", "", true, "may not write to the index"},
		{500, 8, "Internal server error", "", false, "Internal server error"},
		{503, 9, "Server is busy", "5", false, "Server is busy"},
		{400, 10, "Data channel is missing", "", true, "indexer acknowledgement"},
		{400, 11, "Invalid data channel", "", true, "indexer acknowledgement"},
		{400, 14, "ACK is disabled", "", true, "ACK is disabled"},
		{400, 16, "Query string authorization is not enabled", "", true, "?token="},
		{503, 18, "HEC is unhealthy, queues are full", "", false, "queues are full"},
		{429, 99, "Too many requests", "2", false, "code 99"},
		{400, 99, "Something new", "", true, "Something new"},
		{502, -1, "<html>Bad Gateway</html>", "", false, "Bad Gateway"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				if tc.code < 0 {
					io.WriteString(w, tc.text)
					return
				}
				fmt.Fprintf(w, `{"text":%q,"code":%d}`, tc.text, tc.code)
			}))
			defer srv.Close()
			d := newDest(t, map[string]any{"url": srv.URL, "api_key": tok}, destination.Deps{})
			err := deliver(t, d, `{"a":1}`, `{"a":2}`)
			if err == nil {
				t.Fatal("nil error")
			}
			var be *destination.BatchError
			if errors.As(err, &be) {
				t.Fatalf("whole-request answer reported per event: %v", err)
			}
			if retry.IsPermanent(err) != tc.perm {
				t.Errorf("permanent %v, want %v: %v", retry.IsPermanent(err), tc.perm, err)
			}
			var he *HECError
			if !errors.As(err, &he) || he.StatusCode() != tc.status || he.Code != max(tc.code, -1) {
				t.Errorf("HECError %#v", he)
			}
			if ra, ok := retry.RetryAfter(err); (tc.retryAfter != "") != ok || (ok && fmt.Sprint(int(ra.Seconds())) != tc.retryAfter) {
				t.Errorf("Retry-After %v %v, want %q", ra, ok, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("%q does not say %q", err, tc.say)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("token in error: %v", err)
			}
		})
	}
}

func TestCodeTableMatchesStatuses(t *testing.T) {
	for code, info := range Codes {
		if info.Retryable != (info.Status >= 500) {
			t.Errorf("code %d: retryable %v with status %d", code, info.Retryable, info.Status)
		}
	}
}

// TestInvalidEventNumber: HEC stops at the first bad event and names it;
// the events before are indexed, the ones after are sent again.
func TestInvalidEventNumber(t *testing.T) {
	srv := splunktest.New(t, tok)
	srv.Reject(func(ev []byte) bool { return strings.Contains(string(ev), `"bad"`) })
	d := newDest(t, map[string]any{"url": srv.URL + "/services/collector/event", "api_key": tok}, destination.Deps{})
	recs := []string{`{"n":0}`, `{"n":1,"x":"bad"}`, `{"n":2}`, `{"n":3}`, `{"n":4,"x":"bad"}`, `{"n":5}`, `{"n":6}`}
	err := deliver(t, d, recs...)
	var be *destination.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want BatchError, got %v", err)
	}
	var idx []int
	for _, it := range be.Failed {
		idx = append(idx, it.Index)
		var he *HECError
		if !retry.IsPermanent(it.Err) || !errors.As(it.Err, &he) || he.Code != CodeInvalidDataFormat || he.Event != it.Index {
			t.Errorf("item %d: %#v", it.Index, it.Err)
		}
		if !strings.Contains(it.Err.Error(), fmt.Sprintf("event %d of the batch", it.Index)) {
			t.Errorf("item %d: %v", it.Index, it.Err)
		}
	}
	if !slices.Equal(idx, []int{1, 4}) {
		t.Errorf("failed %v", idx)
	}
	var got []string
	for _, b := range srv.Bodies() {
		got = append(got, string(b))
	}
	if want := []string{recs[0], recs[2], recs[3], recs[5], recs[6]}; !slices.Equal(got, want) {
		t.Errorf("indexed %v, want %v", got, want)
	}
}

func TestSplitOn413(t *testing.T) {
	srv := splunktest.New(t, tok)
	srv.SetMaxContentLength(2000)
	d := newDest(t, map[string]any{"url": srv.URL, "api_key": tok}, destination.Deps{})
	var recs []string
	for i := range 40 {
		recs = append(recs, fmt.Sprintf(`{"n":%d,"msg":"hello world"}`, i))
	}
	if err := deliver(t, d, recs...); err != nil {
		t.Fatal(err)
	}
	got := srv.Bodies()
	if len(got) != len(recs) {
		t.Fatalf("%d events indexed", len(got))
	}
	for i := range got {
		if string(got[i]) != recs[i] {
			t.Fatalf("event %d: %s", i, got[i])
		}
	}
	n413 := 0
	for _, r := range srv.Requests() {
		if r.Status == 413 {
			n413++
		}
	}
	if n413 == 0 {
		t.Error("no 413: nothing was split")
	}
	err := deliver(t, d, `{"a":1}`, `{"pad":"`+strings.Repeat("p", 3000)+`"}`)
	var be *destination.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !retry.IsPermanent(be.Failed[0].Err) ||
		!strings.Contains(be.Failed[0].Err.Error(), "max_content_length") {
		t.Fatalf("oversized: %v", err)
	}
}

func TestIncorrectIndex(t *testing.T) {
	srv := splunktest.New(t, tok)
	srv.AddToken("restricted", false, "allowed")
	d := newDest(t, map[string]any{"url": srv.URL + "?index=secret", "api_key": "restricted"}, destination.Deps{})
	err := deliver(t, d, `{"a":1}`, `{"a":2}`)
	var he *HECError
	if !retry.IsPermanent(err) || !errors.As(err, &he) || he.Code != CodeIncorrectIndex {
		t.Fatalf("got %v", err)
	}
	d2 := newDest(t, map[string]any{"url": srv.URL + "?index=allowed", "api_key": "restricted"}, destination.Deps{})
	if err := deliver(t, d2, `{"a":1}`); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	srv := splunktest.New(t, tok)
	srv.AddToken("disabled-token", true)
	if err := newDest(t, map[string]any{"url": srv.URL, "api_key": tok}, destination.Deps{}).Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	err := newDest(t, map[string]any{"url": srv.URL, "api_key": "disabled-token"}, destination.Deps{}).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "token rejected") || !strings.Contains(err.Error(), "Token disabled") {
		t.Errorf("disabled token: %v", err)
	}
	srv.Busy(1)
	err = newDest(t, map[string]any{"url": srv.URL, "api_key": tok}, destination.Deps{}).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "queues are full") {
		t.Errorf("busy: %v", err)
	}
	// A token with indexer acknowledgement: the empty post says code 10.
	ack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"text":"HEC is healthy","code":17}`)
			return
		}
		w.WriteHeader(400)
		io.WriteString(w, `{"text":"Data channel is missing","code":10}`)
	}))
	defer ack.Close()
	err = newDest(t, map[string]any{"url": ack.URL, "api_key": tok}, destination.Deps{}).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "indexer acknowledgement") {
		t.Errorf("ack token: %v", err)
	}
}

func TestParseTimestamp(t *testing.T) {
	for raw, want := range map[string]int64{ // unix ms, -1: none
		`"2024-05-01T12:00:00Z"`:        1714564800000,
		`"2024-05-01T14:00:00.5+02:00"`: 1714564800500,
		`1714564800`:                    1714564800000,
		`1714564800.25`:                 1714564800250,
		`1714564800123`:                 1714564800123,
		`1714564800123456`:              1714564800123,
		`1714564800123456789`:           1714564800123,
		`"yesterday"`:                   -1,
		`-5`:                            -1,
		`null`:                          -1,
		`{"a":1}`:                       -1,
		`"1969-12-31T00:00:00Z"`:        -1,
	} {
		ts, ok := parseTimestamp(json.RawMessage(raw))
		got := int64(-1)
		if ok {
			got = ts.UnixMilli()
		}
		if got != want {
			t.Errorf("%s: %d, want %d", raw, got, want)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	r, err := DecodeResponse([]byte(`{"text":"Invalid data format","code":6,"invalid-event-number":3}`))
	if err != nil || *r.Code != 6 || r.Text != "Invalid data format" || *r.InvalidEventNumber != 3 {
		t.Errorf("%+v %v", r, err)
	}
	r, err = DecodeResponse([]byte(`{"text":"Success","code":0,"ackId":7}`))
	if err != nil || *r.Code != 0 || *r.AckID != 7 {
		t.Errorf("%+v %v", r, err)
	}
	for _, bad := range []string{``, `<html>`, `{"text":"x"}`, `{"code":"6"}`, `[]`} {
		if _, err := DecodeResponse([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"text":"Success","code":0}`), 200)
	f.Add([]byte(`{"text":"Invalid data format","code":6,"invalid-event-number":1}`), 400)
	f.Add([]byte(`{"text":"Server is busy","code":9}`), 503)
	f.Fuzz(func(t *testing.T, b []byte, status int) {
		r, err := DecodeResponse(b)
		ok := err == nil
		if ok && r.Code == nil {
			t.Fatal("decoded without a code")
		}
		e := classify(status, r, ok, clean(string(b), 512))
		msg := e.Error()
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("multi-line error %q", msg)
		}
		if len(e.Text) > 512+len("…") {
			t.Fatalf("text not bounded: %d", len(e.Text))
		}
	})
}
