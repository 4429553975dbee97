package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ingestOK(w http.ResponseWriter, body []byte) {
	n := bytes.Count(body, []byte("\n"))
	writeJSONResp(w, 200, map[string]any{"status": "accepted", "ingested_bytes": len(body), "events": n, "stream_id": "str_1"})
}

// eventLines returns the "n" field of every NDJSON line of the requests.
func eventNumbers(t *testing.T, reqs []recorded) []int {
	t.Helper()
	var out []int
	for _, r := range reqs {
		body := r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(string(body), "\n"), "\n") {
			var ev struct {
				Event struct{ N int }
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			out = append(out, ev.Event.N)
		}
	}
	return out
}

func ndjson(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"timestamp":"2025-02-12T14:32:15Z","source":"test","event":{"n":%d,"pad":"%s"}}`+"\n", i, strings.Repeat("x", 100))
	}
	return b.String()
}

func TestSendChunksNDJSON(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) { ingestOK(w, body) })
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(ndjson(2500)), 0o600); err != nil {
		t.Fatal(err)
	}
	res := f.run("send", "--stream", "payments", file)
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	if res.stdout != "sent 2500 events in 3 requests\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	keys := map[string]bool{}
	for i, r := range reqs {
		if r.Method != "POST" || r.Path != "/v1/streams/ingest" {
			t.Errorf("request %d: %s %s", i, r.Method, r.Path)
		}
		if r.Header.Get("X-Stream-Id") != "payments" || r.Header.Get("Content-Type") != "application/x-ndjson" ||
			r.Header.Get("Authorization") != "Bearer tok-secret" || r.Header.Get("Content-Encoding") != "" {
			t.Errorf("request %d headers %v", i, r.Header)
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" || keys[key] || !strings.HasSuffix(key, fmt.Sprintf("-%d", i+1)) {
			t.Errorf("request %d: Idempotency-Key %q", i, key)
		}
		keys[key] = true
		if len(r.Body) > defaultChunkBytes {
			t.Errorf("request %d: %d bytes", i, len(r.Body))
		}
	}
	got := eventNumbers(t, reqs)
	if len(got) != 2500 {
		t.Fatalf("%d events", len(got))
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("event %d is %d: lost, duplicated or reordered", i, n)
		}
	}
	if c := bytes.Count(reqs[0].Body, []byte("\n")); c != 1000 {
		t.Errorf("first chunk %d events", c)
	}

	// A second run uses another run id: its keys differ.
	f.reset()
	if res := f.runWith(runOpts{stdin: ndjson(3)}, "send", "--stream", "payments"); res.err != nil {
		t.Fatal(res.err)
	}
	if k := f.requests()[0].Header.Get("Idempotency-Key"); keys[k] {
		t.Errorf("key %q reused across runs", k)
	}
}

func TestSendChunksByBytes(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) { ingestOK(w, body) })
	// ~170 bytes per event, 10 KiB per request → about 60 events each.
	res := f.runWith(runOpts{stdin: ndjson(200)}, "send", "--stream", "s", "--max-bytes", "10KiB", "-")
	if res.err != nil {
		t.Fatal(res.err)
	}
	reqs := f.requests()
	if len(reqs) != 4 {
		t.Errorf("%d requests: %s", len(reqs), res.stdout)
	}
	for _, r := range reqs {
		if len(r.Body) > 10<<10 {
			t.Errorf("%d bytes", len(r.Body))
		}
	}
	if n := len(eventNumbers(t, reqs)); n != 200 {
		t.Errorf("%d events", n)
	}
}

func TestSendJSONArrayAndObject(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) { ingestOK(w, body) })
	in := `[
  {"timestamp": "2025-02-12T14:32:15Z", "source": "a", "event": {"n": 0}},
  {"timestamp": "2025-02-12T14:32:16Z", "source": "a",
   "event": {"n": 1}},
  {"timestamp": "2025-02-12T14:32:17Z", "source": "a", "event": {"n": 2}, "metadata": {"env": "prod"}}
]`
	res := f.runWith(runOpts{stdin: in}, "send", "--stream", "s", "--gzip")
	if res.err != nil || res.stdout != "sent 3 events in 1 requests\n" {
		t.Fatalf("%v %q %q", res.err, res.stdout, res.stderr)
	}
	r := f.requests()[0]
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("not gzipped: %v", r.Header)
	}
	if got := eventNumbers(t, []recorded{r}); fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("events %v", got)
	}

	// One pretty-printed object.
	f.reset()
	res = f.runWith(runOpts{stdin: "{\n \"timestamp\": \"2025-02-12T14:32:15Z\",\n \"source\": \"a\",\n \"event\": {\"n\": 7}\n}\n"}, "send", "--stream", "s")
	if res.err != nil || res.stdout != "sent 1 events in 1 requests\n" {
		t.Fatalf("%v %q %q", res.err, res.stdout, res.stderr)
	}
	if body := string(f.requests()[0].Body); body != `{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{"n":7}}`+"\n" {
		t.Errorf("body %q", body)
	}

	// Not objects, bad JSON: refused before sending.
	f.reset()
	for in, want := range map[string]string{
		"[1,2]":           "error: event 1 is not a JSON object",
		"{\"a\":1}\n{bad": "error: event 2 (input offset",
	} {
		res = f.runWith(runOpts{stdin: in}, "send", "--stream", "s")
		if res.err == nil || !strings.HasPrefix(res.stderr, want) {
			t.Errorf("%q: %v %q", in, res.err, res.stderr)
		}
	}
	if len(f.requests()) != 0 {
		t.Errorf("sent %d requests", len(f.requests()))
	}
}

func TestSendRetriesWithSameKey(t *testing.T) {
	var calls atomic.Int32
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			apiErr(w, 503, "unavailable", "buffer full")
		case 2:
			w.Header().Set("Retry-After", "0")
			apiErr(w, 429, "rate_limited", "slow down")
		default:
			ingestOK(w, body)
		}
	})
	res := f.runWith(runOpts{stdin: ndjson(5)}, "send", "--stream", "s")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	if res.stdout != "sent 5 events in 1 requests (2 retried)\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	if fmt.Sprint(res.sleeps) != fmt.Sprint([]time.Duration{time.Second, 0}) {
		t.Errorf("waits %v", res.sleeps)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	if k := reqs[0].Header.Get("Idempotency-Key"); k == "" || reqs[1].Header.Get("Idempotency-Key") != k || reqs[2].Header.Get("Idempotency-Key") != k {
		t.Errorf("keys differ across retries: %q %q %q", k, reqs[1].Header.Get("Idempotency-Key"), reqs[2].Header.Get("Idempotency-Key"))
	}
	if !bytes.Equal(reqs[0].Body, reqs[2].Body) {
		t.Error("retried body differs")
	}
	if !strings.Contains(res.stderr, "retrying request 1 in 1s (attempt 2 of 10): unavailable: buffer full") {
		t.Errorf("stderr %q", res.stderr)
	}
}

func TestSendGivesUpAndReportsErrors(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		apiErr(w, 503, "unavailable", "store down")
	})
	res := f.runWith(runOpts{stdin: ndjson(1)}, "send", "--stream", "s", "-q")
	if res.err == nil || len(f.requests()) != sendAttempts {
		t.Fatalf("%v, %d requests", res.err, len(f.requests()))
	}
	// No Retry-After: exponential backoff.
	if len(res.sleeps) != sendAttempts-1 || res.sleeps[0] != 250*time.Millisecond || res.sleeps[1] != 500*time.Millisecond || res.sleeps[8] != maxBackoff {
		t.Errorf("waits %v", res.sleeps)
	}
	if res.stderr != "error: request 1 (events 1-1): unavailable: store down\n" {
		t.Errorf("stderr %q", res.stderr)
	}

	// A permanent error is not retried; what was sent is reported.
	var calls atomic.Int32
	g := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if calls.Add(1) == 2 {
			apiErr(w, 400, "invalid_format", "event 3: timestamp is required")
			return
		}
		ingestOK(w, body)
	})
	res = g.runWith(runOpts{stdin: ndjson(1500)}, "send", "--stream", "s")
	if res.err == nil || len(g.requests()) != 2 {
		t.Fatalf("%v, %d requests", res.err, len(g.requests()))
	}
	want := "error: request 2 (events 1001-1500): invalid_format: event 3: timestamp is required\nsent 1000 events in 1 requests before the error (from standard input)\n"
	if res.stderr != want {
		t.Errorf("stderr %q\nwant   %q", res.stderr, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 2, 12, 14, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "3": 3 * time.Second, now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second,
	} {
		if d, ok := parseRetryAfter(v, now); !ok || d != want {
			t.Errorf("%q: %v %v", v, d, ok)
		}
	}
	if _, ok := parseRetryAfter("soon", now); ok {
		t.Error("accepted garbage")
	}
}
