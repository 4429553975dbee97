package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/internal/model"
)

// Chunking and retry of `runnel send`.
const (
	defaultChunkBytes  = 512 << 10
	defaultChunkEvents = 1000
	// sendAttempts bounds the tries of one chunk.
	sendAttempts = 10
	// maxRetryWait caps a wait asked for by Retry-After.
	maxRetryWait = time.Minute
	// maxBackoff caps the exponential wait (from 250ms) without Retry-After.
	maxBackoff = 10 * time.Second
)

func (a *app) sendCmd() *cobra.Command {
	cf := &clientFlags{}
	var (
		stream     string
		gz         bool
		maxEvents  int
		maxBytes   string
		quietRetry bool
	)
	cmd := &cobra.Command{
		Use:   "send --stream S [FILE|-]",
		Short: "Send events from a file or standard input to a stream",
		Long: `Send events to a stream through the native ingest API
(POST /v1/streams/ingest). The input is NDJSON (one event per line), one
JSON event, or a JSON array of events; each event is an envelope:
  {"timestamp":"2025-02-12T14:32:15Z","source":"app","event":{…},"metadata":{…}}

Events go out in requests of at most --max-events events and --max-bytes
bytes. Each request carries an Idempotency-Key, so a request retried after
a network failure, 429 or 503 (honouring Retry-After, up to 10 tries) is
stored once.`,
		Example: `  runnel send --stream payments events.ndjson
  gzip -dc big.ndjson.gz | runnel send --stream payments --gzip -`,
		Args: cobra.MaximumNArgs(1),
	}
	addClientFlags(cmd.Flags(), cf)
	fs := cmd.Flags()
	fs.StringVarP(&stream, "stream", "s", "", "target stream (id or name)")
	fs.BoolVar(&gz, "gzip", false, "compress requests (Content-Encoding: gzip)")
	fs.IntVar(&maxEvents, "max-events", defaultChunkEvents, "most events per request")
	fs.StringVar(&maxBytes, "max-bytes", "512KiB", "most bytes per request (before compression)")
	fs.BoolVarP(&quietRetry, "quiet", "q", false, "do not report retries")
	_ = cmd.MarkFlagRequired("stream")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		limit, err := model.ParseSize(maxBytes)
		if err != nil || limit < 1024 {
			return fmt.Errorf("--max-bytes %q: want a size of at least 1KiB such as 512KiB", maxBytes)
		}
		if maxEvents < 1 {
			return fmt.Errorf("--max-events %d: must be at least 1", maxEvents)
		}
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		in := a.stdin
		src := "standard input"
		if len(args) == 0 && isTerminal(in) {
			return errors.New("no input: give a FILE, or pipe events into standard input (\"-\" reads a terminal)")
		}
		if len(args) == 1 && args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in, src = f, args[0]
		}
		s := &sender{
			app: a, c: c, stream: stream, gzip: gz, quiet: quietRetry,
			maxEvents: maxEvents, maxBytes: int(limit), runID: newRunID(),
		}
		err = s.run(cmd.Context(), in)
		if err != nil {
			if s.events == 0 {
				return err
			}
			a.report(err)
			fmt.Fprintf(a.stderr, "sent %d events in %d requests before the error (from %s)\n", s.events, s.requests, src)
			return errReported
		}
		msg := fmt.Sprintf("sent %d events in %d requests", s.events, s.requests)
		if s.retries > 0 {
			msg += fmt.Sprintf(" (%d retried)", s.retries)
		}
		fmt.Fprintln(a.stdout, msg)
		return nil
	})
	return cmd
}

func newRunID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sender chunks events into ingest requests.
type sender struct {
	*app
	c         *client
	stream    string
	gzip      bool
	quiet     bool
	maxEvents int
	maxBytes  int
	runID     string

	// chunk being filled: NDJSON lines
	buf bytes.Buffer
	n   int

	requests, events, retries int
}

