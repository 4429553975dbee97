package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
)

// DeadLetter is an event a destination could not take, kept in the
// bus.DLQStream stream on bus.DLQSubject(stream, destination).
type DeadLetter struct {
	// ID is the dead letter's sequence in the dead-letter stream, as a
	// string; filled in when listing.
	ID          string `json:"id,omitempty"`
	StreamID    string `json:"stream_id"`
	Destination string `json:"destination"`
	// Event is the original event as stored (before the template).
	Event json.RawMessage `json:"event"`
	// Error says why: the destination's error, or why it was never sent.
	Error string `json:"error"`
	// StatusCode is the HTTP-like status of the last attempt, if any.
	StatusCode int `json:"status_code,omitempty"`
	// Attempts is how many times the event was sent (0: never sent).
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`

	// Seq is ID as a number.
	Seq uint64 `json:"-"`
	// msgID de-duplicates retried stores.
	msgID string
}

// WithMsgID returns dl with a JetStream message id: storing it again
// within the dead-letter stream's de-duplication window (a retried or
// redelivered store) keeps one copy.
func (dl DeadLetter) WithMsgID(id string) DeadLetter {
	dl.msgID = id
	return dl
}

// Dead-letter listing and replay bounds.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	// MaxReplayIDs bounds the ids of one replay request.
	MaxReplayIDs = 10000
	// replayFrameBytes bounds the frames a replay publishes.
	replayFrameBytes = 1 << 20
	putChunk         = 256
	putTimeout       = 30 * time.Second
)

// ErrDeadLetterNotFound is returned by ReplayDeadLetters for an id that is
// not a dead letter of the stream (and destination).
var ErrDeadLetterNotFound = errors.New("dead letter not found")

// NewDeadLetterSink stores dead letters in the bus, waiting for each to
// be durable.
func NewDeadLetterSink(b *bus.Bus) DeadLetterSink { return busSink{b} }

type busSink struct{ b *bus.Bus }

func (s busSink) Put(ctx context.Context, dls []DeadLetter) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, min(len(dls), putChunk))
	for len(dls) > 0 {
		chunk := dls[:min(len(dls), putChunk)]
		dls = dls[len(chunk):]
		futures = futures[:0]
		for i := range chunk {
			dl := &chunk[i]
			data, err := json.Marshal(dl)
			if err != nil {
				return fmt.Errorf("dead letter: %w", err)
			}
			m := nats.NewMsg(dlqSubject(dl.StreamID, dl.Destination))
			m.Data = data
			if dl.msgID != "" {
				m.Header.Set(nats.MsgIdHdr, dl.msgID)
			}
			f, err := s.b.JS.PublishMsgAsync(m)
			if err != nil {
				return fmt.Errorf("dead letter: publish: %w", err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("dead letter: publish: %w", err)
			case <-ctx.Done():
				return fmt.Errorf("dead letter: publish: %w", ctx.Err())
			}
		}
	}
	return nil
}

// dlqSubject is where a dead letter of dest is kept; those of
// AllDestinations (events dropped from a full buffer) have their own token.
func dlqSubject(streamID, dest string) string {
	if dest == AllDestinations {
		dest = allDestinationsToken
	}
	return bus.DLQSubject(streamID, dest)
}

// dlqFilter is the subject of a destination's dead letters, or of all of
// a stream's when dest is "".
func dlqFilter(streamID, dest string) string {
	if dest == "" {
		return bus.DLQSubject(streamID, "*")
	}
	return dlqSubject(streamID, dest)
}

// ListDeadLetters returns the dead letters of a stream's destination (all
// destinations when dest is ""), oldest first, with a sequence greater
// than after, at most limit (default 100, at most 1000). next is the
// after of the following page, 0 when there is none.
func ListDeadLetters(ctx context.Context, b *bus.Bus, streamID, dest string, after uint64, limit int) ([]DeadLetter, uint64, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	s, err := b.JS.Stream(ctx, bus.DLQStream)
	if err != nil {
		return nil, 0, fmt.Errorf("dead letters: %w", err)
	}
	filter := dlqFilter(streamID, dest)
	out := []DeadLetter{}
	seq := after + 1
	for len(out) < limit {
		dl, ok, err := nextDeadLetter(ctx, s, seq, filter)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return out, 0, nil
		}
		out = append(out, dl)
		seq = dl.Seq + 1
	}
	_, more, err := nextDeadLetter(ctx, s, seq, filter)
	if err != nil {
		return nil, 0, err
	}
	if !more {
		return out, 0, nil
	}
	return out, out[len(out)-1].Seq, nil
}

// nextDeadLetter reads the first dead letter on filter at or after seq.
func nextDeadLetter(ctx context.Context, s jetstream.Stream, seq uint64, filter string) (DeadLetter, bool, error) {
	raw, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, false, nil
	}
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("dead letters: read: %w", err)
	}
	dl, err := decodeDeadLetter(raw)
	return dl, err == nil, err
}

func decodeDeadLetter(raw *jetstream.RawStreamMsg) (DeadLetter, error) {
	var dl DeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil {
		return dl, fmt.Errorf("dead letters: message %d: %w", raw.Sequence, err)
	}
	dl.Seq = raw.Sequence
	dl.ID = strconv.FormatUint(raw.Sequence, 10)
	return dl, nil
}

// ReplayDeadLetters puts dead letters back into the stream's buffer for
// their destination only: the events are republished as frames (at most
// 1 MiB each, grouped per destination) with event.HdrOnlyDest set, so the
// other destinations skip them (dead letters of AllDestinations, events
// dropped from a full buffer, go to every destination); each replayed dead letter is deleted once
// its frame is stored. ids selects dead letters by id; empty means all of
// dest (or of every destination when dest is ""). It returns how many
// were replayed. The destinations must still exist in the stream: the
// caller checks that.
func ReplayDeadLetters(ctx context.Context, b *bus.Bus, streamID, dest string, ids []uint64) (int, error) {
	if len(ids) > MaxReplayIDs {
		return 0, fmt.Errorf("dead letters: at most %d ids per replay", MaxReplayIDs)
	}
	s, err := b.JS.Stream(ctx, bus.DLQStream)
	if err != nil {
		return 0, fmt.Errorf("dead letters: %w", err)
	}
	r := replayer{b: b, s: s, streamID: streamID, frames: map[string]*replayFrame{}}
	if len(ids) > 0 {
		// Check every id first: a bad one replays nothing.
		dls := make([]DeadLetter, 0, len(ids))
		seen := make(map[uint64]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			raw, err := s.GetMsg(ctx, id)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return 0, fmt.Errorf("%w: %d", ErrDeadLetterNotFound, id)
			}
			if err != nil {
				return 0, fmt.Errorf("dead letters: read %d: %w", id, err)
			}
			if !subjectMatches(raw.Subject, streamID, dest) {
				return 0, fmt.Errorf("%w: %d", ErrDeadLetterNotFound, id)
			}
			dl, err := decodeDeadLetter(raw)
			if err != nil {
				return 0, err
			}
			dls = append(dls, dl)
		}
		for _, dl := range dls {
			if err := r.add(ctx, dl); err != nil {
				return r.n, err
			}
		}
		return r.n, r.flushAll(ctx)
	}
	filter := dlqFilter(streamID, dest)
	// Replay what exists now; dead letters added meanwhile wait for the next replay.
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead letters: %w", err)
	}
	last := info.State.LastSeq
	for seq := uint64(1); seq <= last; {
		dl, ok, err := nextDeadLetter(ctx, s, seq, filter)
		if err != nil {
			return r.n, err
		}
		if !ok || dl.Seq > last {
			break
		}
		if err := r.add(ctx, dl); err != nil {
			return r.n, err
		}
		seq = dl.Seq + 1
	}
	return r.n, r.flushAll(ctx)
}

func subjectMatches(subject, streamID, dest string) bool {
	if dest != "" {
		return subject == dlqSubject(streamID, dest)
	}
	rest, ok := strings.CutPrefix(subject, bus.DLQSubject(streamID, ""))
	return ok && rest != "" && !strings.Contains(rest, ".")
}

type replayFrame struct {
	body bytes.Buffer
	seqs []uint64
}

type replayer struct {
	b        *bus.Bus
	s        jetstream.Stream
	streamID string
	frames   map[string]*replayFrame
	n        int
}

func (r *replayer) add(ctx context.Context, dl DeadLetter) error {
	f := r.frames[dl.Destination]
	if f == nil {
		f = &replayFrame{}
		r.frames[dl.Destination] = f
	}
	if f.body.Len() > 0 && f.body.Len()+1+len(dl.Event) > replayFrameBytes {
		if err := r.flush(ctx, dl.Destination, f); err != nil {
			return err
		}
	}
	if f.body.Len() > 0 {
		f.body.WriteByte('\n')
	}
	// Events are stored compact; compact again in case of hand-made entries.
	if err := json.Compact(&f.body, dl.Event); err != nil {
		f.body.Write(dl.Event)
	}
	f.seqs = append(f.seqs, dl.Seq)
	return nil
}

func (r *replayer) flushAll(ctx context.Context) error {
	for dest, f := range r.frames {
		if err := r.flush(ctx, dest, f); err != nil {
			return err
		}
	}
	return nil
}

// flush publishes a frame (durably) and then deletes its dead letters.
func (r *replayer) flush(ctx context.Context, dest string, f *replayFrame) error {
	if len(f.seqs) == 0 {
		return nil
	}
	msgID := fmt.Sprintf("dlq-replay:%s:%d-%d:%d", dest, f.seqs[0], f.seqs[len(f.seqs)-1], len(f.seqs))
	only := dest
	if dest == AllDestinations {
		only = "" // dropped from the buffer: for every destination
	}
	m := event.Message(bus.EventSubject(r.streamID), &event.Frame{
		Count:    len(f.seqs),
		Received: time.Now(),
		OnlyDest: only,
		Body:     bytes.Clone(f.body.Bytes()),
	}, msgID)
	m.Header.Set(event.HdrSource, "replay")
	if _, err := r.b.Publish(ctx, m); err != nil {
		return fmt.Errorf("dead letters: replay: %w", err)
	}
	for _, seq := range f.seqs {
		if err := r.s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("dead letters: delete %d after replay: %w", seq, err)
		}
	}
	r.n += len(f.seqs)
	f.body.Reset()
	f.seqs = f.seqs[:0]
	return nil
}

// StreamDeadLetters stores dead letters that concern a whole stream
// (destination AllDestinations, like events dropped by overflow
// drop_oldest) and are made before delivery: collection records refused
// by the stream's JSON Schema at ingest (asynchronous validation). They
// are listed and replayed like every dead letter; a replay sends them to
// every destination without validating them again. It satisfies
// ingest.DeadLetterStore.
type StreamDeadLetters struct {
	sink DeadLetterSink
	now  func() time.Time
}

// NewStreamDeadLetters stores a stream's dead letters in the bus.
func NewStreamDeadLetters(b *bus.Bus) *StreamDeadLetters {
	return &StreamDeadLetters{sink: NewDeadLetterSink(b), now: time.Now}
}

// PutStreamDeadLetters stores events[i] (each one JSON value, the event as
// it would have been stored) as a dead letter of every destination of the
// stream, with reasons[i] as its error and ids[i] as the message id that
// de-duplicates a retried store; it returns once all are durable.
func (s *StreamDeadLetters) PutStreamDeadLetters(ctx context.Context, streamID string, events [][]byte, reasons, ids []string) error {
	if len(reasons) != len(events) || len(ids) != len(events) {
		return fmt.Errorf("dead letters: %d events, %d reasons, %d ids", len(events), len(reasons), len(ids))
	}
	now := s.now().UTC()
	dls := make([]DeadLetter, len(events))
	for i, ev := range events {
		dls[i] = DeadLetter{
			StreamID: streamID, Destination: AllDestinations, Event: json.RawMessage(ev),
			Error: reasons[i], Time: now, msgID: ids[i],
		}
	}
	return s.sink.Put(ctx, dls)
}
