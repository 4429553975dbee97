package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/model"
)

// HoldConsumer keeps a stream's events while it has no destinations (the
// event streams use interest retention: an event is removed once every
// destination has settled it).
const HoldConsumer = "hold"

// EventStreamName is the JetStream stream of a Runnel stream.
func EventStreamName(streamID string) string { return "EV_" + streamID }

// EventSubject is the subject events of a Runnel stream are published on.
func EventSubject(streamID string) string { return "runnel.ev." + streamID }

// ConsumerName is the durable consumer of a destination.
func ConsumerName(dest string) string { return "d_" + dest }

// DLQSubject is where the dead letters of a destination are kept.
func DLQSubject(streamID, dest string) string { return "runnel.dlq." + streamID + "." + dest }

// ActivitySubject is where a workspace's activity is recorded.
func ActivitySubject(workspace string) string { return "runnel.activity." + workspace }

// EnsureEventStream creates or updates the JetStream stream that buffers a
// Runnel stream's events, with the stream's buffer limits, and the durable
// consumers of its destinations (removing consumers of destinations that
// are gone).
//
// The stream always discards new messages when full (MaxBytes), whatever
// the overflow policy: JetStream's own DiscardOld removes messages without
// telling anyone, so their events could not be counted or kept. For
// overflow drop_oldest the publisher makes room itself (see
// delivery.Overflow), counting every event it drops (ClaimDrop). Messages
// older than MaxAge are removed by JetStream and are not counted.
func (b *Bus) EnsureEventStream(ctx context.Context, st *model.Stream) error {
	discard := jetstream.DiscardNew
	cfg := jetstream.StreamConfig{
		Name:        EventStreamName(st.ID),
		Description: "events of " + st.String(),
		Subjects:    []string{EventSubject(st.ID)},
		Retention:   jetstream.InterestPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
		MaxBytes:    int64(st.Buffer.MaxBytes),
		MaxAge:      st.Buffer.MaxAge.D(),
		Discard:     discard,
		MaxMsgSize:  MaxMessage,
		// An Idempotency-Key is remembered 10 minutes, or as long as the
		// buffer keeps events when that is shorter (JetStream requires it).
		Duplicates:  min(DedupWindow, st.Buffer.MaxAge.D()),
		AllowDirect: true,
	}
	js, err := b.JS.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bus: event stream %s: %w", st.ID, err)
	}
	want := map[string]bool{}
	for _, d := range st.Destinations {
		name := ConsumerName(d.Name)
		want[name] = true
		if _, err := js.CreateOrUpdateConsumer(ctx, ConsumerConfig(name, EventSubject(st.ID))); err != nil {
			return fmt.Errorf("bus: consumer %s of %s: %w", name, st.ID, err)
		}
	}
	if len(st.Destinations) == 0 {
		want[HoldConsumer] = true
		if _, err := js.CreateOrUpdateConsumer(ctx, ConsumerConfig(HoldConsumer, EventSubject(st.ID))); err != nil {
			return fmt.Errorf("bus: hold consumer of %s: %w", st.ID, err)
		}
	}
	names := js.ConsumerNames(ctx)
	var stale []string
	for n := range names.Name() {
		if !want[n] {
			stale = append(stale, n)
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("bus: list consumers of %s: %w", st.ID, err)
	}
	for _, n := range stale {
		if err := js.DeleteConsumer(ctx, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("bus: delete consumer %s of %s: %w", n, st.ID, err)
		}
	}
	return nil
}

// ConsumerConfig is the durable consumer of one destination. Acks are
// explicit; a message is acked when every event in it is settled. The
// deliverer marks long-held messages in progress, so AckWait only matters
// when a node dies: its unacked messages go to another node after it.
func ConsumerConfig(name, subject string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 4096,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: subject,
	}
}

// DeleteEventStream removes a Runnel stream's buffered events and its
// dropped-events counter.
func (b *Bus) DeleteEventStream(ctx context.Context, streamID string) error {
	err := b.JS.DeleteStream(ctx, EventStreamName(streamID))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: delete event stream %s: %w", streamID, err)
	}
	return b.deleteDropCounter(ctx, streamID)
}

// ErrBufferFull is returned by Publish when the stream's buffer is full
// and its overflow policy is reject.
var ErrBufferFull = errors.New("stream buffer is full")

// ErrNoStream is returned by Publish when the event stream does not exist.
var ErrNoStream = errors.New("event stream does not exist")

// Publish stores one frame message and returns once JetStream has
// acknowledged it (it is durable). Duplicate reports a message id seen
// within the de-duplication window (stored once).
func (b *Bus) Publish(ctx context.Context, m *nats.Msg) (duplicate bool, err error) {
	ack, err := b.JS.PublishMsg(ctx, m)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode {
			case jetstream.JSErrCodeStreamNotFound:
				return false, fmt.Errorf("%w: %w", ErrNoStream, err)
			case 10077, 10054: // JSStreamStoreFailedF: "maximum bytes exceeded" / message size limits
				return false, fmt.Errorf("%w: %w", ErrBufferFull, err)
			}
			if apiErr.Description == "maximum bytes exceeded" || apiErr.Description == "maximum messages exceeded" {
				return false, fmt.Errorf("%w: %w", ErrBufferFull, err)
			}
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			return false, fmt.Errorf("%w: %w", ErrNoStream, err)
		}
		return false, fmt.Errorf("bus: publish: %w", err)
	}
	return ack.Duplicate, nil
}

// ErrTooLargeForBuffer is returned when a message is larger than its
// stream's whole buffer (buffer.max_bytes): no overflow policy can store it.
var ErrTooLargeForBuffer = errors.New("message is larger than the stream's whole buffer")

// StoredSize is the number of buffer bytes a message takes in a file
// stream (JetStream's own accounting against MaxBytes): record framing,
// subject, headers as sent and data. Server-added headers of a message
// read back (Nats-Stream, Nats-Sequence, …) are not counted.
func StoredSize(subject string, h nats.Header, data []byte) int64 {
	n := int64(22 + len(subject) + len(data) + 8)
	hl := 0
	for k, vs := range h {
		if strings.HasPrefix(k, "Nats-") && k != nats.MsgIdHdr {
			continue
		}
		for _, v := range vs {
			hl += len(k) + 2 + len(v) + 2
		}
	}
	if hl == 0 {
		return n
	}
	return n + 4 + int64(len("NATS/1.0\r\n")+hl+2)
}

// PurgeDeadLetters removes every dead letter of a stream (the stream is
// being deleted).
func (b *Bus) PurgeDeadLetters(ctx context.Context, streamID string) error {
	s, err := b.JS.Stream(ctx, DLQStream)
	if err != nil {
		return fmt.Errorf("bus: dead letters: %w", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(DLQSubject(streamID, ">"))); err != nil {
		return fmt.Errorf("bus: purge dead letters of %s: %w", streamID, err)
	}
	return nil
}
