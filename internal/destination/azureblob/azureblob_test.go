package azureblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

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

// bigRecords returns records totalling about n bytes.
func bigRecords(n int) [][]byte {
	var out [][]byte
	for i := 0; n > 0; i++ {
		r := fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat(newUUID(), 28))
		out = append(out, r)
		n -= len(r) + 1
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

const uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

// A syntactically valid SAS for tests that never reach Azure.
const fakeSAS = "sv=2025-05-05&ss=b&srt=o&sp=cw&se=2099-01-01T00:00:00Z&spr=https,http&sig=c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ%3D%3D"

func TestConfigValidate(t *testing.T) {
	base := func() *Config {
		return &Config{StorageAccount: "myaccount", ContainerName: "logs", BlobSASToken: fakeSAS}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		path string
	}{
		{"valid", func(*Config) {}, ""},
		{"leading ?", func(c *Config) { c.BlobSASToken = "?" + fakeSAS }, ""},
		{"endpoint without account", func(c *Config) { c.StorageAccount = ""; c.Endpoint = "http://127.0.0.1:10000/devstoreaccount1" }, ""},
		{"sovereign endpoint", func(c *Config) { c.Endpoint = "https://myaccount.blob.core.chinacloudapi.cn/" }, ""},
		{"$root", func(c *Config) { c.ContainerName = "$root" }, ""},
		{"no account", func(c *Config) { c.StorageAccount = "" }, "storage_account"},
		{"account upper", func(c *Config) { c.StorageAccount = "MyAccount" }, "storage_account"},
		{"account long", func(c *Config) { c.StorageAccount = strings.Repeat("a", 25) }, "storage_account"},
		{"no container", func(c *Config) { c.ContainerName = "" }, "container_name"},
		{"container upper", func(c *Config) { c.ContainerName = "Logs" }, "container_name"},
		{"container double hyphen", func(c *Config) { c.ContainerName = "a--b" }, "container_name"},
		{"container short", func(c *Config) { c.ContainerName = "ab" }, "container_name"},
		{"no sas", func(c *Config) { c.BlobSASToken = "" }, "blob_sas_token"},
		{"sas url", func(c *Config) { c.BlobSASToken = "https://myaccount.blob.core.windows.net/logs?" + fakeSAS }, "blob_sas_token"},
		{"sas without sig", func(c *Config) { c.BlobSASToken = "sv=2025-05-05&sp=cw" }, "blob_sas_token"},
		{"sas with space", func(c *Config) { c.BlobSASToken = fakeSAS + " x" }, "blob_sas_token"},
		{"endpoint scheme", func(c *Config) { c.Endpoint = "ftp://h" }, "endpoint"},
		{"endpoint query", func(c *Config) { c.Endpoint = "https://h/?" + fakeSAS }, "endpoint"},
		{"endpoint userinfo", func(c *Config) { c.Endpoint = "https://u:p@h/" }, "endpoint"},
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
			if strings.Contains(errs.Error(), "c2VjcmV0") {
				t.Fatalf("error repeats the token: %v", errs)
			}
		})
	}
	if !Secret("blob_sas_token") || Secret("storage_account") || Secret("") {
		t.Error("only blob_sas_token is secret")
	}
	if got := (&Config{StorageAccount: "acct"}).serviceURL(); got != "https://acct.blob.core.windows.net" {
		t.Errorf("default service URL %q", got)
	}
}

func TestBlobName(t *testing.T) {
	d := newDest(t, map[string]any{"storage_account": "acct", "container_name": "logs", "blob_sas_token": fakeSAS}, Options{})
	at := time.Date(2026, 12, 31, 23, 59, 0, 0, time.FixedZone("X", -2*3600)) // 2027-01-01 01:59 UTC
	if n := d.blobName(at); !regexp.MustCompile(`^2027/01/01/01/59/` + uuidRE + `\.json$`).MatchString(n) {
		t.Fatalf("blob name %q", n)
	}
	if a, b := blockID(0), blockID(49_999); len(a) != len(b) {
		t.Fatal("block IDs of different lengths")
	}
}

