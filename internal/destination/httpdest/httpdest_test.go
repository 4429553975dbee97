package httpdest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// arrayFramer frames records as a JSON array, to tell framing from joining.
type arrayFramer struct{}

func (arrayFramer) Frame(dst []byte, records [][]byte) []byte {
	dst = append(dst, '[')
	for i, r := range records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, r...)
	}
	return append(dst, ']')
}

func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"i":%d,"msg":"héllo"}`, i)
	}
	return out
}

func framed(recs [][]byte) []byte { return arrayFramer{}.Frame(nil, recs) }

// newDest builds a destination for url with the given settings on top of
// the defaults, through the Kind as the registry does.
func newDest(t *testing.T, url string, settings map[string]any) *Destination {
	t.Helper()
	s := map[string]any{"url": url}
	for k, v := range settings {
		s[k] = v
	}
	k := Kind()
	c, errs := k.Decode(s)
	if len(errs) > 0 {
		t.Fatalf("settings: %v", errs)
	}
	d, err := k.New(t.Context(), c, destination.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d.(*Destination)
}

type captured struct {
	method string
	header http.Header
	body   []byte
	url    string
}

// recorder answers status with respBody and records the requests.
func recorder(t *testing.T, status int, respBody string) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.Header.Clone(), b, r.URL.String()})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, respBody)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestDeliverFramedPayloadHeadersMethod(t *testing.T) {
	srv, got := recorder(t, http.StatusNoContent, "")
	d := newDest(t, srv.URL+"/ingest?index=main", map[string]any{
		"method":  "put",
		"headers": map[string]any{"X-Api-Key": "k-123456", "content-type": "application/x-ndjson", "X-Team": "pay"},
	})
	recs := records(3)
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPut {
		t.Errorf("method %s, want PUT", r.method)
	}
	if r.url != "/ingest?index=main" {
		t.Errorf("url %s", r.url)
	}
	if !bytes.Equal(r.body, framed(recs)) {
		t.Errorf("body %q, want %q", r.body, framed(recs))
	}
	for k, want := range map[string]string{
		"X-Api-Key":        "k-123456",
		"Content-Type":     "application/x-ndjson",
		"X-Team":           "pay",
		"Content-Length":   fmt.Sprint(len(framed(recs))),
		"Content-Encoding": "",
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
}

func TestDeliverDefaults(t *testing.T) {
	srv, got := recorder(t, http.StatusOK, `{"ok":true}`)
	d := newDest(t, srv.URL, nil)
	recs := records(2)
	// No framer: records joined by "\n".
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(t.Context(), destination.Batch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1 (empty batch sends nothing)", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if want := string(recs[0]) + "\n" + string(recs[1]); string(r.body) != want {
		t.Errorf("body %q, want %q", r.body, want)
	}
}

func TestDeliverGzip(t *testing.T) {
	srv, got := recorder(t, http.StatusOK, "")
	d := newDest(t, srv.URL, map[string]any{"compression": "gzip"})
	recs := records(500)
	for range 3 { // pooled writers and buffers are reset between batches
		if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range got() {
		if ce := r.header.Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("request %d: Content-Encoding %q", i, ce)
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, framed(recs)) {
			t.Fatalf("request %d: gunzipped body differs from framed payload", i)
		}
		if len(r.body) >= len(plain) {
			t.Errorf("gzip did not compress: %d >= %d", len(r.body), len(plain))
		}
	}
}

func TestDeliverRetryableStatus(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		wantAfter  time.Duration // 0: no Retry-After
		tolerance  time.Duration
	}{
		{"503 seconds", 503, "7", 7 * time.Second, 0},
		{"429 seconds", 429, "120", 120 * time.Second, 0},
		{"429 http date", 429, date, 30 * time.Second, 2 * time.Second},
		{"503 date in the past", 503, "Mon, 02 Jan 2006 15:04:05 GMT", 0, 0},
		{"503 no header", 503, "", -1, 0},
		{"503 malformed header", 503, "soon", -1, 0},
		{"500", 500, "", -1, 0},
		{"502", 502, "", -1, 0},
		{"408", 408, "", -1, 0},
		{"408 with retry-after", 408, "3", 3 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, "busy")
			}))
			defer srv.Close()
			d := newDest(t, srv.URL, nil)
			err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
			if err == nil {
				t.Fatal("want an error")
			}
			if retry.IsPermanent(err) {
				t.Fatalf("%v is permanent, want retryable", err)
			}
			se, ok := errors.AsType[*StatusError](err)
			if !ok || se.Code != tc.status || se.Body != "busy" {
				t.Fatalf("StatusError = %+v (ok %v), want code %d body busy", se, ok, tc.status)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Error("a status error must not be a timeout")
			}
			ra, ok := retry.RetryAfter(err)
			if tc.wantAfter < 0 {
				if ok {
					t.Fatalf("RetryAfter = %v, want none", ra)
				}
				return
			}
			if !ok {
				t.Fatal("want a retry.After error")
			}
			if diff := ra - tc.wantAfter; diff < -tc.tolerance-time.Second || diff > tc.tolerance {
				t.Fatalf("RetryAfter = %v, want %v", ra, tc.wantAfter)
			}
		})
	}
}

func TestDeliverPermanentNoSecrets(t *testing.T) {
	const (
		headerSecret = "s3cr3t-header-value"
		bearer       = "bearer-token-abcdef"
		querySecret  = "q-token-987654"
		user, pass   = "alice", "pa55word"
	)
	// The server echoes everything it was sent, as some do in errors.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad field \"x\"\r\nyou sent %s %s headers=%v host=%s", r.Method, r.URL, r.Header, r.Host)
	}))
	defer srv.Close()
	raw := strings.Replace(srv.URL, "http://", "http://"+user+":"+pass+"@", 1) + "/in?token=" + querySecret
	d := newDest(t, raw, map[string]any{"headers": map[string]any{
		"X-Secret":      headerSecret,
		"Authorization": "Bearer " + bearer,
	}})
	err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	if !retry.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if _, ok := retry.RetryAfter(err); ok {
		t.Error("a permanent error has no Retry-After")
	}
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Code != 400 {
		t.Fatalf("StatusError = %+v, %v", se, ok)
	}
	msg := err.Error()
	for _, want := range []string{"400", "Bad Request", `bad field "x" you sent POST`, "[redacted]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	for _, secret := range []string{headerSecret, bearer, querySecret, user, pass, "YWxpY2U6cGE1NXdvcmQ=" /* Basic alice:pa55word */, raw} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q leaks %q", msg, secret)
		}
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q is not on one line", msg)
	}
}

func TestDeliverPermanentStatuses(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 405, 409, 413, 422, 301, 302, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var followed atomic.Bool
			mux := http.NewServeMux()
			mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.Header().Set("Retry-After", "5") // ignored: not retryable
				w.WriteHeader(status)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			d := newDest(t, srv.URL, nil)
			err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
			if !retry.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != status {
				t.Fatalf("StatusError = %+v, %v", se, ok)
			}
			if followed.Load() {
				t.Error("redirect was followed")
			}
		})
	}
}

func TestDeliverErrorBodyTruncated(t *testing.T) {
	big := strings.Repeat("é", 3000) // 6000 bytes; cut must keep UTF-8 valid
	srv, _ := recorder(t, http.StatusInternalServerError, big)
	d := newDest(t, srv.URL, nil)
	err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	if len(se.Body) > maxErrorBody || len(se.Body) < maxErrorBody-1 {
		t.Errorf("body is %d bytes, want at most %d", len(se.Body), maxErrorBody)
	}
	if !strings.HasPrefix(big, se.Body) {
		t.Error("body is not a clean prefix of the response")
	}
}

// TestConnectionReuse: responses, error bodies included, are drained so
// one keep-alive connection serves every batch.
func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusBadRequest)
		}
		io.WriteString(w, strings.Repeat("x", 20<<10))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	d := newDest(t, srv.URL, nil)
	for range 10 {
		_ = d.Deliver(t.Context(), destination.Batch{Records: records(10)})
	}
	if c := conns.Load(); c != 1 {
		t.Errorf("%d connections for 10 sequential batches, want 1", c)
	}
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	d := newDest(t, srv.URL+"?token=abcdefgh", map[string]any{"timeout": "1s"})
	start := time.Now()
	err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	<-arrived
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if retry.IsPermanent(err) {
		t.Error("a timeout must be retryable")
	}
	if el := time.Since(start); el < time.Second || el > 10*time.Second {
		t.Errorf("returned after %v, want about 1s", el)
	}
	if msg := err.Error(); !strings.Contains(msg, "timed out after 1s") || strings.Contains(msg, "abcdefgh") || strings.Contains(msg, srv.URL) {
		t.Errorf("error %q", msg)
	}
}

func TestDeliverContextCanceled(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d := newDest(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	err := d.Deliver(ctx, destination.Batch{Records: records(1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if retry.IsPermanent(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: cancellation is neither permanent nor a timeout", err)
	}
	// An already canceled context sends nothing.
	if err := d.Deliver(ctx, destination.Batch{Records: records(1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestDeliverNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	d := newDest(t, "http://bob:hunter22@"+addr+"/x?sig=abcdef123", nil)
	err = d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	if err == nil || retry.IsPermanent(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a retryable network error", err)
	}
	if _, ok := errors.AsType[*StatusError](err); ok {
		t.Error("a network error is not a StatusError")
	}
	if _, ok := errors.AsType[*net.OpError](err); !ok {
		t.Errorf("err = %v: want the *net.OpError to be reachable", err)
	}
	for _, s := range []string{"hunter22", "bob", "abcdef123", "/x"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestDeliverConcurrentBuffersIntact(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		b, _ := io.ReadAll(zr)
		want := r.Header.Get("X-Want-Len")
		if fmt.Sprint(len(b)) != want || !bytes.HasPrefix(b, []byte("["+r.Header.Get("X-First"))) {
			http.Error(w, "corrupt body", 400)
		}
	}))
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				recs := records(50 + g*10 + i)
				recs[0] = fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)
				d := newDest(t, srv.URL, map[string]any{"compression": "gzip", "headers": map[string]any{
					"X-Want-Len": fmt.Sprint(len(framed(recs))),
					"X-First":    string(recs[0]),
				}})
				if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

type countingTransport struct {
	n  atomic.Int32
	rt http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func TestDepsTransportUsed(t *testing.T) {
	srv, _ := recorder(t, 200, "")
	ct := &countingTransport{rt: http.DefaultTransport}
	c := NewConfig()
	c.URL = srv.URL
	d, err := New(c, destination.Deps{HTTPClient: &http.Client{Transport: ct, Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if d.client.Timeout != DefaultTimeout {
		t.Errorf("client timeout %v, want the config's %v", d.client.Timeout, DefaultTimeout)
	}
	if err := d.Deliver(t.Context(), destination.Batch{Records: records(1)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ct.n.Load() != 2 {
		t.Errorf("shared transport saw %d requests, want 2", ct.n.Load())
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := NewConfig()
	if _, err := New(c, destination.Deps{}); err == nil || !strings.Contains(err.Error(), "url") {
		t.Fatalf("err = %v, want url required", err)
	}
	k := Kind()
	if _, err := k.New(t.Context(), fakeConfig{}, destination.Deps{}); err == nil {
		t.Fatal("want an error for a foreign config type")
	}
}

type fakeConfig struct{}

func (fakeConfig) Validate() model.FieldErrors { return nil }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		status  int
		wantErr string
	}{
		{200, ""}, {204, ""}, {302, ""}, {404, ""}, {405, ""}, {500, ""},
		{502, "target unavailable (status 502)"},
		{503, "target unavailable (status 503)"},
		{504, "target unavailable (status 504)"},
		{401, "authentication rejected (status 401)"},
		{403, "authentication rejected (status 403)"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv, got := recorder(t, tc.status, "")
			d := newDest(t, srv.URL+"/p", map[string]any{
				"method": "PUT", "compression": "gzip",
				"headers": map[string]any{"Authorization": "Bearer abcdefgh"},
			})
			err := d.Check(t.Context())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr != "" {
				if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != tc.status {
					t.Errorf("StatusError = %+v, %v", se, ok)
				}
			}
			reqs := got()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodHead || r.url != "/p" || len(r.body) != 0 {
				t.Errorf("probe was %s %s with %d body bytes, want HEAD /p, empty", r.method, r.url, len(r.body))
			}
			if r.header.Get("Authorization") != "Bearer abcdefgh" || r.header.Get("Content-Encoding") != "" {
				t.Errorf("probe headers %v", r.header)
			}
		})
	}
}

func TestCheckUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := newDest(t, "http://"+addr+"/?key=abcdefgh", nil)
	err = d.Check(t.Context())
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "abcdefgh") {
		t.Errorf("error %q leaks the query", err)
	}
}

func TestCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d := newDest(t, srv.URL, map[string]any{"timeout": 1})
	if err := d.Check(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"99999999999999999999", 0, false}, // overflows uint64
		{"9999999999", 7 * 24 * time.Hour, true},
		{"Fri, 02 Jan 2026 15:05:05 GMT", time.Minute, true},
		{"Friday, 02-Jan-26 15:04:15 GMT", 10 * time.Second, true},
		{"Fri Jan  2 15:04:35 2026", 30 * time.Second, true},
		{"Thu, 01 Jan 2026 15:04:05 GMT", 0, true}, // past
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
