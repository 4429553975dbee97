// Package activityfeed makes Activity History a live data source: every
// management change the store records in the activity stream
// (bus.ActivityStream, one subject per workspace) becomes an event of each
// active stream of that workspace whose data_source is activity_history,
// delivered like any other event.
//
// # One durable consumer, shared by every node
//
// Every node runs a Feed, and all of them pull from the same durable
// JetStream consumer of the activity stream (ConsumerName). JetStream
// hands each record to one node at a time, so across a cluster a record
// is fanned out once — at least once: a node that stops or dies before
// acking it leaves it to another (at once when it naks on shutdown,
// after the consumer's AckWait when it dies). No leader of our own.
//
// The consumer has MaxAckPending 1: records are fanned out one at a time,
// in the order they were recorded, so every activity_history stream gets
// its workspace's activity in order. Management changes are rare and a
// record costs a few publishes; one at a time is plenty.
//
// The consumer starts at the activity recorded after it was first created
// (DeliverNew): history recorded before that is not replayed.
//
// # One record
//
//  1. Store.Sync: this node's configuration snapshot holds every write
//     made before the record is handled, on any node; a stream another
//     node created a moment ago is known.
//  2. The targets: the streams of the record's workspace — taken from the
//     record's subject, never from another workspace — that are active,
//     whose data_source is activity_history and that existed when the
//     record was made (see after). So a new activity_history stream
//     receives the record of its own creation first, and nothing older
//     (activity before it existed is not replayed). It does not receive
//     the record of its own deletion (it is gone), nor activity recorded
//     while it is inactive (as ingest into an inactive stream is refused,
//     nothing is kept for later). Changes to the stream itself are activity of its
//     workspace and arrive like any other. The configuration used is the
//     current one when the record is handled: a stream switched to
//     activity_history receives activity from that change on.
//  3. One frame message per target (event.Message: one event, the
//     Document as compact JSON, dialect "activity") with Nats-Msg-Id
//     MsgID(sequence, stream): a record redelivered within the event
//     stream's de-duplication window (10 minutes, or buffer.max_age when
//     shorter) is stored once.
//  4. The record is acked only when every target has its event. Until
//     then it is retried with backoff — only the targets still missing,
//     resolved again every round, so a stream deleted or deactivated
//     meanwhile is no longer waited for — and kept "in progress" so that
//     no other node takes it meanwhile.
//
// # Full buffers
//
// A stream with overflow drop_oldest makes room as ingest does
// (delivery.Overflow: the oldest events are dropped, counted and
// dead-lettered). A stream with overflow reject refuses the event; the
// feed then waits for room up to Options.FullWait (30 s), and after that
// dead-letters the event for that stream (destination "*", replayable
// with POST /v1/streams/{id}/dead-letters/replay) and acks the record:
// never dropped in silence, and one workspace's full buffer does not stop
// the activity of every other workspace for longer than FullWait. While
// a stream stays full, the next records dead-letter its events at once
// (no second wait), until a publish to it succeeds again. A stream whose
// buffer is missing although its configuration exists is handled the
// same way; an event larger than the stream's whole buffer is
// dead-lettered at once.
// Any other failure (the bus unreachable) is retried without end: it
// affects every stream alike.
package activityfeed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// ConsumerName is the durable consumer of the activity stream that every
// node's Feed shares.
const ConsumerName = "activity_feed"

// Dialect is the frame header (event.HdrSource) of the events the feed stores.
const Dialect = "activity"

// MsgID is the JetStream message id of the event of activity record seq
// in stream streamID.
func MsgID(seq uint64, streamID string) string {
	return "activity:" + strconv.FormatUint(seq, 10) + ":" + streamID
}

// Streams is the configuration the feed reads. *store.Store satisfies it.
type Streams interface {
	// Streams lists the streams of workspace ws (shared, not modified).
	Streams(ws string) []*model.Stream
	// Sync returns once the snapshot holds every write made before the call.
	Sync(ctx context.Context) error
}

