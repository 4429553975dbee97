package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// s3Prefix starts the object keys of every e2e run; each run adds its own
// segment, so objects of earlier runs in the same bucket are not counted.
const s3Prefix = "loadgen"

// s3Receiver counts the events in the objects an S3 gateway with a posix
// backend (versitygw posix DIR) wrote under DIR/bucket/prefix: each object
// is a file, and each of its NDJSON lines one event. A file appears whole
// (the gateway writes a temporary file and links it into place), and its
// modification time is when it was written.
type s3Receiver struct {
	root   string // DIR/bucket/prefix
	prefix string // object key prefix of this run
	ids    *idSet // with -verify

	mu      sync.Mutex
	seen    map[string]struct{}
	n       int64
	objects int64
	bytes   int64
	bad     int64 // unreadable objects (counted when read again)
	last    time.Time
}

func newS3Receiver(dir, bucket string, verify bool) (*s3Receiver, error) {
	bdir := filepath.Join(dir, bucket)
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return nil, fmt.Errorf("-s3-dir: create the bucket: %w", err)
	}
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	s := &s3Receiver{
		root:   filepath.Join(bdir, s3Prefix, run),
		prefix: s3Prefix + "/" + run,
		seen:   map[string]struct{}{},
	}
	if verify {
		s.ids = &idSet{}
	}
	return s, nil
}

func (s *s3Receiver) count() (int64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scan()
	return s.n, s.last
}

// scan reads the objects not seen yet. Errors (the prefix does not exist
// yet, a file that cannot be read now) leave the object for the next scan.
func (s *s3Receiver) scan() {
	_ = filepath.WalkDir(s.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if p != s.root && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir // the gateway's temporary files
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		if _, ok := s.seen[p]; ok {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		n, err := s.countObject(b)
		if err != nil {
			s.bad++
			return nil
		}
		s.seen[p] = struct{}{}
		s.n += n
		s.objects++
		s.bytes += int64(len(b))
		if t := fi.ModTime(); t.After(s.last) {
			s.last = t
		}
		return nil
	})
}

// countObject counts (and with -verify notes the ids of) the NDJSON lines
// of one object, gunzipped when it is gzip.
func (s *s3Receiver) countObject(b []byte) (int64, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		if b, err = io.ReadAll(io.LimitReader(zr, 1<<30)); err != nil {
			return 0, err
		}
	}
	if s.ids != nil {
		return s.ids.addLines(b), nil
	}
	return countLines(b), nil
}

func (s *s3Receiver) requests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects
}

func (s *s3Receiver) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("S3 gateway, objects under %s (key prefix %s): %d objects, %.1f MB, %d unreadable reads", s.root, s.prefix, s.objects, float64(s.bytes)/1e6, s.bad)
}

func (s *s3Receiver) close() {}

// verify checks the ids noted while counting (every object was read).
func (s *s3Receiver) verify(_ context.Context, want int64) (*verifyResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		return nil, fmt.Errorf("s3: started without -verify")
	}
	s.scan()
	return s.ids.result(s.n, want), nil
}
