package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/telemetry"
)

// publishDropping is what ingest does for a drop_oldest stream: publish,
// and when the buffer is full hand the message to the dropper.
func publishDropping(ctx context.Context, b *bus.Bus, o *Overflow, st *model.Stream, m *nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // ingest.PublishTimeout
	defer cancel()
	_, err := b.Publish(ctx, m)
	if errors.Is(err, bus.ErrBufferFull) {
		_, err = o.Publish(ctx, st, m)
	}
	return err
}

// frame builds a frame of the events numbered from..from+n-1, each padded
// to about 200 bytes.
func overflowFrame(st *model.Stream, from, n int) *nats.Msg {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"n":%d,"source":"test","pad":"%s"}`, from+i, strings.Repeat("x", 160))
	}
	return event.Message(bus.EventSubject(st.ID), &event.Frame{Workspace: st.Workspace, Stream: st.ID, Count: n, Received: time.Now(), Body: []byte(strings.Join(lines, "\n"))}, "")
}

// bufferedEvents reads every message left in a stream's buffer and
// returns the event numbers in them.
func bufferedEvents(t *testing.T, b *bus.Bus, streamID string) map[int]bool {
	t.Helper()
	s, err := b.JS.Stream(t.Context(), bus.EventStreamName(streamID))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for seq := uint64(1); ; {
		raw, err := s.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(bus.EventSubject(streamID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f := event.Parse(raw.Header, raw.Data)
		evs := event.Split(f.Body)
		if len(evs) != f.Count {
			t.Fatalf("message %d: %d events, header says %d", raw.Sequence, len(evs), f.Count)
		}
		for _, ev := range evs {
			var e struct{ N int }
			if err := json.Unmarshal(ev, &e); err != nil {
				t.Fatal(err)
			}
			out[e.N] = true
		}
		seq = raw.Sequence + 1
	}
}

func droppedMetric(m *telemetry.Metrics, st *model.Stream) float64 {
	return metricValue(m.Dropped.WithLabelValues(st.Workspace, st.Name))
}

// Two nodes publish concurrently into a full drop_oldest buffer: every
// acknowledged event is either still buffered or a dead letter of
// destination "*" with the reason, exactly once, and the shared counter
// (which both nodes read alike) is exactly the number dropped.
func TestDropOldestCountsExactlyAcrossNodes(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	b2, err := w.b.Connect(ctx, "node2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	st := &model.Stream{ID: "str_drop", Workspace: "w", Name: "drop", Buffer: model.Buffer{MaxBytes: 1 << 20, Overflow: model.OverflowDropOldest}}
	st.Normalize(w.reg)
	if err := w.b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	m1, m2 := telemetry.NewMetrics(), telemetry.NewMetrics()
	nodes := []struct {
		b *bus.Bus
		o *Overflow
	}{{w.b, NewOverflow(w.b, m1, nil)}, {b2, NewOverflow(b2, m2, nil)}}

	// 8 publishers (4 per node), frames of 1 to 40 events (~8 KiB max):
	// about 4 MiB in all, into a 1 MiB buffer.
	var (
		next  atomic.Int64
		acked sync.Map // event n → true
		nAck  atomic.Int64
		wg    sync.WaitGroup
	)
	for p := range 8 {
		node := nodes[p%2]
		wg.Go(func() {
			for i := 0; ; i++ {
				k := 1 + (p*7+i*13)%40
				from := int(next.Add(int64(k))) - k
				if from >= 20000 {
					return
				}
				if err := publishDropping(ctx, node.b, node.o, st, overflowFrame(st, from, k)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				for n := from; n < from+k; n++ {
					acked.Store(n, true)
				}
				nAck.Add(int64(k))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	left := bufferedEvents(t, w.b, st.ID)
	c1, err := w.b.Dropped(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b2.Dropped(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	ingested := uint64(nAck.Load())
	t.Logf("ingested %d events, %d still buffered, %d dropped in %d messages (node 1 counted %v, node 2 %v)",
		ingested, len(left), c1.Events, c1.Messages, droppedMetric(m1, st), droppedMetric(m2, st))
	if c1 != c2 {
		t.Fatalf("nodes disagree on the counter: %+v vs %+v", c1, c2)
	}
	if c1.Events == 0 || c1.Events != ingested-uint64(len(left)) {
		t.Fatalf("dropped %d, want ingested %d − buffered %d = %d", c1.Events, ingested, len(left), ingested-uint64(len(left)))
	}
	if got := droppedMetric(m1, st) + droppedMetric(m2, st); got != float64(c1.Events) {
		t.Fatalf("runnel_dropped_events_total over both nodes is %v, want %d", got, c1.Events)
	}
	if droppedMetric(m1, st) == 0 || droppedMetric(m2, st) == 0 {
		t.Logf("only one node dropped (timing); the counter is still shared")
	}

	// Every dropped event is a dead letter of "*", exactly once.
	dead := map[int]bool{}
	for after := uint64(0); ; {
		dls, next, err := ListDeadLetters(ctx, b2, st.ID, "", after, MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range dls {
			var e struct{ N int }
			_ = json.Unmarshal(dl.Event, &e)
			if dl.Destination != AllDestinations || dl.Error != ReasonDropped || dl.StreamID != st.ID || dl.Attempts != 0 {
				t.Fatalf("dead letter %+v", dl)
			}
			if dead[e.N] || left[e.N] {
				t.Fatalf("event %d is dead-lettered twice or also still buffered", e.N)
			}
			dead[e.N] = true
		}
		if next == 0 {
			break
		}
		after = next
	}
	if uint64(len(dead)) != c1.Events {
		t.Fatalf("%d dead letters, %d dropped", len(dead), c1.Events)
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if n := k.(int); !dead[n] && !left[n] {
			missing++
		}
		return true
	})
	if missing != 0 {
		t.Fatalf("%d acknowledged events are neither buffered nor dead letters", missing)
	}
	// The dead letters of "*" are listed on their own too.
	if dls, _, err := ListDeadLetters(ctx, w.b, st.ID, AllDestinations, 0, 1); err != nil || len(dls) != 1 {
		t.Fatalf("listing destination *: %v, %v", dls, err)
	}
}

// A frame larger than the whole buffer drops nothing.
func TestDropOldestNeverFits(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	st := &model.Stream{ID: "str_tiny", Workspace: "w", Name: "tiny", Buffer: model.Buffer{MaxBytes: 1 << 20, Overflow: model.OverflowDropOldest}}
	st.Normalize(w.reg)
	if err := w.b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	o := NewOverflow(w.b, nil, nil)
	if err := publishDropping(ctx, w.b, o, st, overflowFrame(st, 0, 10)); err != nil {
		t.Fatal(err)
	}
	big := overflowFrame(st, 10, 1)
	big.Data = append(big.Data, strings.Repeat(" ", 1<<20)...)
	if err := publishDropping(ctx, w.b, o, st, big); !errors.Is(err, bus.ErrTooLargeForBuffer) {
		t.Fatalf("err = %v, want ErrTooLargeForBuffer", err)
	}
	if c, _ := w.b.Dropped(ctx, st.ID); c.Events != 0 || len(bufferedEvents(t, w.b, st.ID)) != 10 {
		t.Fatalf("a message that can never fit dropped others: %+v", c)
	}
}

// Dead letters of "*" replay to every destination; the counter goes when
// the stream goes.
func TestDroppedEventsReplayToAllDestinations(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	st := &model.Stream{ID: "str_rep", Workspace: "w", Name: "rep", Buffer: model.Buffer{MaxBytes: 1 << 20, Overflow: model.OverflowDropOldest}}
	st.Normalize(w.reg)
	if err := w.b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	o := NewOverflow(w.b, nil, nil)
	const n = 6400 // ~1.25 MB of events into a 1 MiB buffer
	for i := 0; i < n; i += 40 {
		if err := publishDropping(ctx, w.b, o, st, overflowFrame(st, i, 40)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := w.b.Dropped(ctx, st.ID)
	if c.Events == 0 {
		t.Fatal("nothing dropped")
	}
	// Now the stream gets two destinations; the buffer drains to both.
	st2 := w.stream(st.ID, fakeDestCfg("a"), fakeDestCfg("b"))
	st2.Buffer = st.Buffer
	if err := w.b.EnsureEventStream(ctx, st2); err != nil {
		t.Fatal(err)
	}
	m := w.startManager(st2)
	left := len(bufferedEvents(t, w.b, st.ID))
	for _, name := range []string{"a", "b"} {
		eventually(t, 30*time.Second, name+" to drain the buffer", func() bool {
			return len(w.target(name).got()) >= left && destStatus(t, m, st2, name).BacklogMessages == 0
		})
	}
	// The dead letters of "*" go back to every destination. (A deadline:
	// without one the client gives each request 5 s, short on a busy machine.)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	replayed, err := ReplayDeadLetters(rctx, w.b, st.ID, "", nil)
	if err != nil || uint64(replayed) != c.Events {
		t.Fatalf("replayed %d of %d: %v", replayed, c.Events, err)
	}
	if rest, _, _ := ListDeadLetters(ctx, w.b, st.ID, "", 0, 1); len(rest) != 0 {
		t.Fatal("dead letters left after the replay")
	}
	for _, name := range []string{"a", "b"} {
		eventually(t, 30*time.Second, name+" to get every event", func() bool {
			got := map[int]bool{}
			for _, v := range w.target(name).got() {
				got[v] = true
			}
			return len(got) == n
		}, func() string { return strconv.Itoa(len(w.target(name).got())) })
	}
	ss, err := m.Status(ctx, st2)
	if err != nil || ss.DroppedEvents != c.Events {
		t.Fatalf("status dropped_events %d, want %d (%v)", ss.DroppedEvents, c.Events, err)
	}
	if err := w.b.DeleteEventStream(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := w.b.Dropped(ctx, st.ID); err != nil || c.Events != 0 {
		t.Fatalf("counter after the stream was deleted: %+v %v", c, err)
	}
}
