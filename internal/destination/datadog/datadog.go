package datadog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Limits of the Datadog logs intake, per request, and timeouts.
const (
	// MaxPayloadBytes is the largest uncompressed payload (5 MB).
	MaxPayloadBytes = 5_000_000
	// MaxLogBytes is the largest single log (1 MB); Datadog would
	// truncate a larger one, so it is dead-lettered instead.
	MaxLogBytes = 1_000_000
	// MaxLogs is the most logs in one payload.
	MaxLogs = 1000
	// RequestTimeout bounds one request, response included.
	RequestTimeout = 20 * time.Second
	// Source is the ddsource given to logs that have none.
	Source = "runnel"
)

// Kind describes the datadog destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:   "datadog",
		Config: func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("datadog destination: config is %T, want *datadog.Config", c)
			}
			return New(cfg, d)
		},
		Batch:  model.Batch{MaxEvents: 1000, MaxAge: model.Duration(60 * time.Second)},
		Limits: destination.Limits{MaxEvents: MaxLogs, MaxBytes: MaxPayloadBytes, MaxRecord: MaxLogBytes},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// Destination sends batches to the Datadog logs intake. It is safe for
// concurrent use.
type Destination struct {
	intakeURL, validateURL string
	key                    string
	service                []byte // `"service":"<stream>"`, nil when the stream is unknown
	maxPayload, maxLogs    int
	client                 *http.Client
	ownsTransport          bool
	redact                 *strings.Replacer
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("datadog destination: invalid settings: %w", errs)
	}
	e, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("datadog destination: url %w", err)
	}
	key := strings.TrimSpace(c.APIKey)
	d := &Destination{
		intakeURL:   e.intake,
		validateURL: e.validate,
		key:         key,
		maxPayload:  MaxPayloadBytes,
		maxLogs:     MaxLogs,
	}
	if deps.Stream != "" {
		q, _ := json.Marshal(deps.Stream)
		d.service = append([]byte(`"service":`), q...)
	}
	pairs := []string{key, "[redacted]"}
	for _, vs := range e.query {
		for _, v := range vs {
			if len(v) >= 4 {
				pairs = append(pairs, v, "[redacted]")
			}
		}
	}
	d.redact = strings.NewReplacer(pairs...)
	var rt http.RoundTripper
	if deps.HTTPClient != nil && deps.HTTPClient.Transport != nil {
		rt = deps.HTTPClient.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		rt, d.ownsTransport = t, true
	}
	d.client = &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

// Close releases the idle connections of the destination's own transport.
func (d *Destination) Close(context.Context) error {
	if d.ownsTransport {
		d.client.CloseIdleConnections()
	}
	return nil
}

