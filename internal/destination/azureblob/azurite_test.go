package azureblob

import (
	"bytes"
	"encoding/xml"
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

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// The emulator every test of this package shares: Azurite 3.35.0 (blob
// service only), started once. The account and key are Azurite's
// well-known development ones; the tests use the key only to create
// containers and to mint SAS tokens, as an account owner would.
const (
	devAccount     = "devstoreaccount1"
	devKey         = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	azuriteVersion = "3.35.0"
	installHint    = `install it with scripts/test.sh (npm install --prefix "$PWD/.tools/azurite" azurite@` + azuriteVersion + `)`
)

var (
	azOnce         sync.Once
	azEndpoint     string // http://127.0.0.1:PORT/devstoreaccount1
	azErr          error
	azCmd          *exec.Cmd
	azDir          string
	azExited       chan struct{}
	containerSeq   atomic.Int64
	sharedKey, _   = blob.NewSharedKeyCredential(devAccount, devKey)
	otherKey, _    = blob.NewSharedKeyCredential(devAccount, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==")
	plainHTTP      = &http.Client{Timeout: 30 * time.Second}
	errNoAzuriteJS = errors.New("azurite-blob not found on PATH nor in .tools/azurite of the repository")
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopAzurite()
	os.Exit(code)
}

// findAzurite looks for azurite-blob in <repo>/.tools/azurite (where
// scripts/test.sh installs it), then on PATH.
func findAzurite() (string, error) {
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, ".tools", "azurite", "node_modules", ".bin", "azurite-blob")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	return "", errNoAzuriteJS
}

// azurite returns the blob endpoint of the shared Azurite, starting it on
// first use. Without it the test fails under CI=true and is skipped
// otherwise.
func azurite(t testing.TB) string {
	t.Helper()
	bin, err := findAzurite()
	if err == nil {
		if _, lerr := exec.LookPath("node"); lerr != nil {
			err = fmt.Errorf("node not found on PATH (Azurite needs Node.js 20)")
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: %s", err, installHint)
		}
		t.Skipf("%v: %s", err, installHint)
	}
	azOnce.Do(func() { azEndpoint, azErr = startAzurite(bin) })
	if azErr != nil {
		t.Fatalf("starting Azurite: %v", azErr)
	}
	return azEndpoint
}

func startAzurite(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "runnel-azurite-")
	if err != nil {
		return "", err
	}
	azDir = dir
	var lastErr error
	for range 3 { // the free port may be taken between probe and start
		host, port, err := freePort()
		if err != nil {
			return "", err
		}
		var logs bytes.Buffer
		cmd := exec.Command(bin, "--blobHost", host, "--blobPort", port, "--location", dir,
			"--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			return "", err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		base := "http://" + net.JoinHostPort(host, port)
		if err := waitReady(base, exited, 60*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w; output: %s", err, strings.TrimSpace(logs.String()))
			continue
		}
		azCmd, azExited = cmd, exited
		return base + "/" + devAccount, nil
	}
	return "", lastErr
}

// waitReady polls until Azurite answers HTTP (any status), exits, or the
// deadline passes.
func waitReady(base string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return errors.New("azurite exited")
		default:
		}
		resp, err := c.Get(base + "/" + devAccount + "?comp=list")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("azurite not ready after %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopAzurite() {
	if azCmd != nil {
		_ = azCmd.Process.Kill()
		<-azExited
	}
	if azDir != "" {
		_ = os.RemoveAll(azDir)
	}
}

func freePort() (host, port string, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer l.Close()
	return net.SplitHostPort(l.Addr().String())
}

// accountSAS mints an account SAS with every right on containers and
// blobs, for the test's own setup and reads.
func accountSAS(t testing.TB) string {
	t.Helper()
	perms := sas.AccountPermissions{Read: true, Write: true, Create: true, List: true, Delete: true, Add: true}
	types := sas.AccountResourceTypes{Service: true, Container: true, Object: true}
	q, err := sas.AccountSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		Permissions:   perms.String(),
		ResourceTypes: types.String(),
	}.SignWithSharedKey(sharedKey)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

// containerSAS mints a container SAS with perms, signed with key, valid
// until expiry.
func containerSAS(t testing.TB, container string, perms sas.ContainerPermissions, key *blob.SharedKeyCredential, expiry time.Time) string {
	t.Helper()
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-time.Minute).UTC(),
		ExpiryTime:    expiry.UTC(),
		Permissions:   perms.String(),
		ContainerName: container,
	}.SignWithSharedKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

// writeSAS is what the docs ask for: Create and Write.
func writeSAS(t testing.TB, container string) string {
	return containerSAS(t, container, sas.ContainerPermissions{Create: true, Write: true}, sharedKey, time.Now().Add(time.Hour))
}

// newContainer creates a fresh container.
func newContainer(t testing.TB, endpoint string) string {
	t.Helper()
	name := fmt.Sprintf("runnel-test-%d-%d", os.Getpid(), containerSeq.Add(1))
	req, _ := http.NewRequest(http.MethodPut, endpoint+"/"+name+"?restype=container&"+accountSAS(t), nil)
	resp, err := plainHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create container %s: %s %s", name, resp.Status, b)
	}
	return name
}

