package ingest

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/ingest/decode"
)

// FuzzCollection posts arbitrary bodies to the collection handler, single
// and batch, plain and gzipped, and checks against an oracle written with
// encoding/json (more lenient: it ignores depth and duplicate keys) that:
//   - it never panics; every error is a problem+json with the status as
//     a string, and stores nothing;
//   - 200 only for one JSON object, stored as exactly one frame holding
//     the stamped record, whose event is the record compacted and whose
//     xactionId is the answer's;
//   - 207 only for {"messages":[…]}, one response per message in order:
//     objects get an xactionId and are stored, in order, in one frame
//     (none when no message is an object); the others get statusCode 400.
func FuzzCollection(f *testing.F) {
	f.Add([]byte(`{"a":1}`), false, false)
	f.Add([]byte("{\n \"user\": {\"id\": 7, \"tags\": [\"a\"]}\n}"), false, true)
	f.Add([]byte(`[{"a":1}]`), false, false)
	f.Add([]byte(`{"messages":[{"n":0},42,{"n":2},"x",[1],null]}`), true, false)
	f.Add([]byte(`{"meta":{"messages":[1]},"messages":[{"a":"}"},{"b":"\"]"}]}`), true, true)
	f.Add([]byte(`{"messages":[]}`), true, false)
	f.Add([]byte(`{"messages":[{}],"messages":[{}]}`), true, false)
	f.Add([]byte(`{"m\u0065ssages":[{"a":1}]}`), true, false)
	f.Add([]byte(`{"a":"\u2028\n"}`), false, false)

	fk := newDialectFake(nil)
	f.Fuzz(func(t *testing.T, body []byte, batch, compress bool) {
		sent := body
		r := fk.collectionRequest("", batch, sent)
		if compress {
			var b bytes.Buffer
			zw := stdgzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			sent = b.Bytes()
			r = fk.collectionRequest("", batch, sent)
			r.Header.Set("Content-Encoding", "gzip")
		}
		fk.pub.reset() // keep only this execution's frames
		before := fk.pub.count()
		w := fk.serve(r)
		msgs := fk.pub.msgs[before:]
		raw := w.Body.Bytes()

		if w.Code != http.StatusOK && w.Code != http.StatusMultiStatus {
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames were published", w.Code, len(msgs))
			}
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("unexpected status %d: %s", w.Code, raw)
			}
			var p problemBody
			if err := json.Unmarshal(raw, &p); err != nil || w.Header().Get("Content-Type") != "application/problem+json" ||
				p.Status != strconv.Itoa(w.Code) || !strings.HasPrefix(p.Type, problemBase) || p.Report.Message == "" {
				t.Fatalf("answer %d is not a problem: %q", w.Code, raw)
			}
			if w.Code == 413 && len(body) <= fuzzLimit {
				t.Fatalf("413 for %d bytes", len(body))
			}
			return
		}
		if len(body) > fuzzLimit {
			t.Fatalf("%d for a body over the limit", w.Code)
		}
		var stored [][]byte
		if len(msgs) > 1 {
			t.Fatalf("%d frames for one request", len(msgs))
		}
		if len(msgs) == 1 {
			fr := event.Parse(msgs[0].header, msgs[0].data)
			if _, n, err := decode.Envelope(nil, fr.Body, decode.FormatNDJSON, decode.Limits{MaxDepth: MaxDepth}); err != nil || n != fr.Count {
				t.Fatalf("stored frame is not valid (%v, %d events, count %d): %q", err, n, fr.Count, fr.Body)
			}
			stored = event.Split(fr.Body)
		}
		type storedRec struct {
			Timestamp string          `json:"timestamp"`
			Source    string          `json:"source"`
			Event     json.RawMessage `json:"event"`
			Metadata  struct {
				XactionID string `json:"xactionId"`
			} `json:"metadata"`
		}
		check := func(line, record []byte, xaction string) {
			var s storedRec
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatalf("stored record: %v: %q", err, line)
			}
			// Records are stored as sent, compacted when they span lines.
			var got, want bytes.Buffer
			_ = json.Compact(&got, s.Event)
			_ = json.Compact(&want, record)
			if s.Source != "collection:"+fk.st.InletID || s.Timestamp != "2025-02-12T14:32:15.000Z" ||
				!bytes.Equal(got.Bytes(), want.Bytes()) || s.Metadata.XactionID != xaction {
				t.Fatalf("stored %q for record %q (xactionId %s)", line, record, xaction)
			}
		}

		if !batch {
			trimmed := bytes.TrimLeft(body, " \t\r\n")
			if w.Code != 200 || !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' {
				t.Fatalf("%d for a body the oracle refuses: %q", w.Code, body)
			}
			var ok collectionOK
			if err := json.Unmarshal(raw, &ok); err != nil || ok.InletID != fk.st.InletID || !xactionRe.MatchString(ok.XactionID) {
				t.Fatalf("200 body %q", raw)
			}
			if len(stored) != 1 {
				t.Fatalf("200 with %d stored records", len(stored))
			}
			check(stored[0], body, ok.XactionID)
			return
		}

		var top map[string]json.RawMessage
		var messages []json.RawMessage
		if w.Code != 207 || json.Unmarshal(body, &top) != nil || json.Unmarshal(top["messages"], &messages) != nil || len(messages) == 0 {
			t.Fatalf("%d for a batch the oracle refuses: %q", w.Code, body)
		}
		var b batchOK
		if err := json.Unmarshal(raw, &b); err != nil || len(b.Responses) != len(messages) || !xactionRe.MatchString(b.BatchID) {
			t.Fatalf("207 body %q for %d messages", raw, len(messages))
		}
		k := 0
		for i, m := range messages {
			res := b.Responses[i]
			if m[0] != '{' {
				if res.StatusCode != 400 || res.Message == "" || res.XactionID != "" {
					t.Fatalf("message %d (%q): response %+v", i, m, res)
				}
				continue
			}
			if res.StatusCode != 0 || k >= len(stored) {
				t.Fatalf("message %d (%q): response %+v, %d stored", i, m, res, len(stored))
			}
			check(stored[k], m, res.XactionID)
			k++
		}
		if k != len(stored) {
			t.Fatalf("%d records stored, %d objects sent", len(stored), k)
		}
	})
}
