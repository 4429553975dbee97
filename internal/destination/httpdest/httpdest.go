package httpdest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Kind describes the http destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:    "http",
		Aliases: []string{"standard"},
		Config:  func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("http destination: config is %T, want *httpdest.Config", c)
			}
			return New(cfg, d)
		},
		Batch:  model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// Destination sends batches to an HTTP endpoint. It is safe for concurrent
// use.
type Destination struct {
	url         string
	method      string
	gzip        bool
	timeout     time.Duration
	header      http.Header
	client      *http.Client
	ownsTranspt bool
	redactor    *strings.Replacer
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("http destination: invalid settings: %w", errs)
	}
	u, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("http destination: url %w", err)
	}
	h := make(http.Header, len(c.Headers)+2)
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", defaultContentType)
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "runnel")
	}
	gz := c.compression() == CompressionGzip
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	d := &Destination{
		url:      c.URL,
		method:   c.method(),
		gzip:     gz,
		timeout:  c.Timeout.D(),
		header:   h,
		redactor: newRedactor(c.URL, u, c.Headers),
	}
	var rt http.RoundTripper
	if deps.HTTPClient != nil && deps.HTTPClient.Transport != nil {
		rt = deps.HTTPClient.Transport
	} else {
		rt, d.ownsTranspt = newTransport(), true
	}
	d.client = &http.Client{
		Transport: rt,
		Timeout:   d.timeout,
		// Never follow: a 301/302 turns POST into GET, and custom
		// credential headers would follow to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	t.WriteBufferSize = 64 << 10
	t.ReadBufferSize = 16 << 10
	return t
}

// Deliver sends the framed batch as one request.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	var framer destination.Framer = lineFramer{}
	if b.Framer != nil {
		framer = b.Framer
	}
	framed := getBuf()
	*framed = framer.Frame((*framed)[:0], b.Records)
	body := framed
	if d.gzip {
		body = getBuf()
		err := gzipInto(body, *framed)
		putBuf(framed)
		if err != nil {
			putBuf(body)
			return fmt.Errorf("gzip: %w", err)
		}
	}
	tr := &bodyTracker{p: *body}
	err := d.do(ctx, d.method, tr, true)
	if tr.open.Load() == 0 {
		putBuf(body)
	} // else the transport may still read it: leave it to the GC
	return err
}

// Check probes the URL with HEAD and the configured headers: any response
// is reachable (nil) except 401 and 403.
func (d *Destination) Check(ctx context.Context) error {
	return d.do(ctx, http.MethodHead, nil, false)
}

// Close releases idle connections of the destination's own transport.
func (d *Destination) Close(context.Context) error {
	if d.ownsTranspt {
		d.client.CloseIdleConnections()
	}
	return nil
}

// do sends one request and classifies the outcome; with deliver false it
// applies the Check rules.
func (d *Destination) do(ctx context.Context, method string, tr *bodyTracker, deliver bool) error {
	req, err := http.NewRequestWithContext(ctx, method, d.url, nil)
	if err != nil {
		return retry.Permanent(errors.New("cannot build request: invalid url or method"))
	}
	req.Header = d.header.Clone()
	if tr != nil {
		req.Body = tr.body()
		req.GetBody = func() (io.ReadCloser, error) { return tr.body(), nil }
		req.ContentLength = int64(len(tr.p))
	} else {
		req.Header.Del("Content-Encoding")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return d.transportError(ctx, err)
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	if !deliver {
		drain(resp.Body)
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			return &sendError{
				msg: fmt.Sprintf("authentication rejected (status %d)", code),
				err: &StatusError{Code: code},
			}
		}
		if code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout {
			// The target says it cannot take requests now.
			return &sendError{
				msg: fmt.Sprintf("target unavailable (status %d)", code),
				err: &StatusError{Code: code},
			}
		}
		return nil
	}
	if code >= 200 && code < 300 {
		drain(resp.Body)
		return nil
	}
	se := &StatusError{Code: code, Body: d.readBody(resp.Body)}
	drain(resp.Body)
	if !se.Retryable() {
		return retry.Permanent(se)
	}
	if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return retry.After(ra, se)
	}
	return se
}

