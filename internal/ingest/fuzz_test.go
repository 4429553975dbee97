package ingest

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// fuzzLimit is the stream's max_payload in the fuzz target: small, so
// that fuzzing reaches it.
const fuzzLimit = 4096

// FuzzNativeIngest posts arbitrary bodies, content types and encodings to
// the native handler and checks, against an oracle written with
// encoding/json and compress/gzip (more lenient than the handler:
// it ignores depth, duplicate keys and invalid UTF-8), that:
//   - it never panics, and every answer is JSON;
//   - 200 only for a body that is valid and within the limit, and then
//     exactly one frame was published whose count equals the answer's
//     "events" and the oracle's, made of that many single-line JSON
//     objects, with ingested_bytes the decompressed size;
//   - any other answer published nothing.
//
// compress gzips body before sending (so the fuzzer explores valid gzip
// bodies); encoding is sent verbatim as Content-Encoding.
func FuzzNativeIngest(f *testing.F) {
	three := evs(3)
	f.Add([]byte(ev(0)), "application/json", "", false)
	f.Add(array(three...), "application/json; charset=utf-8", "", false)
	f.Add(ndjson(three...), "application/x-ndjson", "gzip", true)
	f.Add(ndjson(three...), "application/jsonl", "x-gzip", false)
	f.Add([]byte(`[`+ev(0)+`,{"timestamp":"2025-02-12T14:32:15+01:00","source":"s","event":{"a":[1,{"b":null}]},"metadata":{}}]`), "application/json", "", false)
	f.Add([]byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"","event":{}}`), "application/json", "", false)
	f.Add([]byte(`{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{}}`+"\r\n\n"), "application/ndjson", "identity", false)
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"), "application/json", "gzip", false)
	f.Add([]byte(ev(0)), "text/plain", "br", false)

	h := newFake(nil, func(st *model.Stream) { st.Limits.MaxPayload = fuzzLimit })
	f.Fuzz(func(t *testing.T, body []byte, ctype, enc string, compress bool) {
		sent := body
		if compress {
			var b bytes.Buffer
			zw := stdgzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			sent = b.Bytes()
		}
		r := h.request("", "", sent)
		// Header values the HTTP layer could not carry are not the
		// handler's concern.
		if !validHeaderValue(ctype) || !validHeaderValue(enc) {
			return
		}
		r.Header["Content-Type"] = []string{ctype}
		if enc != "" {
			r.Header["Content-Encoding"] = []string{enc}
		}
		before := h.pub.count()
		w := h.serve(r)
		msgs := h.pub.msgs[before:]
		t.Logf("%d %s", w.Code, w.Body)

		if w.Code != http.StatusOK {
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames were published", w.Code, len(msgs))
			}
			var e struct{ Error, Detail string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || e.Detail == "" {
				t.Fatalf("answer %d is not an error body: %q", w.Code, w.Body)
			}
			if w.Code != 400 { // no rate limits here: only the body and its headers can be wrong
				t.Fatalf("unexpected status %d: %s", w.Code, w.Body)
			}
			return
		}

		var ok struct {
			Status        string `json:"status"`
			IngestedBytes int    `json:"ingested_bytes"`
			Events        int    `json:"events"`
			StreamID      string `json:"stream_id"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &ok); err != nil || ok.Status != "accepted" || ok.StreamID != h.st.ID {
			t.Fatalf("200 body %q: %v", w.Body, err)
		}
		plain, valid := oracleBody(sent, ctype, enc)
		if !valid {
			t.Fatalf("200 for a body the oracle refuses (type %q, encoding %q): %q", ctype, enc, plain)
		}
		n, valid := oracleEvents(plain, ctype)
		if !valid {
			t.Fatalf("200 for events the oracle refuses: %q", plain)
		}
		if len(plain) > fuzzLimit || ok.IngestedBytes != len(plain) {
			t.Fatalf("ingested_bytes %d, body %d bytes, limit %d", ok.IngestedBytes, len(plain), fuzzLimit)
		}
		if len(msgs) != 1 {
			t.Fatalf("200 with %d frames published", len(msgs))
		}
		fr := event.Parse(msgs[0].header, msgs[0].data)
		lines := event.Split(fr.Body)
		if ok.Events != n || fr.Count != n || len(lines) != n {
			t.Fatalf("events: answer %d, frame header %d, frame lines %d, oracle %d", ok.Events, fr.Count, len(lines), n)
		}
		if bytes.Count(fr.Body, []byte("\n")) != n-1 {
			t.Fatalf("frame body is not n lines: %q", fr.Body)
		}
		for i, l := range lines {
			if !json.Valid(l) || l[0] != '{' {
				t.Fatalf("frame line %d is not a JSON object: %q", i, l)
			}
		}
	})
}

// validHeaderValue reports whether net/http would send v as a header value.
func validHeaderValue(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// mediaType is the lower-cased media type of a Content-Type value.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// oracleBody decompresses a sent body as the encoding says, and reports
// whether the content type and encoding are acceptable at all.
func oracleBody(sent []byte, ctype, enc string) ([]byte, bool) {
	switch mediaType(ctype) {
	case "application/json", "application/x-ndjson", "application/ndjson", "application/jsonl":
	default:
		return nil, false
	}
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
		return sent, true
	case "gzip", "x-gzip":
		zr, err := stdgzip.NewReader(bytes.NewReader(sent))
		if err != nil {
			return nil, false
		}
		plain, err := io.ReadAll(io.LimitReader(zr, fuzzLimit+1))
		return plain, err == nil
	}
	return nil, false
}

// oracleEvents counts the events of a body, or reports it invalid.
func oracleEvents(body []byte, ctype string) (int, bool) {
	if mediaType(ctype) == "application/json" {
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(body, &items); err != nil || len(items) == 0 {
				return 0, false
			}
			for _, it := range items {
				if !oracleEvent(it) {
					return 0, false
				}
			}
			return len(items), true
		}
		var one json.RawMessage
		if err := json.Unmarshal(body, &one); err != nil || !oracleEvent(one) {
			return 0, false
		}
		return 1, true
	}
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.Trim(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) || !oracleEvent(line) {
			return 0, false
		}
		n++
	}
	return n, n > 0
}

// oracleEvent checks the envelope with encoding/json and time.Time.
func oracleEvent(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	var env map[string]json.RawMessage
	if json.Unmarshal(raw, &env) != nil {
		return false
	}
	var ts, src string
	if json.Unmarshal(env["timestamp"], &ts) != nil || json.Unmarshal(env["source"], &src) != nil || src == "" {
		return false
	}
	var tm time.Time
	if tm.UnmarshalText([]byte(ts)) != nil {
		return false
	}
	isObject := func(v json.RawMessage) bool { return len(v) > 0 && v[0] == '{' }
	if !isObject(env["event"]) {
		return false
	}
	if m, ok := env["metadata"]; ok && !isObject(m) {
		return false
	}
	return true
}

// The oracle itself must agree with the handler on the examples.
func TestFuzzOracle(t *testing.T) {
	for i, tt := range []struct {
		body  string
		ctype string
		n     int
	}{
		{ev(0), "application/json", 1},
		{string(array(evs(3)...)), "application/json", 3},
		{string(ndjson(evs(4)...)), "application/x-ndjson", 4},
		{`{"timestamp":"x","source":"a","event":{}}`, "application/json", 0},
		{`[]`, "application/json", 0},
	} {
		n, ok := oracleEvents([]byte(tt.body), tt.ctype)
		if n != tt.n || ok != (tt.n > 0) {
			t.Errorf("case %d: oracle %d %v, want %d", i, n, ok, tt.n)
		}
	}
}
