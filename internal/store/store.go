// Package store is the configuration repository: workspaces, tokens and
// streams in a JetStream KV bucket, with an in-memory snapshot that a KV
// watch keeps current on every node (hot reload without restart). The KV
// revision of an entry is its ETag; conditional writes are compare-and-swap.
//
// Key layout: "ws.<workspace>", "tok.<token id>", "st.<stream id>",
// "stname.<workspace>.<stream name>" (uniqueness guard → stream id).
//
// Destination secrets are sealed (AES-GCM) before they are written and
// stay sealed in the snapshot; Masked and Decrypted produce the API and
// the delivery views.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
)

// Errors callers map onto API statuses.
var (
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("already exists")
	ErrPreconditionFailed = errors.New("etag does not match")
)

// Op of a change.
type Op int

// Change operations.
const (
	Put Op = iota
	Delete
)

// StreamChange tells subscribers that a stream was written or removed.
// Stream is the stored version (secrets sealed); on Delete it is the last
// known version.
type StreamChange struct {
	Op     Op
	Stream *model.Stream
}

// Entry is a stored stream with its revision.
type entry[T any] struct {
	v   *T
	rev uint64
}

// Store is the configuration repository.
type Store struct {
	b     *bus.Bus
	kv    jetstream.KeyValue
	box   *secret.Box
	kinds model.Kinds
	log   *slog.Logger

	mu         sync.RWMutex
	workspaces map[string]entry[model.Workspace]
	tokens     map[string]entry[model.Token] // by id
	byHash     map[string]*model.Token
	streams    map[string]entry[model.Stream] // by id
	byName     map[string]string              // ws + "/" + name → id
	byInlet    map[string]string              // inlet id → stream id
	tomb       map[string]uint64              // keys deleted here → last revision known before
	subs       []func(StreamChange)
	seen       atomic.Uint64 // highest revision the watch has applied (see Sync)
}

// Open loads the snapshot and keeps it current until ctx ends.
func Open(ctx context.Context, b *bus.Bus, box *secret.Box, kinds model.Kinds, log *slog.Logger) (*Store, error) {
	kv, err := b.KV(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{
		b: b, kv: kv, box: box, kinds: kinds, log: log,
		workspaces: map[string]entry[model.Workspace]{},
		tokens:     map[string]entry[model.Token]{},
		byHash:     map[string]*model.Token{},
		streams:    map[string]entry[model.Stream]{},
		byName:     map[string]string{},
		byInlet:    map[string]string{},
		tomb:       map[string]uint64{},
	}
	w, err := kv.WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		return nil, fmt.Errorf("store: watch: %w", err)
	}
	// Initial values, up to the nil marker.
	for e := range w.Updates() {
		if e == nil {
			break
		}
		s.apply(e)
		s.saw(e.Revision())
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					s.apply(e)
					s.saw(e.Revision())
				}
			}
		}
	}()
	return s, nil
}

// saw notes that the watch has applied revision rev (the watch is the
// only caller: writes applied locally do not prove that older revisions
// of other nodes have arrived).
func (s *Store) saw(rev uint64) {
	if rev > s.seen.Load() {
		s.seen.Store(rev)
	}
}

// Sync returns once this node's snapshot holds every configuration write
// made before the call, on any node: the watch has applied the bucket's
// last revision. Reads after it see what other nodes wrote before it
// (the activity feed fans a record out only after the configuration
// written before that record is known here).
func (s *Store) Sync(ctx context.Context) error {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return fmt.Errorf("store: sync: unexpected bucket status %T", st)
	}
	last := bs.StreamInfo().State.LastSeq
	if s.seen.Load() >= last {
		return nil
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for s.seen.Load() < last {
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: sync: %w", ctx.Err())
		case <-t.C: // the watch is a separate goroutine; it catches up within milliseconds
		}
	}
	return nil
}

