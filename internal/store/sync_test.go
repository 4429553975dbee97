package store

import (
	"context"
	"testing"
	"time"
)

// TestSyncSeesOtherNodesWrites: after Sync, a node's snapshot holds what
// another node wrote before the call.
func TestSyncSeesOtherNodesWrites(t *testing.T) {
	ctx := t.Context()
	b1 := newBus(t)
	b2, err := b1.Connect(ctx, "node2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	s1, s2 := openStore(t, b1), openStore(t, b2)
	if err := s2.Sync(ctx); err != nil { // nothing written yet
		t.Fatal(err)
	}
	if _, err := s1.CreateWorkspace(ctx, "default", System); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		st, _, err := s1.CreateStream(ctx, "default", sample("s"+string(rune('a'+i))), System)
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := s2.Stream("default", st.ID); !ok {
			t.Fatalf("stream %d not seen after Sync", i)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-cctx.Done()
	if err := s2.Sync(cctx); err == nil {
		t.Error("Sync with an expired context succeeded")
	}
}
