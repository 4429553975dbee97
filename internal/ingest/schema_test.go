package ingest

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/store"
)

// The payment schema of docs/streams.md ("Schema validation").
const paymentsSchema = `{
  "type": "object",
  "required": ["transactionId", "status"],
  "properties": {
    "transactionId": {"type": "string"},
    "status": {"enum": ["approved", "declined"]},
    "latency_ms": {"type": "integer", "minimum": 0}
  }
}`

func withSchema(raw string) func(*model.Stream) {
	return func(s *model.Stream) { s.Schema = json.RawMessage(raw) }
}

// nativeEv is a native event carrying payload.
func nativeEv(payload string) string {
	return `{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":` + payload + `,"metadata":{"env":"prod"}}`
}

func TestNativeSchema(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "typed", withSchema(paymentsSchema))
	plain := e.newStream(model.DefaultWorkspace, "plain", nil)

	// Matching events are stored as sent; the envelope (timestamp,
	// source, metadata) is not what the schema describes.
	good := []string{ev(0), ev(1), nativeEv(`{"transactionId":"t","status":"declined"}`)}
	res := e.post(req{stream: st.ID, body: array(good...)})
	if res.status != 200 || res.ok.Events != 3 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	e.checkStored(st, good)

	bad := nativeEv(`{"transactionId":"txn_3","status":"approved","latency_ms":"fast"}`)
	for _, tt := range []struct {
		name       string
		r          req
		detail     string
		violations []schema.Violation
	}{
		{"array", req{stream: st.ID, body: array(ev(0), ev(1), bad, ev(3))},
			`event 2 does not match the stream's schema: #/latency_ms (type): got string, want integer`,
			[]schema.Violation{{Pointer: "#/latency_ms", Keyword: "type", Message: "got string, want integer"}}},
		{"ndjson", req{stream: st.ID, ctype: "application/x-ndjson", body: ndjson(bad, ev(1))},
			`event 0 does not match the stream's schema`,
			[]schema.Violation{{Pointer: "#/latency_ms", Keyword: "type", Message: "got string, want integer"}}},
		{"missing", req{stream: st.ID, body: []byte(nativeEv(`{"status":"approved","latency_ms":-1}`))},
			`event 0 does not match the stream's schema: # (required): missing property 'transactionId'; #/latency_ms (minimum): must be at least 0, got -1`,
			[]schema.Violation{
				{Pointer: "#", Keyword: "required", Message: "missing property 'transactionId'"},
				{Pointer: "#/latency_ms", Keyword: "minimum", Message: "must be at least 0, got -1"},
			}},
		{"gzip", req{stream: st.ID, encoding: "gzip", body: gz(t, array(ev(0), bad))},
			`event 1 does not match`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counts()
			res := e.post(tt.r)
			if res.status != 400 || res.err.Error != "invalid_format" || !strings.Contains(res.err.Detail, tt.detail) {
				t.Fatalf("%d %s; want 400 invalid_format saying %q", res.status, res.raw, tt.detail)
			}
			if tt.violations != nil && !reflect.DeepEqual(res.err.Violations, tt.violations) {
				t.Fatalf("violations %+v, want %+v", res.err.Violations, tt.violations)
			}
			if !strings.Contains(string(res.raw), `"violations":[{"pointerToViolation":"#`) {
				t.Fatalf("violations are not spelled pointerToViolation/keyword/message: %s", res.raw)
			}
			if after := e.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}

	// At most five violations, sorted by pointer.
	many := nativeEv(`{"latency_ms":"x","status":"pending","transactionId":7}`)
	res = e.post(req{stream: st.ID, body: []byte(many)})
	if res.status != 400 || len(res.err.Violations) != 3 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	wide := e.newStream(model.DefaultWorkspace, "wide", withSchema(`{"additionalProperties":{"type":"integer"}}`))
	res = e.post(req{stream: wide.ID, body: []byte(nativeEv(`{"g":"x","f":"x","e":"x","d":"x","c":"x","b":"x","a":"x"}`))})
	if res.status != 400 || len(res.err.Violations) != schema.MaxViolations || res.err.Violations[0].Pointer != "#/a" || res.err.Violations[4].Pointer != "#/e" {
		t.Fatalf("%d %s", res.status, res.raw)
	}

	// A stream without a schema takes anything.
	if res := e.post(req{stream: plain.ID, body: []byte(bad)}); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.raw)
	}

	// A new version of the stream validates with its new schema.
	upd := *st
	upd.Schema = json.RawMessage(`{"properties":{"latency_ms":{"type":"string"}}}`)
	if _, _, err := e.store.UpdateStream(e.ctx, st.Workspace, st.ID, &upd, 0, store.System); err != nil {
		t.Fatal(err)
	}
	if res := e.post(req{stream: st.ID, body: []byte(bad)}); res.status != 200 {
		t.Fatalf("after the update: %d %s", res.status, res.raw)
	}
	if res := e.post(req{stream: st.ID, body: []byte(ev(0))}); res.status != 400 {
		t.Fatalf("after the update: %d %s", res.status, res.raw)
	}
	upd.Schema = nil
	if _, _, err := e.store.UpdateStream(e.ctx, st.Workspace, st.ID, &upd, 0, store.System); err != nil {
		t.Fatal(err)
	}
	if res := e.post(req{stream: st.ID, body: []byte(nativeEv(`{"latency_ms":1}`))}); res.status != 200 {
		t.Fatalf("schema removed: %d %s", res.status, res.raw)
	}
}