// Publisher stores one frame message and returns once it is durable.
// *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, m *nats.Msg) (duplicate bool, err error)
}

// Dropper stores a message in the full buffer of a drop_oldest stream.
// *delivery.Overflow satisfies it.
type Dropper interface {
	Publish(ctx context.Context, st *model.Stream, m *nats.Msg) (duplicate bool, err error)
}

// Deps are what a Feed needs.
type Deps struct {
	Bus     *bus.Bus
	Streams Streams
	// Publisher stores the events; nil: Bus.
	Publisher Publisher
	// Overflow makes room in full drop_oldest buffers; nil: such a buffer
	// is handled like an overflow reject one.
	Overflow Dropper
	// DeadLetters keeps the events that cannot be stored; nil: Bus's.
	DeadLetters delivery.DeadLetterSink
	Metrics     *telemetry.Metrics // nil: a private registry
	Log         *slog.Logger       // nil: discard
}

// Options tune a Feed; zero values take the defaults.
type Options struct {
	// FullWait is how long a record waits for room in a full buffer before
	// its event for that stream is dead-lettered (default 30s).
	FullWait time.Duration
	// Backoff paces the rounds of a record not yet fanned out everywhere
	// (default 200ms doubling up to 10s).
	Backoff retry.Backoff
	// FetchWait bounds one pull request, and so how long a stopping feed
	// waits for it (default 1s).
	FetchWait time.Duration
}

const (
	defaultFullWait = 30 * time.Second
	// publishTimeout bounds one publish (and one drop_oldest round).
	publishTimeout = 10 * time.Second
	// syncTimeout bounds the wait for the configuration snapshot.
	syncTimeout = 10 * time.Second
	// progressInterval is how often a record being worked on is marked in
	// progress; well below the consumer's AckWait.
	progressInterval = 10 * time.Second
	ackWait          = 30 * time.Second
)

// Feed fans activity records out to activity_history streams.
type Feed struct {
	b      *bus.Bus
	st     Streams
	pub    Publisher
	drop   Dropper
	dlq    delivery.DeadLetterSink
	met    *telemetry.Metrics
	log    *slog.Logger
	o      Options
	prefix string // subject prefix of the activity records: ActivitySubject("")

	cons jetstream.Consumer
	// full holds the streams whose last event this node dead-lettered
	// because their buffer was full: their next full answer dead-letters
	// at once. A successful publish removes the stream.
	full map[string]bool
}

// ConsumerConfig is the configuration of the shared durable consumer.
func ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "fans activity records out to activity_history streams",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 1,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		FilterSubject: bus.ActivitySubject(">"),
	}
}

