package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/runnel/runnel/internal/model"
)

func openTest(t *testing.T) *Bus {
	t.Helper()
	b, err := Open(t.Context(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func testStream(id string, maxBytes model.Size, overflow string) *model.Stream {
	return &model.Stream{ID: id, Workspace: "w", Name: "s", Buffer: model.Buffer{MaxBytes: maxBytes, MaxAge: model.Duration(time.Hour), Overflow: overflow}}
}

func TestPublishBufferFullAndDedup(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	st := testStream("str_full", 64<<10, model.OverflowReject)
	if err := b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 8<<10)
	var full error
	for i := range 64 {
		m := nats.NewMsg(EventSubject(st.ID))
		m.Data = body
		m.Header.Set(nats.MsgIdHdr, string(rune('a'+i%26))+string(rune('a'+i/26)))
		if _, err := b.Publish(ctx, m); err != nil {
			full = err
			break
		}
	}
	if !errors.Is(full, ErrBufferFull) {
		t.Fatalf("want ErrBufferFull once 64KiB are buffered, got %v", full)
	}

	st2 := testStream("str_dup", 1<<20, model.OverflowReject)
	if err := b.EnsureEventStream(ctx, st2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true} {
		m := nats.NewMsg(EventSubject(st2.ID))
		m.Data = []byte("{}")
		m.Header.Set(nats.MsgIdHdr, "same-key")
		dup, err := b.Publish(ctx, m)
		if err != nil || dup != want {
			t.Fatalf("publish %d: dup=%v err=%v", i, dup, err)
		}
	}
	m := nats.NewMsg(EventSubject("str_nope"))
	if _, err := b.Publish(ctx, m); !errors.Is(err, ErrNoStream) {
		t.Fatalf("want ErrNoStream, got %v", err)
	}
}

func TestHoldConsumerKeepsEventsUntilDestinationsExist(t *testing.T) {
	b := openTest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st := testStream("str_hold", 1<<20, model.OverflowReject)
	if err := b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(EventSubject(st.ID))
	m.Data = []byte("{}")
	if _, err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	st.Destinations = []model.Destination{{Name: "web", Type: "http"}}
	if err := b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	s, err := b.JS.Stream(ctx, EventStreamName(st.ID))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.State.Consumers != 1 {
		t.Fatalf("want the held event and one consumer, got %d msgs, %d consumers", info.State.Msgs, info.State.Consumers)
	}
	c, err := s.Consumer(ctx, ConsumerName("web"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil || ci.NumPending != 1 {
		t.Fatalf("destination consumer should see the held event: %v %v", ci, err)
	}
}

// TestBuffersAreLimitsNotReservations: many streams with large buffers fit
// on any disk, and a buffer shorter than the idempotency window works.
func TestBuffersAreLimitsNotReservations(t *testing.T) {
	b := openTest(t)
	for i := range 20 {
		st := testStream(fmt.Sprintf("str_big%d", i), 1<<40, model.OverflowReject)
		if err := b.EnsureEventStream(t.Context(), st); err != nil {
			t.Fatalf("stream %d with a 1TiB buffer: %v", i, err)
		}
	}
	short := testStream("str_short", 1<<20, model.OverflowReject)
	short.Buffer.MaxAge = model.Duration(2 * time.Minute)
	if err := b.EnsureEventStream(t.Context(), short); err != nil {
		t.Fatalf("buffer.max_age 2m: %v", err)
	}
}
