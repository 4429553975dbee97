package s3

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
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
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
		out[i] = fmt.Appendf(nil, `{"i":%d,"msg":"héllo wörld"}`, i)
	}
	return out
}

// statusOf is what the deliverer shows for err (delivery.StatusOf, not
// imported: delivery may one day depend on the builtin kinds).
func statusOf(err error) int {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) && sc.StatusCode() > 0 {
		return sc.StatusCode()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return 504
	}
	if retry.IsPermanent(err) {
		return 400
	}
	return 502
}

// newDest builds a destination through the Kind's Decode, as the registry
// does, with options.
func newDest(t *testing.T, s map[string]any, o Options) *Destination {
	t.Helper()
	k := Kind()
	c, errs := k.Decode(s)
	if len(errs) > 0 {
		t.Fatalf("settings: %v", errs)
	}
	d, err := New(c.(*Config), destination.Deps{}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

var uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

func TestKeyLayout(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)) // 04:06 UTC
	for _, tc := range []struct{ prefix, want string }{
		{"", "2026/03/04/04/06/"},
		{"logs", "logs/2026/03/04/04/06/"},
		{"logs/", "logs/2026/03/04/04/06/"},
		{"/logs/app", "logs/app/2026/03/04/04/06/"},
		{"///", "2026/03/04/04/06/"},
		{"logs-", "logs-/2026/03/04/04/06/"},
	} {
		d := newDest(t, map[string]any{"bucket_name": "b-1", "region": "eu-west-1", "access_key": "AK",
			"secret_key": "SK", "object_key_prefix": tc.prefix}, Options{})
		k := d.key(at)
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(tc.want) + uuidRE + `$`).MatchString(k) {
			t.Errorf("prefix %q: key %q, want %s<uuid>", tc.prefix, k, tc.want)
		}
		if strings.Contains(k, "//") {
			t.Errorf("prefix %q: double slash in %q", tc.prefix, k)
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		u := newUUID()
		if seen[u] || !regexp.MustCompile(`^`+uuidRE+`$`).MatchString(u) {
			t.Fatalf("bad or repeated uuid %q", u)
		}
		seen[u] = true
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() *Config {
		return &Config{BucketName: "my-bucket", Region: "eu-west-1", AccessKey: "AKIAEXAMPLE",
			SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ContentType: ContentTypePlain}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		path string // "" = valid
	}{
		{"valid aws", func(*Config) {}, ""},
		{"valid custom endpoint, region defaulted", func(c *Config) { c.HostURL = "http://127.0.0.1:9000"; c.Region = "" }, ""},
		{"custom endpoint with path", func(c *Config) { c.HostURL = "https://gw.example.com/s3/" }, ""},
		{"gzip", func(c *Config) { c.ContentType = ContentTypeGzip }, ""},
		{"empty content type is default", func(c *Config) { c.ContentType = "" }, ""},
		{"prefix", func(c *Config) { c.ObjectKeyPrefix = "runnel/prod/" }, ""},
		{"aws needs region", func(c *Config) { c.Region = "" }, "region"},
		{"bad region", func(c *Config) { c.Region = "EU West" }, "region"},
		{"no bucket", func(c *Config) { c.BucketName = "" }, "bucket_name"},
		{"aws bucket upper case", func(c *Config) { c.BucketName = "MyBucket" }, "bucket_name"},
		{"aws bucket too short", func(c *Config) { c.BucketName = "ab" }, "bucket_name"},
		{"custom bucket upper case ok", func(c *Config) { c.HostURL = "http://h:1"; c.BucketName = "My_Bucket" }, ""},
		{"bucket with slash", func(c *Config) { c.HostURL = "http://h:1"; c.BucketName = "a/b" }, "bucket_name"},
		{"host_url scheme", func(c *Config) { c.HostURL = "ftp://h" }, "host_url"},
		{"host_url no host", func(c *Config) { c.HostURL = "http://" }, "host_url"},
		{"host_url credentials", func(c *Config) { c.HostURL = "http://u:p@h" }, "host_url"},
		{"host_url query", func(c *Config) { c.HostURL = "http://h/?x=1" }, "host_url"},
		{"no access key", func(c *Config) { c.AccessKey = "" }, "access_key"},
		{"no secret", func(c *Config) { c.SecretKey = "" }, "secret_key"},
		{"secret with newline", func(c *Config) { c.SecretKey = "abc\ndef-secret" }, "secret_key"},
		{"content type", func(c *Config) { c.ContentType = "text/csv" }, "content_type"},
		{"prefix too long", func(c *Config) { c.ObjectKeyPrefix = strings.Repeat("a", MaxPrefixLen+1) }, "object_key_prefix"},
		{"prefix control", func(c *Config) { c.ObjectKeyPrefix = "a\tb" }, "object_key_prefix"},
		{"prefix empty segment", func(c *Config) { c.ObjectKeyPrefix = "a//b" }, "object_key_prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(c)
			errs := c.Validate()
			if tc.path == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Path != tc.path {
				t.Fatalf("errors %v, want one on %q", errs, tc.path)
			}
			if c.SecretKey != "" && strings.Contains(errs.Error(), c.SecretKey) {
				t.Fatalf("error repeats the secret: %v", errs)
			}
		})
	}
	if !Secret("secret_key") || Secret("access_key") || Secret("") {
		t.Error("only secret_key is secret")
	}
}

