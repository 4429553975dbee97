// Package ingest serves Runnel's HTTP ingest dialects (SPEC §2): it turns
// a request into at most one durable bus message and answers 2xx only after
// the bus has acknowledged it. This file is the machinery every dialect
// shares; each dialect lives in its own file (native.go: POST
// /v1/streams/ingest) and only decides how to read its headers, which
// decoder to run and how to spell its answers.
//
// # The path of a request
//
//	authenticate → resolve the stream (workspace, token stream list, status)
//	→ cheap rate check → read the body (limit, gunzip) → decode
//	→ validate against the stream's JSON Schema, if any (schema.go)
//	→ charge the rate limits → publish one frame → answer
//
// Every step returns a *rejection (an apierr code, a sentence for the
// client and, for 429/503, a Retry-After) and nothing is published unless
// every step passed, so a rejected request stores nothing.
//
// # Allocation budget
//
// The hot path allocates a handful of objects per request and none per
// event:
//   - Body and frame buffers come from a size-classed pool of *[]byte
//     (powers of two from 4 KiB to 32 MiB). The body is read into one buffer
//     sized from Content-Length (identity) or from the gzip trailer's ISIZE
//     (gzip), grown by doubling only when the hint was wrong, and never
//     past limit+1 bytes.
//   - gzip readers (klauspost/compress, faster than compress/gzip) are
//     pooled together with the bytes.Reader they read the compressed body
//     from, so a reused reader needs no bufio and no new flate state.
//   - Events are validated by decode.Envelope, which copies the original
//     bytes into the frame buffer; nothing is decoded into maps.
//   - Per-stream metric children and the bus subject are cached, so no
//     label strings are built per request.
//   - The frame buffer goes back to the pool only after Publish returns.
//     That is safe: nats.go copies Msg.Data into the connection's write
//     buffer inside nc.publish (natsWriter.appendBufs appends to w.bufs or
//     writes into its pending bytes.Buffer), synchronously, before
//     JetStream's PublishMsg starts waiting for the ack, and PublishMsg
//     retries synchronously too. Publishers must not keep m.Data after
//     returning.
//
// # Rate limits
//
// A token (Token.Limits) and a stream (Stream.Limits) may each carry a token
// bucket in events per second. A request of N events takes N tokens from
// both buckets, or none: it is refused with 429 and a Retry-After of the
// seconds until enough tokens are back (at least 1). A request larger than a
// bucket's burst can never pass and is refused saying so. Buckets live in a
// map, are created on first use, re-created when the configured limit
// changes, and evicted when idle and full again (an evicted bucket is
// indistinguishable from a new one, so eviction loses nothing). Events of a
// request that later fails to publish (503) stay charged: the refill during
// the Retry-After covers the retry.
//
// # Metrics
//
// received: events of requests that decoded; accepted and accepted_bytes
// (decompressed body bytes, the response's ingested_bytes): stored requests,
// duplicates excluded (they were counted when first stored);
// rejected{reason}: events when the count is known (429, 503), else
// requests; ingest_ack_seconds: from the start of the request to the bus
// ack, for accepted requests.
package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/telemetry"
)

// Publisher stores one frame message and returns once it is durable.
// Duplicate reports a message id already stored within the de-duplication
// window (nothing more was stored). *bus.Bus satisfies it. Implementations
// must not keep m.Data after returning: the caller reuses it.
type Publisher interface {
	Publish(ctx context.Context, m *nats.Msg) (duplicate bool, err error)
}

// Dropper stores a message in the full buffer of a stream whose overflow
// policy is drop_oldest. *delivery.Overflow satisfies it.
type Dropper interface {
	// Publish drops the oldest messages of st's buffer (their events are
	// counted and kept as dead letters) until m fits, and stores m; as
	// Publisher.Publish. bus.ErrTooLargeForBuffer: m can never fit.
	// Implementations must not keep m.Data after returning.
	Publish(ctx context.Context, st *model.Stream, m *nats.Msg) (duplicate bool, err error)
}

