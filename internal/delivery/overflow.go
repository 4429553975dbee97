package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/telemetry"
)

// Dead letters of events dropped from a full buffer.
const (
	// AllDestinations is the destination of a dead letter that concerns
	// every destination of its stream: an event dropped from the buffer
	// before all of them had it. Replaying it sends it to all of them.
	AllDestinations = "*"
	// ReasonDropped is the error of a dead letter made by overflow drop_oldest.
	ReasonDropped = "buffer full: dropped by overflow drop_oldest"
	// allDestinationsToken is the DLQ subject token of AllDestinations
	// ("*" is a wildcard in subjects; destination names cannot start with '_').
	allDestinationsToken = "_all"
)

// Overflow makes room in the full buffer of a stream whose overflow
// policy is drop_oldest. Event streams always refuse new messages when
// full (bus.EnsureEventStream); the ingest path, when a publish to such a
// stream is refused, hands the message to Publish, which drops the oldest
// messages and publishes again until it is stored. One publisher per
// stream and node does this at a time, so the room one frees is not taken
// by another of this node; fresh publishes and other nodes may still take
// it, which only costs another round (bounded by ctx).
//
// Dropping a message is, in this order: read it (the oldest in the
// buffer), claim it in the stream's counter (bus.ClaimDrop: compare-and-
// swap on the config bucket, in sequence order, so every node agrees and
// each message is counted once, by the node that claimed it), copy its
// events to the dead letters (destination "*", or the one destination of
// a replay frame; idempotent message ids), delete it. A node that finds
// the oldest message already claimed (another node is dropping it, or
// stopped halfway) finishes the job without counting it again.
//
// What is counted is exact in events (event.HdrCount of each message).
// Two edges: a message whose last destination acks it at the very moment
// it is claimed is counted as dropped although it was delivered (it then
// also shows in the dead letters); a node that dies between the claim and
// the delete leaves a counted message in the buffer until the next drop
// on that stream finishes it. Events removed by buffer.max_age are
// removed by JetStream and are not counted.
type Overflow struct {
	b   *bus.Bus
	dlq DeadLetterSink
	met *telemetry.Metrics
	log *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one dropper per stream on this node
}

// NewOverflow returns the dropper of a node; m may be nil.
func NewOverflow(b *bus.Bus, m *telemetry.Metrics, log *slog.Logger) *Overflow {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = discardMetrics()
	}
	return &Overflow{b: b, dlq: NewDeadLetterSink(b), met: m, log: log, locks: map[string]*sync.Mutex{}}
}

func (o *Overflow) lock(streamID string) *sync.Mutex {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.locks[streamID]
	if l == nil {
		l = new(sync.Mutex)
		o.locks[streamID] = l
	}
	return l
}

// Publish stores m in st's full buffer: it drops the oldest messages
// until m fits and publishes it, again as long as the buffer is full
// (another publisher took the room) and ctx lasts. It returns what
// bus.Publish returns; bus.ErrTooLargeForBuffer when m can never fit. m is
// not kept.
func (o *Overflow) Publish(ctx context.Context, st *model.Stream, m *nats.Msg) (duplicate bool, err error) {
	l := o.lock(st.ID)
	l.Lock()
	defer l.Unlock()
	for {
		n, err := o.dropOldest(ctx, st, m)
		if err != nil {
			return false, err
		}
		dup, err := o.b.Publish(ctx, m)
		if !errors.Is(err, bus.ErrBufferFull) {
			return dup, err
		}
		if n == 0 && ctx.Err() == nil {
			// Nothing left to drop (or someone else freed the room and it
			// was taken again): check the buffer once more.
			if empty, ierr := o.empty(ctx, st); ierr != nil || empty {
				return false, err
			}
		}
		if ctx.Err() != nil {
			return false, err
		}
	}
}

// empty reports whether st's buffer holds no message.
func (o *Overflow) empty(ctx context.Context, st *model.Stream) (bool, error) {
	s, err := o.b.JS.Stream(ctx, bus.EventStreamName(st.ID))
	if err != nil {
		return false, err
	}
	return s.CachedInfo().State.Msgs == 0, nil
}

// dropOldest removes the oldest messages of st's buffer until m would fit
// by the buffer's state when it starts. It returns the messages it
// removed (counted by this node or, claimed before, by another).
func (o *Overflow) dropOldest(ctx context.Context, st *model.Stream, m *nats.Msg) (int, error) {
	s, err := o.b.JS.Stream(ctx, bus.EventStreamName(st.ID))
	if err != nil {
		return 0, fmt.Errorf("drop oldest: %w", err)
	}
	info := s.CachedInfo()
	size := bus.StoredSize(m.Subject, m.Header, m.Data)
	if limit := info.Config.MaxBytes; limit > 0 && size > limit {
		return 0, bus.ErrTooLargeForBuffer
	}
	need := int64(info.State.Bytes) + size - info.Config.MaxBytes
	if info.Config.MaxBytes <= 0 {
		need = 1 // full for another reason (message count): drop one
	}
	subject := bus.EventSubject(st.ID)
	removed := 0
	for seq := info.State.FirstSeq; need > 0; {
		raw, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // the buffer is empty now
		}
		if err != nil {
			return removed, fmt.Errorf("drop oldest: read: %w", err)
		}
		if err := o.drop(ctx, s, st, info.Created, raw); err != nil {
			return removed, err
		}
		removed++
		need -= bus.StoredSize(raw.Subject, raw.Header, raw.Data)
		seq = raw.Sequence + 1
	}
	return removed, nil
}

// drop claims, dead-letters and deletes one message; only a message it
// claimed is counted (a message claimed before is finished, not counted).
func (o *Overflow) drop(ctx context.Context, s jetstream.Stream, st *model.Stream, created time.Time, raw *jetstream.RawStreamMsg) error {
	f := event.Parse(raw.Header, raw.Data)
	events := event.Split(f.Body)
	n := f.Count
	if n <= 0 {
		n = len(events)
	}
	claimed, err := o.b.ClaimDrop(ctx, st.ID, created, raw.Sequence, n)
	if err != nil {
		return fmt.Errorf("drop oldest: %w", err)
	}
	if claimed {
		o.met.Dropped.With(prometheus.Labels{"workspace": st.Workspace, "stream": st.Name}).Add(float64(n))
	}
	dest := AllDestinations
	if f.OnlyDest != "" {
		dest = f.OnlyDest // a dead-letter replay for one destination goes back to its dead letters
	}
	now := time.Now().UTC()
	dls := make([]DeadLetter, len(events))
	for i, ev := range events {
		body := json.RawMessage(ev)
		if !json.Valid(ev) {
			body, _ = json.Marshal(string(ev))
		}
		dls[i] = DeadLetter{
			StreamID: st.ID, Destination: dest, Event: body, Error: ReasonDropped, Time: now,
			msgID: fmt.Sprintf("drop:%s:%d:%d:%d", st.ID, created.UnixNano(), raw.Sequence, i),
		}
	}
	if err := o.dlq.Put(ctx, dls); err != nil {
		return fmt.Errorf("drop oldest: %w", err)
	}
	if err := s.DeleteMsg(ctx, raw.Sequence); err != nil {
		// Gone already (another node finished it, or every destination
		// acked it meanwhile) is fine.
		if _, gerr := s.GetMsg(ctx, raw.Sequence); !errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("drop oldest: delete %d: %w", raw.Sequence, err)
		}
	}
	if claimed {
		o.log.Debug("dropped oldest buffer message", "stream", st.ID, "seq", raw.Sequence, "events", n)
	}
	return nil
}
