package elasticsearch

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
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Limits of the target.
const (
	// MaxRequestBytes is Elasticsearch's default http.max_content_length
	// (100mb): no _bulk request is larger.
	MaxRequestBytes = 100 << 20
	// actionLine precedes every document.
	actionLine = `{"create":{}}`
	// MaxDocumentBytes is the largest document that fits a request with
	// its action line and newlines.
	MaxDocumentBytes = MaxRequestBytes - len(actionLine) - 2
	// RequestTimeout bounds one _bulk request, response included.
	RequestTimeout = 60 * time.Second
	// CheckTimeout bounds the Check request.
	CheckTimeout = 20 * time.Second
)

// Kind describes the elasticsearch destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:   "elasticsearch",
		Config: func() destination.Config { return NewConfig() },
		New: func(ctx context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("elasticsearch destination: config is %T, want *elasticsearch.Config", c)
			}
			return New(cfg, d)
		},
		Batch:  model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)},
		Limits: destination.Limits{MaxBytes: MaxRequestBytes, MaxRecord: MaxDocumentBytes},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// Destination indexes batches with the _bulk API. It is safe for
// concurrent use.
type Destination struct {
	bulkURL, rootURL string
	auth             string
	maxRequest       int
	client           *http.Client
	ownsTransport    bool
	redact           *strings.Replacer
}

// New builds a destination from a config; it does no I/O.
func New(c *Config, deps destination.Deps) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("elasticsearch destination: invalid settings: %w", errs)
	}
	e, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch destination: url %w", err)
	}
	d := &Destination{
		bulkURL:    e.bulkURL(),
		rootURL:    e.rootURL(),
		auth:       c.authHeader(e),
		maxRequest: MaxRequestBytes,
	}
	d.redact = newRedactor(c, e, d.auth)
	var rt http.RoundTripper
	if deps.HTTPClient != nil && deps.HTTPClient.Transport != nil {
		rt = deps.HTTPClient.Transport
	} else {
		rt, d.ownsTransport = newTransport(), true
	}
	d.client = &http.Client{
		Transport: rt,
		// Never follow: a redirect would turn POST into GET and could
		// carry the key to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.WriteBufferSize = 64 << 10
	return t
}

// Close releases the idle connections of the destination's own transport.
func (d *Destination) Close(context.Context) error {
	if d.ownsTransport {
		d.client.CloseIdleConnections()
	}
	return nil
}

// Check gets the cluster info (GET /) with the credentials: 2xx is healthy;
// 401 and 403 are an authentication error, any other status an error with
// its body.
func (d *Destination) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.rootURL, nil)
	if err != nil {
		return errors.New("cannot build the request: invalid url")
	}
	d.setAuth(req)
	resp, err := d.client.Do(req)
	if err != nil {
		return d.transportError(ctx, err, CheckTimeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		drain(resp.Body)
		return nil
	}
	se := &httpdest.StatusError{Code: resp.StatusCode, Body: d.readBody(resp.Body)}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return &wrapped{msg: "authentication rejected (check api_key): " + se.Error(), err: se}
	}
	return se
}

func (d *Destination) setAuth(req *http.Request) {
	if d.auth != "" {
		req.Header.Set("Authorization", d.auth)
	}
	req.Header.Set("User-Agent", "runnel")
}