// StreamLookup finds a stream of a workspace by id or name. *store.Store
// satisfies it. The returned stream is shared and must not be modified.
type StreamLookup interface {
	Stream(ws, idOrName string) (*model.Stream, uint64, bool)
}

// Deps are what the ingest handlers need.
type Deps struct {
	Bus Publisher
	// Overflow drops the oldest events of a full drop_oldest buffer; nil:
	// such a buffer refuses new events like overflow reject.
	Overflow Dropper
	Streams  StreamLookup
	Tokens   auth.Lookup
	Metrics  *telemetry.Metrics // nil: a private registry
	Log      *slog.Logger       // nil: discard
	Now      func() time.Time   // nil: time.Now
	// Schemas caches compiled stream schemas (schema.go); nil: a private
	// cache. Share one to forget deleted streams (Cache.Forget).
	Schemas *schema.Cache
	// DeadLetters keeps collection records refused by their stream's
	// schema without ?syncValidation=true (schema.go); nil: such records
	// are refused as with syncValidation.
	DeadLetters DeadLetterStore
}

// Answers of a full buffer and of an unavailable store carry these Retry-After values.
const (
	retryBufferFull  = 5 * time.Second
	retryUnavailable = 2 * time.Second
	// PublishTimeout bounds the wait for the bus ack.
	PublishTimeout = 10 * time.Second
	// MaxDepth is the JSON nesting limit of SPEC §9.
	MaxDepth = 64
	// MaxIdempotencyKey is the longest accepted Idempotency-Key.
	MaxIdempotencyKey = 256
)

// Handler serves the ingest dialects.
type Handler struct {
	bus     Publisher
	dropper Dropper
	streams StreamLookup
	tokens  auth.Lookup
	metrics *telemetry.Metrics
	log     *slog.Logger
	now     func() time.Time

	publishTimeout time.Duration
	bufs           bufPool
	gunzippers     sync.Pool // *gunzipper
	tokenLimits    limiters
	streamLimits   limiters
	streamState    streamStates
	warnAt         atomic.Int64 // unix nanos of the last publish-failure warning
	schemas        *schema.Cache
	deadLetters    DeadLetterStore
}

// New returns the ingest handler.
func New(d Deps) *Handler {
	h := &Handler{
		bus: d.Bus, dropper: d.Overflow, streams: d.Streams, tokens: d.Tokens, metrics: d.Metrics, log: d.Log, now: d.Now,
		publishTimeout: PublishTimeout,
	}
	if h.metrics == nil {
		h.metrics = telemetry.NewMetrics()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.streamState.m = map[string]*streamState{}
	h.tokenLimits.m = map[string]*bucket{}
	h.streamLimits.m = map[string]*bucket{}
	h.schemas, h.deadLetters = d.Schemas, d.DeadLetters
	if h.schemas == nil {
		h.schemas = schema.NewCache(0, 0)
	}
	return h
}

// Register adds the ingest routes to mux. Only method-qualified patterns
// are registered, so they cannot conflict with the management API's
// "GET /v1/streams/{id}" and friends.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/streams/ingest", h.serveNative)
	h.registerCompat(mux) // hec.go: Splunk HEC and OTLP/HTTP logs; _bulk is served by Wrap (bulk.go)
	// collection.go, eventsv2.go: collection (inlet) API and Events v2.
	h.registerDialects(mux)
}

// rejection is why a request was refused. Dialects spell it in their own
// error shape; the native dialect writes it with apierr.
type rejection struct {
	code   apierr.Code
	detail string
	retry  time.Duration // 429 and 503: Retry-After (at least 1 s)
	// violations of the stream's schema (schema.go), at most schema.MaxViolations.
	violations []schema.Violation
}

