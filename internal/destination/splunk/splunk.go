package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Limits and timeouts.
const (
	// MaxRequestBytes bounds one request body: Splunk Cloud's HEC
	// max_content_length (1 MB). Splunk Enterprise defaults to 800 MiB;
	// smaller requests are what Splunk recommends anyway.
	MaxRequestBytes = 1_000_000
	// envelopeReserve is room kept for the HEC envelope of an event
	// (time, host, source, sourcetype, index: each at most 255 bytes).
	envelopeReserve = 2048
	// MaxEventBytes is the largest record sent.
	MaxEventBytes = MaxRequestBytes - envelopeReserve
	// RequestTimeout bounds one request, response included.
	RequestTimeout = 20 * time.Second
	// TimestampField is the record field "time" is taken from.
	TimestampField = "timestamp"
)

// Kind describes the splunk destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:   "splunk",
		Config: func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("splunk destination: config is %T, want *splunk.Config", c)
			}
			return New(cfg, d)
		},
		Batch:  model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)},
		Limits: destination.Limits{MaxBytes: MaxRequestBytes, MaxRecord: MaxEventBytes},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// Destination sends batches to a Splunk HTTP Event Collector. It is safe
// for concurrent use.
type Destination struct {
	eventURL, healthURL string
	auth                string
	meta                []byte // `,"host":…,"event":` between time and the record
	maxBody             int
	client              *http.Client
	ownsTransport       bool
	redact              *strings.Replacer
	now                 func() time.Time
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("splunk destination: invalid settings: %w", errs)
	}
	e, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("splunk destination: url %w", err)
	}
	host := e.host
	if host == "" {
		host, _ = os.Hostname()
		if host == "" {
			host = "runnel"
		}
	}
	source := e.source
	if source == "" {
		source = "runnel"
		if deps.Stream != "" {
			source = "runnel:" + deps.Stream
		}
	}
	sourcetype := e.sourcetype
	if sourcetype == "" {
		sourcetype = jsonSourcetype
	}
	meta := appendField(nil, "host", truncate(host, maxMetaLen))
	meta = appendField(meta, "source", truncate(source, maxMetaLen))
	meta = appendField(meta, "sourcetype", sourcetype)
	if e.index != "" {
		meta = appendField(meta, "index", e.index)
	}
	meta = append(meta, `,"event":`...)
	token := strings.TrimSpace(c.APIKey)
	d := &Destination{
		eventURL:  e.event,
		healthURL: e.health,
		auth:      "Splunk " + token,
		meta:      meta,
		maxBody:   MaxRequestBytes,
		now:       time.Now,
	}
	pairs := []string{d.auth, "[redacted]", token, "[redacted]"}
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

func appendField(b []byte, k, v string) []byte {
	q, _ := json.Marshal(v)
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return append(b, q...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Close releases the idle connections of the destination's own transport.
func (d *Destination) Close(context.Context) error {
	if d.ownsTransport {
		d.client.CloseIdleConnections()
	}
	return nil
}

// Deliver sends the records (each a JSON value; the payload options do
// not apply) as HEC event objects, concatenated, in requests of at most
// 1 MB. An event HEC rejects (invalid-event-number) is dead-lettered and
// the events after it are sent again.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	n := len(b.Records)
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	res := destination.NewResults(n)
	envs := make([][]byte, n)
	pending := make([]int, 0, n)
	now := d.now()
	for i, r := range b.Records {
		if len(r) > MaxEventBytes {
			res.Fail(i, retry.Permanent(fmt.Errorf("event of %d bytes exceeds the %d-byte event limit", len(r), MaxEventBytes)))
			continue
		}
		env, err := d.envelope(r, now)
		if err != nil {
			res.Fail(i, retry.Permanent(err))
			continue
		}
		if len(env) > d.maxBody {
			res.Fail(i, retry.Permanent(fmt.Errorf("event of %d bytes (%d with its HEC envelope) exceeds the %d-byte request limit",
				len(r), len(env), d.maxBody)))
			continue
		}
		envs[i] = env
		pending = append(pending, i)
	}
	perReq := len(pending) // events per request; halved after a rejection
	for pos := 0; pos < len(pending); {
		end, size := pos, 0
		for end < len(pending) && end-pos < perReq && size+len(envs[pending[end]]) <= d.maxBody {
			size += len(envs[pending[end]])
			end++
		}
		chunk := pending[pos:end]
		o := d.post(ctx, envs, chunk, size)
		switch {
		case o.whole != nil:
			for _, i := range pending[pos:] {
				res.Fail(i, o.whole)
			}
			return res.Err()
		case o.tooLarge:
			if len(chunk) == 1 {
				res.Fail(chunk[0], retry.Permanent(&wrapped{
					msg: fmt.Sprintf("event of %d bytes (with its HEC envelope) exceeds the collector's max_content_length (status 413)", size),
					err: &httpdest.StatusError{Code: http.StatusRequestEntityTooLarge},
				}))
				pos++
				continue
			}
			perReq = max(1, len(chunk)/2)
		case o.rejected >= 0:
			o.err.Event = chunk[o.rejected]
			res.Fail(chunk[o.rejected], retry.Permanent(o.err))
			pos += o.rejected + 1
			perReq = max(1, len(chunk)/2)
		default:
			pos = end
			perReq = min(len(pending), 2*perReq)
		}
	}
	return res.Err()
}

// outcome is the result of one request.
type outcome struct {
	whole    error     // the request failed as a whole: stop
	tooLarge bool      // 413: send fewer events
	rejected int       // index in the chunk of the event HEC rejected, -1
	err      *HECError // the rejection
}

// envelope returns the HEC event object for a record.
func (d *Destination) envelope(r []byte, now time.Time) ([]byte, error) {
	var probe struct {
		Timestamp json.RawMessage `json:"timestamp"`
	}
	t := now
	if err := json.Unmarshal(r, &probe); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
			return nil, fmt.Errorf("record is not valid JSON: %v", err)
		}
	} else if ts, ok := parseTimestamp(probe.Timestamp); ok {
		t = ts
	}
	env := make([]byte, 0, len(r)+len(d.meta)+32)
	env = append(env, `{"time":`...)
	env = appendTime(env, t)
	env = append(env, d.meta...)
	env = append(env, bytes.TrimSpace(r)...)
	return append(env, '}'), nil
}