// fakeBlob answers every request with status and an error code, and
// counts requests.
func fakeBlob(t *testing.T, status int, code string, hdr map[string]string, n *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n != nil {
			n.Add(1)
		}
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		if status == http.StatusCreated {
			w.WriteHeader(status)
			return
		}
		// A service echoing the request would echo the signature: it
		// must not reach the error.
		azError(w, status, code, "failed; query was "+r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/acct"
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		hdr       map[string]string
		permanent bool
		want      string
		after     time.Duration
	}{
		{403, "AuthorizationPermissionMismatch", nil, true, "uploads need Create and Write (sp=cw)", 0},
		{403, "AuthorizationFailure", nil, true, "the SAS token is not accepted", 0},
		{403, "AuthenticationFailed", nil, true, "the SAS token is not valid", 0},
		{403, "AuthorizationResourceTypeMismatch", nil, true, "srt includes o", 0},
		{404, "ContainerNotFound", nil, true, `container "logs" does not exist`, 0},
		{413, "RequestBodyTooLarge", nil, true, "RequestBodyTooLarge (status 413)", 0},
		{503, "ServerBusy", nil, false, "ServerBusy (status 503): failed; query was", 0},
		{503, "ServerBusy", map[string]string{"Retry-After": "3"}, false, "ServerBusy", 3 * time.Second},
		{500, "InternalError", nil, false, "InternalError", 0},
		{500, "OperationTimedOut", nil, false, "OperationTimedOut", 0},
		{429, "TooManyRequests", nil, false, "status 429", 0},
	} {
		t.Run(fmt.Sprintf("%d-%s", tc.status, tc.code), func(t *testing.T) {
			var n atomic.Int32
			u := fakeBlob(t, tc.status, tc.code, tc.hdr, &n)
			d := newDest(t, map[string]any{"endpoint": u, "container_name": "logs", "blob_sas_token": fakeSAS}, Options{})
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
			if strings.Contains(err.Error(), "c2VjcmV0") || !strings.Contains(err.Error(), "sig=[redacted]") {
				t.Errorf("error contains the signature: %v", err)
			}
			if got := statusOf(err); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if ra, ok := retry.RetryAfter(err); ok != (tc.after > 0) || ra != tc.after {
				t.Errorf("RetryAfter = %v, %v; want %v", ra, ok, tc.after)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("%d requests: the SDK retried on its own", got)
			}
		})
	}
}

func TestExpiredToken(t *testing.T) {
	expired := strings.Replace(fakeSAS, "se=2099-01-01T00:00:00Z", "se=2020-01-01T00:00:00Z", 1)
	u := fakeBlob(t, 403, "AuthenticationFailed", nil, nil)
	d := newDest(t, map[string]any{"endpoint": u, "container_name": "logs", "blob_sas_token": expired}, Options{})
	err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
	if !retry.IsPermanent(err) || !strings.Contains(err.Error(), "expired at 2020-01-01T00:00:00Z") {
		t.Fatalf("Deliver: %v", err)
	}
	err = d.Check(t.Context())
	if !retry.IsPermanent(err) || !strings.Contains(err.Error(), "expired at 2020-01-01T00:00:00Z") {
		t.Fatalf("Check: %v", err)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		d := newDest(t, map[string]any{"endpoint": u, "container_name": "logs", "blob_sas_token": fakeSAS}, Options{})
		err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
		if err == nil || retry.IsPermanent(err) || strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "sig") {
			t.Fatalf("err = %v", err)
		}
		if got := statusOf(err); got != 502 {
			t.Errorf("status %d", got)
		}
	})
	t.Run("timeout and cancel", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		s := map[string]any{"endpoint": srv.URL + "/acct", "container_name": "logs", "blob_sas_token": fakeSAS}
		d := newDest(t, s, Options{Timeout: 200 * time.Millisecond})
		err := d.Deliver(t.Context(), destination.Batch{Records: records(1)})
		if err == nil || retry.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) || statusOf(err) != 504 {
			t.Fatalf("timeout: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		err = newDest(t, s, Options{}).Deliver(ctx, destination.Batch{Records: records(1)})
		if !errors.Is(err, context.Canceled) || retry.IsPermanent(err) {
			t.Fatalf("cancelled: %v", err)
		}
	})
}

// --- against Azurite ---

func TestDeliver(t *testing.T) {
	ep := azurite(t)
	c := newContainer(t, ep)
	d := newDest(t, settings(t, ep, c), Options{})
	recs := records(500)
	before := time.Now().UTC().Truncate(time.Minute)
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs, Framer: arrayFramer{}}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	names := listBlobs(t, ep, c)
	if len(names) != 1 {
		t.Fatalf("blobs %v, want one", names)
	}
	m := regexp.MustCompile(`^(\d{4}/\d\d/\d\d/\d\d/\d\d)/` + uuidRE + `\.json$`).FindStringSubmatch(names[0])
	if m == nil {
		t.Fatalf("blob name %q does not follow YYYY/MM/DD/hh/mm/<uuid>.json", names[0])
	}
	if at, err := time.Parse("2006/01/02/15/04", m[1]); err != nil || at.Before(before) || at.After(after) {
		t.Errorf("name time %v not within [%v, %v] UTC", at, before, after)
	}
	body, ct := getBlob(t, ep, c, names[0])
	if want := (arrayFramer{}).Frame(nil, recs); !bytes.Equal(body, want) {
		t.Errorf("blob differs from the framed batch: %d bytes, want %d", len(body), len(want))
	}
	if ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs[:3]}); err != nil {
		t.Fatal(err)
	}
	if names := listBlobs(t, ep, c); len(names) != 2 {
		t.Fatalf("blobs %v, want two", names)
	}
}

