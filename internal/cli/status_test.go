package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestStatusTable(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/v1/streams/payments/status" {
			apiErr(w, 404, "stream_not_found", "no")
			return
		}
		writeJSONResp(w, 200, map[string]any{
			"stream_id": "str_1", "name": "payments", "status": "active",
			"destinations": []any{
				map[string]any{"name": "lake", "type": "s3", "health": "available", "last_status": 200, "last_error": "",
					"backlog_messages": 0, "backlog_events": 0, "backlog_bytes": 0, "oldest_undelivered_age_seconds": 0,
					"delivered": 1204, "failed": 0, "retried": 1, "dead_lettered": 0},
				map[string]any{"name": "web", "type": "http", "health": "unavailable", "last_status": 503,
					"last_error":       "dial tcp 10.0.0.1:443: connection refused",
					"backlog_messages": 12, "backlog_events": 1200, "backlog_events_estimated": true, "backlog_bytes": 1572864,
					"oldest_undelivered_age_seconds": 95.4, "delivered": 4, "failed": 7, "retried": 30, "dead_lettered": 2},
			},
		})
	})
	res := f.run("status", "payments")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if len(lines) != 4 || lines[0] != "stream payments (str_1): active" {
		t.Fatalf("output:\n%s", res.stdout)
	}
	for _, want := range []string{"DESTINATION", "HEALTH", "BACKLOG EVENTS", "DEAD-LETTERED", "LAST ERROR"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("header lacks %s: %q", want, lines[1])
		}
	}
	lake := strings.Fields(lines[2])
	if fmt.Sprint(lake) != "[lake s3 available 200 0 0 - 1204 0 1 0 -]" {
		t.Errorf("lake row %v", lake)
	}
	web := strings.Fields(lines[3])
	if fmt.Sprint(web[:11]) != "[web http unavailable 503 ~1200 1.5MiB 1m35s 4 7 30 2]" || !strings.Contains(lines[3], "connection refused") {
		t.Errorf("web row %v", web)
	}

	res = f.run("status", "payments", "-o", "json")
	var m map[string]any
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &m) != nil || m["stream_id"] != "str_1" {
		t.Errorf("-o json %v %q", res.err, res.stdout)
	}
	res = f.run("status", "nope")
	if res.err == nil || res.stderr != "error: stream_not_found: no\n" {
		t.Errorf("%v %q", res.err, res.stderr)
	}
}

func TestDeadLetters(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/streams/payments/dead-letters":
			writeJSONResp(w, 200, map[string]any{"items": []any{
				map[string]any{"id": "7", "stream_id": "str_1", "destination": "web", "event": map[string]any{"source": "a"},
					"error": "HTTP 400: bad request", "status_code": 400, "attempts": 1, "time": "2025-02-12T14:32:15Z"},
			}, "next": "7"})
		case r.Method == "POST" && r.URL.Path == "/v1/streams/payments/dead-letters/replay":
			writeJSONResp(w, 200, map[string]any{"replayed": 2})
		default:
			apiErr(w, 404, "not_found", r.URL.Path)
		}
	})
	res := f.run("dead-letters", "list", "payments", "--destination", "web")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	r := f.requests()[0]
	if r.Query != "destination=web&limit=100" {
		t.Errorf("query %q", r.Query)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "7 ") || !strings.Contains(lines[1], "HTTP 400: bad request") {
		t.Errorf("table:\n%s", res.stdout)
	}
	if res.stderr != "more: runnel dead-letters list payments --after 7\n" {
		t.Errorf("stderr %q", res.stderr)
	}

	f.reset()
	res = f.run("dead-letters", "replay", "payments", "-d", "web", "--id", "7", "--id", "9")
	if res.err != nil || res.stdout != "replayed 2 dead letters\n" {
		t.Fatalf("%v %q %q", res.err, res.stdout, res.stderr)
	}
	if body := string(f.requests()[0].Body); body != `{"destination":"web","ids":[7,9]}` {
		t.Errorf("body %s", body)
	}
	f.reset()
	if res = f.run("dead-letters", "replay", "payments"); res.err != nil || string(f.requests()[0].Body) != `{}` {
		t.Errorf("replay all: %v %q", res.err, f.requests()[0].Body)
	}
	res = f.run("dead-letters", "replay", "payments", "--id", "x")
	if res.err == nil || !strings.Contains(res.stderr, `--id "x"`) {
		t.Errorf("bad id: %v %q", res.err, res.stderr)
	}
}

func TestTail(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Accept") != "text/event-stream" {
			apiErr(w, 406, "bad_request", "accept")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\nevent: event\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\n")
	})
	res := f.run("tail", "payments", "--filter", `event.n > 0`)
	if res.err != nil || res.stdout != "{\"n\":1}\n{\"n\":2}\n" {
		t.Fatalf("%v %q %q", res.err, res.stdout, res.stderr)
	}
	if r := f.requests()[0]; r.Path != "/v1/streams/payments/tail" || r.Query != "filter=event.n+%3E+0" {
		t.Errorf("request %s?%s", r.Path, r.Query)
	}
}
