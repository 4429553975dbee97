package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCacheCompilesOncePerVersion(t *testing.T) {
	c := NewCache(0, 0)
	t0 := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	v1 := json.RawMessage(`{"required":["a"]}`)

	s1, err := c.Get("str_1", t0, v1)
	if err != nil || s1 == nil {
		t.Fatal(s1, err)
	}
	// The same version, even as a copy of the text: the same schema.
	if s, _ := c.Get("str_1", t0, json.RawMessage(string(v1))); s != s1 {
		t.Fatal("recompiled the same version")
	}
	// A new version (UpdatedAt or text) replaces it.
	s2, _ := c.Get("str_1", t0.Add(time.Second), v1)
	if s2 == s1 || s2 == nil {
		t.Fatal("a new UpdatedAt did not recompile")
	}
	v2 := json.RawMessage(`{"required":["b"]}`)
	s3, _ := c.Get("str_1", t0.Add(time.Second), v2)
	if s3 == s2 || len(s3.Validate([]byte(`{"a":1}`))) != 1 {
		t.Fatal("a new schema text with the same UpdatedAt was not compiled")
	}
	if c.Len() != 1 {
		t.Fatalf("%d entries for one stream", c.Len())
	}
	// The schema removed: the entry goes.
	if s, err := c.Get("str_1", t0.Add(2*time.Second), nil); s != nil || err != nil || c.Len() != 0 {
		t.Fatal(s, err, c.Len())
	}
	if _, err := c.Get("str_1", t0, v1); err != nil {
		t.Fatal(err)
	}
	// No schema: nothing cached.
	for _, raw := range []json.RawMessage{nil, json.RawMessage("null")} {
		if s, err := c.Get("str_2", t0, raw); s != nil || err != nil {
			t.Fatal(s, err)
		}
	}
	// A schema that does not compile keeps its error.
	_, err1 := c.Get("str_3", t0, json.RawMessage(`{"$ref":"https://example.com/x"}`))
	_, err2 := c.Get("str_3", t0, json.RawMessage(`{"$ref":"https://example.com/x"}`))
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v, %v", err1, err2)
	}
	// A deleted stream is forgotten.
	c.Forget("str_1")
	c.Forget("str_3")
	c.Forget("nope")
	if c.Len() != 0 || c.bytes != 0 {
		t.Fatalf("%d entries, %d bytes after Forget", c.Len(), c.bytes)
	}
}

func TestCacheBounds(t *testing.T) {
	c := NewCache(3, 100)
	t0 := time.Now()
	get := func(id string, raw string) {
		t.Helper()
		if _, err := c.Get(id, t0, json.RawMessage(raw)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		get(fmt.Sprint("s", i), `{"title":"`+fmt.Sprint(i)+`"}`)
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries, at most 3", c.Len())
	}
	// The least recently used goes first: s2 was used, s3 was not.
	get("s2", `{"title":"2"}`)
	get("s5", `{"title":"5"}`)
	c.mu.RLock()
	_, has2 := c.m["s2"]
	_, has3 := c.m["s3"]
	c.mu.RUnlock()
	if !has2 || has3 {
		t.Fatalf("evicted the wrong entry: s2 %v, s3 %v", has2, has3)
	}
	// Bytes: a large schema pushes the others out, but stays itself.
	get("big", `{"description":"`+strings.Repeat("x", 200)+`"}`)
	if c.Len() != 1 || c.bytes > 300 {
		t.Fatalf("%d entries, %d bytes", c.Len(), c.bytes)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(8, 0)
	t0 := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprint("s", (g+i)%12)
				s, err := c.Get(id, t0, json.RawMessage(`{"properties":{"n":{"maximum":`+id[1:]+`}}}`))
				if err != nil || s == nil {
					t.Error(err)
					return
				}
				if v := s.Validate([]byte(`{"n":100}`)); len(v) != 1 {
					t.Errorf("violations %v", v)
					return
				}
				if i%50 == 0 {
					c.Forget(id)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 8 {
		t.Fatalf("%d entries, at most 8", c.Len())
	}
}