// A stream of a catalog data source stores flat records: the schema
// validates the record itself.
func TestNativeSchemaRecords(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "fn", func(s *model.Stream) {
		s.DataSource = "edge_functions"
		s.Schema = json.RawMessage(`{"required":["log_level"],"properties":{"log_level":{"enum":["info","warn","error"]}}}`)
	})
	if res := e.post(req{stream: st.ID, body: []byte(`[{"log_level":"info","log_message":"ok"}]`)}); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	res := e.post(req{stream: st.ID, body: []byte(`[{"log_level":"info"},{"log_level":"debug"}]`)})
	if res.status != 400 || !strings.Contains(res.err.Detail, "event 1 does not match") || len(res.err.Violations) != 1 || res.err.Violations[0].Pointer != "#/log_level" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
}

// A stored schema that does not compile (the API refuses them; this one
// was written behind its back) refuses ingest instead of letting events
// through unchecked.
func TestNativeSchemaThatDoesNotCompile(t *testing.T) {
	e := newEnv(t)
	for _, raw := range []string{
		`{"$ref":"https://example.com/schemas/payment.json"}`,
		`{"$ref":"#"}`,
		`{"type":"strin"}`,
	} {
		st := e.newStream(model.DefaultWorkspace, "broken"+string(rune('a'+len(e.streams))), withSchema(raw))
		before := e.counts()
		res := e.post(req{stream: st.ID, body: []byte(ev(0))})
		if res.status != 500 || res.err.Error != "internal" || !strings.Contains(res.err.Detail, "the stream's schema cannot be compiled (schema ") {
			t.Fatalf("%s: %d %s", raw, res.status, res.raw)
		}
		if after := e.counts(); !maps.Equal(before, after) {
			t.Fatalf("stored something: %v → %v", before, after)
		}
	}
}