// settings returns valid settings for container on endpoint.
func settings(t testing.TB, endpoint, container string) map[string]any {
	return map[string]any{
		"storage_account": devAccount,
		"container_name":  container,
		"blob_sas_token":  writeSAS(t, container),
		"endpoint":        endpoint,
	}
}

// listBlobs lists the committed blobs of container, by name.
func listBlobs(t testing.TB, endpoint, container string) []string {
	t.Helper()
	var names []string
	marker := ""
	for {
		u := endpoint + "/" + container + "?restype=container&comp=list&" + accountSAS(t)
		if marker != "" {
			u += "&marker=" + url.QueryEscape(marker)
		}
		resp, err := plainHTTP.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list %s: %s %s", container, resp.Status, body)
		}
		var doc struct {
			Blobs      []string `xml:"Blobs>Blob>Name"`
			NextMarker string   `xml:"NextMarker"`
		}
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("list %s: %v", container, err)
		}
		names = append(names, doc.Blobs...)
		if doc.NextMarker == "" {
			return names
		}
		marker = doc.NextMarker
	}
}

// getBlob reads one blob back.
func getBlob(t testing.TB, endpoint, container, name string) (body []byte, contentType string) {
	t.Helper()
	resp, err := plainHTTP.Get(endpoint + "/" + container + "/" + name + "?" + accountSAS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get %s/%s: %s %s", container, name, resp.Status, body)
	}
	return body, resp.Header.Get("Content-Type")
}

// blockCount returns the committed and uncommitted block counts of a blob.
func blockCount(t testing.TB, endpoint, container, name string) (committed, uncommitted int) {
	t.Helper()
	resp, err := plainHTTP.Get(endpoint + "/" + container + "/" + name + "?comp=blocklist&blocklisttype=all&" + accountSAS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("block list %s: %s %s", name, resp.Status, body)
	}
	var doc struct {
		Committed   []string `xml:"CommittedBlocks>Block>Name"`
		Uncommitted []string `xml:"UncommittedBlocks>Block>Name"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return len(doc.Committed), len(doc.Uncommitted)
}

// faultProxy stands between the destination and Azurite: it forwards
// requests unchanged, records the names of the blobs written, in order,
// and can fail, reject or hold requests the way the Blob service does.
type faultProxy struct {
	URL       string // the endpoint through the proxy, account path included
	container string

	mu       sync.Mutex
	names    []string
	failNext int
	failOp   func(r *http.Request) bool
	reject   func(line []byte) bool
	hang     *gate
}

// gate holds requests until opened; open is idempotent.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func newFaultProxy(t testing.TB, endpoint, container string) *faultProxy {
	t.Helper()
	tu, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	base := &url.URL{Scheme: tu.Scheme, Host: tu.Host}
	p := &faultProxy{container: container}
	rp := &httputil.ReverseProxy{
		Rewrite:  func(r *httputil.ProxyRequest) { r.SetURL(base) },
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
	p.URL = "http://" + l.Addr().String() + tu.Path
	return p
}

func (p *faultProxy) intercept(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
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
		azError(w, http.StatusServiceUnavailable, "ServerBusy", "The server is busy.")
		return true
	}
	if p.reject != nil && r.Method == http.MethodPut && slices.ContainsFunc(bytes.Split(body, []byte("\n")), p.reject) {
		azError(w, http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")
		return true
	}
	return false
}

// recordWrite notes the name of a blob written by Put Blob or Put Block
// List.
func (p *faultProxy) recordWrite(resp *http.Response) {
	r := resp.Request
	comp := r.URL.Query().Get("comp")
	if r.Method != http.MethodPut || resp.StatusCode != http.StatusCreated || (comp != "" && comp != "blocklist") {
		return
	}
	_, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // account
	if !ok {
		return
	}
	name, ok := strings.CutPrefix(rest, p.container+"/")
	if !ok {
		return
	}
	p.mu.Lock()
	p.names = append(p.names, name)
	p.mu.Unlock()
}

func (p *faultProxy) written() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.names)
}

func (p *faultProxy) FailNext(n int) {
	p.mu.Lock()
	p.failNext, p.failOp = n, nil
	p.mu.Unlock()
}

// failBlocks makes the next n Put Block requests fail with 503.
func (p *faultProxy) failBlocks(n int) {
	p.mu.Lock()
	p.failNext = n
	p.failOp = func(r *http.Request) bool { return r.URL.Query().Get("comp") == "block" }
	p.mu.Unlock()
}

func (p *faultProxy) Reject(match func([]byte) bool) string {
	p.mu.Lock()
	p.reject = match
	p.mu.Unlock()
	return "AuthorizationPermissionMismatch"
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

// azError answers a Blob service error.
func azError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(msg))
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s
RequestId:00000000-0000-0000-0000-000000000000
Time:2026-01-01T00:00:00.0000000Z</Message></Error>`, code, esc.String())
}
