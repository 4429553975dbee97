package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/server"
)

// logWatch collects the server's log and reports its listen address.
type logWatch struct {
	mu   sync.Mutex
	b    bytes.Buffer
	addr chan string
	sent bool
}

var listenRe = regexp.MustCompile(`"msg":"runnel listening".*?"addr":"([^"]+)"`)

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if m := listenRe.FindSubmatch(w.b.Bytes()); m != nil && !w.sent {
		w.sent = true
		w.addr <- string(m[1])
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startRunnel runs a Runnel node in this process (embedded JetStream in
// a temporary directory, a free loopback port) until the test ends and
// returns its URL and the admin token's file.
func startRunnel(t *testing.T) (url, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	logs := &logWatch{addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", LogFormat: "json", LogLevel: "info"}, &bytes.Buffer{}, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runnel: %v", err)
		}
	})
	select {
	case addr := <-logs.addr:
		return "http://" + addr, filepath.Join(dir, "admin.token")
	case err := <-done:
		t.Fatalf("runnel stopped: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("runnel did not start\n%s", logs.String())
	}
	return "", ""
}

// e2eSummary is the part of the -json summary the tests read.
type e2eSummary struct {
	Events              int64         `json:"events"`
	Delivered           int64         `json:"delivered"`
	DeliveredDuringLoad int64         `json:"delivered_during_load"`
	DeliveredPerS       float64       `json:"delivered_per_s"`
	DeliveredPerSLoad   float64       `json:"delivered_per_s_during_load"`
	Drained             bool          `json:"drained"`
	SinkRequests        int64         `json:"sink_requests"`
	ServerRSS           float64       `json:"server_rss_mib"`
	Dest                string        `json:"dest"`
	Verify              *verifyResult `json:"verify"`
	Outage              *outageReport `json:"outage"`
	RSS                 []rssSample   `json:"rss"`
	RSSSum              *rssSummary   `json:"rss_outage"`
}

func runE2ETest(t *testing.T, args ...string) (e2eSummary, string) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, &out)
	if err != nil {
		t.Fatalf("loadgen %q: %v\n%s", args, err, out.String())
	}
	text := strings.TrimSpace(out.String())
	var s e2eSummary
	if err := json.Unmarshal([]byte(text[strings.LastIndex(text, "\n")+1:]), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, text)
	}
	return s, text
}

// TestE2EDestinations drives an in-process Runnel node for a few seconds
// per destination and checks the counts (and with -verify the ids).
func TestE2EDestinations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Runnel node")
	}
	url, tok := startRunnel(t)
	base := []string{"-mode", "e2e", "-url", url, "-token", "@" + tok, "-clients", "4", "-batch", "50", "-rate", "4000",
		"-duration", "2s", "-drain-timeout", "60s", "-json", "-pid", fmt.Sprint(os.Getpid()), "-rss-every", "500ms"}

	t.Run("http", func(t *testing.T) {
		s, text := runE2ETest(t, base...)
		if s.Dest != "http" || s.Events == 0 || s.Delivered != s.Events || !s.Drained || s.SinkRequests == 0 || len(s.RSS) < 3 {
			t.Fatalf("summary %+v\n%s", s, text)
		}
	})
	t.Run("kafka", func(t *testing.T) {
		s, text := runE2ETest(t, append(base, "-dest", "kafka", "-verify", "-template", "none")...)
		if s.Dest != "kafka" || s.Events == 0 || s.Delivered != s.Events || !s.Drained || s.Verify == nil || !s.Verify.OK || s.SinkRequests == 0 {
			t.Fatalf("summary %+v verify %+v\n%s", s, s.Verify, text)
		}
	})
	t.Run("s3", func(t *testing.T) {
		gwURL, dir := startGateway(t)
		s, text := runE2ETest(t, append(base, "-dest", "s3", "-verify", "-s3-gzip", "-s3-url", gwURL,
			"-s3-access", gwAccess, "-s3-secret", gwSecret, "-s3-dir", dir)...)
		if s.Dest != "s3" || s.Events == 0 || s.Delivered != s.Events || !s.Drained || s.Verify == nil || !s.Verify.OK || s.SinkRequests == 0 {
			t.Fatalf("summary %+v verify %+v\n%s", s, s.Verify, text)
		}
	})
	t.Run("outage", func(t *testing.T) {
		s, text := runE2ETest(t, append(base, "-outage", "2s", "-outage-probe", "1s")...)
		o := s.Outage
		if o == nil || s.Delivered != s.Events || o.DeliveredDuringOutage != 0 || o.Refused == 0 || !o.Drained ||
			o.Delivered != s.Events || o.BacklogAtEnd == 0 || o.AcceptedAtEnd != s.Events || s.RSSSum == nil {
			t.Fatalf("summary %+v outage %+v\n%s", s, o, text)
		}
		if !strings.Contains(text, "second destination down 2 s") {
			t.Fatalf("no outage line:\n%s", text)
		}
		var backlog bool
		for _, smp := range s.RSS {
			if smp.T < 2 && smp.DownDelivered > 0 {
				t.Fatalf("delivered to the down destination during the outage: %+v", smp)
			}
			backlog = backlog || smp.Delivered > smp.DownDelivered
		}
		if !backlog {
			t.Fatalf("no backlog of the down destination in the samples %+v", s.RSS)
		}
	})
}

const (
	gwAccess = "loadgenak"
	gwSecret = "loadgensk0123456789"
)

// startGateway runs versitygw (scripts/test.sh installs it) on a posix
// directory; skipped when it is not installed, except under CI=true.
func startGateway(t *testing.T) (url, dir string) {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, serr := os.Stat(p); serr == nil {
			bin, err = p, nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("versitygw not installed: scripts/test.sh installs it")
		}
		t.Skip("versitygw not installed (scripts/test.sh installs it)")
	}
	dir = t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--access", gwAccess, "--secret", gwSecret, "--port", addr, "--quiet", "posix", dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	url = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			return url, dir
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New("versitygw not ready"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
