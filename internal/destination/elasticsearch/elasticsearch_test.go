package elasticsearch

import (
	"bytes"
	"encoding/base64"
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
	"github.com/runnel/runnel/internal/destination/elasticsearch/estest"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/retry"
)

const testKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="

func newDest(t *testing.T, settings map[string]any) *Destination {
	t.Helper()
	k := Kind()
	c, errs := k.Decode(settings)
	if len(errs) > 0 {
		t.Fatalf("settings: %v", errs)
	}
	d, err := k.New(t.Context(), c, destination.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(t.Context()) })
	return d.(*Destination)
}

func docs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d,"msg":"héllo"}`, i)
	}
	return out
}

func deliver(t *testing.T, d *Destination, recs [][]byte) error {
	t.Helper()
	return d.Deliver(t.Context(), destination.Batch{Records: recs})
}

func TestBulkRequestFormat(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		io.WriteString(w, `{"took":1,"errors":false,"items":[{"create":{"_index":"logs","_id":"a","status":201,"result":"created"}},{"create":{"_index":"logs","_id":"b","status":201,"result":"created"}}]}`)
	}))
	defer srv.Close()
	d := newDest(t, map[string]any{"url": srv.URL + "/proxy/es/logs-app?pipeline=geo", "api_key": "myid:mysecret"})
	recs := [][]byte{[]byte(`{"a":1}`), []byte("{\n  \"b\": \"x\\ny\"\n}")}
	if err := deliver(t, d, recs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.URL.Path != "/proxy/es/logs-app/_bulk" || got.URL.RawQuery != "pipeline=geo" {
		t.Errorf("request to %s?%s", got.URL.Path, got.URL.RawQuery)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	if a, want := got.Header.Get("Authorization"), "ApiKey "+base64.StdEncoding.EncodeToString([]byte("myid:mysecret")); a != want {
		t.Errorf("Authorization %q, want %q", a, want)
	}
	want := "{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":\"x\\ny\"}\n"
	if string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestAuthHeader(t *testing.T) {
	for _, tc := range []struct {
		url, key, want string
	}{
		{"https://h/i", testKey, "ApiKey " + testKey},
		{"https://h/i", "id:key", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id:key"))},
		{"https://elastic:pw@h/i", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:pw"))},
		{"https://elastic:pw@h/i", testKey, "ApiKey " + testKey},
		{"https://h/i", "", ""},
	} {
		c := &Config{URL: tc.url, APIKey: tc.key}
		e, err := parseURL(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.authHeader(e); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.url, tc.key, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		url, key string
		bad      []string // paths reported
		msg      string
	}{
		{"https://es:9200/logs", "", nil, ""},
		{"http://es/prefix/logs-app-2024/", testKey, nil, ""},
		{"", "", []string{"url"}, "required"},
		{"ftp://es/logs", "", []string{"url"}, "scheme"},
		{"https:///logs", "", []string{"url"}, "host"},
		{"https://es:9200", "", []string{"url"}, "index"},
		{"https://es:9200/", "", []string{"url"}, "index"},
		{"https://es/Logs", "", []string{"url"}, "lowercase"},
		{"https://es/_logs", "", []string{"url"}, "start"},
		{"https://es/a*b", "", []string{"url"}, "contain"},
		{"https://es/logs#x", "", []string{"url"}, "fragment"},
		{"https://es/logs", "has space", []string{"api_key"}, "spaces"},
		{"https://es/logs", "   ", []string{"api_key"}, "blank"},
		{"https://es/logs", strings.Repeat("k", 5000), []string{"api_key"}, "at most"},
		{"%%%", "a b", []string{"url", "api_key"}, ""},
	} {
		errs := (&Config{URL: tc.url, APIKey: tc.key}).Validate()
		var paths []string
		for _, e := range errs {
			paths = append(paths, e.Path)
			if tc.key != "" && len(tc.key) > 3 && strings.Contains(e.Message, tc.key) {
				t.Errorf("message repeats the key: %s", e.Message)
			}
		}
		if !slices.Equal(paths, tc.bad) {
			t.Errorf("%q %q: errors %v, want paths %v", tc.url, tc.key, errs, tc.bad)
		}
		if tc.msg != "" && !strings.Contains(errs.Error(), tc.msg) {
			t.Errorf("%q: %v does not say %q", tc.url, errs, tc.msg)
		}
	}
}

func TestPartialFailureMapping(t *testing.T) {
	srv := estest.New(t, testKey)
	d := newDest(t, map[string]any{"url": srv.URL + "/logs", "api_key": testKey})
	recs := [][]byte{
		[]byte(`{"n":0}`),
		[]byte(`{"n":1,"fail":"mapper_parsing"}`),
		[]byte(`{"n":2,"fail":"429"}`),
		[]byte(`{"n":3}`),
		[]byte(`{"n":4,"fail":"500"}`),
	}
	err := deliver(t, d, recs)
	var be *destination.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want BatchError, got %v", err)
	}
	want := map[int]struct {
		status int
		perm   bool
		typ    string
	}{
		1: {400, true, "mapper_parsing_exception"},
		2: {429, false, "es_rejected_execution_exception"},
		4: {500, false, "exception"},
	}
	if len(be.Failed) != len(want) {
		t.Fatalf("failed %v", be.Failed)
	}
	for _, it := range be.Failed {
		w, ok := want[it.Index]
		if !ok {
			t.Errorf("index %d failed: %v", it.Index, it.Err)
			continue
		}
		var ie *ItemError
		if !errors.As(it.Err, &ie) || ie.Status != w.status || ie.Type != w.typ || ie.StatusCode() != w.status {
			t.Errorf("index %d: %#v", it.Index, it.Err)
		}
		if retry.IsPermanent(it.Err) != w.perm {
			t.Errorf("index %d: permanent %v, want %v", it.Index, retry.IsPermanent(it.Err), w.perm)
		}
		if !strings.Contains(it.Err.Error(), w.typ) {
			t.Errorf("index %d: %q lacks the type", it.Index, it.Err)
		}
	}
	if got := srv.Docs("logs"); len(got) != 2 || string(got[0]) != `{"n":0}` || string(got[1]) != `{"n":3}` {
		t.Errorf("stored %q", got)
	}
}

func TestSplitOn413(t *testing.T) {
	srv := estest.New(t, testKey)
	srv.SetMaxContentLength(1000)
	d := newDest(t, map[string]any{"url": srv.URL + "/logs", "api_key": testKey})
	recs := docs(40) // ~25 bytes + 15 per action: ~1.6 KB
	if err := deliver(t, d, recs); err != nil {
		t.Fatal(err)
	}
	got := srv.Docs("logs")
	if !slices.EqualFunc(got, recs, bytes.Equal) {
		t.Fatalf("stored %d docs, want the %d in order", len(got), len(recs))
	}
	var n413, n200 int
	for _, r := range srv.Requests() {
		switch r.Status {
		case 413:
			n413++
		case 200:
			n200++
			if r.Bytes > 1000 {
				t.Errorf("accepted request of %d bytes", r.Bytes)
			}
		}
	}
	if n413 == 0 || n200 < 2 {
		t.Errorf("%d requests answered 413, %d 200: no split happened", n413, n200)
	}

	// A document too large on its own: dead-lettered with the reason,
	// the others indexed.
	big := fmt.Appendf(nil, `{"pad":"%s"}`, strings.Repeat("x", 2000))
	err := deliver(t, d, [][]byte{[]byte(`{"a":1}`), big, []byte(`{"b":2}`)})
	var be *destination.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 {
		t.Fatalf("want BatchError for index 1, got %v", err)
	}
	e := be.Failed[0].Err
	if !retry.IsPermanent(e) || !strings.Contains(e.Error(), "2010 bytes") || !strings.Contains(e.Error(), "max_content_length") {
		t.Errorf("oversized: %v", e)
	}
	var se *httpdest.StatusError
	if !errors.As(e, &se) || se.StatusCode() != 413 {
		t.Errorf("oversized error has no status 413: %#v", e)
	}
}

func TestSplitByRequestLimit(t *testing.T) {
	srv := estest.New(t, "")
	d := newDest(t, map[string]any{"url": srv.URL + "/logs"})
	d.maxRequest = 500
	recs := docs(50)
	if err := deliver(t, d, recs); err != nil {
		t.Fatal(err)
	}
	if got := srv.Docs("logs"); !slices.EqualFunc(got, recs, bytes.Equal) {
		t.Fatalf("stored %d docs", len(got))
	}
	for _, r := range srv.Requests() {
		if r.Status != 200 || r.Bytes > 500 {
			t.Errorf("request %+v", r)
		}
	}
	if n := len(srv.Requests()); n < 4 {
		t.Errorf("%d requests", n)
	}
}

// statusServer answers every request with status, body and headers.
func statusServer(t *testing.T, status int, body string, hdr ...string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWholeRequestStatuses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		hdr        []string
		perm       bool
		retryAfter time.Duration
		say        string
	}{
		{400, `{"error":{"type":"illegal_argument_exception","reason":"pipeline [geo] does not exist"},"status":400}`, nil, true, 0, "pipeline [geo] does not exist"},
		{401, `{"error":{"type":"security_exception"},"status":401}`, nil, true, 0, "api_key"},
		{403, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"},"status":403}`, nil, true, 0, "unauthorized"},
		{404, `{"error":{"type":"index_not_found_exception"},"status":404}`, nil, true, 0, "index_not_found_exception"},
		{429, `{"error":{"type":"circuit_breaking_exception"},"status":429}`, []string{"Retry-After", "7"}, false, 7 * time.Second, "circuit_breaking_exception"},
		{503, `{"error":{"type":"cluster_block_exception"},"status":503}`, nil, false, 0, "503"},
		{502, `<html>bad gateway</html>`, nil, false, 0, "bad gateway"},
		{301, ``, []string{"Location", "https://elsewhere/"}, true, 0, "redirect"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := statusServer(t, tc.status, tc.body, tc.hdr...)
			d := newDest(t, map[string]any{"url": srv.URL + "/logs", "api_key": testKey})
			err := deliver(t, d, docs(3))
			if err == nil {
				t.Fatal("nil error")
			}
			var be *destination.BatchError
			if errors.As(err, &be) {
				t.Fatalf("whole-request failure reported per record: %v", err)
			}
			if retry.IsPermanent(err) != tc.perm {
				t.Errorf("permanent %v, want %v: %v", retry.IsPermanent(err), tc.perm, err)
			}
			if ra, _ := retry.RetryAfter(err); ra != tc.retryAfter {
				t.Errorf("Retry-After %s, want %s", ra, tc.retryAfter)
			}
			var sc interface{ StatusCode() int }
			if !errors.As(err, &sc) || sc.StatusCode() != tc.status {
				t.Errorf("status code of %v", err)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("%q does not say %q", err, tc.say)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error leaks the key or URL: %v", err)
			}
		})
	}
}