// fakeS3 answers every request with status, an S3 error code and headers.
func fakeS3(t *testing.T, status int, code string, hdr map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		if r.Method == http.MethodHead || code == "" {
			w.WriteHeader(status)
			return
		}
		s3Error(w, status, code, "message for "+code+" (secret "+fakeSecret+" echoed)")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const fakeSecret = "fake-secret-key-9876"

func fakeSettings(u string) map[string]any {
	return map[string]any{"host_url": u, "bucket_name": "bkt", "access_key": "AK", "secret_key": fakeSecret}
}

// TestErrorClassification: how each S3 answer is classified, what the
// deliverer shows for it, and that no secret leaks.
func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		hdr       map[string]string
		permanent bool
		want      string // in the message
		after     time.Duration
	}{
		{403, "AccessDenied", nil, true, "may not s3:PutObject on bucket \"bkt\"", 0},
		{403, "InvalidAccessKeyId", nil, true, "check access_key", 0},
		{403, "SignatureDoesNotMatch", nil, true, "check secret_key", 0},
		{404, "NoSuchBucket", nil, true, `bucket "bkt" does not exist`, 0},
		{400, "AuthorizationHeaderMalformed", map[string]string{"X-Amz-Bucket-Region": "eu-west-3"}, true, "is in region eu-west-3, not us-east-1: set region", 0},
		{301, "PermanentRedirect", nil, true, "set region", 0},
		{400, "InvalidArgument", nil, true, "InvalidArgument (status 400)", 0},
		{403, "RequestTimeTooSkewed", nil, false, "clock", 0},
		{400, "RequestTimeout", nil, false, "RequestTimeout", 0},
		{503, "SlowDown", nil, false, "SlowDown (status 503)", 0},
		{503, "SlowDown", map[string]string{"Retry-After": "7"}, false, "SlowDown", 7 * time.Second},
		{500, "InternalError", nil, false, "InternalError", 0},
		{429, "TooManyRequests", nil, false, "TooManyRequests", 0},
		{502, "", nil, false, "status 502", 0},
	} {
		t.Run(fmt.Sprintf("%d-%s", tc.status, tc.code), func(t *testing.T) {
			d := newDest(t, fakeSettings(fakeS3(t, tc.status, tc.code, tc.hdr)), Options{})
			err := d.Deliver(t.Context(), destination.Batch{Records: records(3)})
			if err == nil {
				t.Fatal("no error")
			}
			if got := retry.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), fakeSecret) {
				t.Errorf("error contains the secret: %v", err)
			}
			if got := statusOf(err); got != tc.status {
				t.Errorf("StatusOf = %d, want %d", got, tc.status)
			}
			var e *Error
			if !errors.As(err, &e) || e.Op != opPutObject {
				t.Errorf("not an *Error of PutObject: %#v", err)
			}
			if ra, ok := retry.RetryAfter(err); ok != (tc.after > 0) || ra != tc.after {
				t.Errorf("RetryAfter = %v, %v; want %v", ra, ok, tc.after)
			}
		})
	}
}

func TestCheckClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		hdr       map[string]string
		permanent bool
		want      string
	}{
		{404, nil, true, `NoSuchBucket (status 404) — bucket "bkt" does not exist`},
		{403, nil, true, "may not s3:ListBucket"},
		{301, map[string]string{"X-Amz-Bucket-Region": "ap-south-1"}, true, "is in region ap-south-1"},
		{400, nil, true, "check region (us-east-1) and host_url"},
		{503, nil, false, "status 503"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			d := newDest(t, fakeSettings(fakeS3(t, tc.status, "", tc.hdr)), Options{})
			err := d.Check(t.Context())
			if err == nil || retry.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v (permanent %v), want %q permanent=%v", err, retry.IsPermanent(err), tc.want, tc.permanent)
			}
		})
	}
	d := newDest(t, fakeSettings(fakeS3(t, 200, "", nil)), Options{})
	if err := d.Check(t.Context()); err != nil {
		t.Fatalf("Check against 200: %v", err)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		d := newDest(t, fakeSettings(u), Options{})
		err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
		if err == nil || retry.IsPermanent(err) || strings.Contains(err.Error(), fakeSecret) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "/bkt/") {
			t.Errorf("error names the request URL: %v", err)
		}
		if got := statusOf(err); got != 502 {
			t.Errorf("StatusOf = %d", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		d := newDest(t, fakeSettings(srv.URL), Options{Timeout: 200 * time.Millisecond})
		start := time.Now()
		err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
		if err == nil || retry.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %v", el)
		}
		if got := statusOf(err); got != 504 {
			t.Errorf("StatusOf = %d", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		d2 := newDest(t, fakeSettings(srv.URL), Options{})
		err = d2.Deliver(ctx, destination.Batch{Records: records(1)})
		if !errors.Is(err, context.Canceled) || retry.IsPermanent(err) {
			t.Fatalf("cancelled: %v", err)
		}
	})
}

// TestNoRetriesInside: the SDK must not retry on its own (the deliverer
// does, with backoff and health): one failed Deliver is one request.
func TestNoRetriesInside(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		s3Error(w, 503, "SlowDown", "slow down")
	}))
	t.Cleanup(srv.Close)
	d := newDest(t, fakeSettings(srv.URL), Options{})
	if err := d.Deliver(t.Context(), destination.Batch{Records: records(1)}); err == nil {
		t.Fatal("no error")
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

// --- against versitygw ---

func TestDeliverPlain(t *testing.T) {
	gw := gateway(t)
	bucket := newBucket(t, gw)
	s := settings(gw, bucket)
	s["object_key_prefix"] = "runnel/test"
	d := newDest(t, s, Options{})
	recs := records(500)
	before := time.Now().UTC().Truncate(time.Minute)
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	keys := listKeys(t, gw, bucket)
	if len(keys) != 1 {
		t.Fatalf("keys %v, want one", keys)
	}
	m := regexp.MustCompile(`^runnel/test/(\d{4}/\d\d/\d\d/\d\d/\d\d)/` + uuidRE + `$`).FindStringSubmatch(keys[0])
	if m == nil {
		t.Fatalf("key %q does not follow <prefix>/YYYY/MM/DD/hh/mm/<uuid>", keys[0])
	}
	at, err := time.Parse("2006/01/02/15/04", m[1])
	if err != nil || at.Before(before) || at.After(after) {
		t.Errorf("key time %v not within [%v, %v] UTC", at, before, after)
	}
	body, ct := getObject(t, gw, bucket, keys[0])
	if want := (arrayFramer{}).Frame(nil, recs); !bytes.Equal(body, want) {
		t.Errorf("body differs from the framed batch: %d bytes, want %d", len(body), len(want))
	}
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	// A second batch is a second object; the default framer joins lines.
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs[:2]}); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, gw, bucket); len(keys) != 2 {
		t.Fatalf("keys %v, want two", keys)
	}
}

