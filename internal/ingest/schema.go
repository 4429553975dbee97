package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
)

// Schema validation (SPEC §2.1, §2.2, §4 "schema"; package schema).
//
// A stream with a JSON Schema has the payload of every event validated at
// ingest, before anything is stored. The payload is what the stream stores
// as the event's "event" member: the native envelope's "event" object, the
// collection record, the HEC event, the _bulk document, the OTLP log
// record's fields, the Events v2 event; for streams of a catalog data
// source, which store flat records (records.go), the record itself.
// Violation pointers are relative to it ("#/user/age" is event.user.age).
//
// Each stream version is compiled once (Handler.schemas, a schema.Cache
// keyed by stream id and UpdatedAt); a stream without a schema costs one
// length check per request. A stored schema that no longer compiles (the
// API refuses such schemas, so only an old or hand-edited definition) is a
// 500 until the stream is fixed.
//
// What a mismatch answers depends on the dialect:
//   - native: 400 invalid_format naming the first event that fails, with
//     "violations" (at most schema.MaxViolations); nothing is stored;
//   - collection: with ?syncValidation=true, 400 problem+json with
//     report.cause (a batch: a 400 entry in the message's place); without
//     it the record is acknowledged as usual but kept as a dead letter of
//     the stream (destination "*", the violations as its error) instead of
//     entering the stream (Deps.DeadLetters; both are durable before the
//     answer). Without a DeadLetterStore, records are refused as with
//     syncValidation;
//   - HEC, _bulk, OTLP, Events v2: their own error shapes (see each file).

// DeadLetterStore keeps events that will never enter their stream as dead
// letters of the whole stream. *delivery.StreamDeadLetters satisfies it.
type DeadLetterStore interface {
	// PutStreamDeadLetters stores events[i] as a dead letter of every
	// destination of the stream (destination "*", as overflow drop_oldest
	// does) with reasons[i] as its error, and returns once all are
	// durable. ids[i] de-duplicates a retried store.
	PutStreamDeadLetters(ctx context.Context, streamID string, events [][]byte, reasons, ids []string) error
}

// violationsBody is the native error body with the schema's violations:
// {"error":"invalid_format","detail":"…","violations":[…]}.
type violationsBody struct {
	apierr.Body
	Violations []schema.Violation `json:"violations"`
}

// schemaOf returns the compiled schema of st, nil when it has none.
func (h *Handler) schemaOf(st *model.Stream) (*schema.Schema, *rejection) {
	sch, err := h.schemas.Get(st.ID, st.UpdatedAt, st.Schema)
	if err != nil {
		h.warnThrottled("stream schema does not compile", "stream", st.ID, "error", err)
		return nil, reject(apierr.Internal, "the stream's schema cannot be compiled (schema %s); nothing was stored: fix the stream's schema", err)
	}
	return sch, nil
}

// checkFrame validates each event of a frame body (events separated by
// '\n'): the index and violations of the first event that fails, or -1.
// flat: the events are flat records (a native frame of a stream of a
// catalog data source), validated whole; else their "event" member is.
func checkFrame(sch *schema.Schema, frame []byte, flat bool) (int, []schema.Violation) {
	for i := 0; len(frame) > 0; i++ {
		ev := frame
		if j := bytes.IndexByte(frame, '\n'); j >= 0 {
			ev, frame = frame[:j], frame[j+1:]
		} else {
			frame = nil
		}
		if !flat {
			ev, _ = decode.Payload(ev)
		}
		if v := sch.Validate(ev); len(v) > 0 {
			return i, v
		}
	}
	return -1, nil
}

// schemaMismatch is the rejection of event index: 400 invalid_format with
// the violations.
func schemaMismatch(index int, v []schema.Violation) *rejection {
	return &rejection{code: apierr.InvalidFormat, violations: v,
		detail: fmt.Sprintf("event %d does not match the stream's schema: %s", index, schema.Summary(v))}
}

// validateFrame checks a frame against the stream's schema. It returns
// -1, nil when every event matches (or there is no schema); the index of
// the first event that does not match and its rejection; or -1 and a 500
// when the schema does not compile. flat as for checkFrame.
func (h *Handler) validateFrame(q *request, frame []byte, flat bool) (int, *rejection) {
	sch, rj := h.schemaOf(q.st)
	if sch == nil {
		return -1, rj
	}
	if i, v := checkFrame(sch, frame, flat); i >= 0 {
		return i, schemaMismatch(i, v)
	}
	return -1, nil
}