func reject(c apierr.Code, format string, args ...any) *rejection {
	if len(args) == 0 {
		return &rejection{code: c, detail: format}
	}
	return &rejection{code: c, detail: fmt.Sprintf(format, args...)}
}

// write answers with the apierr JSON body; 429 and 503 always carry
// Retry-After (SPEC §2).
func (rj *rejection) write(w http.ResponseWriter) {
	if rj.retry > 0 || rj.code.Status == http.StatusTooManyRequests || rj.code.Status == http.StatusServiceUnavailable {
		apierr.WriteRetry(w, rj.code, rj.detail, rj.retry)
		return
	}
	if len(rj.violations) > 0 {
		apierr.WriteBody(w, rj.code.Status, violationsBody{Body: apierr.Body{Error: rj.code.Name, Detail: rj.detail}, Violations: rj.violations})
		return
	}
	apierr.Write(w, rj.code, rj.detail)
}

// request is the state of one ingest request, for metrics and logs.
type request struct {
	dialect string
	start   time.Time // wall clock for latency
	now     time.Time // Deps.Now at the start: received time, token expiry
	tok     *model.Token
	ws      string
	st      *model.Stream
	state   *streamState
	events  int // known once the body decoded
	bytes   int // decompressed body size
}

// authenticate resolves the Authorization header (one of schemes) to a
// token carrying scope, and the workspace the request acts in: the token's,
// or for an admin token the one named by X-Workspace.
func (h *Handler) authenticate(r *http.Request, q *request, scope string, schemes ...string) *rejection {
	secret, err := auth.FromHeader(r.Header.Get("Authorization"), schemes...)
	if err != nil {
		return reject(apierr.Unauthorized, "%s", authDetail(err, schemes))
	}
	tok, err := auth.Authenticate(h.tokens, secret, q.now)
	if err != nil {
		return reject(apierr.Unauthorized, "%s", authDetail(err, schemes))
	}
	q.tok, q.ws = tok, tok.Workspace
	if !tok.Has(scope) {
		return reject(apierr.Forbidden, "the token lacks the %s scope", scope)
	}
	if ws := strings.TrimSpace(r.Header.Get("X-Workspace")); ws != "" && tok.Has(model.ScopeAdmin) {
		q.ws = ws
	}
	return nil
}

func authDetail(err error, schemes []string) string {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return "the token has expired"
	case errors.Is(err, auth.ErrUnknown):
		return "unknown token"
	}
	if err.Error() != auth.ErrMissing.Error() {
		return err.Error() // names the expected form of the header
	}
	return "missing token: send Authorization: " + schemes[0] + " <token>"
}

// resolveStream finds the stream ref (id or name) in the request's
// workspace: 404 when it does not exist there (a stream of another
// workspace does not exist for this token), 403 when the token is limited
// to other streams, 409 when the stream is inactive.
func (h *Handler) resolveStream(q *request, ref string) *rejection {
	st, _, ok := h.streams.Stream(q.ws, ref)
	if !ok {
		return reject(apierr.StreamNotFound, "no stream %s in this workspace", quoteClient(ref))
	}
	if !q.tok.AllowsStream(st.ID) {
		return reject(apierr.Forbidden, "the token is not allowed to ingest into stream %s", quoteClient(ref))
	}
	q.st = st
	q.state = h.stateOf(st)
	if !st.Active() {
		return reject(apierr.StreamInactive, "stream %s is inactive; activate it to ingest", quoteClient(st.Name))
	}
	return nil
}

// quoteClient quotes a client-supplied value for an error detail, cut to 64 bytes.
func quoteClient(s string) string {
	if len(s) > 64 {
		return strconv.Quote(strings.ToValidUTF8(s[:64], "")) + "…"
	}
	return strconv.Quote(s)
}

// payloadLimit is the largest accepted body after decompression.
func payloadLimit(st *model.Stream) int {
	switch v := st.Limits.MaxPayload; {
	case v <= 0:
		return int(model.DefaultMaxPayload)
	case v > model.HardMaxPayload:
		return int(model.HardMaxPayload)
	default:
		return int(v)
	}
}