func TestDeliverGzip(t *testing.T) {
	gw := gateway(t)
	bucket := newBucket(t, gw)
	s := settings(gw, bucket)
	s["content_type"] = ContentTypeGzip
	d := newDest(t, s, Options{})
	recs := records(1000)
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
		t.Fatal(err)
	}
	keys := listKeys(t, gw, bucket)
	if len(keys) != 1 || !regexp.MustCompile(`^\d{4}/\d\d/\d\d/\d\d/\d\d/`+uuidRE+`$`).MatchString(keys[0]) {
		t.Fatalf("keys %v", keys)
	}
	body, ct := getObject(t, gw, bucket, keys[0])
	if ct != ContentTypeGzip {
		t.Errorf("Content-Type %q", ct)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := (arrayFramer{}).Frame(nil, recs); !bytes.Equal(plain, want) {
		t.Errorf("gunzipped body differs from the framed batch")
	}
	if len(body) >= len(plain) {
		t.Errorf("not compressed: %d >= %d", len(body), len(plain))
	}
}

// bigRecords returns records totalling about n bytes, not very
// compressible, so that sizes stay meaningful.
func bigRecords(n int) [][]byte {
	var out [][]byte
	for i := 0; n > 0; i++ {
		r := fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat(newUUID(), 28))
		out = append(out, r)
		n -= len(r) + 1
	}
	return out
}

func TestMultipart(t *testing.T) {
	gw := gateway(t)
	bucket := newBucket(t, gw)
	for _, ct := range []string{ContentTypePlain, ContentTypeGzip} {
		t.Run(ct, func(t *testing.T) {
			s := settings(gw, bucket)
			s["content_type"] = ct
			s["object_key_prefix"] = "mp-" + strings.ReplaceAll(ct, "/", "-")
			// S3 needs parts of 5 MiB (but the last): 12 MiB in three parts.
			d := newDest(t, s, Options{MultipartThreshold: 1 << 20, PartSize: 5 << 20, Concurrency: 2})
			recs := bigRecords(12 << 20)
			if err := d.Deliver(t.Context(), destination.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, k := range listKeys(t, gw, bucket) {
				if strings.HasPrefix(k, s["object_key_prefix"].(string)+"/") {
					keys = append(keys, k)
				}
			}
			if len(keys) != 1 {
				t.Fatalf("keys %v", keys)
			}
			out, err := rootClient(gw).HeadObject(t.Context(), headInput(bucket, keys[0]))
			if err != nil {
				t.Fatal(err)
			}
			if etag := strings.Trim(*out.ETag, `"`); ct == ContentTypePlain && !strings.HasSuffix(etag, "-3") {
				t.Errorf("ETag %s: not a three-part upload", etag)
			}
			body, gotCT := getObject(t, gw, bucket, keys[0])
			if ct == ContentTypeGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if want := (lineFramer{}).Frame(nil, recs); !bytes.Equal(body, want) {
				t.Errorf("object differs from the framed batch (%d bytes, want %d)", len(body), len(want))
			}
			if gotCT == "" {
				t.Error("no Content-Type on the multipart object")
			}
			if n := pendingUploads(t, gw, bucket); n != 0 {
				t.Errorf("%d multipart uploads left", n)
			}
		})
	}
}

// TestMultipartFailureAborts: a failed part fails the batch (retryable)
// and aborts the upload, leaving nothing behind.
func TestMultipartFailureAborts(t *testing.T) {
	gw := gateway(t)
	bucket := newBucket(t, gw)
	p := newFaultProxy(t, gw, bucket)
	d := newDest(t, settings(p.URL, bucket), Options{MultipartThreshold: 1 << 20, PartSize: 5 << 20})
	p.failParts(1)
	err := d.Deliver(t.Context(), destination.Batch{Records: bigRecords(11 << 20)})
	var e *Error
	if err == nil || retry.IsPermanent(err) || !errors.As(err, &e) || e.Op != opUploadPart || e.Code != "SlowDown" {
		t.Fatalf("err = %v", err)
	}
	if n := pendingUploads(t, gw, bucket); n != 0 {
		t.Errorf("%d multipart uploads left after the failure", n)
	}
	if keys := listKeys(t, gw, bucket); len(keys) != 0 {
		t.Errorf("objects written: %v", keys)
	}
	// Delivered again, it goes through.
	if err := d.Deliver(t.Context(), destination.Batch{Records: bigRecords(11 << 20)}); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, gw, bucket); len(keys) != 1 {
		t.Errorf("keys %v", keys)
	}
}

