package datadog

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/datadog/ddtest"
	"github.com/runnel/runnel/internal/retry"
)

const key = "0123456789abcdef0123456789abcdef"

func newDest(t *testing.T, url string, deps destination.Deps) *Destination {
	t.Helper()
	k := Kind()
	c, errs := k.Decode(map[string]any{"url": url, "api_key": key})
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

func deliver(t *testing.T, d *Destination, recs ...[]byte) error {
	t.Helper()
	return d.Deliver(t.Context(), destination.Batch{Records: recs})
}

func strs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestRequestFormatAndEntries(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("body not gzip: %v", err)
			return
		}
		b, _ := io.ReadAll(zr)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	d := newDest(t, srv.URL+"?ddtags=env:prod,team:pay", destination.Deps{Stream: "payments"})
	err := deliver(t, d, strs(
		`{"message":"hi","status":"info"}`,
		`{"ddsource":"nginx","service":"web","a":1}`,
		` { } `,
		`"just text"`,
		`[1,2]`,
		`null`,
	)...)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.URL.Path != DefaultPath || got.URL.RawQuery != "ddtags=env:prod,team:pay" {
		t.Errorf("posted to %s?%s", got.URL.Path, got.URL.RawQuery)
	}
	for h, want := range map[string]string{"DD-API-KEY": key, "Content-Encoding": "gzip", "Content-Type": "application/json"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	want := `[{"ddsource":"runnel","service":"payments","message":"hi","status":"info"},` +
		`{"ddsource":"nginx","service":"web","a":1},` +
		`{"ddsource":"runnel","service":"payments"},` +
		`{"ddsource":"runnel","service":"payments","message":"just text"},` +
		`{"ddsource":"runnel","service":"payments","message":[1,2]},` +
		`{"ddsource":"runnel","service":"payments","message":null}]`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
}

func TestEntryWithoutStream(t *testing.T) {
	d := newDest(t, "https://http-intake.logs.datadoghq.com", destination.Deps{})
	for in, want := range map[string]string{
		`{"a":1}`:             `{"ddsource":"runnel","a":1}`,
		`{"ddsource":"x"}`:    `{"ddsource":"x"}`,
		`{}`:                  `{"ddsource":"runnel"}`,
		`{"service":"s"}`:     `{"ddsource":"runnel","service":"s"}`,
		"{\n\"a\": [1, 2]\n}": "{\"ddsource\":\"runnel\",\"a\": [1, 2]\n}",
	} {
		got, err := d.entry([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("%q: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := d.entry([]byte(`{"a":`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestURLs(t *testing.T) {
	for raw, want := range map[string][2]string{
		"https://http-intake.logs.datadoghq.com":            {"https://http-intake.logs.datadoghq.com/api/v2/logs", "https://api.datadoghq.com/api/v1/validate"},
		"https://http-intake.logs.datadoghq.eu/api/v2/logs": {"https://http-intake.logs.datadoghq.eu/api/v2/logs", "https://api.datadoghq.eu/api/v1/validate"},
		"https://http-intake.logs.us3.datadoghq.com/":       {"https://http-intake.logs.us3.datadoghq.com/api/v2/logs", "https://api.us3.datadoghq.com/api/v1/validate"},
		"http://proxy:8080/dd/api/v2/logs?ddtags=a:b":       {"http://proxy:8080/dd/api/v2/logs?ddtags=a:b", "http://proxy:8080/api/v1/validate"},
		"https://http-intake.logs.ddog-gov.com/api/v2/logs": {"https://http-intake.logs.ddog-gov.com/api/v2/logs", "https://api.ddog-gov.com/api/v1/validate"},
	} {
		e, err := parseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.intake != want[0] || e.validate != want[1] {
			t.Errorf("%s: %s %s, want %v", raw, e.intake, e.validate, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		url, key string
		bad      []string
		msg      string
	}{
		{"https://http-intake.logs.datadoghq.com/api/v2/logs", key, nil, ""},
		{"", key, []string{"url"}, "required"},
		{"https://h/", "", []string{"api_key"}, "required"},
		{"https://h/", "a key", []string{"api_key"}, "spaces"},
		{"https://h/", strings.Repeat("k", 300), []string{"api_key"}, "at most"},
		{"ftp://h/", key, []string{"url"}, "scheme"},
		{"https://u:p@h/", key, []string{"url"}, "user"},
		{"https://h/?dd-api-key=x", key, []string{"url"}, "api_key"},
		{"::", "", []string{"url", "api_key"}, ""},
	} {
		errs := (&Config{URL: tc.url, APIKey: tc.key}).Validate()
		var paths []string
		for _, e := range errs {
			paths = append(paths, e.Path)
			if strings.Contains(e.Message, key) {
				t.Errorf("message repeats the key: %s", e.Message)
			}
		}
		if !slices.Equal(paths, tc.bad) {
			t.Errorf("%q %q: %v, want paths %v", tc.url, tc.key, errs, tc.bad)
		}
		if tc.msg != "" && !strings.Contains(errs.Error(), tc.msg) {
			t.Errorf("%q: %v does not say %q", tc.url, errs, tc.msg)
		}
	}
}

func logs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
		b = append(b, bytes.Repeat([]byte("x"), max(0, size-len(b)-2))...)
		out[i] = append(b, `"}`...)
	}
	return out
}

func TestSplitsAtLimits(t *testing.T) {
	srv := ddtest.New(t, key)
	d := newDest(t, srv.URL, destination.Deps{})
	recs := logs(2500, 100)
	recs = append(recs, logs(7, 900_000)...) // 6.3 MB
	if err := deliver(t, d, recs...); err != nil {
		t.Fatal(err)
	}
	got := srv.Logs()
	if len(got) != len(recs) {
		t.Fatalf("%d logs arrived, want %d", len(got), len(recs))
	}
	for _, r := range srv.Requests() {
		if r.Status != 202 || r.Logs > MaxLogs || r.Uncompressed > MaxPayloadBytes || !r.Gzip {
			t.Errorf("request %+v", r)
		}
	}
	if n := len(srv.Requests()); n < 4 {
		t.Errorf("%d requests", n)
	}
	if srv.Truncated() != 0 {
		t.Error("a log was truncated")
	}
}

func TestOversizedLog(t *testing.T) {
	srv := ddtest.New(t, key)
	d := newDest(t, srv.URL, destination.Deps{})
	recs := [][]byte{[]byte(`{"a":1}`), logs(1, MaxLogBytes+1)[0], logs(1, MaxLogBytes-10)[0], []byte(`{"b":2}`)}
	err := deliver(t, d, recs...)
	var be *destination.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 2 || be.Failed[0].Index != 1 || be.Failed[1].Index != 2 {
		t.Fatalf("want records 1 and 2 failed, got %v", err)
	}
	for _, it := range be.Failed {
		if !retry.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "1000000-byte limit per log") {
			t.Errorf("record %d: %v", it.Index, it.Err)
		}
	}
	if len(srv.Logs()) != 2 || srv.Truncated() != 0 {
		t.Errorf("%d logs, %d truncated", len(srv.Logs()), srv.Truncated())
	}
}

func TestSplitOn413(t *testing.T) {
	srv := ddtest.New(t, key)
	d := newDest(t, srv.URL, destination.Deps{})
	d.maxPayload = 20_000_000 // as if the limit were unknown: the intake's 413 drives the split
	recs := logs(24, 400_000) // 9.6 MB
	if err := deliver(t, d, recs...); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Logs()); n != len(recs) {
		t.Fatalf("%d logs", n)
	}
	var n413 int
	for _, r := range srv.Requests() {
		if r.Status == 413 {
			n413++
		}
	}
	if n413 == 0 {
		t.Error("no 413")
	}
	got := srv.Logs()
	for i := range got {
		if !bytes.Contains(got[i], fmt.Appendf(nil, `"n":%d,`, i)) {
			t.Fatalf("log %d out of order", i)
		}
	}
}

func TestStatuses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		perm       bool
		say        string
	}{
		{400, "", true, "400"},
		{401, "", true, "API key rejected"},
		{403, "", true, "API key rejected"},
		{404, "", true, "404"},
		{408, "", false, "408"},
		{429, "3", false, "429"},
		{500, "", false, "500"},
		{503, "Wed, 21 Oct 2099 07:28:00 GMT", false, "503"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := ddtest.New(t, key)
			srv.FailNext(tc.retryAfter, tc.status)
			d := newDest(t, srv.URL, destination.Deps{})
			err := deliver(t, d, logs(3, 50)...)
			if err == nil {
				t.Fatal("nil")
			}
			var be *destination.BatchError
			if errors.As(err, &be) {
				t.Fatalf("per record: %v", err)
			}
			if retry.IsPermanent(err) != tc.perm {
				t.Errorf("permanent %v: %v", retry.IsPermanent(err), err)
			}
			ra, ok := retry.RetryAfter(err)
			if ok != (tc.retryAfter != "") || (tc.retryAfter == "3" && ra != 3*time.Second) {
				t.Errorf("Retry-After %v %v", ra, ok)
			}
			var sc interface{ StatusCode() int }
			if !errors.As(err, &sc) || sc.StatusCode() != tc.status {
				t.Errorf("status of %v", err)
			}
			if !strings.Contains(err.Error(), tc.say) || strings.Contains(err.Error(), key) {
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestLaterChunkFails: the first payload goes, the second is refused (400)
// or fails (503): only its records are reported, with its class.
func TestLaterChunkFails(t *testing.T) {
	for _, status := range []int{400, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := ddtest.New(t, key)
			d := newDest(t, srv.URL, destination.Deps{})
			d.maxLogs = 3
			recs := logs(9, 40)
			if status == 400 {
				srv.Reject(func(l []byte) bool { return bytes.Contains(l, []byte(`"n":4,`)) })
			} else {
				// The first request goes through; the second fails.
				var calls int
				d.client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if calls++; calls == 2 {
						srv.FailNext("", 503)
					}
					return http.DefaultTransport.RoundTrip(r)
				})
			}
			err := deliver(t, d, recs...)
			var be *destination.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("want BatchError, got %v", err)
			}
			var idx []int
			for _, it := range be.Failed {
				idx = append(idx, it.Index)
				if retry.IsPermanent(it.Err) != (status == 400) {
					t.Errorf("record %d: %v", it.Index, it.Err)
				}
			}
			want := []int{3, 4, 5}
			if status == 503 {
				want = []int{3, 4, 5, 6, 7, 8} // sending stops at a retryable failure
			}
			if !slices.Equal(idx, want) {
				t.Errorf("failed %v, want %v", idx, want)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCheck(t *testing.T) {
	srv := ddtest.New(t, key)
	if err := newDest(t, srv.URL, destination.Deps{}).Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	bad := srv.URL
	k := Kind()
	c, _ := k.Decode(map[string]any{"url": bad, "api_key": "wrong-key-123456"})
	d, _ := k.New(t.Context(), c, destination.Deps{})
	if err := d.(*Destination).Check(t.Context()); err == nil || !strings.Contains(err.Error(), "API key rejected") {
		t.Errorf("bad key: %v", err)
	}
	invalid := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"valid":false}`)
	}))
	defer invalid.Close()
	if err := newDest(t, invalid.URL, destination.Deps{}).Check(t.Context()); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("valid:false: %v", err)
	}
}

// FuzzEntry: every valid JSON record becomes one JSON object with a
// ddsource; every invalid one is refused.
func FuzzEntry(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{}`, ` {"ddsource":null} `, `"x"`, `[{}]`, `null`, `{"service":"s","message":"m"}`, "{\n}"} {
		f.Add([]byte(s))
	}
	d := &Destination{service: []byte(`"service":"st"`)}
	f.Fuzz(func(t *testing.T, rec []byte) {
		out, err := d.entry(rec)
		if !json.Valid(rec) {
			if err == nil {
				t.Fatalf("invalid record %q accepted: %s", rec, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid record %q refused: %v", rec, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("entry %q of %q is not an object: %v", out, rec, err)
		}
		if _, ok := m["ddsource"]; !ok {
			if !bytes.Contains(bytes.ToLower(rec), []byte("ddsource")) {
				t.Fatalf("entry %q has no ddsource", out)
			}
		}
	})
}