// idempotencyKey reads the optional Idempotency-Key header: at most 256
// printable ASCII characters; "" when there is none.
func idempotencyKey(hdr http.Header) (key string, rj *rejection) {
	vs := hdr.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	if len(vs) > 1 {
		return "", reject(apierr.InvalidFormat, "send at most one Idempotency-Key header")
	}
	key = vs[0]
	if key == "" || len(key) > MaxIdempotencyKey {
		return "", reject(apierr.InvalidFormat, "Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return "", reject(apierr.InvalidFormat, "Idempotency-Key must be 1 to %d printable ASCII characters (byte %d is not)", MaxIdempotencyKey, i)
		}
	}
	return key, nil
}

// msgID is the JetStream message id of an idempotency key: namespaced by
// the stream, so equal keys sent to different streams never collide.
func msgID(streamID, key string) string {
	if key == "" {
		return ""
	}
	return streamID + ":" + key
}

// ---- body ----

type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
)

// contentEncoding accepts no encoding, identity, gzip and x-gzip.
func contentEncoding(hdr http.Header) (encoding, *rejection) {
	vs := hdr.Values("Content-Encoding")
	if len(vs) == 0 {
		return encIdentity, nil
	}
	v := strings.TrimSpace(vs[0])
	if len(vs) == 1 {
		switch {
		case v == "" || strings.EqualFold(v, "identity"):
			return encIdentity, nil
		case strings.EqualFold(v, "gzip") || strings.EqualFold(v, "x-gzip"):
			return encGzip, nil
		}
	} else {
		v = strings.Join(vs, ", ")
	}
	return 0, reject(apierr.InvalidFormat, "unsupported Content-Encoding %s: send the body uncompressed or with Content-Encoding: gzip", quoteClient(v))
}

var errTooLarge = errors.New("body too large")

// readBody reads the request body, decompressed, into a pooled buffer:
// at most limit bytes after decompression, else payload_too_large. The
// raw body is bounded by http.MaxBytesReader (limit, or 2×limit+64 KiB
// when compressed); the decompressed stream is read at most limit+1
// bytes far, so a gzip bomb inflates no further than that. The caller
// returns the buffer with h.bufs.put.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, enc encoding, limit int) (*[]byte, *rejection) {
	if enc == encIdentity {
		if r.ContentLength > int64(limit) {
			return nil, tooLarge(limit, r.ContentLength, false)
		}
		body := http.MaxBytesReader(w, r.Body, int64(limit))
		buf := h.bufs.get(sizeHint(r.ContentLength, limit))
		b, err := readAll(body, (*buf)[:0], limit, &h.bufs)
		*buf = b
		if err != nil {
			h.bufs.put(buf)
			return nil, bodyError(err, limit)
		}
		return buf, nil
	}

	rawLimit := 2*limit + 64<<10
	if r.ContentLength > int64(rawLimit) {
		return nil, reject(apierr.PayloadTooLarge, "compressed body of %d bytes is larger than this stream accepts (limits.max_payload is %d bytes after decompression)", r.ContentLength, limit)
	}
	raw := h.bufs.get(sizeHint(r.ContentLength, rawLimit))
	defer h.bufs.put(raw)
	b, err := readAll(http.MaxBytesReader(w, r.Body, int64(rawLimit)), (*raw)[:0], rawLimit, &h.bufs)
	*raw = b
	if err != nil {
		if isTooLarge(err) {
			return nil, reject(apierr.PayloadTooLarge, "compressed body is larger than this stream accepts (limits.max_payload is %d bytes after decompression)", limit)
		}
		return nil, bodyError(err, limit)
	}
	buf, _, rj := h.gunzip(b, limit)
	return buf, rj
}

