package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// The gateway every test of this package shares: versitygw v1.8.0 (a real
// S3 API with SigV4 verification) on a posix directory, started once.
const (
	gwAccess    = "runnel-test-access"
	gwSecret    = "runnel-test-secret-0123456789"
	gwVersion   = "v1.8.0"
	installHint = "install it with scripts/test.sh (go install github.com/versity/versitygw/cmd/versitygw@" + gwVersion + ")"
)

var (
	gwOnce    sync.Once
	gwURL     string
	gwErr     error
	gwCmd     *exec.Cmd
	gwDir     string
	gwExited  chan struct{}
	bucketSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopGateway()
	os.Exit(code)
}

// findGateway looks for versitygw on PATH, then in $(go env GOPATH)/bin.
func findGateway() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
		}
	}
	return "", errors.New("versitygw not found on PATH nor in $(go env GOPATH)/bin")
}

// gateway returns the URL of the shared versitygw, starting it on first
// use. Without the binary the test fails under CI=true and is skipped
// otherwise.
func gateway(t testing.TB) string {
	t.Helper()
	bin, err := findGateway()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: %s", err, installHint)
		}
		t.Skipf("%v: %s", err, installHint)
	}
	gwOnce.Do(func() { gwURL, gwErr = startGateway(bin) })
	if gwErr != nil {
		t.Fatalf("starting versitygw: %v", gwErr)
	}
	return gwURL
}

func startGateway(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "runnel-s3-versitygw-")
	if err != nil {
		return "", err
	}
	gwDir = dir
	var lastErr error
	for range 3 { // the free port may be taken between probe and start
		addr, err := freeAddr()
		if err != nil {
			return "", err
		}
		var logs bytes.Buffer
		cmd := exec.Command(bin, "--access", gwAccess, "--secret", gwSecret, "--port", addr, "--quiet", "posix", dir)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			return "", err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		u := "http://" + addr
		if err := waitReady(u, exited, 30*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w; output: %s", err, strings.TrimSpace(logs.String()))
			continue
		}
		gwCmd, gwExited = cmd, exited
		return u, nil
	}
	return "", lastErr
}

// waitReady polls until the gateway answers HTTP (any status: anonymous
// requests are refused), the process exits or the deadline passes.
func waitReady(u string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return errors.New("versitygw exited")
		default:
		}
		resp, err := c.Get(u + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not ready after %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopGateway() {
	if gwCmd != nil {
		_ = gwCmd.Process.Kill()
		<-gwExited
	}
	if gwDir != "" {
		_ = os.RemoveAll(gwDir)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rootClient is an SDK client with the gateway's root credentials, used
// by the tests to create buckets and read objects back.
func rootClient(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       DefaultRegion,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: gwAccess, SecretAccessKey: gwSecret}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// newBucket creates a fresh bucket on the gateway.
func newBucket(t testing.TB, endpoint string) string {
	t.Helper()
	name := fmt.Sprintf("runnel-test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	if _, err := rootClient(endpoint).CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// settings returns valid settings for bucket on endpoint.
func settings(endpoint, bucket string) map[string]any {
	return map[string]any{
		"host_url":    endpoint,
		"bucket_name": bucket,
		"access_key":  gwAccess,
		"secret_key":  gwSecret,
	}
}

// getObject reads one object back with the root credentials.
func getObject(t testing.TB, endpoint, bucket, key string) (body []byte, contentType string) {
	t.Helper()
	out, err := rootClient(endpoint).GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, aws.ToString(out.ContentType)
}

// listKeys lists every key of bucket.
func listKeys(t testing.TB, endpoint, bucket string) []string {
	t.Helper()
	var keys []string
	p := awss3.NewListObjectsV2Paginator(rootClient(endpoint), &awss3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// pendingUploads lists the multipart uploads in progress in bucket.
func pendingUploads(t testing.TB, endpoint, bucket string) int {
	t.Helper()
	out, err := rootClient(endpoint).ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

// faultProxy stands between the destination and the gateway: it forwards
// requests unchanged (the Host header too, which SigV4 signs), records the
// keys of the objects written, in order, and can fail, reject or hold
// requests the way S3 does.
type faultProxy struct {
	URL    string
	bucket string

	mu       sync.Mutex
	keys     []string
	failNext int
	failOp   func(r *http.Request) bool
	reject   func(line []byte) bool
	hang     *gate
	requests int
}

// gate holds requests until opened; open is idempotent.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func newFaultProxy(t testing.TB, target, bucket string) *faultProxy {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{bucket: bucket}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(tu)
			r.Out.Host = r.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0), // cancelled requests are expected
		ModifyResponse: func(resp *http.Response) error {
			p.recordWrite(resp)
			return nil
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.intercept(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		p.release()
		_ = srv.Close()
	})
	p.URL = "http://" + l.Addr().String()
	return p
}

// intercept applies the configured faults; true when it answered.
func (p *faultProxy) intercept(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	p.requests++
	hang := p.hang
	p.mu.Unlock()
	if hang != nil {
		select {
		case <-hang.ch:
		case <-r.Context().Done():
			return true
		}
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failNext > 0 && (p.failOp == nil || p.failOp(r)) {
		p.failNext--
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return true
	}
	if p.reject != nil && r.Method == http.MethodPut && slices.ContainsFunc(bytes.Split(body, []byte("\n")), p.reject) {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied by the bucket policy of the test")
		return true
	}
	return false
}

// recordWrite notes the key of a completed PutObject or multipart upload.
func (p *faultProxy) recordWrite(resp *http.Response) {
	r := resp.Request
	if resp.StatusCode != http.StatusOK {
		return
	}
	q := r.URL.Query()
	put := r.Method == http.MethodPut && !q.Has("uploadId")
	complete := r.Method == http.MethodPost && q.Has("uploadId")
	if !put && !complete {
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/"+p.bucket+"/")
	if !ok {
		return
	}
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
}

func (p *faultProxy) writtenKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.keys)
}

func (p *faultProxy) FailNext(n int) {
	p.mu.Lock()
	p.failNext = n
	p.failOp = nil
	p.mu.Unlock()
}

// failParts makes the next n UploadPart requests fail with 503.
func (p *faultProxy) failParts(n int) {
	p.mu.Lock()
	p.failNext = n
	p.failOp = func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Has("partNumber") }
	p.mu.Unlock()
}

func (p *faultProxy) Reject(match func([]byte) bool) string {
	p.mu.Lock()
	p.reject = match
	p.mu.Unlock()
	return "AccessDenied"
}

func (p *faultProxy) Hang() func() {
	g := &gate{ch: make(chan struct{})}
	p.mu.Lock()
	p.hang = g
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.hang == g {
			p.hang = nil
		}
		p.mu.Unlock()
		g.open()
	}
}

func (p *faultProxy) release() {
	p.mu.Lock()
	g := p.hang
	p.hang = nil
	p.mu.Unlock()
	if g != nil {
		g.open()
	}
}

// s3Error answers an S3 error document.
func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>test</RequestId></Error>`, code, msg)
}

func headInput(bucket, key string) *awss3.HeadObjectInput {
	return &awss3.HeadObjectInput{Bucket: &bucket, Key: &key}
}