func TestUnexpectedBulkResponseRetried(t *testing.T) {
	srv := statusServer(t, 200, `{"took":1,"errors":true,"items":[{"create":{"status":201}}]}`)
	d := newDest(t, map[string]any{"url": srv.URL + "/logs"})
	err := deliver(t, d, docs(3))
	if err == nil || retry.IsPermanent(err) || !strings.Contains(err.Error(), "1 items for 3 documents") {
		t.Fatalf("got %v", err)
	}
}

func TestInvalidRecordPermanent(t *testing.T) {
	srv := estest.New(t, "")
	d := newDest(t, map[string]any{"url": srv.URL + "/logs"})
	err := deliver(t, d, [][]byte{[]byte(`{"ok":1}`), []byte("{\"broken\":\n"), []byte(`{"ok":2}`)})
	var be *destination.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !retry.IsPermanent(be.Failed[0].Err) {
		t.Fatalf("got %v", err)
	}
	if n := len(srv.Docs("logs")); n != 2 {
		t.Errorf("stored %d", n)
	}
}

func TestSecretsRedactedFromBodies(t *testing.T) {
	// A proxy that echoes the Authorization header in its error page.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "upstream failed for %s (auth %q)", r.URL, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	d := newDest(t, map[string]any{"url": srv.URL + "/logs?token=querysecret", "api_key": "id1:rawsecret"})
	err := deliver(t, d, docs(1))
	for _, s := range []string{"querysecret", "rawsecret", base64.StdEncoding.EncodeToString([]byte("id1:rawsecret"))} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("nothing redacted: %v", err)
	}
}

