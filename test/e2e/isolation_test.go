package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSlowDestinationHoldsUpNoOther: one stream, three destinations —
// kafka (kfake), s3 (versitygw) and http. While the http receiver is down,
// kafka and s3 keep delivering (their delivered counts grow) and http's
// backlog grows; when it is back it catches up, and every destination has
// every event.
func TestSlowDestinationHoldsUpNoOther(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	s3URL, bucketDir := startVersityGW(t)

	n := startNode(t, t.TempDir(), nil)
	web := newSink(t)
	var down atomic.Bool
	down.Store(true)
	web.setStatus(func(int) int {
		if down.Load() {
			return 503
		}
		return 200
	})
	batch := map[string]any{"max_events": 200, "max_age": "100ms"}
	createStream(t, n, map[string]any{
		"name": "fanout",
		"destinations": []any{
			map[string]any{"name": "bus", "type": "kafka", "batch": batch,
				"settings": map[string]any{"bootstrap_servers": strings.Join(kc.ListenAddrs(), ","), "kafka_topic": "events"}},
			map[string]any{"name": "lake", "type": "s3", "batch": batch,
				"settings": map[string]any{"host_url": s3URL, "bucket_name": "lake", "region": "us-east-1",
					"access_key": "runnelak", "secret_key": "runnelsk0123456789", "object_key_prefix": "runnel"}},
			map[string]any{"name": "web", "type": "http", "batch": batch, "settings": map[string]any{"url": web.URL}},
		},
	})

	delivered := func(dest string) (float64, float64) {
		var st struct {
			Destinations []map[string]any `json:"destinations"`
		}
		n.do("GET", "/v1/streams/fanout/status", nil, &st)
		for _, d := range st.Destinations {
			if d["name"] == dest {
				del, _ := d["delivered"].(float64)
				backlog, _ := d["backlog_events"].(float64)
				return del, backlog
			}
		}
		return 0, 0
	}
	next := 0
	send := func(k int) {
		var evs []map[string]any
		for i := 0; i < k; i++ {
			evs = append(evs, event(strconv.Itoa(next)))
			next++
		}
		if code := ingest(t, n, n.Token, "fanout", ndjson(evs...)); code != 200 {
			t.Fatalf("ingest: %d", code)
		}
	}
	// Three rounds while http is down: kafka and s3 keep up each round.
	for round := 1; round <= 3; round++ {
		send(500)
		want := float64(next)
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d: kafka and s3 deliver %v events while http is down", round, want), func() bool {
			k, _ := delivered("bus")
			s, _ := delivered("lake")
			return k == want && s == want
		})
		w, backlog := delivered("web")
		if w != 0 || backlog == 0 {
			t.Fatalf("round %d: http delivered %v with backlog %v while down", round, w, backlog)
		}
		t.Logf("round %d: kafka and s3 delivered %v; http delivered %v, backlog %v events", round, want, w, backlog)
	}
	down.Store(false)
	waitFor(t, 120*time.Second, "http catches up", func() bool { return uniqueIDs(web.Lines()) == next })

	// Every destination holds every event: read kafka with a client, and
	// the s3 objects from the gateway's directory.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(seen) < next {
		fs := cl.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("kafka read: %v (%d of %d events)", errs[0].Err, len(seen), next)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	lines := 0
	err = filepath.Walk(filepath.Join(bucketDir, "lake"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.Contains(p, ".sgwtmp") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines += strings.Count(strings.TrimSpace(string(b)), "\n") + 1
		return nil
	})
	if err != nil || lines != next {
		t.Fatalf("s3 holds %d events, want %d (%v)", lines, next, err)
	}
}

// startVersityGW runs the Versity S3 gateway (installed by scripts/test.sh)
// on a posix directory with a bucket "lake".
func startVersityGW(t *testing.T) (url, dir string) {
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
	if err := os.Mkdir(filepath.Join(dir, "lake"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--access", "runnelak", "--secret", "runnelsk0123456789", "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet", "posix", dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 30*time.Second, "versitygw", func() bool {
		resp, err := ingestClient.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	if errors.Is(context.Cause(t.Context()), context.Canceled) {
		t.Fatal("cancelled")
	}
	return url, dir
}
