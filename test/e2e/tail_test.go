package e2e

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTailFollowsLiveEventsWithFilter: GET /v1/streams/{id}/tail streams
// new events as Server-Sent Events, keeping only those the CEL filter
// selects; a bad filter is a 400.
func TestTailFollowsLiveEventsWithFilter(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	createStream(t, n, map[string]any{"name": "live"})
	if code := n.do("GET", "/v1/streams/live/tail?filter="+url.QueryEscape("event.status =="), nil, nil); code != 400 {
		t.Fatalf("bad filter: %d", code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/v1/streams/live/tail?filter="+url.QueryEscape(`event.status == "declined"`), nil)
	req.Header.Set("Authorization", "Bearer "+n.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
		close(lines)
	}()
	// The tail starts at the newest event; wait for its opening comment by
	// sending until the first declined event shows up.
	body := `{"timestamp":"2025-02-12T14:32:15Z","source":"t","event":{"status":"approved","n":1}}` + "\n" +
		`{"timestamp":"2025-02-12T14:32:15Z","source":"t","event":{"status":"declined","n":2}}`
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for got := 0; got < 3; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("tail closed")
			}
			if !strings.Contains(l, `"declined"`) || strings.Contains(l, `"approved"`) {
				t.Fatalf("filter let through: %s", l)
			}
			got++
		case <-tick.C:
			if code := ingest(t, n, n.Token, "live", []byte(body)); code != 200 {
				t.Fatalf("ingest %d", code)
			}
		case <-deadline:
			t.Fatal("no declined events on the tail")
		}
	}
}
