package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DroppedKey is the config-bucket key of a stream's dropped-events counter.
// The store ignores keys of this prefix.
func DroppedKey(streamID string) string { return "dropped." + streamID }

// DropCounter is the value under DroppedKey: what overflow drop_oldest has
// removed from a stream's buffer, counted once across every node.
type DropCounter struct {
	// Events and Messages dropped since the stream was created.
	Events   uint64 `json:"events"`
	Messages uint64 `json:"messages"`
	// LastSeq is the highest buffer sequence claimed for dropping, in the
	// event stream created at Created (a re-created event stream numbers
	// its messages from 1 again).
	LastSeq uint64    `json:"last_seq"`
	Created time.Time `json:"created"`
}

// maxClaimConflicts bounds the compare-and-swap retries of ClaimDrop.
const maxClaimConflicts = 1000

// Dropped returns a stream's dropped-events counter (zero when nothing
// was ever dropped).
func (b *Bus) Dropped(ctx context.Context, streamID string) (DropCounter, error) {
	c, _, err := b.dropCounter(ctx, streamID)
	return c, err
}

func (b *Bus) dropCounter(ctx context.Context, streamID string) (DropCounter, uint64, error) {
	var c DropCounter
	e, err := b.kv.Get(ctx, DroppedKey(streamID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, fmt.Errorf("bus: dropped counter of %s: %w", streamID, err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return c, 0, fmt.Errorf("bus: dropped counter of %s: %w", streamID, err)
	}
	return c, e.Revision(), nil
}

// ClaimDrop records that buffer message seq of a stream (its event stream
// created at created), holding events events, is being dropped, and adds
// them to the stream's counter with compare-and-swap. Claims are made in
// sequence order, so a message is claimed, and counted, exactly once
// across nodes: claimed is false when seq (or a later message) was claimed
// already, by this node or another.
func (b *Bus) ClaimDrop(ctx context.Context, streamID string, created time.Time, seq uint64, events int) (claimed bool, err error) {
	key := DroppedKey(streamID)
	for range maxClaimConflicts {
		c, rev, err := b.dropCounter(ctx, streamID)
		if err != nil {
			return false, err
		}
		if !c.Created.Equal(created) {
			c.Created, c.LastSeq = created, 0
		}
		if seq <= c.LastSeq {
			return false, nil
		}
		c.LastSeq = seq
		c.Events += uint64(max(events, 0))
		c.Messages++
		data, err := json.Marshal(c)
		if err != nil {
			return false, err
		}
		if rev == 0 {
			_, err = b.kv.Create(ctx, key, data)
		} else {
			_, err = b.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, fmt.Errorf("bus: dropped counter of %s: %w", streamID, err)
		}
	}
	return false, fmt.Errorf("bus: dropped counter of %s: too many concurrent updates", streamID)
}

// deleteDropCounter removes a deleted stream's counter.
func (b *Bus) deleteDropCounter(ctx context.Context, streamID string) error {
	key := DroppedKey(streamID)
	if _, err := b.kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err := b.kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("bus: delete dropped counter of %s: %w", streamID, err)
	}
	return nil
}
