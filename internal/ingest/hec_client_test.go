package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// The published HEC client the HEC input is tested with: splunk-logging
// (Splunk's logging library for Node.js) and its HTTP client, pinned.
// scripts/test.sh installs them with the same command; the test installs
// them itself when they are missing.
var splunkLoggingPackages = []string{"splunk-logging@0.11.1", "needle@2.9.1"}

// npmPackages returns the node_modules directory of packages installed
// under <module root>/.tools/npm/<first package>, installing them when
// needed. Without node or npm, or when the install fails, the test fails
// under CI=true and is skipped otherwise.
func npmPackages(t *testing.T, pkgs ...string) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("%s is not installed: the test with a real npm client cannot run (%v)", tool, err)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".tools", "npm", pkgs[0])
	name := strings.SplitN(pkgs[0], "@", 2)[0]
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, name, "package.json")); err == nil {
		return modules
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"install", "--prefix", dir, "--save-exact", "--no-audit", "--no-fund", "--no-update-notifier"}, pkgs...)
	out, err := exec.CommandContext(ctx, "npm", args...).CombinedOutput()
	if err != nil {
		unavailable("npm install %s failed: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return modules
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestHECWithSplunkLogging posts events with splunk-logging, unchanged,
// to the HEC input: one at a time and in batches of concatenated events,
// with a token limited to the stream (no Runnel header needed).
func TestHECWithSplunkLogging(t *testing.T) {
	modules := npmPackages(t, splunkLoggingPackages...)
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "node-app", nil)
	tok := c.newToken(model.DefaultWorkspace, model.TokenRequest{Name: "hec", Scopes: []string{model.ScopeIngest}, Streams: []string{st.ID}})

	run := func(token string, count, batch int) ([]map[string]any, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "hec", "send.js"))
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "URL="+c.url, "TOKEN="+token,
			fmt.Sprintf("COUNT=%d", count), fmt.Sprintf("BATCH=%d", batch))
		out, err := cmd.Output()
		var answers []map[string]any
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				answers = append(answers, m)
			}
		}
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				err = fmt.Errorf("%w: %s %s", err, out, ee.Stderr)
			}
		}
		return answers, err
	}

	for _, tt := range []struct{ count, batch, requests int }{{3, 1, 3}, {7, 3, 3}} {
		before := c.msgs(st.ID)
		answers, err := run(tok, tt.count, tt.batch)
		if err != nil {
			t.Fatalf("node client: %v", err)
		}
		if len(answers) != tt.requests {
			t.Fatalf("%d answers, want %d: %v", len(answers), tt.requests, answers)
		}
		for _, a := range answers {
			if a["err"] != nil || fmt.Sprint(a["status"]) != "200" || fmt.Sprint(a["body"]) != "map[code:0 text:Success]" {
				t.Fatalf("client saw %v", a)
			}
		}
		if got := c.msgs(st.ID) - before; got != uint64(tt.requests) {
			t.Fatalf("%d frames stored, want %d", got, tt.requests)
		}
		frames := c.frames(st.ID)[before:]
		var evs []map[string]any
		for _, f := range frames {
			evs = append(evs, frameEvents(t, f)...)
		}
		if len(evs) != tt.count {
			t.Fatalf("%d events stored, want %d", len(evs), tt.count)
		}
		// The client sends its batches concurrently: order by n.
		slices.SortFunc(evs, func(a, b map[string]any) int {
			return strings.Compare(fmt.Sprint(jpath(a, "event.event.message.n")), fmt.Sprint(jpath(b, "event.event.message.n")))
		})
		for i, ev := range evs {
			for p, want := range map[string]any{
				"source":                     "node-app",
				"timestamp":                  time.Unix(1739370735+int64(i), 250e6).UTC().Format(time.RFC3339Nano),
				"event.event.message.n":      i,
				"event.event.message.text":   "hello from node",
				"event.event.message.nested": map[string]any{"ok": true},
				"event.event.severity":       map[bool]string{true: "warn", false: "info"}[i%2 == 1],
				"event.host":                 "node-host",
				"event.sourcetype":           "_json",
				"event.index":                "main",
			} {
				if g := jpath(ev, p); fmt.Sprint(g) != fmt.Sprint(want) {
					t.Errorf("event %d: %s = %v, want %v", i, p, g, want)
				}
			}
		}
	}

	// A wrong token: the client reports HEC's error, nothing is stored.
	before := c.counts()
	answers, err := run("rnl_wrong", 1, 1)
	if err == nil || len(answers) == 0 || answers[0]["err"] != "Invalid token" || fmt.Sprint(answers[0]["code"]) != "4" {
		t.Fatalf("wrong token: %v %v", err, answers)
	}
	if after := c.counts(); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("stored with a wrong token: %v → %v", before, after)
	}
}
