package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// sink is an HTTP receiver that counts delivered NDJSON lines.
type sink struct {
	status int
	reqs   atomic.Int64
	lines  atomic.Int64
	bytes  atomic.Int64
	bad    atomic.Int64 // unreadable bodies
	last   atomic.Int64 // unix nanos of the last request with lines
	bufs   sync.Pool
}

// countLines counts NDJSON records: newline-terminated lines plus a last
// line without a newline; empty lines are not records.
func countLines(b []byte) int64 {
	var n int64
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var ln []byte
		if i < 0 {
			ln, b = b, nil
		} else {
			ln, b = b[:i], b[i+1:]
		}
		if len(bytes.TrimSpace(ln)) > 0 {
			n++
		}
	}
	return n
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() { buf.Reset(); s.bufs.Put(buf) }()
	var src io.Reader = http.MaxBytesReader(w, r.Body, 64<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			s.bad.Add(1)
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		defer zr.Close()
		src = io.LimitReader(zr, 256<<20)
	}
	if _, err := buf.ReadFrom(src); err != nil {
		s.bad.Add(1)
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	s.reqs.Add(1)
	if s.status != http.StatusOK {
		// Nothing is delivered: the destination refuses the batch.
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(s.status)
		return
	}
	s.bytes.Add(int64(buf.Len()))
	if n := countLines(buf.Bytes()); n > 0 {
		s.lines.Add(n)
		s.last.Store(time.Now().UnixNano())
	}
	w.WriteHeader(http.StatusOK)
}

// start listens on addr and serves until ctx ends; it returns the bound
// address and a channel closed when the server has stopped.
func (s *sink) start(ctx context.Context, addr string) (string, <-chan struct{}, error) {
	return serve(ctx, addr, s)
}

// serve runs h on addr until ctx ends, like sink.start.
func serve(ctx context.Context, addr string, h http.Handler) (string, <-chan struct{}, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("sink:", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), done, nil
}

// runSink is -mode sink: count deliveries and print a line per second.
func runSink(ctx context.Context, c *config, out io.Writer) error {
	s := &sink{status: c.sinkStatus}
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	addr, done, err := s.start(ctx, c.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sink: listening on http://%s/ (answers %d) for %s\n", addr, c.sinkStatus, c.duration)
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var pl, pr, pb int64
	last := start
	for {
		select {
		case <-done:
			fmt.Fprintf(out, "sink: total %d events delivered in %d requests, %d bytes, %d unreadable bodies, %.1fs\n",
				s.lines.Load(), s.reqs.Load(), s.bytes.Load(), s.bad.Load(), time.Since(start).Seconds())
			return nil
		case now := <-t.C:
			sec := now.Sub(last).Seconds()
			last = now
			l, r, b := s.lines.Load(), s.reqs.Load(), s.bytes.Load()
			if !c.quiet {
				fmt.Fprintf(out, "%6.1fs delivered events/s=%-9.0f req/s=%-6.0f MB/s=%-7.1f total=%d\n",
					now.Sub(start).Seconds(), float64(l-pl)/sec, float64(r-pr)/sec, float64(b-pb)/sec/1e6, l)
			}
			pl, pr, pb = l, r, b
		}
	}
}