// run reads every event of in and sends them.
func (s *sender) run(ctx context.Context, in io.Reader) error {
	err := readEvents(in, func(ev []byte) error {
		if s.n > 0 && (s.n >= s.maxEvents || s.buf.Len()+len(ev)+1 > s.maxBytes) {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		s.buf.Write(ev)
		s.buf.WriteByte('\n')
		s.n++
		return nil
	})
	if err != nil {
		return err
	}
	if s.n > 0 {
		return s.flush(ctx)
	}
	return nil
}

// flush sends the chunk, retrying what can be retried.
func (s *sender) flush(ctx context.Context) error {
	chunk := s.requests + 1
	body := s.buf.Bytes()
	h := http.Header{}
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Stream-Id", s.stream)
	h.Set("Idempotency-Key", fmt.Sprintf("runnel-send-%s-%d", s.runID, chunk))
	if s.gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = zb.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	for attempt := 1; ; attempt++ {
		_, err := s.c.send(ctx, request{method: http.MethodPost, path: "/v1/streams/ingest", body: body, header: h})
		if err == nil {
			break
		}
		wait, retry := s.retryable(err, attempt)
		if !retry || attempt >= sendAttempts || ctx.Err() != nil {
			var ae *APIError
			if errors.As(err, &ae) {
				ae.Context = fmt.Sprintf("request %d (events %d-%d)", chunk, s.events+1, s.events+s.n)
				return ae
			}
			return fmt.Errorf("request %d (events %d-%d): %w", chunk, s.events+1, s.events+s.n, err)
		}
		s.retries++
		if !s.quiet {
			fmt.Fprintf(s.stderr, "retrying request %d in %s (attempt %d of %d): %v\n", chunk, wait, attempt+1, sendAttempts, err)
		}
		if err := s.sleep(ctx, wait); err != nil {
			return err
		}
	}
	s.requests++
	s.events += s.n
	s.buf.Reset()
	s.n = 0
	return nil
}

// retryable decides whether a failed request is tried again, and when:
// 429 and 503 (after Retry-After), 502 and 504, and network failures —
// except a refused connection before anything was sent.
func (s *sender) retryable(err error, attempt int) (time.Duration, bool) {
	backoff := min(time.Duration(1<<min(attempt-1, 8))*250*time.Millisecond, maxBackoff)
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if d, ok := parseRetryAfter(ae.RetryAfter, s.now()); ok {
				return min(d, maxRetryWait), true
			}
			return backoff, true
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			return backoff, true
		}
		return 0, false
	}
	if errors.Is(err, context.Canceled) {
		return 0, false
	}
	if s.requests == 0 && errors.Is(err, syscall.ECONNREFUSED) {
		return 0, false // nothing listens there: a wrong --url, or no server
	}
	return backoff, true // transport failure: the key makes a resend safe
}

// parseRetryAfter reads Retry-After: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// readEvents calls fn with each event of in, compacted to one line: in is
// NDJSON (or any sequence of JSON objects), or one JSON array of objects.
func readEvents(in io.Reader, fn func(ev []byte) error) error {
	br := bufio.NewReaderSize(in, 256<<10)
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	var line bytes.Buffer
	n := 0
	emit := func(raw json.RawMessage) error {
		n++
		if len(raw) == 0 || raw[0] != '{' {
			return fmt.Errorf("event %d is not a JSON object (want an event envelope {\"timestamp\",\"source\",\"event\"})", n)
		}
		line.Reset()
		if err := json.Compact(&line, raw); err != nil {
			return fmt.Errorf("event %d: %w", n, err)
		}
		return fn(line.Bytes())
	}
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("input: %w", err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("event %d (input offset %d): invalid JSON: %w", n+1, dec.InputOffset(), err)
			}
			if err := emit(raw); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("input: unterminated JSON array: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return fmt.Errorf("input: unexpected data after the JSON array (offset %d)", dec.InputOffset())
		}
		return nil
	}
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("event %d (input offset %d): invalid JSON: %w", n+1, dec.InputOffset(), err)
		}
		if err := emit(raw); err != nil {
			return err
		}
	}
}

// peekNonSpace returns the first byte that is not white space (or a
// UTF-8 byte order mark) without consuming it.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