// Deliver indexes the records (each one JSON document; the payload
// options do not apply) with _bulk "create" actions, in requests of at
// most 100 MB, halving a request the cluster answers 413.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	n := len(b.Records)
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	res := destination.NewResults(n)
	docs := make([][]byte, n)
	for i, r := range b.Records {
		doc, err := document(r)
		if err != nil {
			res.Fail(i, retry.Permanent(err))
			continue
		}
		if len(doc) > d.maxRequest-len(actionLine)-2 {
			res.Fail(i, retry.Permanent(fmt.Errorf("document of %d bytes exceeds the %d-byte request limit (http.max_content_length)",
				len(doc), d.maxRequest-len(actionLine)-2)))
			continue
		}
		docs[i] = doc
	}
	// Chunks of document indexes within the request limit, in order; a
	// stack so that the halves of a 413 chunk go next, in order.
	var stack [][]int
	var cur []int
	size := 0
	for i, doc := range docs {
		if doc == nil {
			continue
		}
		l := len(actionLine) + len(doc) + 2
		if len(cur) > 0 && size+l > d.maxRequest {
			stack = append(stack, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += l
	}
	if len(cur) > 0 {
		stack = append(stack, cur)
	}
	for i, j := 0, len(stack)-1; i < j; i, j = i+1, j-1 {
		stack[i], stack[j] = stack[j], stack[i]
	}
	for len(stack) > 0 {
		chunk := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		split, stop := d.send(ctx, docs, chunk, res)
		if split[0] != nil {
			stack = append(stack, split[1], split[0])
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

// document returns the record as a one-line JSON document.
func document(r []byte) ([]byte, error) {
	if bytes.IndexByte(r, '\n') < 0 && bytes.IndexByte(r, '\r') < 0 {
		return r, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, r); err != nil {
		return nil, fmt.Errorf("record is not valid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// send posts one chunk. It records the outcome of its documents in res
// and returns the halves to send instead (413), or an error for the
// chunks not sent yet when sending more is pointless.
func (d *Destination) send(ctx context.Context, docs [][]byte, chunk []int, res *destination.Results) (split [2][]int, stop error) {
	size := 0
	for _, i := range chunk {
		size += len(actionLine) + len(docs[i]) + 2
	}
	body := make([]byte, 0, size)
	for _, i := range chunk {
		body = append(body, actionLine...)
		body = append(body, '\n')
		body = append(body, docs[i]...)
		body = append(body, '\n')
	}
	failAll := func(err error) {
		for _, i := range chunk {
			res.Fail(i, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.bulkURL, bytes.NewReader(body))
	if err != nil {
		err = retry.Permanent(errors.New("cannot build the request: invalid url"))
		failAll(err)
		return split, err
	}
	d.setAuth(req)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		err = d.transportError(ctx, err, RequestTimeout)
		failAll(err)
		return split, err
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			err = d.transportError(ctx, err, RequestTimeout)
			failAll(err)
			return split, err
		}
		br, err := DecodeBulkResponse(raw, len(chunk))
		if err != nil {
			// The documents may or may not be indexed: retry them (at
			// least once).
			failAll(fmt.Errorf("unexpected _bulk response: %w", err))
			return split, nil
		}
		for k, it := range br.Items {
			s := it.Result.Status
			if s >= 200 && s < 300 {
				continue
			}
			ie := newItemError(it.Result)
			ie.Reason = d.redact.Replace(ie.Reason)
			var e error = ie
			if !ie.Retryable() {
				e = retry.Permanent(ie)
			}
			res.Fail(chunk[k], e)
		}
		return split, nil
	case code == http.StatusRequestEntityTooLarge:
		drain(resp.Body)
		if len(chunk) == 1 {
			res.Fail(chunk[0], retry.Permanent(&wrapped{
				msg: fmt.Sprintf("document of %d bytes (request of %d bytes) exceeds the cluster's http.max_content_length (status 413)", len(docs[chunk[0]]), size),
				err: &httpdest.StatusError{Code: code},
			}))
			return split, nil
		}
		h := len(chunk) / 2
		return [2][]int{chunk[:h], chunk[h:]}, nil
	default:
		se := &httpdest.StatusError{Code: code, Body: d.readBody(resp.Body)}
		drain(resp.Body)
		var e error = se
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			e = retry.Permanent(&wrapped{msg: "authentication rejected (check api_key): " + se.Error(), err: se})
		case !se.Retryable():
			e = retry.Permanent(se)
		default:
			if ra, ok := httpdest.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				e = retry.After(ra, se)
			}
		}
		failAll(e)
		return split, e
	}
}

// transportError turns a client error into an error without the URL: the
// caller's ctx errors stay ctx errors, timeouts are DeadlineExceeded.
func (d *Destination) transportError(ctx context.Context, err error, timeout time.Duration) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("request aborted: %w", ctxErr)
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err // url.Error's text holds the URL
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &wrapped{msg: fmt.Sprintf("request timed out after %s", timeout), err: context.DeadlineExceeded}
	}
	return &wrapped{msg: "request failed: " + d.redact.Replace(inner.Error()), err: inner}
}

// readBody reads the start of an error response, cleaned for a message.
func (d *Destination) readBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
	return oneLine(d.redact.Replace(strings.ToValidUTF8(string(b), "\uFFFD")), 512)
}

// wrapped is an error with its own message that unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// newRedactor replaces the key, the Authorization value, the URL's
// userinfo and query values by "[redacted]".
func newRedactor(c *Config, e endpoint, auth string) *strings.Replacer {
	var args []string
	add := func(s string) {
		if len(s) >= 4 {
			args = append(args, s, "[redacted]")
		}
	}
	add(auth)
	if _, cred, ok := strings.Cut(auth, " "); ok {
		add(cred)
	}
	add(c.APIKey)
	if e.user != nil {
		add(e.user.Username())
		if p, ok := e.user.Password(); ok {
			add(p)
		}
	}
	if q, err := url.ParseQuery(e.query); err == nil {
		for _, vs := range q {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return strings.NewReplacer(args...)
}

// oneLine makes s a single line of at most n bytes (valid UTF-8).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// drain reads what is left of a response body, to a bound, so the
// connection can be reused.
func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, 64<<10) }
