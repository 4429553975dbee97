package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/accesslog"
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// FuzzNativeLines posts arbitrary text/plain bodies to an
// edge_applications stream and checks, against an oracle that splits the
// lines itself and parses them with package accesslog (JSON lines with
// encoding/json), that:
//   - 200 only when every non-blank line is a record, with exactly one
//     frame published holding one JSON object per line, in order, and
//     "events" the number of non-blank lines;
//   - otherwise a 400 naming the first bad line, and nothing published.
func FuzzNativeLines(f *testing.F) {
	f.Add(lines(combinedLines...))
	f.Add([]byte(combinedLines[0] + "\r\n\r\n  {\"status\":499}\n" + combinedLines[1]))
	f.Add([]byte("garbage\n"))
	f.Add([]byte(" \n\t\n"))
	f.Add([]byte(`{"a":[[[[` + "\n"))

	h := newFake(nil, func(st *model.Stream) { st.DataSource, st.Limits.MaxPayload = catalog.EdgeApplications, fuzzLimit })
	lf, err := accesslog.Compile("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The oracle.
		var want []string
		bad := 0
		for i, l := range strings.Split(string(body), "\n") {
			l = strings.TrimSuffix(l, "\r")
			tl := strings.TrimLeft(l, " \t")
			if tl == "" {
				continue
			}
			if tl[0] == '{' {
				tl = strings.TrimRight(tl, " \t")
				var m map[string]any
				if json.Unmarshal([]byte(tl), &m) != nil {
					bad = i + 1
					break
				}
				want = append(want, tl)
				continue
			}
			rec, err := lf.AppendJSONString(nil, l)
			if err != nil {
				bad = i + 1
				break
			}
			want = append(want, string(rec))
		}

		before := h.pub.count()
		w := h.serve(h.request("text/plain", "", body))
		msgs := h.pub.msgs[before:]
		if w.Code != http.StatusOK {
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames were published", w.Code, len(msgs))
			}
			var e struct{ Error, Detail string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || e.Detail == "" {
				t.Fatalf("answer %d: %q", w.Code, w.Body)
			}
			switch {
			case len(body) > fuzzLimit, bad == 0 && len(want) == 0:
			case bad > 0 && strings.HasPrefix(e.Detail, "line "+strconv.Itoa(bad)+": "):
			default:
				// The oracle's encoding/json is more lenient (depth,
				// invalid UTF-8); a JSON line it accepts may still fail.
				if bad == 0 && strings.Contains(e.Detail, "a JSON record, but") {
					return
				}
				t.Fatalf("answer %s; oracle: first bad line %d, %d records", w.Body, bad, len(want))
			}
			return
		}
		if bad > 0 || len(body) > fuzzLimit {
			t.Fatalf("200 for a body whose line %d is bad: %q", bad, body)
		}
		if len(msgs) != 1 {
			t.Fatalf("200 with %d frames", len(msgs))
		}
		fr := event.Parse(msgs[0].header, msgs[0].data)
		got := event.Split(fr.Body)
		if fr.Count != len(want) || len(got) != len(want) {
			t.Fatalf("frame of %d (count %d), oracle %d", len(got), fr.Count, len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], []byte(want[i])) || !json.Valid(got[i]) {
				t.Fatalf("record %d: %q, oracle %q", i, got[i], want[i])
			}
		}
	})
}
