package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// FuzzBulk posts arbitrary bodies to /s/_bulk (through Wrap) and checks
// that:
//   - the handler never panics and answers ES's shapes;
//   - 200: one item per action line, in order; at most one frame published
//     (every stored item goes to stream "s", by its name or its id); the
//     frame holds exactly the items answered 201, each a valid native
//     envelope whose "event" is the document as sent;
//   - any other answer (400, 413) published nothing.
func FuzzBulk(f *testing.F) {
	f.Add([]byte(`{"index":{}}` + "\n" + `{"@timestamp":"2025-02-12T14:32:15Z","m":"x"}` + "\n"))
	f.Add([]byte(`{"create":{"_index":"s","_id":"1"}}` + "\r\n" + `{"timestamp":1739370735123}` + "\r\n" + `{"index":{"_index":"str_fake"}}` + "\n" + `{}`))
	f.Add([]byte(`{"index":{"_index":"nope"}}` + "\n" + `{"a":1}` + "\n" + `{"delete":{"_id":"x"}}` + "\n" + `{"update":{}}` + "\n" + `{"doc":{}}` + "\n"))
	f.Add([]byte(`{"index":{}}` + "\n" + `[1]` + "\n" + `{"index":{}}` + "\n" + `{"broken":` + "\n"))
	f.Add([]byte(`{"index":{}}`))
	f.Add([]byte(`{"upsert":{}}` + "\n{}\n"))
	f.Add([]byte("\n\n"))

	h := newFake(nil, func(st *model.Stream) { st.Limits.MaxPayload = fuzzLimit })
	wrap := h.h.Wrap(http.NotFoundHandler())
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/s/_bulk", bytes.NewReader(body))
		r.Header.Set("Authorization", "ApiKey "+h.token)
		before := h.pub.count()
		w := httptest.NewRecorder()
		wrap.ServeHTTP(w, r)
		msgs := h.pub.msgs[before:]
		if w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("no X-Elastic-Product: %d %s", w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			var e esErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Status != w.Code || e.Error.Type == "" || e.Error.Reason == "" {
				t.Fatalf("answer %d is not ES's error shape: %q", w.Code, w.Body)
			}
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames published", w.Code, len(msgs))
			}
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("unexpected status %d: %s", w.Code, w.Body)
			}
			return
		}
		var res esBulkResponse
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatalf("200 body: %v %q", err, w.Body)
		}
		docs, actions := bulkOracle(body)
		if len(res.Items) != len(actions) {
			t.Fatalf("%d items for %d actions: %s", len(res.Items), len(actions), w.Body)
		}
		var stored [][]byte
		for i, item := range res.Items {
			it, ok := item[actions[i]]
			if !ok || len(item) != 1 {
				t.Fatalf("item %d: %v, action %q", i, item, actions[i])
			}
			if it.Status == 201 {
				stored = append(stored, docs[i])
			} else if it.Error == nil || it.Error.Type == "" {
				t.Fatalf("item %d: status %d without an error", i, it.Status)
			}
		}
		if (len(stored) > 0) != (len(msgs) == 1) || len(msgs) > 1 {
			t.Fatalf("%d stored items, %d frames", len(stored), len(msgs))
		}
		if len(msgs) == 0 {
			return
		}
		got := frameEvents(t, event.Parse(msgs[0].header, msgs[0].data))
		if len(got) != len(stored) {
			t.Fatalf("%d events in the frame, %d items answered 201", len(got), len(stored))
		}
		for i := range stored {
			var want any
			d := json.NewDecoder(bytes.NewReader(stored[i]))
			d.UseNumber()
			if err := d.Decode(&want); err != nil {
				t.Fatalf("item %d answered 201 for a document encoding/json refuses: %q", i, stored[i])
			}
			a, _ := json.Marshal(want)
			b, _ := json.Marshal(got[i]["event"])
			if !bytes.Equal(a, b) {
				t.Fatalf("event %d: stored %s, sent %s", i, b, a)
			}
		}
	})
}

// bulkOracle splits a body the handler accepted into its action names and
// the document line of each (nil for delete).
func bulkOracle(body []byte) (docs [][]byte, actions []string) {
	lines := bytes.Split(body, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSuffix(lines[i], []byte("\r"))
		if len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		var act map[string]json.RawMessage
		_ = json.Unmarshal(line, &act)
		var op string
		for k := range act {
			op = k
		}
		actions = append(actions, op)
		if op == "delete" {
			docs = append(docs, nil)
			continue
		}
		i++
		if i < len(lines) {
			docs = append(docs, bytes.TrimSuffix(lines[i], []byte("\r")))
		} else {
			docs = append(docs, nil)
		}
	}
	return docs, actions
}
