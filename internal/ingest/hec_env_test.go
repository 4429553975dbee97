package ingest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
)

// Test helpers shared by the compatible inputs' tests (HEC, _bulk, OTLP).

// compat is the real environment (embedded bus and store) behind a server
// wired as internal/server wires it: Wrap in front of the mux. Requests
// that Wrap passes on and the mux does not know reach a sentinel console
// that answers 299 "console".
type compat struct {
	*env
	url string
}

const consoleStatus = 299

func newCompat(t testing.TB) *compat {
	t.Helper()
	e := newEnv(t)
	mux := http.NewServeMux()
	e.h.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(consoleStatus)
		_, _ = io.WriteString(w, "console")
	})
	srv := httptest.NewServer(e.h.Wrap(mux))
	t.Cleanup(srv.Close)
	return &compat{env: e, url: srv.URL}
}

// hres is an answer.
type hres struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; hdr holds header pairs ("Authorization", "Splunk …").
func (c *compat) do(method, path string, body []byte, hdr ...string) hres {
	c.t.Helper()
	hr, err := http.NewRequestWithContext(c.ctx, method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		hr.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return hres{status: res.StatusCode, header: res.Header, body: b}
}

// frames reads every frame stored in a stream, oldest first.
func (c *compat) frames(id string) []event.Frame {
	c.t.Helper()
	s := c.jsStream(id)
	info, err := s.Info(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []event.Frame
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(c.ctx, seq)
		if err != nil {
			continue
		}
		out = append(out, event.Parse(m.Header, m.Data))
	}
	return out
}

// storedEvents is every event stored in a stream, decoded, after checking
// that each frame is a valid native frame (decode.Envelope accepts it and
// its count header is right).
func (c *compat) storedEvents(id string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for _, f := range c.frames(id) {
		out = append(out, frameEvents(c.t, f)...)
	}
	return out
}

// frameEvents checks a frame and decodes its events.
func frameEvents(t testing.TB, f event.Frame) []map[string]any {
	t.Helper()
	checkFrameBody(t, f.Body, f.Count)
	var out []map[string]any
	for _, ev := range event.Split(f.Body) {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(ev))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("stored event is not JSON: %v: %q", err, ev)
		}
		out = append(out, m)
	}
	return out
}

// checkFrameBody holds a frame body to the native contract: what
// decode.Envelope makes of an NDJSON body (envelope rules, depth, UTF-8),
// one event per line, no trailing newline, count events.
func checkFrameBody(t testing.TB, body []byte, count int) {
	t.Helper()
	out, n, err := decode.Envelope(nil, body, decode.FormatNDJSON, decode.Limits{MaxDepth: MaxDepth})
	if err != nil {
		t.Fatalf("frame is not a valid native frame: %v\n%q", err, body)
	}
	if n != count {
		t.Fatalf("frame holds %d events, its count says %d", n, count)
	}
	if !bytes.Equal(out, body) || bytes.HasSuffix(body, []byte("\n")) {
		t.Fatalf("frame is not in canonical form:\n got %q\nwant %q", body, out)
	}
}

// jpath reads a dotted path of a decoded event ("event.host").
func jpath(m map[string]any, p string) any {
	var v any = m
	for _, k := range bytes.Split([]byte(p), []byte(".")) {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[string(k)]
	}
	return v
}

// stream creates a stream with a small buffer (64 MiB), so that a test
// can create many without exhausting the embedded store's reservation.
func (c *compat) stream(ws, name string, edit func(*model.Stream)) *model.Stream {
	c.t.Helper()
	return c.newStream(ws, name, func(s *model.Stream) {
		s.Buffer.MaxBytes = 64 << 20
		if edit != nil {
			edit(s)
		}
	})
}
