package delivery

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/template"
)

// nopDest accepts everything.
type nopDest struct{}

func (nopDest) Deliver(context.Context, destination.Batch) error { return nil }
func (nopDest) Close(context.Context) error                      { return nil }

// gzipDest frames and compresses every batch, like an HTTP destination
// with compression: gzip, minus the network.
type gzipDest struct {
	buf []byte
	zw  *gzip.Writer
}

func (g *gzipDest) Deliver(_ context.Context, b destination.Batch) error {
	g.buf = b.Framer.Frame(g.buf[:0], b.Records)
	g.zw.Reset(io.Discard)
	_, _ = g.zw.Write(g.buf)
	return g.zw.Close()
}
func (g *gzipDest) Close(context.Context) error { return nil }

// rttDest waits a fixed round trip per batch, like a network send.
type rttDest struct{ rtt time.Duration }

func (r rttDest) Deliver(context.Context, destination.Batch) error {
	time.Sleep(r.rtt)
	return nil
}
func (rttDest) Close(context.Context) error { return nil }

// benchMsg is a frame message with no-op settlement.
type benchMsg struct{ fakeMsg }

func (*benchMsg) Ack() error        { return nil }
func (*benchMsg) Nak() error        { return nil }
func (*benchMsg) InProgress() error { return nil }

func benchEvent(i int) string {
	return fmt.Sprintf(`{"timestamp":"2025-02-12T14:32:15Z","source":"payments-app","event":{"transactionId":"txn_%05d","status":"approved","latency_ms":182,"amount":1299,"currency":"EUR","user":{"id":"u_%d","country":"DE"}},"metadata":{"env":"prod","team":"payments"}}`, i, i%977)
}

// BenchmarkDeliverer measures the deliverer's own cost: one op is one
// event, taken from frames of 100 events (a synthetic source, no NATS),
// rendered with a four-variable template and batched 2000 at a time.
//   - nop: a destination that accepts at once (render + batch + ack cost);
//   - rtt/…: a destination that waits 2 ms per batch (a network round
//     trip, no CPU);
//   - gzip/…: a destination that frames and gzips each payload (CPU).
//
// serial builds the next batch only after the current one is sent,
// pipelined (what the deliverer does) builds it meanwhile. The rtt pair
// shows the pipeline hiding render time behind the send; the gzip pair
// only gains when a second core is free.
func BenchmarkDeliverer(b *testing.B) {
	const perFrame = 100
	events := make([]string, perFrame)
	for i := range events {
		events[i] = benchEvent(i)
	}
	nm := event.Message("runnel.ev.s", &event.Frame{Workspace: "w", Stream: "s", Count: perFrame, Received: time.Now(), Body: []byte(strings.Join(events, "\n"))}, "")
	eventBytes := len(nm.Data) / perFrame

	tpl, err := template.Compile([]string{"timestamp", "source", "event.transactionId", "event.amount"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := template.NewPayload("", nil, 1_000_000, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		dest    func() destination.Destination
		batches int
	}{
		{"nop", func() destination.Destination { return nopDest{} }, 2},
		{"rtt/pipelined", func() destination.Destination { return rttDest{2 * time.Millisecond} }, 2},
		{"rtt/serial", func() destination.Destination { return rttDest{2 * time.Millisecond} }, 1},
		{"gzip/pipelined", func() destination.Destination { return &gzipDest{zw: gzip.NewWriter(io.Discard)} }, 2},
		{"gzip/serial", func() destination.Destination { return &gzipDest{zw: gzip.NewWriter(io.Discard)} }, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			frames := (b.N + perFrame - 1) / perFrame
			msgs := make([]benchMsg, frames)
			for i := range msgs {
				msgs[i].data, msgs[i].hdr = nm.Data, nm.Header
			}
			d, err := NewDeliverer(Config{
				StreamID: "str_bench", Workspace: "w", StreamName: "s", Destination: "bench",
				Dest: c.dest(), Template: tpl, Payload: payload, MaxEvents: 2000, MaxAge: time.Minute,
				DeadLetters: &fakeSink{}, Metrics: testMetrics, batches: c.batches,
			})
			if err != nil {
				b.Fatal(err)
			}
			src := make(chan Msg, 64)
			var feed sync.WaitGroup
			b.ReportAllocs()
			b.SetBytes(int64(eventBytes))
			b.ResetTimer()
			start := time.Now()
			feed.Go(func() {
				for i := range msgs {
					src <- &msgs[i]
				}
				close(src)
			})
			d.Run(context.Background(), src)
			feed.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if got := d.Stats().Snapshot().Delivered; got != uint64(frames*perFrame) {
				b.Fatalf("delivered %d, want %d", got, frames*perFrame)
			}
			b.ReportMetric(float64(frames*perFrame)/elapsed.Seconds(), "events/s")
		})
	}
}

// countDest counts records.
type countDest struct {
	mu   sync.Mutex
	n    int
	done chan struct{}
	want int
}

func (c *countDest) Deliver(_ context.Context, b destination.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += len(b.Records)
	if c.n >= c.want && c.done != nil {
		close(c.done)
		c.done = nil
	}
	return nil
}
func (c *countDest) Close(context.Context) error { return nil }

// BenchmarkManager measures the whole path through the embedded bus: a
// buffer pre-filled with frames of 100 events is drained by a Manager's
// deliverer (pump, render, batch, ack) into a counting destination. One
// op is one event.
func BenchmarkManager(b *testing.B) {
	const perFrame = 100
	events := make([]string, perFrame)
	for i := range events {
		events[i] = benchEvent(i)
	}
	body := []byte(strings.Join(events, "\n"))
	bb, err := bus.Open(b.Context(), bus.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	frames := (b.N + perFrame - 1) / perFrame
	cd := &countDest{done: make(chan struct{}), want: frames * perFrame}
	reg := destination.NewRegistry(destination.Kind{
		Name:   "count",
		Config: func() destination.Config { return &fakeConfig{} },
		New: func(context.Context, destination.Config, destination.Deps) (destination.Destination, error) {
			return cd, nil
		},
		Batch: model.Batch{MaxEvents: 2000, MaxAge: model.Duration(100 * time.Millisecond)},
	})
	st := &model.Stream{ID: "str_bench", Workspace: "w", Name: "bench",
		Template:     model.Template{Variables: []string{"timestamp", "source", "event.transactionId", "event.amount"}},
		Destinations: []model.Destination{{Name: "d", Type: "count"}}}
	st.Normalize(reg)
	if err := bb.EnsureEventStream(b.Context(), st); err != nil {
		b.Fatal(err)
	}
	for i := range frames {
		m := event.Message(bus.EventSubject(st.ID), &event.Frame{Count: perFrame, Received: time.Now(), Body: body}, "")
		if _, err := bb.JS.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 || i == frames-1 {
			select {
			case <-bb.JS.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish did not complete")
			}
		}
	}
	m := NewManager(bb, reg, testMetrics, nil, Options{})
	m.Apply(st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetBytes(int64(len(body) / perFrame))
	b.ResetTimer()
	start := time.Now()
	stopped := make(chan struct{})
	go func() { _ = m.Run(ctx); close(stopped) }()
	<-cd.done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(frames*perFrame)/elapsed.Seconds(), "events/s")
	cancel()
	<-stopped
}