// New creates the shared durable consumer (or finds it, created by
// another node) and returns the feed. Call it before the node accepts
// changes, so that none made through it is missed on a first start.
func New(ctx context.Context, d Deps, o Options) (*Feed, error) {
	if d.Bus == nil || d.Streams == nil {
		return nil, errors.New("activityfeed: Bus and Streams are required")
	}
	if o.FullWait <= 0 {
		o.FullWait = defaultFullWait
	}
	if o.Backoff.Base <= 0 {
		o.Backoff = retry.Backoff{Base: 200 * time.Millisecond, Max: 10 * time.Second}
	}
	if o.FetchWait <= 0 {
		o.FetchWait = time.Second
	}
	f := &Feed{
		b: d.Bus, st: d.Streams, pub: d.Publisher, drop: d.Overflow, dlq: d.DeadLetters, met: d.Metrics, log: d.Log, o: o,
		prefix: bus.ActivitySubject(""), full: map[string]bool{},
	}
	if f.pub == nil {
		f.pub = d.Bus
	}
	if f.dlq == nil {
		f.dlq = delivery.NewDeadLetterSink(d.Bus)
	}
	if f.met == nil {
		f.met = telemetry.NewMetrics()
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if err := f.ensure(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// ensure creates or updates the shared consumer.
func (f *Feed) ensure(ctx context.Context) error {
	c, err := f.b.JS.CreateOrUpdateConsumer(ctx, bus.ActivityStream, ConsumerConfig())
	if err != nil {
		return fmt.Errorf("activityfeed: consumer: %w", err)
	}
	f.cons = c
	return nil
}

// Run fans records out until ctx ends. It returns nil then; failures of
// the bus are logged and retried, never returned.
func (f *Feed) Run(ctx context.Context) error {
	failures := 0
	fail := func(err error) bool {
		failures++
		if failures == 1 {
			f.log.Warn("activity feed: fetch failed, retrying", "error", err)
		}
		if !sleep(ctx, f.o.Backoff.Delay(min(failures, 8), err)) {
			return false
		}
		// The consumer may have been removed: create it again (a no-op
		// when it exists).
		if err := f.ensure(ctx); err != nil {
			f.log.Debug("activity feed: consumer", "error", err)
		}
		return true
	}
	for ctx.Err() == nil {
		batch, err := f.cons.Fetch(1, jetstream.FetchMaxWait(f.o.FetchWait))
		if err != nil {
			if !fail(err) {
				return nil
			}
			continue
		}
		for m := range batch.Messages() {
			f.handle(ctx, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			if !fail(err) {
				return nil
			}
			continue
		}
		if failures > 0 {
			f.log.Info("activity feed: fetch recovered")
			failures = 0
		}
	}
	return nil
}

// record is one activity record being fanned out.
type record struct {
	seq  uint64
	ws   string
	act  model.Activity
	body []byte
	// done holds the streams that have the event (stored or dead-lettered).
	done map[string]bool
	// fullSince is when each stream first refused the event as full.
	fullSince map[string]time.Time
}

// handle fans one record out, and acks it once every target has it. When
// ctx ends first, it naks the record so that another node takes it now.
func (f *Feed) handle(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term() // not a JetStream message: cannot happen
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak()
		return
	}
	seq := md.Sequence.Stream
	ws, ok := strings.CutPrefix(m.Subject(), f.prefix)
	var act model.Activity
	if !ok || ws == "" || json.Unmarshal(m.Data(), &act) != nil {
		f.log.Warn("activity feed: unreadable activity record skipped", "seq", seq, "subject", m.Subject())
		_ = m.Term()
		return
	}
	// The workspace is the subject's: the store records each workspace's
	// activity on its own subject.
	act.Workspace = ws
	act.ID = strconv.FormatUint(seq, 10)
	r := &record{seq: seq, ws: ws, act: act, body: Event(ws, &act), done: map[string]bool{}, fullSince: map[string]time.Time{}}

	stop := keepInProgress(m)
	defer stop()
	for attempt := 1; ; attempt++ {
		pending, err := f.round(ctx, r)
		if pending == 0 {
			if err := m.Ack(); err != nil {
				// Redelivered later; its events are de-duplicated.
				f.log.Debug("activity feed: ack", "seq", seq, "error", err)
			}
			if attempt > 1 {
				f.log.Info("activity feed: record fanned out after retries", "seq", seq, "workspace", ws, "attempts", attempt)
			}
			return
		}
		lvl := slog.LevelDebug
		if attempt == 1 || attempt%20 == 0 {
			lvl = slog.LevelWarn
		}
		f.log.Log(ctx, lvl, "activity feed: record not fanned out yet, retrying", "seq", seq, "workspace", ws, "pending_streams", pending, "attempt", attempt, "error", err)
		if !sleep(ctx, f.o.Backoff.Delay(min(attempt, 8), err)) {
			stop()
			_ = m.Nak()
			return
		}
	}
}

// keepInProgress marks m in progress every progressInterval until the
// returned stop is called (more than once is fine).
func keepInProgress(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(done); wg.Wait() })
	}
}