// transportError turns a client error into a retryable error without the
// URL: ctx errors stay ctx errors, timeouts are context.DeadlineExceeded.
func (d *Destination) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("request aborted: %w", ctxErr)
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err // url.Error's text holds the URL
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &timeoutError{d: d.timeout, err: &sendError{msg: d.redact(inner.Error()), err: inner}}
	}
	return &sendError{msg: "request failed: " + d.redact(inner.Error()), err: inner}
}

// readBody reads the start of an error response for StatusError.
func (d *Destination) readBody(r io.Reader) string {
	// Read more than is kept, so a secret across the cut is still redacted.
	b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
	return cleanBody(b, d.redact)
}

func (d *Destination) redact(s string) string {
	if d.redactor == nil {
		return s
	}
	return d.redactor.Replace(s)
}

// drain reads what is left of a response body, up to 64 KiB, so that the
// connection can be reused; a longer body costs the connection instead.
func drain(r io.Reader) {
	_, _ = io.CopyN(io.Discard, r, 64<<10)
}

// minSecretLen is the shortest string redacted from messages; shorter ones
// would garble them and hardly are credentials.
const minSecretLen = 4

// newRedactor replaces the URL's userinfo and query, and secret header
// values, by "[redacted]"; the raw URL by its scheme, host and path.
func newRedactor(raw string, u *url.URL, headers map[string]string) *strings.Replacer {
	safe := u.Scheme + "://" + u.Host + u.EscapedPath()
	pairs := map[string]string{}
	add := func(s string) {
		if len(s) >= minSecretLen {
			pairs[s] = "[redacted]"
		}
	}
	if u.User != nil {
		add(u.User.String())
		add(u.User.Username())
		add(url.PathEscape(u.User.Username()))
		if p, ok := u.User.Password(); ok {
			add(p)
			add(url.PathEscape(p))
			add(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p)))
		}
	}
	if u.RawQuery != "" {
		add(u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
				add(url.QueryEscape(v))
			}
		}
	}
	for name, v := range headers {
		if !secretHeader(name) {
			continue
		}
		add(v)
		if _, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
			add(strings.TrimSpace(cred)) // "Bearer <token>": the token alone
		}
	}
	if raw != safe && len(raw) >= minSecretLen {
		pairs[raw] = safe
	}
	if len(pairs) == 0 {
		return nil
	}
	olds := make([]string, 0, len(pairs))
	for k := range pairs {
		olds = append(olds, k)
	}
	// Longest first: at one position the replacer tries them in order.
	slices.SortFunc(olds, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	args := make([]string, 0, 2*len(olds))
	for _, k := range olds {
		args = append(args, k, pairs[k])
	}
	return strings.NewReplacer(args...)
}

// lineFramer joins records with "\n" when a batch comes without a framer.
type lineFramer struct{}

func (lineFramer) Frame(dst []byte, records [][]byte) []byte {
	for i, r := range records {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, r...)
	}
	return dst
}

// bodyTracker hands out readers over one payload and counts those the
// transport has not closed yet.
type bodyTracker struct {
	p    []byte
	open atomic.Int32
}

func (t *bodyTracker) body() io.ReadCloser {
	t.open.Add(1)
	b := &trackedBody{t: t}
	b.r.Reset(t.p)
	return b
}

type trackedBody struct {
	r      bytes.Reader
	t      *bodyTracker
	closed atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *trackedBody) WriteTo(w io.Writer) (int64, error) { return b.r.WriteTo(w) }

func (b *trackedBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.t.open.Add(-1)
	}
	return nil
}

// Pooled payload buffers; huge ones are left to the GC.
const maxPooledBuf = 16 << 20

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 64<<10)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

var gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// gzipInto appends the gzip compression of p to *dst.
func gzipInto(dst *[]byte, p []byte) error {
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	*dst = slices.Grow((*dst)[:0], len(p)/4)
	zw.Reset(sliceWriter{dst})
	if _, err := zw.Write(p); err != nil {
		return err
	}
	return zw.Close()
}