// gunzip decompresses raw into a pooled buffer, reading at most limit+1
// bytes of output. consumed is how much of raw the decompressor used: for
// a bomb, about limit/1000 bytes, however large it claims to be.
func (h *Handler) gunzip(raw []byte, limit int) (buf *[]byte, consumed int, rj *rejection) {
	// The trailer's ISIZE (size mod 2^32 of the last member) sizes the
	// output buffer; it is only a hint, the reader still enforces the limit.
	hint := 64 << 10
	if len(raw) >= 18 {
		hint = int(min(binary.LittleEndian.Uint32(raw[len(raw)-4:]), uint32(limit))) + 1
	}
	g, _ := h.gunzippers.Get().(*gunzipper)
	if g == nil {
		g = new(gunzipper)
	}
	defer h.putGunzipper(g)
	g.br.Reset(raw)
	if err := g.zr.Reset(&g.br); err != nil {
		if err == io.EOF {
			return nil, 0, reject(apierr.InvalidFormat, "malformed gzip body: it is empty")
		}
		return nil, 0, reject(apierr.InvalidFormat, "malformed gzip body: %v", err)
	}
	buf = h.bufs.get(hint)
	out, err := readAll(&g.zr, (*buf)[:0], limit, &h.bufs)
	*buf = out
	consumed = len(raw) - g.br.Len()
	if err != nil {
		h.bufs.put(buf)
		if isTooLarge(err) {
			return nil, consumed, tooLarge(limit, -1, true)
		}
		if err == io.ErrUnexpectedEOF {
			return nil, consumed, reject(apierr.InvalidFormat, "malformed gzip body: it ends early")
		}
		return nil, consumed, reject(apierr.InvalidFormat, "malformed gzip body: %v", err)
	}
	return buf, consumed, nil
}

// gunzipper is a pooled gzip reader with the in-memory reader it reads
// from (a flate.Reader, so gzip adds no bufio of its own).
type gunzipper struct {
	zr gzip.Reader
	br bytes.Reader
}

func (h *Handler) putGunzipper(g *gunzipper) {
	g.br.Reset(nil) // drop the reference to the pooled body buffer
	h.gunzippers.Put(g)
}

func sizeHint(contentLength int64, limit int) int {
	if contentLength >= 0 && contentLength <= int64(limit) {
		return int(contentLength) + 1 // +1: room to see EOF without growing
	}
	return min(64<<10, limit+1)
}

func tooLarge(limit int, size int64, compressed bool) *rejection {
	switch {
	case size >= 0:
		return reject(apierr.PayloadTooLarge, "body of %d bytes exceeds this stream's limit of %d bytes (limits.max_payload)", size, limit)
	case compressed:
		return reject(apierr.PayloadTooLarge, "body exceeds this stream's limit of %d bytes (limits.max_payload) after decompression", limit)
	}
	return reject(apierr.PayloadTooLarge, "body exceeds this stream's limit of %d bytes (limits.max_payload)", limit)
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return err == errTooLarge || errors.As(err, &mbe)
}

func bodyError(err error, limit int) *rejection {
	if isTooLarge(err) {
		return tooLarge(limit, -1, false)
	}
	if err == io.ErrUnexpectedEOF {
		return reject(apierr.InvalidFormat, "the request body ended before Content-Length bytes were read")
	}
	return reject(apierr.InvalidFormat, "could not read the request body")
}