// collectionSchemaEnv is e with a handler that keeps records refused by a
// schema as dead letters, as the server does.
func collectionSchemaEnv(t *testing.T) *env {
	e := newEnv(t)
	e.h = New(Deps{Bus: e.bus, Streams: e.store, Tokens: e.store, Metrics: e.metrics, Log: slog.New(slog.DiscardHandler),
		Now: e.clock.Now, DeadLetters: delivery.NewStreamDeadLetters(e.bus)})
	mux := http.NewServeMux()
	e.h.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// deadLetters lists a stream's dead letters the way the API does
// (GET /v1/streams/{id}/dead-letters: delivery.ListDeadLetters).
func (e *env) deadLetters(st *model.Stream) []delivery.DeadLetter {
	e.t.Helper()
	dls, _, err := delivery.ListDeadLetters(e.ctx, e.bus, st.ID, "", 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return dls
}

func TestCollectionSchema(t *testing.T) {
	e := collectionSchemaEnv(t)
	st := e.newStream(model.DefaultWorkspace, "typed", func(s *model.Stream) { open(s); withSchema(paymentsSchema)(s) })
	plain := e.newStream(model.DefaultWorkspace, "plain", open)
	path := "/collection/" + st.InletID
	good := `{"transactionId":"txn_1","status":"approved","latency_ms":182}`
	bad := `{"status":"pending","latency_ms":"fast"}`
	wantCause := []schema.Violation{
		{Pointer: "#", Keyword: "required", Message: "missing property 'transactionId'"},
		{Pointer: "#/latency_ms", Keyword: "type", Message: "got string, want integer"},
		{Pointer: "#/status", Keyword: "enum", Message: "value must be one of 'approved', 'declined'"},
	}
	const wantError = "does not match the stream's schema: # (required): missing property 'transactionId'; #/latency_ms (type): got string, want integer; #/status (enum): value must be one of 'approved', 'declined'"

	t.Run("sync", func(t *testing.T) {
		before := e.counts()
		res := e.do(nil, creq{path: path + "?syncValidation=true", body: []byte(bad)})
		p := res.problem(t, 400, "validation", "the record "+wantError)
		if !reflect.DeepEqual(p.Report.Cause, wantCause) {
			t.Fatalf("cause %+v", p.Report.Cause)
		}
		if after := e.counts(); !maps.Equal(before, after) || len(e.deadLetters(st)) != 0 {
			t.Fatalf("an invalid record was stored: %v → %v", before, after)
		}
		res = e.do(nil, creq{path: path + "?syncValidation=true", body: []byte(good)})
		var ok collectionOK
		mustJSON(t, res.raw, &ok)
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		e.checkFrame(st, dialectCollection, []string{stamped(e.clock.Now(), st.InletID, good, ok.XactionID)})

		// At most five causes.
		wide := e.newStream(model.DefaultWorkspace, "wide", func(s *model.Stream) {
			open(s)
			withSchema(`{"additionalProperties":{"type":"integer"}}`)(s)
		})
		res = e.do(nil, creq{path: "/collection/" + wide.InletID + "?syncValidation=true", body: []byte(`{"a":"x","b":"x","c":"x","d":"x","e":"x","f":"x","g":"x"}`)})
		if p := res.problem(t, 400, "validation", "#/e (type)"); len(p.Report.Cause) != MaxCause {
			t.Fatalf("cause %+v", p.Report.Cause)
		}
		// A batch: the invalid message is a 400 in its place, the others are stored.
		res = e.do(nil, creq{path: "/collection/batch/" + st.InletID + "?syncValidation=true", body: []byte(`{"messages":[` + good + `,` + bad + `]}`)})
		var b batchOK
		mustJSON(t, res.raw, &b)
		if res.status != 207 || b.Responses[0].XactionID == "" || b.Responses[1].StatusCode != 400 ||
			b.Responses[1].Message != "message 1 "+wantError {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		e.checkFrame(st, dialectCollection, []string{stamped(e.clock.Now(), st.InletID, good, b.Responses[0].XactionID)})
	})

	t.Run("async", func(t *testing.T) {
		before := e.msgs(st.ID)
		res := e.do(nil, creq{path: path, body: []byte(bad)})
		var ok collectionOK
		mustJSON(t, res.raw, &ok)
		if res.status != 200 || !xactionRe.MatchString(ok.XactionID) {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		if e.msgs(st.ID) != before {
			t.Fatal("an invalid record entered the stream")
		}
		dls := e.deadLetters(st)
		if len(dls) != 1 {
			t.Fatalf("dead letters %+v", dls)
		}
		dl := dls[0]
		if dl.StreamID != st.ID || dl.Destination != delivery.AllDestinations || dl.Error != wantError || dl.Attempts != 0 {
			t.Fatalf("dead letter %+v", dl)
		}
		if want := stamped(e.clock.Now(), st.InletID, bad, ok.XactionID); string(dl.Event) != want {
			t.Fatalf("dead letter event %s\nwant %s", dl.Event, want)
		}

		// A batch: every record is acknowledged, the invalid one as a dead letter.
		res = e.do(nil, creq{path: "/collection/batch/" + st.InletID, body: []byte(`{"messages":[` + good + `,` + bad + `,7,` + good + `]}`)})
		var b batchOK
		mustJSON(t, res.raw, &b)
		r := b.Responses
		if res.status != 207 || len(r) != 4 || r[0].XactionID == "" || r[1].XactionID == "" || r[2].StatusCode != 400 || r[3].XactionID == "" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		e.checkFrame(st, dialectCollection, []string{
			stamped(e.clock.Now(), st.InletID, good, r[0].XactionID),
			stamped(e.clock.Now(), st.InletID, good, r[3].XactionID),
		})
		dls = e.deadLetters(st)
		if len(dls) != 2 || string(dls[1].Event) != stamped(e.clock.Now(), st.InletID, bad, r[1].XactionID) {
			t.Fatalf("dead letters %+v", dls)
		}

		// A retry with the same Idempotency-Key stores its dead letter once.
		for range 2 {
			res := e.do(nil, creq{path: path, header: http.Header{"Idempotency-Key": {"k1"}}, body: []byte(bad)})
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
		}
		if n := len(e.deadLetters(st)); n != 3 {
			t.Fatalf("%d dead letters after a retried request, want 3", n)
		}
		// Streams without a schema take anything, syncValidation or not.
		if res := e.do(nil, creq{path: "/collection/" + plain.InletID + "?syncValidation=true", body: []byte(bad)}); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
}

// Without a DeadLetterStore an invalid record is refused even without
// ?syncValidation=true: it never enters the stream unchecked.
func TestCollectionSchemaWithoutDeadLetters(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "typed", func(s *model.Stream) { open(s); withSchema(paymentsSchema)(s) })
	before := e.counts()
	res := e.do(nil, creq{path: "/collection/" + st.InletID, body: []byte(`{"status":"approved"}`)})
	res.problem(t, 400, "validation", "missing property 'transactionId'")
	if after := e.counts(); !maps.Equal(before, after) {
		t.Fatalf("stored: %v → %v", before, after)
	}
}

// The other dialects validate the event as they store it and refuse what
// does not match in their own error shapes; nothing refused is stored.
func TestCompatSchema(t *testing.T) {
	c := newCompat(t)
	st := c.stream(model.DefaultWorkspace, "typed", withSchema(`{"type":"object","required":["status"],"properties":{"status":{"type":"integer"}}}`))

	t.Run("hec", func(t *testing.T) {
		// HEC stores {"event":<event>,"host",…}: the schema sees that object.
		hecSt := c.stream(model.DefaultWorkspace, "hec", withSchema(`{"properties":{"event":{"type":"object","required":["status"]}}}`))
		auth := []string{"Authorization", "Splunk " + c.token, "X-Stream-Id", hecSt.ID}
		before := c.counts()
		r := c.do("POST", "/services/collector/event", []byte(`{"event":{"status":200}}{"event":{"path":"/x"}}`), auth...)
		var body struct {
			Text   string `json:"text"`
			Code   int    `json:"code"`
			Event  int    `json:"invalid-event-number"`
			Detail string `json:"detail"`
		}
		mustJSON(t, r.body, &body)
		if r.status != 400 || body.Code != 6 || body.Event != 1 || body.Detail != "event 1 does not match the stream's schema: #/event (required): missing property 'status'" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if after := c.counts(); !maps.Equal(before, after) {
			t.Fatalf("stored: %v → %v", before, after)
		}
		if r := c.do("POST", "/services/collector/event", []byte(`{"event":{"status":200}}`), auth...); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	t.Run("bulk", func(t *testing.T) {
		before := len(c.storedEvents(st.ID))
		r := c.do("POST", "/typed/_bulk", nd(`{"index":{}}`, `{"status":200}`, `{"index":{}}`, `{"status":"ok"}`, `{"create":{}}`, `{"status":201}`),
			"Authorization", "ApiKey "+c.token, "Content-Type", "application/x-ndjson")
		res := decodeBulk(t, r)
		if r.status != 200 || !res.Errors || len(res.Items) != 3 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		bad := res.Items[1]["index"]
		if res.Items[0]["index"].Status != 201 || res.Items[2]["create"].Status != 201 || bad.Status != 400 || bad.Error == nil ||
			bad.Error.Type != "document_parsing_exception" || bad.Error.Reason != "the document does not match the stream's schema: #/status (type): got string, want integer" {
			t.Fatalf("%s", r.body)
		}
		if n := len(c.storedEvents(st.ID)); n != before+2 {
			t.Fatalf("%d events stored, want %d", n, before+2)
		}
	})

	t.Run("otlp", func(t *testing.T) {
		// OTLP stores {"body",…,"attributes"}: records that do not match
		// are refused alone (partial success), all of them: 400.
		otel := c.stream(model.DefaultWorkspace, "otel", withSchema(`{"required":["severity_text"]}`))
		auth := []string{"Authorization", "Bearer " + c.token, "X-Stream-Id", otel.ID, "Content-Type", "application/json"}
		js := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"},"severityText":"INFO"},{"body":{"stringValue":"b"}}]}]}]}`)
		r := c.do("POST", "/v1/logs", js, auth...)
		var resp struct {
			PartialSuccess struct {
				RejectedLogRecords string `json:"rejectedLogRecords"`
				ErrorMessage       string `json:"errorMessage"`
			} `json:"partialSuccess"`
		}
		mustJSON(t, r.body, &resp)
		if r.status != 200 || resp.PartialSuccess.RejectedLogRecords != "1" ||
			resp.PartialSuccess.ErrorMessage != "a log record does not match the stream's schema: # (required): missing property 'severity_text'" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		stored := c.storedEvents(otel.ID)
		if len(stored) != 1 || jpath(stored[0], "event.body") != "a" {
			t.Fatalf("stored %v", stored)
		}
		before := c.counts()
		r = c.do("POST", "/v1/logs", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"b"}}]}]}]}`), auth...)
		if st := otlpAnswer(t, r, "application/json"); r.status != 400 || !strings.Contains(st.Message, "every log record was refused: a log record does not match the stream's schema") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if after := c.counts(); !maps.Equal(before, after) {
			t.Fatalf("stored: %v → %v", before, after)
		}
	})

	t.Run("events v2", func(t *testing.T) {
		// Events v2 stores the EventIngest with its computed fields.
		ev2 := c.stream(model.DefaultWorkspace, "deploys", withSchema(`{"required":["properties"],"properties":{"eventType":{"const":"CUSTOM_DEPLOYMENT"}}}`))
		before := c.counts()
		res := c.postEvents("", "Api-Token "+c.token, ev2.ID, `[{"eventType":"CUSTOM_DEPLOYMENT","title":"a","startTime":1},`+
			`{"eventType":"CUSTOM_DEPLOYMENT","title":"b","properties":{"v":"1"}},{"eventType":"CUSTOM_INFO","title":"c","properties":{}}]`)
		res.apiError(t, 400, "invalid_format", "event 2 does not match the stream's schema: #/eventType (const): must be the \"const\" value")
		if after := c.counts(); !maps.Equal(before, after) {
			t.Fatalf("stored: %v → %v", before, after)
		}
		a := c.postEvents("", "Api-Token "+c.token, ev2.ID, `{"eventType":"CUSTOM_DEPLOYMENT","title":"b","properties":{"v":"1"}}`).events(t)
		if a.EventIngestResults[0].Status != EventOK {
			t.Fatalf("%+v", a)
		}
	})
}

// The answers shown in docs/streams.md ("Schema validation"), byte for byte.
func TestSchemaDocsExamples(t *testing.T) {
	e := newEnv(t)
	st := e.newStream(model.DefaultWorkspace, "payments", func(s *model.Stream) { open(s); withSchema(paymentsSchema)(s) })
	res := e.post(req{stream: "payments", ctype: "application/x-ndjson", body: ndjson(
		`{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_1","status":"approved","latency_ms":182}}`,
		`{"timestamp":"2025-02-12T14:32:16Z","source":"payments-app","event":{"transactionId":"txn_2","status":"approved","latency_ms":"fast"}}`)})
	if want := `{"error":"invalid_format","detail":"event 1 does not match the stream's schema: #/latency_ms (type): got string, want integer","violations":[{"pointerToViolation":"#/latency_ms","keyword":"type","message":"got string, want integer"}]}` + "\n"; string(res.raw) != want {
		t.Fatalf("native answer\n got %s\nwant %s", res.raw, want)
	}
	r := e.do(nil, creq{path: "/collection/" + st.InletID + "?syncValidation=true", body: []byte(`{"status":"pending","latency_ms":"fast"}`)})
	if want := `{"type":"https://runnel.dev/problems/validation","status":"400","title":"Validation","report":{"message":"the record does not match the stream's schema: # (required): missing property 'transactionId'; #/latency_ms (type): got string, want integer; #/status (enum): value must be one of 'approved', 'declined'","cause":[{"pointerToViolation":"#","keyword":"required","message":"missing property 'transactionId'"},{"pointerToViolation":"#/latency_ms","keyword":"type","message":"got string, want integer"},{"pointerToViolation":"#/status","keyword":"enum","message":"value must be one of 'approved', 'declined'"}]}}` + "\n"; string(r.raw) != want {
		t.Fatalf("collection answer\n got %s\nwant %s", r.raw, want)
	}
	if _, err := schema.Compile(json.RawMessage(`{"$ref":"https://example.com/common.json"}`)); err == nil ||
		err.Error() != `refers to "https://example.com/common.json", which is not part of the schema: schemas are self-contained (put shared definitions under "$defs"); nothing is loaded from the network or files` {
		t.Fatalf("compile error %v", err)
	}
}
