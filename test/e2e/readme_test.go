package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickstart runs the README's quick start as written: the curl
// commands between the quickstart markers, with the example stream file,
// against the real binary and the real cmd/sink receiver. Only the ports
// are changed to free ones.
func TestReadmeQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- quickstart:begin -->\\s*```sh\\n(.*?)```\\s*<!-- quickstart:end -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no quickstart block")
	}
	script := string(m[1])
	example, err := os.ReadFile("../../docs/examples/quickstart-stream.json")
	if err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	n := startNode(t, filepath.Join(work, "data"), nil)
	sinkPort := freePort(t)
	sinkOut := &syncBuffer{}
	sk := exec.Command(bin("sink"), "-listen", fmt.Sprintf("127.0.0.1:%d", sinkPort))
	sk.Stdout, sk.Stderr = sinkOut, sinkOut
	if err := sk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sk.Process.Kill(); _ = sk.Wait() })
	waitFor(t, 20*time.Second, "sink", func() bool { return strings.Contains(sinkOut.String(), "listening") })

	if !strings.Contains(string(example), "127.0.0.1:9000") || !strings.Contains(script, "http://localhost:8080") {
		t.Fatal("the quick start no longer uses the documented ports; update this test")
	}
	if err := os.MkdirAll(filepath.Join(work, "docs", "examples"), 0o755); err != nil {
		t.Fatal(err)
	}
	ex := strings.ReplaceAll(string(example), "127.0.0.1:9000", fmt.Sprintf("127.0.0.1:%d", sinkPort))
	if err := os.WriteFile(filepath.Join(work, "docs", "examples", "quickstart-stream.json"), []byte(ex), 0o644); err != nil {
		t.Fatal(err)
	}
	script = strings.ReplaceAll(script, "http://localhost:8080", n.URL)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quick start failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"status":"accepted"`) || !strings.Contains(string(out), `"inlet_url"`) {
		t.Fatalf("quick start output lacks the stream and the acceptance:\n%s", out)
	}
	want := `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event.status":"approved","event.latency_ms":182}`
	waitFor(t, 20*time.Second, "the README's line at the receiver", func() bool { return strings.Contains(sinkOut.String(), want) })
}