func TestDeliverBlocks(t *testing.T) {
	ep := azurite(t)
	c := newContainer(t, ep)
	d := newDest(t, settings(t, ep, c), Options{SingleUploadLimit: 1 << 20, BlockSize: 1 << 20, Concurrency: 3})
	recs := bigRecords(5<<20 + 12345)
	if err := d.Deliver(t.Context(), destination.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	names := listBlobs(t, ep, c)
	if len(names) != 1 {
		t.Fatalf("blobs %v", names)
	}
	body, ct := getBlob(t, ep, c, names[0])
	if want := (lineFramer{}).Frame(nil, recs); !bytes.Equal(body, want) {
		t.Errorf("blob differs from the framed batch: %d bytes, want %d", len(body), len(want))
	}
	if ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if committed, uncommitted := blockCount(t, ep, c, names[0]); committed != 6 || uncommitted != 0 {
		t.Errorf("blocks: %d committed, %d uncommitted; want 6, 0", committed, uncommitted)
	}
}

// TestBlockFailure: a failed block fails the batch (retryable) and
// commits nothing; delivering again goes through.
func TestBlockFailure(t *testing.T) {
	ep := azurite(t)
	c := newContainer(t, ep)
	p := newFaultProxy(t, ep, c)
	s := settings(t, p.URL, c)
	d := newDest(t, s, Options{SingleUploadLimit: 1 << 20, BlockSize: 1 << 20})
	p.failBlocks(1)
	err := d.Deliver(t.Context(), destination.Batch{Records: bigRecords(3 << 20)})
	var e *Error
	if err == nil || retry.IsPermanent(err) || !errors.As(err, &e) || e.Op != opPutBlock || e.Code != "ServerBusy" {
		t.Fatalf("err = %v", err)
	}
	if names := listBlobs(t, ep, c); len(names) != 0 {
		t.Fatalf("blobs committed after a failure: %v", names)
	}
	if err := d.Deliver(t.Context(), destination.Batch{Records: bigRecords(3 << 20)}); err != nil {
		t.Fatal(err)
	}
	if names := listBlobs(t, ep, c); len(names) != 1 {
		t.Fatalf("blobs %v", names)
	}
}

// TestPermissions: a SAS lacking Create/Write (read and list only) is a
// permanent error naming the missing rights, for Deliver and Check; a
// SAS signed with another key is permanent too; the minimal SAS (Create
// and Write) passes Check without creating a visible blob.
func TestPermissions(t *testing.T) {
	ep := azurite(t)
	c := newContainer(t, ep)
	for _, tc := range []struct {
		name  string
		token string
		code  string
		hint  string
	}{
		{"read-only", containerSAS(t, c, sas.ContainerPermissions{Read: true, List: true}, sharedKey, time.Now().Add(time.Hour)),
			"AuthorizationPermissionMismatch", "uploads need Create and Write"},
		{"wrong key", containerSAS(t, c, sas.ContainerPermissions{Create: true, Write: true}, otherKey, time.Now().Add(time.Hour)),
			"AuthorizationFailure|AuthenticationFailed", "SAS token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settings(t, ep, c)
			s["blob_sas_token"] = tc.token
			d := newDest(t, s, Options{})
			sig := sigOf(t, tc.token)
			for what, err := range map[string]error{
				"Deliver": d.Deliver(t.Context(), destination.Batch{Records: records(2)}),
				"Check":   d.Check(t.Context()),
			} {
				var e *Error
				if !retry.IsPermanent(err) || !errors.As(err, &e) || !strings.Contains("|"+tc.code+"|", "|"+e.Code+"|") ||
					!strings.Contains(err.Error(), tc.hint) {
					t.Errorf("%s: %v", what, err)
					continue
				}
				if e.StatusCode() != http.StatusForbidden {
					t.Errorf("%s: status %d", what, e.StatusCode())
				}
				if strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), tc.token) {
					t.Errorf("%s: the token leaks: %v", what, err)
				}
			}
		})
	}
	if names := listBlobs(t, ep, c); len(names) != 0 {
		t.Fatalf("blobs written without rights: %v", names)
	}
	d := newDest(t, settings(t, ep, c), Options{})
	for range 2 {
		if err := d.Check(t.Context()); err != nil {
			t.Fatalf("Check with Create+Write: %v", err)
		}
	}
	if names := listBlobs(t, ep, c); len(names) != 0 {
		t.Errorf("Check left a visible blob: %v", names)
	}
	if _, uncommitted := blockCount(t, ep, c, CheckBlobName); uncommitted != 1 {
		t.Errorf("%d uncommitted check blocks, want 1 (probes replace each other)", uncommitted)
	}
}

func sigOf(t testing.TB, token string) string {
	t.Helper()
	m := regexp.MustCompile(`sig=([^&]+)`).FindStringSubmatch(token)
	if m == nil {
		t.Fatal("no sig in token")
	}
	return m[1]
}

func TestMissingContainer(t *testing.T) {
	ep := azurite(t)
	s := settings(t, ep, "no-such-container")
	d := newDest(t, s, Options{})
	for what, err := range map[string]error{
		"Deliver": d.Deliver(t.Context(), destination.Batch{Records: records(1)}),
		"Check":   d.Check(t.Context()),
	} {
		var e *Error
		if !retry.IsPermanent(err) || !errors.As(err, &e) || e.Code != "ContainerNotFound" ||
			!strings.Contains(err.Error(), `container "no-such-container" does not exist`) {
			t.Errorf("%s: %v", what, err)
		}
	}
}