// round publishes the record's event to every target that does not have
// it yet. It returns how many targets still miss it, and the first error.
func (f *Feed) round(ctx context.Context, r *record) (pending int, err error) {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	err = f.st.Sync(sctx)
	cancel()
	if err != nil {
		return 1, err
	}
	var first error
	for _, st := range f.targets(r) {
		if r.done[st.ID] {
			continue
		}
		err := f.publish(ctx, st, r)
		if err == nil {
			r.done[st.ID] = true
			delete(f.full, st.ID)
			continue
		}
		if stuck(err) {
			now := time.Now()
			since, waited := r.fullSince[st.ID]
			if !waited {
				since = now
				r.fullSince[st.ID] = now
			}
			if f.full[st.ID] || errors.Is(err, bus.ErrTooLargeForBuffer) || now.Sub(since) >= f.o.FullWait {
				derr := f.deadLetter(ctx, st, r, err)
				if derr == nil {
					r.done[st.ID] = true
					f.full[st.ID] = true
					continue
				}
				err = derr
			}
		}
		pending++
		first = cmp.Or(first, fmt.Errorf("stream %s: %w", st.ID, err))
	}
	return pending, first
}

// stuck reports whether err is a stream that cannot take the event now,
// though the bus works: its buffer is full (or too small), or missing.
func stuck(err error) bool {
	return errors.Is(err, bus.ErrBufferFull) || errors.Is(err, bus.ErrTooLargeForBuffer) || errors.Is(err, bus.ErrNoStream)
}

// targets are the streams that receive record r: the active
// activity_history streams of its workspace that existed when it was made.
func (f *Feed) targets(r *record) []*model.Stream {
	if r.ws == "" {
		return nil // "" would list every workspace's streams
	}
	var out []*model.Stream
	for _, st := range f.st.Streams(r.ws) {
		if st.Workspace == r.ws && st.DataSource == catalog.ActivityHistory && st.Active() && after(&r.act, st) {
			out = append(out, st)
		}
	}
	return out
}

// after reports whether activity a happened once st existed: a is st's
// own creation, or was made after the millisecond of st's created_at
// (which has millisecond precision: a change recorded within that
// millisecond cannot be told from one made just before, and counts as
// earlier).
func after(a *model.Activity, st *model.Stream) bool {
	if a.Resource == "stream" && a.ResourceID == st.ID && a.Type == model.ActivityCreated {
		return true
	}
	return !a.Time.Before(st.CreatedAt.Truncate(time.Millisecond).Add(time.Millisecond))
}

// publish stores the record's event in st's buffer.
func (f *Feed) publish(ctx context.Context, st *model.Stream, r *record) error {
	fr := event.Frame{Workspace: st.Workspace, Stream: st.ID, Count: 1, Received: time.Now(), Body: r.body}
	m := event.Message(bus.EventSubject(st.ID), &fr, MsgID(r.seq, st.ID))
	m.Header.Set(event.HdrSource, Dialect)
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	dup, err := f.pub.Publish(ctx, m)
	if errors.Is(err, bus.ErrBufferFull) && st.Buffer.Overflow == model.OverflowDropOldest && f.drop != nil {
		dup, err = f.drop.Publish(ctx, st, m)
	}
	if err == nil && !dup {
		l := prometheus.Labels{"workspace": st.Workspace, "stream": st.Name}
		f.met.Accepted.With(l).Inc()
		f.met.AcceptedBytes.With(l).Add(float64(len(r.body)))
	}
	return err
}

// deadLetter keeps the event of a stream that cannot store it.
func (f *Feed) deadLetter(ctx context.Context, st *model.Stream, r *record, cause error) error {
	dl := delivery.DeadLetter{
		StreamID: st.ID, Destination: delivery.AllDestinations, Event: r.body,
		Error: "activity event not stored: " + cause.Error(), Time: time.Now().UTC(),
	}.WithMsgID(MsgID(r.seq, st.ID))
	if err := f.dlq.Put(ctx, []delivery.DeadLetter{dl}); err != nil {
		return err
	}
	f.met.DeadLettered.With(prometheus.Labels{"workspace": st.Workspace, "stream": st.Name, "destination": delivery.AllDestinations}).Inc()
	f.log.Warn("activity feed: event dead-lettered, the stream cannot store it", "stream", st.ID, "workspace", st.Workspace, "seq", r.seq, "error", cause)
	return nil
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