// readAll appends r to b until EOF, reading at most limit+1 bytes in all
// (errTooLarge when there are more than limit). It grows b from pool,
// doubling, only when it is full.
func readAll(r io.Reader, b []byte, limit int, pool *bufPool) ([]byte, error) {
	for {
		if len(b) > limit {
			return b, errTooLarge
		}
		if len(b) == cap(b) {
			nb := pool.get(min(2*cap(b), limit+1))
			*nb = append((*nb)[:0], b...)
			old := b
			b = *nb
			pool.putSlice(old)
		}
		end := min(cap(b), limit+1)
		n, err := r.Read(b[len(b):end])
		b = b[:len(b)+n]
		if err == io.EOF {
			if len(b) > limit {
				return b, errTooLarge
			}
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// ---- buffer pool ----

const (
	minClassShift = 12 // 4 KiB
	maxClassShift = 25 // 32 MiB: the 16 MiB hard cap, compressed headroom included
	numClasses    = maxClassShift - minClassShift + 1
)

// bufPool hands out byte buffers in power-of-two size classes.
type bufPool struct {
	classes [numClasses]sync.Pool // *[]byte
}

// get returns a buffer with len 0 and cap >= n.
func (p *bufPool) get(n int) *[]byte {
	c := classOf(n)
	if c >= numClasses {
		b := make([]byte, 0, n)
		return &b
	}
	if v, _ := p.classes[c].Get().(*[]byte); v != nil {
		*v = (*v)[:0]
		return v
	}
	b := make([]byte, 0, 1<<(c+minClassShift))
	return &b
}

// put returns a buffer; nil is ignored.
func (p *bufPool) put(b *[]byte) {
	if b == nil {
		return
	}
	c := bits.Len(uint(cap(*b))) - 1 - minClassShift // floor: every buffer in class c has cap >= 1<<(c+min)
	if c < 0 || c >= numClasses {
		return
	}
	*b = (*b)[:0]
	p.classes[c].Put(b)
}

func (p *bufPool) putSlice(b []byte) {
	if cap(b) >= 1<<minClassShift {
		p.put(&b)
	}
}

func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// ---- publish ----

// publish stores the request's frame: one message, with the idempotency
// key as its JetStream message id. It answers 503 for a full buffer and
// for every other failure: an event is never acknowledged unless stored.
// A full buffer with overflow drop_oldest hands the frame to the Dropper,
// which drops the oldest events until it fits (within PublishTimeout).
func (h *Handler) publish(ctx context.Context, q *request, body []byte, msgID string) (dup bool, rj *rejection) {
	f := event.Frame{Workspace: q.st.Workspace, Stream: q.st.ID, Count: q.events, Received: q.now, Body: body}
	m := event.Message(q.state.subject, &f, msgID)
	if q.dialect != "" {
		m.Header.Set(event.HdrSource, q.dialect)
	}
	// The bus decides the outcome, not the client: a client that hangs up
	// while its frame is being stored does not cancel the wait for the ack
	// (which would count a stored frame as failed); PublishTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.publishTimeout)
	defer cancel()
	dup, err := h.bus.Publish(ctx, m)
	if errors.Is(err, bus.ErrBufferFull) && q.st.Buffer.Overflow == model.OverflowDropOldest && h.dropper != nil {
		dup, err = h.dropper.Publish(ctx, q.st, m)
	}
	m.Data = nil
	if err == nil {
		return dup, nil
	}
	if errors.Is(err, bus.ErrTooLargeForBuffer) {
		return false, reject(apierr.PayloadTooLarge, "the request of %d bytes does not fit in this stream's whole buffer (buffer.max_bytes is %d bytes); send smaller requests", q.bytes, int64(q.st.Buffer.MaxBytes))
	}
	if errors.Is(err, bus.ErrBufferFull) {
		return false, &rejection{code: apierr.Unavailable, retry: retryBufferFull,
			detail: "the stream's buffer is full (buffer.max_bytes reached while destinations catch up); retry later"}
	}
	h.warnThrottled("ingest publish failed", "stream", q.st.ID, "error", err)
	return false, &rejection{code: apierr.Unavailable, retry: retryUnavailable,
		detail: "the event store is unavailable; nothing was stored, retry later"}
}

// warnThrottled logs at Warn at most every 10 s (per handler), else at Debug.
func (h *Handler) warnThrottled(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := h.warnAt.Load()
	if now-last >= int64(10*time.Second) && h.warnAt.CompareAndSwap(last, now) {
		h.log.Warn(msg, args...)
		return
	}
	h.log.Debug(msg, args...)
}

// ---- rate limits ----

// bucket is one token bucket and the limit it was built for.
type bucket struct {
	lim   *rate.Limiter
	eps   float64
	burst int
	used  atomic.Int64 // unix nanos (Deps.Now) of the last use
}

// limiters is a lazily filled map of buckets, by token or stream id.
type limiters struct {
	mu        sync.RWMutex
	m         map[string]*bucket
	nextSweep atomic.Int64
}

const (
	sweepEvery = time.Minute
	idleAfter  = time.Minute
)

// burstOf is the bucket size of a limit: Burst, else EventsPerSecond
// rounded up (at least 1).
func burstOf(rl model.RateLimit) int {
	if rl.Burst > 0 {
		return rl.Burst
	}
	return max(1, int(math.Ceil(rl.EventsPerSecond)))
}

// get returns the bucket of id for limit rl, or nil when rl is no limit.
// A sweep racing with get may evict a bucket a request is about to use;
// since only idle, full buckets are evicted, that request's tokens are
// forgotten at worst, once: never more than one burst.
func (l *limiters) get(id string, rl model.RateLimit, now time.Time) *bucket {
	if rl.EventsPerSecond <= 0 {
		return nil
	}
	l.maybeSweep(now)
	burst := burstOf(rl)
	l.mu.RLock()
	b := l.m[id]
	l.mu.RUnlock()
	if b == nil || b.eps != rl.EventsPerSecond || b.burst != burst {
		l.mu.Lock()
		if b = l.m[id]; b == nil || b.eps != rl.EventsPerSecond || b.burst != burst {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(rl.EventsPerSecond), burst), eps: rl.EventsPerSecond, burst: burst}
			l.m[id] = b
		}
		l.mu.Unlock()
	}
	b.used.Store(now.UnixNano())
	return b
}

// maybeSweep evicts buckets that are idle and full again.
func (l *limiters) maybeSweep(now time.Time) {
	next := l.nextSweep.Load()
	if now.UnixNano() < next || !l.nextSweep.CompareAndSwap(next, now.Add(sweepEvery).UnixNano()) {
		return
	}
	idle := now.Add(-idleAfter).UnixNano()
	l.mu.Lock()
	for id, b := range l.m {
		if b.used.Load() < idle && b.lim.TokensAt(now) >= float64(b.burst) {
			delete(l.m, id)
		}
	}
	l.mu.Unlock()
}

func (l *limiters) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.m)
}