// parseTimestamp reads an RFC 3339 string or a number of seconds,
// milliseconds, microseconds or nanoseconds since the epoch (told apart
// by magnitude, as Splunk does).
func parseTimestamp(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || t.Unix() < 0 {
			return time.Time{}, false
		}
		return t, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false
	}
	switch {
	case f >= 1e17:
		return time.Unix(0, int64(f)), true
	case f >= 1e14:
		return time.UnixMicro(int64(f)), true
	case f >= 1e11:
		return time.UnixMilli(int64(f)), true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// appendTime appends t as epoch seconds with milliseconds: 1714564815.123.
func appendTime(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	f := ms % 1000
	if f < 100 {
		b = append(b, '0')
	}
	if f < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, f, 10)
}

// post sends the events of chunk in one request.
func (d *Destination) post(ctx context.Context, envs [][]byte, chunk []int, size int) outcome {
	o := outcome{rejected: -1}
	body := make([]byte, 0, size)
	for _, i := range chunk {
		body = append(body, envs[i]...)
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.eventURL, bytes.NewReader(body))
	if err != nil {
		o.whole = retry.Permanent(errors.New("cannot build the request: invalid url"))
		return o
	}
	d.setHeaders(req)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		o.whole = d.transportError(ctx, err)
		return o
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		drain(resp.Body)
		return o
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		drain(resp.Body)
		o.tooLarge = true
		return o
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	he := d.hecError(resp.StatusCode, raw)
	if info, ok := Codes[he.Code]; ok && info.PerEvent {
		if r, err := DecodeResponse(raw); err == nil && r.InvalidEventNumber != nil {
			if k := *r.InvalidEventNumber; k >= 0 && k < len(chunk) {
				o.rejected, o.err = k, he
				return o
			}
		}
	}
	switch {
	case !he.Retryable():
		o.whole = retry.Permanent(he)
	default:
		o.whole = he
		if ra, ok := httpdest.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			o.whole = retry.After(ra, he)
		}
	}
	return o
}

func (d *Destination) hecError(status int, raw []byte) *HECError {
	r, err := DecodeResponse(raw)
	he := classify(status, r, err == nil, clean(string(raw), 512))
	he.Text = d.redact.Replace(he.Text)
	return he
}

func (d *Destination) setHeaders(req *http.Request) {
	req.Header.Set("Authorization", d.auth)
	req.Header.Set("User-Agent", "runnel")
}

// Check asks the collector's health endpoint, then validates the token
// with an empty request to the event endpoint: HEC checks the token first
// and answers code 5 (No data) when it is valid.
func (d *Destination) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	status, raw, err := d.roundTrip(ctx, http.MethodGet, d.healthURL)
	if err != nil {
		return err
	}
	if status < 200 || status >= 300 {
		he := d.hecError(status, raw)
		return &wrapped{msg: "HEC health check failed: " + he.Error(), err: he}
	}
	status, raw, err = d.roundTrip(ctx, http.MethodPost, d.eventURL)
	if err != nil {
		return err
	}
	if status >= 200 && status < 300 {
		return nil
	}
	he := d.hecError(status, raw)
	switch he.Code {
	case CodeNoData:
		return nil
	case CodeTokenDisabled, CodeTokenRequired, CodeInvalidAuthorization, CodeInvalidToken:
		return &wrapped{msg: "token rejected: " + he.Error(), err: he}
	}
	return &wrapped{msg: "HEC event endpoint check failed: " + he.Error(), err: he}
}

func (d *Destination) roundTrip(ctx context.Context, method, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, errors.New("cannot build the request: invalid url")
	}
	d.setHeaders(req)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, d.transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, raw, nil
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

// wrapped is an error with its own message that unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, 64<<10) }
