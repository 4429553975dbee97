package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/ingest/decode"
)

// FuzzEventsV2 posts arbitrary bodies to the Events v2 handler and checks
// that:
//   - it never panics; a 400 is the native error body and stores nothing;
//   - 201 only for valid JSON, with reportCount equal to the number of
//     results; the events whose status is OK, and only they, are stored,
//     in order, in one frame (none when no event is OK), each a valid
//     native envelope from source events-v2 carrying its result's
//     correlationId, a known eventType, a title, startTime ≤ endTime and
//     a timeout from 1 to 360;
//   - the decoder answers as the encoding/json one it replaced
//     (eventsv2_ref_test.go): the same rejection, the same statuses, the
//     same frame byte for byte, both called directly and through the
//     handler.
func FuzzEventsV2(f *testing.F) {
	f.Add([]byte(`{"eventType":"CUSTOM_INFO","title":"t"}`))
	f.Add([]byte(`{"eventType":"CUSTOM_DEPLOYMENT","title":"v1","startTime":1739370735000,"endTime":1739370736000,"timeout":30,` +
		`"entitySelector":"type(HOST),entityName(\"a~)b\")","properties":{"dt.event.deployment.version":"1","n":1,"b":true}}`))
	f.Add([]byte(`[{"eventType":"ERROR_EVENT","title":"a"},{"eventType":"ERROR_EVENT","title":"b","endTime":0}]`))
	f.Add([]byte(`{"eventType":"CUSTOM_INFO","title":"t","properties":{"dt.foo":"x"}}`))
	f.Add([]byte(`{"eventType":"CUSTOM_INFO","title":"t","entitySelector":"type(HOST"}`))
	f.Add([]byte(`{"eventType":"CUSTOM_INFO","title":"t","timeout":99999}`))
	f.Add([]byte(`{"eventType":"CUSTOM_INFO"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"eventType":"CUSTOM_INFO","title":"\u00a0x","properties":{"a":1,"\u0061":2}},{"title":"t","event\u0054ype":"ERROR_EVENT","timeout":1e3}]`))
	f.Add([]byte(`{"eventType":"CUSTOM_INFO","title":"<\ud800>","entitySelector":"type(\u2003)","properties":{"k0":1,"k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"k9":1,"k10":1,"k11":1,"k12":1,"k3":{}}}`))
	f.Add(eventsV2Body(3))

	fk := newDialectFake(nil)
	p := new(ev2Parser) // reused, as the handler's pooled parsers are
	f.Fuzz(func(t *testing.T, body []byte) {
		if d := ev2Diff(p, body, fk.now); d != "" {
			t.Fatalf("the decoder and the reference differ on %q:\n%s", body, d)
		}
		r := httptest.NewRequest(http.MethodPost, "/api/v2/events/ingest", bytes.NewReader(body))
		r.Header.Set("Authorization", "Api-Token "+fk.token)
		r.Header.Set("X-Stream-Id", fk.st.ID)
		fk.pub.reset() // keep only this execution's frames
		before := fk.pub.count()
		w := fk.serve(r)
		msgs := fk.pub.msgs[before:]
		raw := w.Body.Bytes()
		if w.Code != http.StatusCreated {
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames were published", w.Code, len(msgs))
			}
			var e apierr.Body
			if w.Code != 400 || json.Unmarshal(raw, &e) != nil || e.Error == "" || e.Detail == "" {
				t.Fatalf("answer %d is not a 400 error body: %q", w.Code, raw)
			}
			if len(body) <= fuzzLimit {
				_, _, _, rj := refParseEventsV2(nil, body, fk.now, func() string { return "" })
				if rj == nil || e.Error != rj.code.Name || e.Detail != rj.detail {
					t.Fatalf("answer %q, the reference's %+v", raw, rj)
				}
			}
			return
		}
		if !json.Valid(body) || len(body) > fuzzLimit {
			t.Fatalf("201 for a body the oracle refuses: %q", body)
		}
		var a ev2Answer
		if err := json.Unmarshal(raw, &a); err != nil || a.ReportCount != len(a.EventIngestResults) || a.ReportCount == 0 {
			t.Fatalf("201 body %q", raw)
		}
		k := 0
		wantFrame, wantRes, _, rj := refParseEventsV2(nil, body, fk.now, func() string {
			k++
			return a.EventIngestResults[min(k, len(a.EventIngestResults))-1].CorrelationID
		})
		if rj != nil || len(wantRes) != a.ReportCount || k != a.ReportCount {
			t.Fatalf("201 %q, the reference's %+v, %d results", raw, rj, len(wantRes))
		}
		var ok []string
		for i, res := range a.EventIngestResults {
			if res.Status != wantRes[i].status {
				t.Fatalf("status %d %q, the reference's %q", i, res.Status, wantRes[i].status)
			}
			if !correlationRe.MatchString(res.CorrelationID) {
				t.Fatalf("correlationId %q", res.CorrelationID)
			}
			switch res.Status {
			case EventOK:
				ok = append(ok, res.CorrelationID)
			case EventInvalidTimestamps, EventInvalidEntityType, EventInvalidMetadata:
			default:
				t.Fatalf("status %q", res.Status)
			}
		}
		if len(ok) == 0 {
			if len(msgs) != 0 {
				t.Fatal("stored events none of which is OK")
			}
			return
		}
		if len(msgs) != 1 {
			t.Fatalf("%d frames", len(msgs))
		}
		fr := event.Parse(msgs[0].header, msgs[0].data)
		if !bytes.Equal(fr.Body, wantFrame) {
			t.Fatalf("stored\n%s\nthe reference's\n%s", fr.Body, wantFrame)
		}
		if _, n, err := decode.Envelope(nil, fr.Body, decode.FormatNDJSON, decode.Limits{MaxDepth: MaxDepth}); err != nil || n != len(ok) || fr.Count != n {
			t.Fatalf("frame (%v, %d events, count %d, %d OK): %q", err, n, fr.Count, len(ok), fr.Body)
		}
		for i, line := range event.Split(fr.Body) {
			var s storedEvent
			d := json.NewDecoder(bytes.NewReader(line))
			d.DisallowUnknownFields()
			if err := d.Decode(&s); err != nil {
				t.Fatalf("stored event %q: %v", line, err)
			}
			ev := s.Event
			if s.Source != "events-v2" || ev.CorrelationID != ok[i] || !slices.Contains(EventTypes, ev.EventType) ||
				strings.TrimSpace(ev.Title) == "" || ev.EndTime < ev.StartTime || ev.Timeout < 1 || ev.Timeout > 360 {
				t.Fatalf("stored event %q", line)
			}
		}
	})
}