// TestCredentialsRejected: the gateway verifies SigV4; a wrong secret or
// an unknown key is a permanent error that names the setting to fix.
func TestCredentialsRejected(t *testing.T) {
	gw := gateway(t)
	bucket := newBucket(t, gw)
	const wrong = "not-the-right-secret-4242"
	for _, tc := range []struct {
		name, key, secret, code, hint string
	}{
		{"wrong secret", gwAccess, wrong, "SignatureDoesNotMatch", "check secret_key"},
		// AWS answers InvalidAccessKeyId (403), versitygw XAdminUserNotFound (404).
		{"unknown key", "NOSUCHKEY", wrong, "InvalidAccessKeyId|XAdminUserNotFound", "check access_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settings(gw, bucket)
			s["access_key"], s["secret_key"] = tc.key, tc.secret
			d := newDest(t, s, Options{})
			err := d.Deliver(t.Context(), destination.Batch{Records: records(2)})
			var e *Error
			if !retry.IsPermanent(err) || !errors.As(err, &e) || !slices.Contains(strings.Split(tc.code, "|"), e.Code) ||
				!strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("Deliver: %v", err)
			}
			if c := e.StatusCode(); c != http.StatusForbidden && c != http.StatusNotFound {
				t.Errorf("status %d", c)
			}
			if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), gwSecret) {
				t.Errorf("secret in error: %v", err)
			}
			if err := d.Check(t.Context()); err == nil || !retry.IsPermanent(err) || strings.Contains(err.Error(), tc.secret) {
				t.Errorf("Check: %v", err)
			}
		})
	}
	if keys := listKeys(t, gw, bucket); len(keys) != 0 {
		t.Errorf("objects written with bad credentials: %v", keys)
	}
}

func TestMissingBucket(t *testing.T) {
	gw := gateway(t)
	d := newDest(t, settings(gw, "no-such-bucket-here"), Options{})
	err := d.Check(t.Context())
	var e *Error
	if !retry.IsPermanent(err) || !errors.As(err, &e) || e.Code != "NoSuchBucket" || !strings.Contains(err.Error(), `"no-such-bucket-here" does not exist`) {
		t.Fatalf("Check: %v", err)
	}
	err = d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	if !retry.IsPermanent(err) || !errors.As(err, &e) || e.Code != "NoSuchBucket" {
		t.Fatalf("Deliver: %v", err)
	}
	if err := newDest(t, settings(gw, newBucket(t, gw)), Options{}).Check(t.Context()); err != nil {
		t.Fatalf("Check of an existing bucket: %v", err)
	}
}