func (h *Handler) buckets(q *request, now time.Time) (tb, sb *bucket) {
	tb = h.tokenLimits.get(q.tok.ID, q.tok.Limits, now)
	sb = h.streamLimits.get(q.st.ID, model.RateLimit{EventsPerSecond: q.st.Limits.EventsPerSecond, Burst: q.st.Limits.Burst}, now)
	return tb, sb
}

// precheck refuses a request before its body is read when a bucket cannot
// admit even one event.
func (h *Handler) precheck(q *request) *rejection {
	now := h.now()
	tb, sb := h.buckets(q, now)
	for i, b := range [2]*bucket{tb, sb} {
		if b == nil {
			continue
		}
		if t := b.lim.TokensAt(now); t < 1 {
			wait := time.Duration((1 - t) / b.eps * float64(time.Second))
			return &rejection{code: apierr.RateLimited, retry: wait,
				detail: fmt.Sprintf("%s rate limit of %g events/s (burst %d) exceeded", whose(i), b.eps, b.burst)}
		}
	}
	return nil
}

// admit takes q.events tokens from the token's and the stream's buckets,
// from both or from neither.
func (h *Handler) admit(q *request) *rejection {
	now := h.now()
	tb, sb := h.buckets(q, now)
	var held *rate.Reservation
	for i, b := range [2]*bucket{tb, sb} {
		if b == nil {
			continue
		}
		var rj *rejection
		r := b.lim.ReserveN(now, q.events)
		if !r.OK() {
			rj = &rejection{code: apierr.RateLimited, retry: time.Duration(float64(b.burst) / b.eps * float64(time.Second)),
				detail: fmt.Sprintf("the request carries %d events, more than %s rate-limit burst of %d: send at most %d events per request",
					q.events, whose(i), b.burst, b.burst)}
		} else if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			rj = &rejection{code: apierr.RateLimited, retry: d,
				detail: fmt.Sprintf("%s rate limit of %g events/s (burst %d) exceeded", whose(i), b.eps, b.burst)}
		}
		if rj != nil {
			if held != nil {
				held.CancelAt(now)
			}
			return rj
		}
		held = r
	}
	return nil
}