// Subscribe registers fn for every stream change seen by this node
// (its own writes and other nodes'). fn must not block for long.
func (s *Store) Subscribe(fn func(StreamChange)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// apply folds one KV entry into the snapshot, ignoring stale revisions.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	key, rev := e.Key(), e.Revision()
	del := e.Operation() != jetstream.KeyValuePut
	_, local := e.(localEntry)
	var change *StreamChange
	s.mu.Lock()
	if t, ok := s.tomb[key]; ok {
		switch {
		case del && !local:
			delete(s.tomb, key) // the watch caught up with our delete
		case !del && rev <= t:
			s.mu.Unlock()
			return // a put older than our delete
		}
	}
	switch {
	case strings.HasPrefix(key, "ws."):
		name := strings.TrimPrefix(key, "ws.")
		if old, ok := s.workspaces[name]; ok && old.rev >= rev && !(local && del) {
			break
		}
		if del {
			delete(s.workspaces, name)
			break
		}
		var w model.Workspace
		if json.Unmarshal(e.Value(), &w) == nil {
			s.workspaces[name] = entry[model.Workspace]{&w, rev}
		}
	case strings.HasPrefix(key, "tok."):
		id := strings.TrimPrefix(key, "tok.")
		old, had := s.tokens[id]
		if had && old.rev >= rev && !(local && del) {
			break
		}
		if had {
			delete(s.byHash, old.v.Hash)
		}
		if del {
			delete(s.tokens, id)
			break
		}
		var t model.Token
		if json.Unmarshal(e.Value(), &t) == nil {
			s.tokens[id] = entry[model.Token]{&t, rev}
			s.byHash[t.Hash] = &t
		}
	case strings.HasPrefix(key, "st."):
		id := strings.TrimPrefix(key, "st.")
		old, had := s.streams[id]
		if had && old.rev >= rev && !(local && del) {
			break
		}
		if had {
			delete(s.byName, old.v.Workspace+"/"+old.v.Name)
			delete(s.byInlet, old.v.InletID)
		}
		if del {
			delete(s.streams, id)
			if had {
				change = &StreamChange{Op: Delete, Stream: old.v}
			}
			break
		}
		var st model.Stream
		if json.Unmarshal(e.Value(), &st) == nil {
			s.streams[id] = entry[model.Stream]{&st, rev}
			s.byName[st.Workspace+"/"+st.Name] = id
			s.byInlet[st.InletID] = id
			change = &StreamChange{Op: Put, Stream: &st}
		}
	}
	subs := s.subs
	s.mu.Unlock()
	if change != nil {
		for _, fn := range subs {
			fn(*change)
		}
	}
}

// put writes key with CAS on rev (0: must not exist) and applies the
// result locally at once (read-your-writes).
func (s *Store) put(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
	} else {
		nrev, err = s.kv.Update(ctx, key, b, rev)
		if isWrongRevision(err) {
			return 0, ErrPreconditionFailed
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store: write %s: %w", key, err)
	}
	s.apply(localEntry{key: key, value: b, rev: nrev, op: jetstream.KeyValuePut})
	return nrev, nil
}

func (s *Store) del(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	if err := s.kv.Delete(ctx, key, opts...); err != nil {
		if isWrongRevision(err) {
			return ErrPreconditionFailed
		}
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	// The delete marker's revision is not returned: apply it now and keep
	// a tombstone so that older puts still in the watch do not revive it.
	s.mu.Lock()
	s.tomb[key] = s.revLocked(key)
	s.mu.Unlock()
	s.apply(localEntry{key: key, op: jetstream.KeyValueDelete})
	return nil
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return err != nil && errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func (s *Store) revLocked(key string) uint64 {
	switch {
	case strings.HasPrefix(key, "ws."):
		return s.workspaces[strings.TrimPrefix(key, "ws.")].rev
	case strings.HasPrefix(key, "tok."):
		return s.tokens[strings.TrimPrefix(key, "tok.")].rev
	case strings.HasPrefix(key, "st."):
		return s.streams[strings.TrimPrefix(key, "st.")].rev
	}
	return 0
}

// ETag formats a revision.
func ETag(rev uint64) string { return strconv.FormatUint(rev, 10) }

// ParseETag reads an If-Match value ("12", "\"12\"", W/ prefixes ignored).
func ParseETag(v string) (uint64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil && n > 0
}

type localEntry struct {
	key   string
	value []byte
	rev   uint64
	op    jetstream.KeyValueOp
}

func (e localEntry) Bucket() string                  { return bus.ConfigBucket }
func (e localEntry) Key() string                     { return e.key }
func (e localEntry) Value() []byte                   { return e.value }
func (e localEntry) Revision() uint64                { return e.rev }
func (e localEntry) Created() time.Time              { return time.Now() }
func (e localEntry) Delta() uint64                   { return 0 }
func (e localEntry) Operation() jetstream.KeyValueOp { return e.op }

// sortedValues returns map values sorted by less.
func sortedValues[T any](m map[string]entry[T], keep func(*T) bool, less func(a, b *T) int) []*T {
	out := make([]*T, 0, len(m))
	for _, e := range m {
		if keep(e.v) {
			out = append(out, e.v)
		}
	}
	slices.SortFunc(out, less)
	return out
}
