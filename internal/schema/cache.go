package schema

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Cache defaults.
const (
	DefaultCacheEntries = 1024
	DefaultCacheBytes   = 64 << 20 // of raw schema text
)

// Cache keeps the compiled schema of each stream version, so that ingest
// compiles a stream's schema once per version. An entry is keyed by stream
// id and replaced when the stream's UpdatedAt or schema text changes; it
// goes when a Get finds the schema removed, and Forget drops a deleted
// stream's. It is bounded (entries and raw schema bytes;
// the least recently used go first) and safe for concurrent use. A schema
// that does not compile is cached with its error, so it is not compiled
// again for every request.
type Cache struct {
	maxEntries, maxBytes int

	mu    sync.RWMutex
	m     map[string]*entry
	bytes int
	clock atomic.Uint64 // use counter for least-recently-used eviction
}

type entry struct {
	updated time.Time
	raw     []byte // the stream's schema text (shared, never modified)
	used    atomic.Uint64

	once sync.Once
	sch  *Schema
	err  error
}

// NewCache returns a cache of at most maxEntries schemas and maxBytes of
// schema text; zero or negative takes the defaults.
func NewCache(maxEntries, maxBytes int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	return &Cache{maxEntries: maxEntries, maxBytes: maxBytes, m: map[string]*entry{}}
}

// Get returns the compiled schema of a stream version: nil, nil when raw
// holds no schema; the Compile error when it does not compile.
func (c *Cache) Get(streamID string, updated time.Time, raw json.RawMessage) (*Schema, error) {
	if !IsSet(raw) {
		c.mu.RLock()
		stale := c.m[streamID] != nil
		c.mu.RUnlock()
		if stale { // the stream's schema was removed
			c.Forget(streamID)
		}
		return nil, nil
	}
	c.mu.RLock()
	e := c.m[streamID]
	c.mu.RUnlock()
	if e == nil || !e.updated.Equal(updated) || !sameBytes(e.raw, raw) {
		e = c.put(streamID, updated, raw)
	}
	e.used.Store(c.clock.Add(1))
	e.once.Do(func() { e.sch, e.err = Compile(e.raw) })
	return e.sch, e.err
}

func (c *Cache) put(streamID string, updated time.Time, raw []byte) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[streamID]; e != nil {
		if e.updated.Equal(updated) && sameBytes(e.raw, raw) {
			return e // another request got here first
		}
		c.bytes -= len(e.raw)
	}
	e := &entry{updated: updated, raw: raw}
	e.used.Store(c.clock.Add(1))
	c.m[streamID] = e
	c.bytes += len(raw)
	for len(c.m) > c.maxEntries || (c.bytes > c.maxBytes && len(c.m) > 1) {
		c.evictOldest(streamID)
	}
	return e
}

// evictOldest drops the least recently used entry other than keep's.
func (c *Cache) evictOldest(keep string) {
	var oldest string
	var at uint64
	found := false
	for id, e := range c.m {
		if id == keep {
			continue
		}
		if u := e.used.Load(); !found || u < at {
			oldest, at, found = id, u, true
		}
	}
	if found {
		c.bytes -= len(c.m[oldest].raw)
		delete(c.m, oldest)
	}
}

// Forget drops the entry of a stream (deleted, or no longer of interest).
func (c *Cache) Forget(streamID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[streamID]; e != nil {
		c.bytes -= len(e.raw)
		delete(c.m, streamID)
	}
}

// Len is the number of cached schemas.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// sameBytes compares two schema texts, cheaply when they share memory
// (the store hands out the same stream value until it changes).
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return bytes.Equal(a, b)
}