func TestCheck(t *testing.T) {
	srv := estest.New(t, testKey)
	if err := newDest(t, map[string]any{"url": srv.URL + "/logs", "api_key": testKey}).Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	err := newDest(t, map[string]any{"url": srv.URL + "/logs", "api_key": "bad:key"}).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "authentication rejected") {
		t.Errorf("Check with a bad key: %v", err)
	}
	srv500 := statusServer(t, 500, `{"error":"boom"}`)
	if err := newDest(t, map[string]any{"url": srv500.URL + "/logs"}).Check(t.Context()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Check of a failing cluster: %v", err)
	}
}

func TestDecodeBulkResponse(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int
		err  string
	}{
		{`{"took":3,"errors":false,"items":[{"index":{"_index":"x","_id":"1","status":201,"result":"created"}}]}`, 1, ""},
		{`{"took":3,"errors":false}`, 5, ""}, // filter_path dropped items
		{`{"took":3,"errors":true}`, 1, "0 items for 1"},
		{`{"errors":true,"items":[{"create":{"status":400,"error":{"type":"t","reason":"r"}}},{"create":{"status":201}}]}`, 2, ""},
		{`{"errors":true,"items":[{"create":{"status":400}},{"create":{}}]}`, 2, "no valid status"},
		{`{"items":[{"create":{"status":201},"index":{"status":201}}]}`, 1, "2 keys"},
		{`{"items":[1]}`, 1, "cannot unmarshal"},
		{`<html>`, 1, "not valid JSON"},
	} {
		r, err := DecodeBulkResponse([]byte(tc.body), tc.n)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.err)
		case err == nil && r == nil:
			t.Errorf("%s: nil response", tc.body)
		}
	}
	r, _ := DecodeBulkResponse([]byte(`{"errors":true,"items":[{"create":{"_index":"i","status":400,"error":{"type":"document_parsing_exception","reason":"[1:9] failed to parse","caused_by":{"type":"json_parse_exception","reason":"Unexpected character"}}}}]}`), 1)
	ie := newItemError(r.Items[0].Result)
	if ie.Type != "document_parsing_exception" || !strings.Contains(ie.Reason, "caused by json_parse_exception: Unexpected character") {
		t.Errorf("item error %+v", ie)
	}
}

func FuzzDecodeBulkResponse(f *testing.F) {
	f.Add([]byte(`{"took":3,"errors":false,"items":[{"create":{"_index":"x","_id":"1","status":201,"result":"created"}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"r","caused_by":{"type":"a","reason":"b","caused_by":{"type":"c","reason":"d"}}}}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":400}},{"create":{"status":201}}]}`), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		r, err := DecodeBulkResponse(b, n)
		if err != nil {
			return
		}
		if len(r.Items) != 0 && len(r.Items) != n {
			t.Fatalf("%d items for %d", len(r.Items), n)
		}
		for _, it := range r.Items {
			e := newItemError(it.Result)
			_ = e.Error()
			if len(e.Reason) > maxReason+len("…") || strings.ContainsAny(e.Reason, "\n\r") {
				t.Fatalf("reason not bounded to one line: %q", e.Reason)
			}
		}
	})
}