// Check validates the API key with GET /api/v1/validate on the site's API
// host (api.<site> for an http-intake.logs.<site> url, else the url's
// host).
func (d *Destination) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.validateURL, nil)
	if err != nil {
		return errors.New("cannot build the request: invalid url")
	}
	d.setHeaders(req)
	resp, err := d.client.Do(req)
	if err != nil {
		return d.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var v struct {
			Valid *bool `json:"valid"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &v) == nil && v.Valid != nil && !*v.Valid {
			return errors.New("API key rejected: Datadog says it is not valid (check api_key)")
		}
		return nil
	}
	se := &httpdest.StatusError{Code: resp.StatusCode, Body: d.readBody(resp.Body)}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return &wrapped{msg: "API key rejected (check api_key and that the url is your Datadog site's): " + se.Error(), err: se}
	}
	return se
}

func (d *Destination) setHeaders(req *http.Request) {
	req.Header.Set("DD-API-KEY", d.key)
	req.Header.Set("User-Agent", "runnel")
}

// Deliver sends the records as Datadog logs (see the package doc for the
// shape; the payload options do not apply): JSON arrays of at most 1000
// logs and 5 MB, gzip-compressed, halving a payload answered 413.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	n := len(b.Records)
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	res := destination.NewResults(n)
	logs := make([][]byte, n)
	var chunks [][]int
	var cur []int
	size := 2 // [ ]
	for i, r := range b.Records {
		if len(r) > MaxLogBytes {
			res.Fail(i, retry.Permanent(fmt.Errorf("log of %d bytes exceeds Datadog's %d-byte limit per log", len(r), MaxLogBytes)))
			continue
		}
		l, err := d.entry(r)
		if err != nil {
			res.Fail(i, retry.Permanent(err))
			continue
		}
		if len(l) > MaxLogBytes || len(l)+2 > d.maxPayload {
			res.Fail(i, retry.Permanent(fmt.Errorf("log of %d bytes (%d with ddsource and service) exceeds Datadog's %d-byte limit per log",
				len(r), len(l), min(MaxLogBytes, d.maxPayload-2))))
			continue
		}
		logs[i] = l
		if len(cur) > 0 && (len(cur) >= d.maxLogs || size+1+len(l) > d.maxPayload) {
			chunks = append(chunks, cur)
			cur, size = nil, 2
		}
		if len(cur) > 0 {
			size++ // ,
		}
		cur = append(cur, i)
		size += len(l)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	// A stack, so that the halves of a 413 chunk go next, in order.
	stack := make([][]int, 0, len(chunks))
	for i := len(chunks) - 1; i >= 0; i-- {
		stack = append(stack, chunks[i])
	}
	for len(stack) > 0 {
		chunk := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		halves, stop := d.send(ctx, logs, chunk, res)
		if halves[0] != nil {
			stack = append(stack, halves[1], halves[0])
			continue
		}
		if stop != nil {
			for _, c := range stack {
				for _, i := range c {
					res.Fail(i, stop)
				}
			}
			break
		}
	}
	return res.Err()
}

// entry returns the log entry for a record: the record's own object with
// "ddsource":"runnel" and "service":"<stream>" added when it has no such
// field; a record that is not an object becomes {"message": record}.
func (d *Destination) entry(r []byte) ([]byte, error) {
	r = trimSpace(r)
	var probe struct {
		DDSource json.RawMessage `json:"ddsource"`
		Service  json.RawMessage `json:"service"`
	}
	isObject := true
	if err := json.Unmarshal(r, &probe); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok || len(r) == 0 {
			return nil, fmt.Errorf("record is not valid JSON: %v", err)
		}
		isObject = false
	}
	if isObject && r[0] != '{' { // null
		isObject = false
	}
	out := make([]byte, 0, len(r)+64)
	out = append(out, '{')
	sep := false
	if probe.DDSource == nil {
		out = append(out, `"ddsource":"`+Source+`"`...)
		sep = true
	}
	if probe.Service == nil && d.service != nil {
		if sep {
			out = append(out, ',')
		}
		out = append(out, d.service...)
		sep = true
	}
	if !isObject {
		if sep {
			out = append(out, ',')
		}
		out = append(out, `"message":`...)
		out = append(out, r...)
		return append(out, '}'), nil
	}
	rest := trimSpace(r[1:]) // after '{'
	if sep && len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// trimSpace trims JSON whitespace (space, tab, CR, LF) only.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// send posts one chunk. It records the outcome of its logs in res and
// returns the halves to send instead (413), or an error for the chunks not
// sent yet when sending more is pointless.
func (d *Destination) send(ctx context.Context, logs [][]byte, chunk []int, res *destination.Results) (halves [2][]int, stop error) {
	failAll := func(err error) {
		for _, i := range chunk {
			res.Fail(i, err)
		}
	}
	body, raw, err := d.payload(logs, chunk)
	if err != nil {
		failAll(err)
		return halves, nil
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.intakeURL, bytes.NewReader(body))
	if err != nil {
		err = retry.Permanent(errors.New("cannot build the request: invalid url"))
		failAll(err)
		return halves, err
	}
	d.setHeaders(req)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := d.client.Do(req)
	if err != nil {
		err = d.transportError(ctx, err)
		failAll(err)
		return halves, err
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		drain(resp.Body)
		return halves, nil
	case code == http.StatusRequestEntityTooLarge:
		drain(resp.Body)
		if len(chunk) == 1 {
			res.Fail(chunk[0], retry.Permanent(&wrapped{
				msg: fmt.Sprintf("log of %d bytes (payload of %d bytes) is too large for the intake (status 413)", len(logs[chunk[0]]), raw),
				err: &httpdest.StatusError{Code: code},
			}))
			return halves, nil
		}
		h := len(chunk) / 2
		return [2][]int{chunk[:h], chunk[h:]}, nil
	}
	se := &httpdest.StatusError{Code: code, Body: d.readBody(resp.Body)}
	drain(resp.Body)
	var e error
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e = retry.Permanent(&wrapped{msg: "API key rejected (check api_key and that the url is your Datadog site's): " + se.Error(), err: se})
	case !se.Retryable():
		// 400: the payload was refused; other requests may go.
		e = retry.Permanent(se)
		if code == http.StatusBadRequest {
			failAll(e)
			return halves, nil
		}
	default:
		e = se
		if ra, ok := httpdest.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e = retry.After(ra, se)
		}
	}
	failAll(e)
	return halves, e
}

var gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// payload returns the gzipped JSON array of the chunk's logs and its
// uncompressed size.
func (d *Destination) payload(logs [][]byte, chunk []int) ([]byte, int, error) {
	var buf bytes.Buffer
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	zw.Reset(&buf)
	raw := 0
	write := func(p []byte) {
		raw += len(p)
		zw.Write(p) // writes to a bytes.Buffer do not fail
	}
	write([]byte{'['})
	for k, i := range chunk {
		if k > 0 {
			write([]byte{','})
		}
		write(logs[i])
	}
	write([]byte{']'})
	if err := zw.Close(); err != nil {
		return nil, 0, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), raw, nil
}

// transportError turns a client error into an error without the URL: the
// caller's ctx errors stay ctx errors, timeouts are DeadlineExceeded.
func (d *Destination) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("request aborted: %w", ctxErr)
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &wrapped{msg: fmt.Sprintf("request timed out after %s", RequestTimeout), err: context.DeadlineExceeded}
	}
	return &wrapped{msg: "request failed: " + d.redact.Replace(inner.Error()), err: inner}
}

// readBody reads the start of an error response, cleaned for a message.
func (d *Destination) readBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
	s := d.redact.Replace(strings.ToValidUTF8(string(b), "\uFFFD"))
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > 512 {
		cut := 512
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// wrapped is an error with its own message that unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, 64<<10) }
