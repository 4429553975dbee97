package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// streamDef is the stream loadgen creates: no destinations, or one HTTP
// destination batching at 2000 events / 200 ms.
func streamDef(name, destURL, template string) map[string]any {
	def := map[string]any{"name": name, "description": "created by cmd/loadgen"}
	if template == "plan" {
		// The plan of issue 3's benchmark: parse json, mask e-mail and
		// card, a CEL filter (every loadgen event passes it, so that the
		// run can count every accepted event at the sink), 8 variables.
		def["processors"] = []any{
			map[string]any{"parse": map[string]any{"field": "event.note", "format": "json", "target": "event.detail"}},
			map[string]any{"mask": map[string]any{"detectors": []string{"email", "card"}, "method": "redact"}},
			map[string]any{"filter": map[string]any{"if": `event.status != "chargeback"`}},
		}
		def["template"] = map[string]any{"variables": []string{
			"timestamp", "source", "event.id", "event.status", "event.amount", "event.currency", "event.detail.email", "event.detail.card",
		}}
	}
	if template == "variables" {
		def["template"] = map[string]any{"variables": []string{
			"timestamp", "source", "event.id", "event.status", "event.amount", "event.currency", "event.user",
		}}
	}
	dests := []any{}
	if destURL != "" {
		dests = append(dests, map[string]any{
			"name":     "sink",
			"type":     "http",
			"settings": map[string]any{"url": destURL},
			"batch":    map[string]any{"max_events": 2000, "max_age": "200ms"},
		})
	}
	def["destinations"] = dests
	return def
}

func apiDo(ctx context.Context, c *config, method, path string, in any) (int, []byte, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.url, "/")+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// createStream creates a stream and returns its id. A stream of that name
// that exists already is reused (its definition is not changed).
func createStream(ctx context.Context, c *config, name, destURL string) (string, error) {
	return createStreamDef(ctx, c, name, streamDef(name, destURL, c.template))
}

// createStreamDef is createStream with the whole definition.
func createStreamDef(ctx context.Context, c *config, name string, def map[string]any) (string, error) {
	code, b, err := apiDo(ctx, c, http.MethodPost, "/v1/streams", def)
	if err != nil {
		return "", fmt.Errorf("create stream: %w", err)
	}
	if code == http.StatusConflict {
		code, b, err = apiDo(ctx, c, http.MethodGet, "/v1/streams/"+url.PathEscape(name), nil)
		if err != nil {
			return "", fmt.Errorf("get stream: %w", err)
		}
	}
	if code/100 != 2 {
		return "", fmt.Errorf("create stream %q: HTTP %d: %s", name, code, bytes.TrimSpace(b))
	}
	var s struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.ID == "" {
		return "", fmt.Errorf("create stream %q: unexpected answer %s", name, b)
	}
	return s.ID, nil
}

func deleteStream(ctx context.Context, c *config, id string) error {
	code, b, err := apiDo(ctx, c, http.MethodDelete, "/v1/streams/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("delete stream: HTTP %d: %s", code, bytes.TrimSpace(b))
	}
	return nil
}
