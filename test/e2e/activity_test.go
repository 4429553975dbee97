package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestActivityHistoryStreamDeliversChanges: a stream with data_source
// activity_history and the activity_history_collector preset delivers the
// workspace's management changes to its HTTP destination: the record of
// its own creation, then another stream created, changed and deleted —
// nothing of another workspace, each once, with the preset's variables.
func TestActivityHistoryStreamDeliversChanges(t *testing.T) {
	start := time.Now().UTC().Add(-time.Second)
	n := startNode(t, t.TempDir(), nil)
	s := newSink(t)
	audit := httpStream("audit", s.URL, "200ms")
	audit["data_source"] = "activity_history"
	audit["template"] = map[string]any{"preset": "activity_history_collector"}
	createStream(t, n, audit)

	p := createStream(t, n, map[string]any{"name": "payments"})
	id, _ := p["id"].(string)
	if code := n.do("PATCH", "/v1/streams/"+id, map[string]any{"status": "inactive"}, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if code := n.do("DELETE", "/v1/streams/"+id, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	// Another workspace's activity never reaches this workspace's stream.
	if code := n.do("POST", "/v1/workspaces", map[string]any{"name": "other"}, nil); code != 201 {
		t.Fatalf("create workspace: %d", code)
	}
	if code := n.do("POST", "/v1/streams", map[string]any{"name": "theirs"}, nil, "X-Workspace", "other"); code != 201 {
		t.Fatalf("create stream in other: %d", code)
	}
	// A last change of this workspace: once it is delivered, everything
	// before it has been (activity is fanned out in order).
	if code := n.do("POST", "/v1/tokens", map[string]any{"name": "ci", "scopes": []string{"events.ingest"}}, nil); code != 201 {
		t.Fatalf("create token: %d", code)
	}

	want := []struct{ typ, title string }{
		{"CREATED", "Stream audit was created"},
		{"CREATED", "Stream payments was created"},
		{"CHANGED", "Stream payments was changed"},
		{"DELETED", "Stream payments was deleted"},
		{"CREATED", "Token ci was created"},
	}
	waitFor(t, 30*time.Second, "activity delivered", func() bool { return len(s.Lines()) >= len(want) })
	lines := s.Lines()
	if len(lines) != len(want) {
		t.Fatalf("the sink got %d lines, want %d:\n%q", len(lines), len(want), lines)
	}
	var prev time.Time
	for i, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d: %q: %v", i, l, err)
		}
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if wantKeys := []string{"author_email", "author_name", "client", "comment", "time", "title", "type"}; !slices.Equal(keys, wantKeys) {
			t.Errorf("line %d: keys %v, want the preset's %v", i, keys, wantKeys)
		}
		if ev["type"] != want[i].typ || ev["title"] != want[i].title {
			t.Errorf("line %d: type %v, title %v; want %s, %q", i, ev["type"], ev["title"], want[i].typ, want[i].title)
		}
		if ev["author_name"] != "admin" || ev["client"] != "default" || ev["author_email"] != "" || ev["comment"] != "" {
			t.Errorf("line %d: author_name %v, client %v, author_email %v, comment %v", i, ev["author_name"], ev["client"], ev["author_email"], ev["comment"])
		}
		ts, _ := ev["time"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.Before(start) || at.After(time.Now().Add(time.Second)) || at.Before(prev) {
			t.Errorf("line %d: time %q (%v)", i, ts, err)
		}
		prev = at
	}
}
