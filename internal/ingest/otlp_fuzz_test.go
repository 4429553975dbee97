package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// FuzzOTLP posts arbitrary protobuf and JSON bodies to /v1/logs and checks
// that:
//   - the handler never panics and answers in the request's encoding: an
//     ExportLogsServiceResponse for 200, a google.rpc.Status otherwise;
//   - 200 only for a body the official decoder accepts; then at most one
//     frame, holding as many events as the request has records less the
//     rejected_log_records of the answer, each a valid native envelope;
//   - any other answer (400, 413) published nothing;
//   - the protobuf fast path (otlp_wire.go) writes exactly what the
//     official types give, and takes nothing proto.Unmarshal refuses; the
//     JSON fast path (otlp_json.go) likewise against protojson.
func FuzzOTLP(f *testing.F) {
	seed, _ := proto.Marshal(otlpRequest())
	f.Add(seed, false)
	js, _ := protojson.Marshal(otlpRequest())
	f.Add(js, true)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5b8efff798038103d269b633813fc60c","body":{"stringValue":"x"}}]}]}]}`), true)
	f.Add([]byte(`{}`), true)
	f.Add([]byte{}, false)
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, false)
	deep, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: otlpRequest().ResourceLogs[:1]})
	f.Add(deep, false)
	bench, _ := proto.Marshal(otlpBenchRequest())
	f.Add(bench, false)
	f.Add(wireTwoOneofs(), false)
	for _, body := range otlpJSONCorpus(f) {
		if len(body) < 4096 {
			f.Add(body, true)
		}
	}

	h := newFake(nil, func(st *model.Stream) { st.Limits.MaxPayload = fuzzLimit })
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		ct := "application/x-protobuf"
		if isJSON {
			ct = "application/json"
		}
		r := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+h.token)
		r.Header.Set("X-Stream-Id", h.st.ID)
		r.Header.Set("Content-Type", ct)
		before := h.pub.count()
		w := httptest.NewRecorder()
		h.h.serveOTLPLogs(w, r)
		msgs := h.pub.msgs[before:]
		if w.Header().Get("Content-Type") != ct {
			t.Fatalf("answer Content-Type %q to %q", w.Header().Get("Content-Type"), ct)
		}
		if !isJSON {
			// The fast path agrees with the official types, byte for byte,
			// and takes nothing proto.Unmarshal refuses.
			wire, ref, wireOut, refOut, wireOK, refOK := otlpBothPaths(t, body)
			if wireOK && !refOK {
				t.Fatalf("the fast path took a body proto.Unmarshal refuses: %x", body)
			}
			if wireOK && (string(wireOut) != string(refOut) || wire.accepted != ref.accepted || wire.rejected != ref.rejected || wire.message != ref.message) {
				t.Fatalf("fast path and official types differ:\n%d %d %q %s\n%d %d %q %s",
					wire.accepted, wire.rejected, wire.message, wireOut, ref.accepted, ref.rejected, ref.message, refOut)
			}
		} else {
			// The same for the JSON fast path (otlp_json.go) and protojson.
			fast, ref, fastOut, refOut, fastOK, refOK := otlpJSONBothPaths(t, body)
			if fastOK && !refOK {
				t.Fatalf("the JSON fast path took a body the reference refuses: %q", body)
			}
			if fastOK && (string(fastOut) != string(refOut) || fast.accepted != ref.accepted || fast.rejected != ref.rejected || fast.message != ref.message) {
				t.Fatalf("JSON fast path and reference differ:\n%d %d %q %s\n%d %d %q %s",
					fast.accepted, fast.rejected, fast.message, fastOut, ref.accepted, ref.rejected, ref.message, refOut)
			}
		}
		unmarshal := proto.Unmarshal
		if isJSON {
			unmarshal = func(b []byte, m proto.Message) error { return protojson.Unmarshal(b, m) }
		}
		if w.Code != http.StatusOK {
			st := &spb.Status{}
			if err := unmarshal(w.Body.Bytes(), st); err != nil || st.Code == 0 || st.Message == "" {
				t.Fatalf("answer %d is not a google.rpc.Status: %v %q", w.Code, err, w.Body)
			}
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames published", w.Code, len(msgs))
			}
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("unexpected status %d: %s", w.Code, w.Body)
			}
			return
		}
		resp := &collogspb.ExportLogsServiceResponse{}
		if err := unmarshal(w.Body.Bytes(), resp); err != nil {
			t.Fatalf("200 body: %v %q", err, w.Body)
		}
		req := &collogspb.ExportLogsServiceRequest{}
		if !isJSON {
			if err := proto.Unmarshal(body, req); err != nil {
				t.Fatalf("200 for a body proto.Unmarshal refuses: %v", err)
			}
		} else if _, err := h.h.otlpDecode(body, otlpJSON); err != nil {
			t.Fatalf("200, but decoding again fails: %v", err)
		} else {
			req, _ = h.h.otlpDecode(body, otlpJSON)
		}
		records := 0
		for _, rl := range req.GetResourceLogs() {
			for _, sl := range rl.GetScopeLogs() {
				for _, lr := range sl.GetLogRecords() {
					if lr != nil {
						records++
					}
				}
			}
		}
		want := records - int(resp.GetPartialSuccess().GetRejectedLogRecords())
		if want == 0 {
			if len(msgs) != 0 {
				t.Fatalf("no accepted record, %d frames", len(msgs))
			}
			return
		}
		if len(msgs) != 1 {
			t.Fatalf("%d accepted records, %d frames", want, len(msgs))
		}
		if got := frameEvents(t, event.Parse(msgs[0].header, msgs[0].data)); len(got) != want {
			t.Fatalf("%d events stored, want %d", len(got), want)
		}
	})
}
