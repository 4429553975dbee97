package bus

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/model"
)

// Every event stream discards new messages when full, drop_oldest too
// (the publisher drops and counts itself), also one created before with
// DiscardOld.
func TestEventStreamsDiscardNew(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	st := testStream("str_do", 1<<20, model.OverflowDropOldest)
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: EventStreamName(st.ID), Subjects: []string{EventSubject(st.ID)},
		Retention: jetstream.InterestPolicy, Discard: jetstream.DiscardOld, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	s, err := b.JS.Stream(ctx, EventStreamName(st.ID))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.CachedInfo().Config.Discard; d != jetstream.DiscardNew {
		t.Fatalf("discard policy %v", d)
	}
	body := bytes.Repeat([]byte("x"), 100<<10)
	var err2 error
	for i := 0; i < 20 && err2 == nil; i++ {
		m := nats.NewMsg(EventSubject(st.ID))
		m.Data = body
		_, err2 = b.Publish(ctx, m)
	}
	if !errors.Is(err2, ErrBufferFull) {
		t.Fatalf("a full drop_oldest buffer must refuse (the publisher drops), got %v", err2)
	}
}

// StoredSize is JetStream's own accounting of a message against MaxBytes.
func TestStoredSize(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	st := testStream("str_size", 1<<20, model.OverflowReject)
	if err := b.EnsureEventStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	var want int64
	for i, hdr := range []map[string]string{nil, {"Runnel-Count": "3", "Runnel-Stream": "str_size"}, {nats.MsgIdHdr: "k1", "Runnel-Workspace": "w"}} {
		m := nats.NewMsg(EventSubject(st.ID))
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		m.Data = bytes.Repeat([]byte("y"), 1000+i)
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		want += StoredSize(m.Subject, m.Header, m.Data)
		s, _ := b.JS.Stream(ctx, EventStreamName(st.ID))
		if got := int64(s.CachedInfo().State.Bytes); got != want {
			t.Fatalf("message %d: stream holds %d bytes, StoredSize sums to %d", i, got, want)
		}
		// Read back (with the server's Nats-* headers): the same size.
		raw, err := s.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if got := StoredSize(raw.Subject, raw.Header, raw.Data); got != StoredSize(m.Subject, m.Header, m.Data) {
			t.Fatalf("message %d read back: %d bytes, sent %d", i, got, StoredSize(m.Subject, m.Header, m.Data))
		}
	}
}

// ClaimDrop counts each message once, in sequence order, across
// concurrent claimers and connections; a re-created buffer starts over.
func TestClaimDropOnce(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	b2, err := b.Connect(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	created := time.Now().UTC()
	var claims atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		bb := b
		if g%2 == 1 {
			bb = b2
		}
		wg.Go(func() {
			for seq := uint64(1); seq <= 50; seq++ {
				ok, err := bb.ClaimDrop(ctx, "str_c", created, seq, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					claims.Add(1)
				}
			}
		})
	}
	wg.Wait()
	c, err := b2.Dropped(ctx, "str_c")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Load() != 50 || c.Events != 150 || c.Messages != 50 || c.LastSeq != 50 {
		t.Fatalf("%d claims, counter %+v; want 50 claims of 3 events", claims.Load(), c)
	}
	// A re-created event stream numbers from 1 again.
	ok, err := b.ClaimDrop(ctx, "str_c", created.Add(time.Hour), 1, 2)
	if err != nil || !ok {
		t.Fatalf("claim in a re-created buffer: %v %v", ok, err)
	}
	if c, _ := b.Dropped(ctx, "str_c"); c.Events != 152 || c.LastSeq != 1 {
		t.Fatalf("counter %+v", c)
	}
	// Deleting the stream deletes its counter.
	if err := b.DeleteEventStream(ctx, "str_c"); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Dropped(ctx, "str_c"); err != nil || c != (DropCounter{}) {
		t.Fatalf("after delete: %+v %v", c, err)
	}
}