func whose(i int) string {
	if i == 0 {
		return "the token's"
	}
	return "the stream's"
}

// ---- per-stream state: metric children and subject ----

type streamState struct {
	ws, name, subject string
	received          prometheus.Counter
	accepted          prometheus.Counter
	acceptedBytes     prometheus.Counter
	latency           prometheus.Observer
}

type streamStates struct {
	mu sync.RWMutex
	m  map[string]*streamState // by stream id
}

func (h *Handler) newStreamState(st *model.Stream) *streamState {
	m := h.metrics
	return &streamState{
		ws: st.Workspace, name: st.Name, subject: bus.EventSubject(st.ID),
		received:      m.Received.WithLabelValues(st.Workspace, st.Name),
		accepted:      m.Accepted.WithLabelValues(st.Workspace, st.Name),
		acceptedBytes: m.AcceptedBytes.WithLabelValues(st.Workspace, st.Name),
		latency:       m.IngestLatency.WithLabelValues(st.Workspace, st.Name),
	}
}

// stateOf returns the cached state of st, rebuilt when the stream was
// renamed. The cache holds one small entry per stream that ingested here.
func (h *Handler) stateOf(st *model.Stream) *streamState {
	s := &h.streamState
	s.mu.RLock()
	e := s.m[st.ID]
	s.mu.RUnlock()
	if e != nil && e.name == st.Name && e.ws == st.Workspace {
		return e
	}
	e = h.newStreamState(st)
	s.mu.Lock()
	s.m[st.ID] = e
	s.mu.Unlock()
	return e
}

// ---- answers and accounting ----

// fail counts a rejection; the dialect writes it.
func (h *Handler) fail(q *request, rj *rejection) {
	var ws, name string
	if q.st != nil {
		ws, name = q.st.Workspace, q.st.Name
	} else if q.tok != nil {
		ws = q.ws
	}
	n := 1
	if q.events > 0 {
		n = q.events
	}
	h.metrics.Rejected.WithLabelValues(ws, name, rj.code.Name).Add(float64(n))
	h.logRequest(q, rj.code.Status, rj.code.Name)
}

// succeed counts an accepted (or duplicate) request.
func (h *Handler) succeed(q *request, dup bool) {
	if !dup {
		q.state.accepted.Add(float64(q.events))
		q.state.acceptedBytes.Add(float64(q.bytes))
		q.state.latency.Observe(time.Since(q.start).Seconds())
	}
	h.logRequest(q, http.StatusOK, "")
}

func (h *Handler) logRequest(q *request, status int, code string) {
	if !h.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("dialect", q.dialect), slog.Int("status", status),
		slog.Duration("duration", time.Since(q.start))}
	if q.st != nil {
		attrs = append(attrs, slog.String("workspace", q.st.Workspace), slog.String("stream", q.st.ID))
	}
	if code != "" {
		attrs = append(attrs, slog.String("error", code))
	}
	attrs = append(attrs, slog.Int("events", q.events), slog.Int("bytes", q.bytes))
	h.log.LogAttrs(context.Background(), slog.LevelDebug, "ingest request", attrs...)
}