// validatePayload checks one payload against st's schema: its violations
// (none when it matches or there is no schema), or a 500 when the schema
// does not compile.
func (h *Handler) validatePayload(st *model.Stream, payload []byte) ([]schema.Violation, *rejection) {
	sch, rj := h.schemaOf(st)
	if sch == nil {
		return nil, rj
	}
	return sch.Validate(payload), nil
}

// checkSchema checks a _bulk document against its stream's schema: the
// item's error (400 document_parsing_exception naming the violations), or
// status 0 when it matches.
func (b *bulk) checkSchema(g *bulkGroup, doc []byte) (status int, typ, reason string) {
	v, rj := b.h.validatePayload(g.q.st, doc)
	switch {
	case rj != nil:
		return http.StatusInternalServerError, "exception", rj.detail
	case len(v) > 0:
		return http.StatusBadRequest, "document_parsing_exception", "the document does not match the stream's schema: " + schema.Summary(v)
	}
	return 0, "", ""
}

// filterOTLP drops from an OTLP frame (events each followed by '\n'), in
// place, the log records that do not match the stream's schema; they are
// refused like OTLP's other refusals: counted in the partial success, and
// a 400 when none is left.
func (h *Handler) filterOTLP(q *request, frame []byte, conv *otlpConverter) ([]byte, *rejection) {
	sch, rj := h.schemaOf(q.st)
	if sch == nil {
		return frame, rj
	}
	out := frame[:0]
	for len(frame) > 0 {
		j := bytes.IndexByte(frame, '\n')
		if j < 0 {
			j = len(frame) - 1
		}
		ev := frame[:j+1]
		frame = frame[j+1:]
		p, _ := decode.Payload(ev[:j])
		if v := sch.Validate(p); len(v) > 0 {
			conv.accepted--
			conv.refuse("a log record does not match the stream's schema: %s", schema.Summary(v))
			continue
		}
		out = append(out, ev...) // never past ev: the copy moves bytes backwards
	}
	return out, nil
}

// ev2Index is the request index of the i-th stored Events v2 event: the
// i-th result with status OK.
func ev2Index(results []ev2Result, i int) int {
	for k, r := range results {
		if r.status == EventOK {
			if i == 0 {
				return k
			}
			i--
		}
	}
	return i
}

// ---- collection: dead letters of records that fail the schema ----

// collInvalid is a collection record that failed its stream's schema.
type collInvalid struct {
	index int // message index (0 for a single record)
	rec   []byte
	v     []schema.Violation
	id    []byte // its transaction id, once stamped
}

// deadLetterCollection stores the records that failed the schema, stamped
// as they would have entered the stream, as dead letters of the stream.
// Their ids de-duplicate a retry: by Idempotency-Key and message index
// when there is a key, else by transaction id.
func (h *Handler) deadLetterCollection(ctx context.Context, q *request, stamp collStamper, invalid []collInvalid, key string) *rejection {
	events := make([][]byte, len(invalid))
	reasons := make([]string, len(invalid))
	ids := make([]string, len(invalid))
	for i := range invalid {
		x := &invalid[i]
		ev := stamp.append(nil, x.rec)
		x.id = stamp.lastID(ev)
		events[i] = ev
		reasons[i] = "does not match the stream's schema: " + schema.Summary(x.v)
		if key != "" {
			ids[i] = "schema:" + q.st.ID + ":" + key + ":" + strconv.Itoa(x.index)
		} else {
			ids[i] = "schema:" + q.st.ID + ":" + string(x.id)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.publishTimeout)
	defer cancel()
	if err := h.deadLetters.PutStreamDeadLetters(ctx, q.st.ID, events, reasons, ids); err != nil {
		h.warnThrottled("ingest dead letters failed", "stream", q.st.ID, "error", err)
		return &rejection{code: apierr.Unavailable, retry: retryUnavailable,
			detail: "the event store is unavailable; retry later (with the same Idempotency-Key to store the request once)"}
	}
	h.metrics.Rejected.WithLabelValues(q.st.Workspace, q.st.Name, "schema_dead_letter").Add(float64(len(invalid)))
	return nil
}
