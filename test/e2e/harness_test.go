// Package e2e starts the real runnel binary and drives it over HTTP, the
// way a user does.
package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runnel-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// nats-server is built from the module version the project embeds: a
	// second, separately started server for the --nats tests.
	for c, pkg := range map[string]string{"runnel": "../../cmd/runnel", "sink": "../../cmd/sink", "nats-server": "github.com/nats-io/nats-server/v2"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", c, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// node is one running `runnel serve`.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	URL     string
	Token   string
	DataDir string
	Args    []string
	Env     []string
	Stdout  *syncBuffer
	Stderr  *syncBuffer
	exited  chan struct{}
}

var listenRe = regexp.MustCompile(`"msg":"runnel listening".*?"addr":"([^"]+)"`)

// startNode runs `runnel serve` on a free loopback port and waits until it is ready.
func startNode(t *testing.T, dataDir string, args []string, env ...string) *node {
	t.Helper()
	n := &node{t: t, DataDir: dataDir, Args: args, Env: env}
	n.start()
	t.Cleanup(func() { n.kill() })
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	args := append([]string{"serve", "--data-dir", n.DataDir, "--listen", "127.0.0.1:0", "--log-format", "json"}, n.Args...)
	n.cmd = exec.Command(bin("runnel"), args...)
	n.cmd.Env = append(os.Environ(), n.Env...)
	n.Stdout, n.Stderr = &syncBuffer{}, &syncBuffer{}
	n.cmd.Stdout = n.Stdout
	pr, pw := io.Pipe()
	n.cmd.Stderr = io.MultiWriter(n.Stderr, pw)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); pw.Close(); close(n.exited) }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
	}()
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case <-n.exited:
		t.Fatalf("runnel exited at start:\n%s", n.Stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("runnel did not start:\n%s", n.Stderr.String())
	}
	waitFor(t, 30*time.Second, "readyz", func() bool {
		resp, err := http.Get(n.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if tok, err := os.ReadFile(filepath.Join(n.DataDir, "admin.token")); err == nil {
		n.Token = strings.TrimSpace(string(tok))
	}
}

// kill9 kills the process without warning.
func (n *node) kill9() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
	}
}

func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.kill9()
	}
}

// restart starts the node again on the same data directory.
func (n *node) restart() { n.start() }

// do sends an API request with the admin token and decodes a JSON answer into out.
func (n *node) do(method, path string, body any, out any, hdr ...string) int {
	n.t.Helper()
	return doReq(n.t, method, n.URL+path, n.Token, body, out, hdr...)
}

func doReq(t *testing.T, method, url, token string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp.StatusCode
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronization
	}
}

// sink is an HTTP destination that records every delivered line.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	lines    []string
	requests int
	// status decides each answer (200 when nil).
	status func(req int) int
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		s.mu.Lock()
		s.requests++
		code := 200
		if s.status != nil {
			code = s.status(s.requests)
		}
		if code == 200 {
			for _, l := range strings.Split(string(b), "\n") {
				if l != "" {
					s.lines = append(s.lines, l)
				}
			}
		}
		s.mu.Unlock()
		if code == 503 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) setStatus(f func(int) int) {
	s.mu.Lock()
	s.status = f
	s.mu.Unlock()
}

func (s *sink) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// event makes a native envelope with a unique id.
func event(id string) map[string]any {
	return map[string]any{"timestamp": "2025-02-12T14:32:15Z", "source": "e2e",
		"event": map[string]any{"id": id, "status": "approved"}}
}

func ndjson(events ...map[string]any) []byte {
	var b bytes.Buffer
	for _, e := range events {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ingest posts NDJSON to the native endpoint and returns the status.
func ingest(t *testing.T, n *node, token, stream string, body []byte) int {
	t.Helper()
	return doReq(t, "POST", n.URL+"/v1/streams/ingest", token, body, nil, "Content-Type", "application/x-ndjson", "X-Stream-Id", stream)
}

// httpStream is a stream definition with one HTTP destination.
func httpStream(name, url string, maxAge string) map[string]any {
	return map[string]any{
		"name": name,
		"destinations": []any{map[string]any{
			"name": "web", "type": "http",
			"settings": map[string]any{"url": url, "headers": map[string]any{"Authorization": "Bearer sink-secret-0xC0FFEE"}},
			"batch":    map[string]any{"max_events": 500, "max_age": maxAge},
			"health":   map[string]any{"interval": "1s"},
		}},
	}
}

var ingestClient = &http.Client{Timeout: 30 * time.Second}

func newIngestRequest(url, token, stream string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest("POST", url+"/v1/streams/ingest", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-Stream-Id", stream)
	return req, nil
}
