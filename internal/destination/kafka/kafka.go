package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// Kind describes the kafka destination type.
func Kind() destination.Kind {
	return destination.Kind{
		Name:   "kafka",
		Config: func() destination.Config { return NewConfig() },
		New: func(_ context.Context, c destination.Config, d destination.Deps) (destination.Destination, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("kafka destination: config is %T, want *kafka.Config", c)
			}
			return New(cfg, d)
		},
		Batch: model.Batch{MaxEvents: 2000, MaxAge: model.Duration(60 * time.Second)},
		// No fixed limits: Kafka splits a batch into as many produce
		// requests as it needs, and the record limit follows the
		// max_message_bytes setting, which Deliver enforces per record.
		Limits: destination.Limits{},
		Secret: Secret,
	}
}

// Interface guards.
var (
	_ destination.Destination = (*Destination)(nil)
	_ destination.Checker     = (*Destination)(nil)
)

// recordOverhead is what Kafka's framing adds to a record's key and value
// in a batch of its own, with room to spare (batch header 61 bytes, record
// header at most 30, and the older formats' larger estimates franz-go
// applies before it knows the broker's version).
const recordOverhead = 128

// Bounds of the client's buffer; a record over them fails (retryable)
// with kgo.ErrMaxBuffered.
const (
	maxBufferedRecords = 1 << 20
	maxBufferedBytes   = 1 << 30
)

// attemptGrace is how much longer than the timeout setting Deliver waits
// for the client to report failed records itself.
const attemptGrace = time.Second

// Destination produces every event as one message to a Kafka topic. It is
// safe for concurrent use.
type Destination struct {
	cl              *kgo.Client
	topic           string
	key             keyPath
	maxMessageBytes int
	timeout         time.Duration
	password        string

	closeOnce sync.Once
	closeErr  error
}

// options are test hooks.
type options struct {
	rootCAs *x509.CertPool // TLS roots instead of the system's
	extra   []kgo.Opt
}

// New builds a destination from a config. It does no I/O: the client
// connects on first use.
func New(c *Config, deps destination.Deps) (*Destination, error) {
	return newDestination(c, deps, options{})
}

func newDestination(c *Config, deps destination.Deps, o options) (*Destination, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("kafka destination: invalid settings: %w", errs)
	}
	servers, err := parseServers(c.BootstrapServers)
	if err != nil {
		return nil, fmt.Errorf("kafka destination: bootstrap_servers %w", err)
	}
	d := &Destination{
		topic:           c.Topic,
		maxMessageBytes: c.maxMessageBytes(),
		timeout:         c.timeout(),
		password:        c.SASLPassword,
	}
	if c.KeyField != "" {
		if d.key, err = parsePath(c.KeyField); err != nil {
			return nil, fmt.Errorf("kafka destination: key_field: %w", err)
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(servers...),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.ClientID("runnel"),
		// Idempotent (franz-go's default) needs acks from all in-sync
		// replicas; say it anyway.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec(c.compression()), kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(int32(d.maxMessageBytes)),
		// Records that cannot be acknowledged in time fail (when that is
		// safe for the idempotent producer), so a dead cluster does not
		// keep them buffered forever.
		kgo.RecordDeliveryTimeout(d.timeout),
		// Deliver hands over a whole batch at once: there is nothing to
		// wait for.
		kgo.ProducerLinger(0),
		// Guards only: Deliver sends one batch at a time; what stays
		// buffered after an abandoned attempt times out.
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.MaxBufferedBytes(maxBufferedBytes),
	}
	if deps.Logger != nil {
		opts = append(opts, kgo.WithLogger(slogger{deps.Logger.With("stream", deps.Stream, "destination", deps.Destination)}))
	}
	if c.UseTLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.rootCAs}))
	}
	if m := mechanism(c); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	opts = append(opts, o.extra...)
	d.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka destination: %s", d.redact(err.Error()))
	}
	return d, nil
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case CompressionGzip:
		return kgo.GzipCompression()
	case CompressionSnappy:
		return kgo.SnappyCompression()
	case CompressionLZ4:
		return kgo.Lz4Compression()
	case CompressionZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func mechanism(c *Config) sasl.Mechanism {
	switch c.mechanism() {
	case MechanismPlain:
		return plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()
	case MechanismSCRAMSHA256:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()
	case MechanismSCRAMSHA512:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()
	}
	return nil
}

// Deliver produces every record as one message and waits for the
// acknowledgements (acks=all), at most the timeout setting.
//
//   - all acknowledged: nil;
//   - none acknowledged, all for the same reason that is not the record's
//     own (cluster unreachable, timeout, authentication, unknown topic):
//     that error, retry.Permanent when it cannot pass by itself;
//   - otherwise a *destination.BatchError listing the failed records,
//     retry.Permanent for those the broker will never accept (too large,
//     invalid).
//
// The records are copied: the client may still hold them after an
// attempt that timed out.
func (d *Destination) Deliver(ctx context.Context, b destination.Batch) error {
	n := len(b.Records)
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: delivery aborted: %w", err)
	}
	// The client fails records after the timeout with their last error;
	// the grace covers records it cannot fail yet (an idempotent produce
	// request in flight).
	ctx, cancel := context.WithTimeoutCause(ctx, d.timeout+attemptGrace, &timeoutError{d.timeout})
	defer cancel()

	a := newAttempt(n)
	total := 0
	for _, r := range b.Records {
		total += len(r)
	}
	arena := getArena(total)
	recs := make([]kgo.Record, n)
	for i, r := range b.Records {
		start := len(arena)
		arena = append(arena, r...)
		v := arena[start:len(arena):len(arena)]
		var key []byte
		if d.key != nil {
			key = d.key.key(v)
		}
		if size := len(v) + len(key); size+recordOverhead > d.maxMessageBytes {
			a.finish(i, fmt.Errorf("%w: record is %d bytes (key and value), max_message_bytes %d allows %d",
				errTooLarge, size, d.maxMessageBytes, d.maxMessageBytes-recordOverhead))
			continue
		}
		recs[i] = kgo.Record{Key: key, Value: v}
		// Not ctx: franz-go fails every record buffered behind a record
		// whose context ends, which would fail the next attempt's records
		// too. Records are bounded by the record timeout instead, and
		// TryProduce never blocks.
		d.cl.TryProduce(context.Background(), &recs[i], a.promise(i))
	}

	select {
	case <-a.done:
	case <-ctx.Done():
	}
	errs, abandoned := a.end(ctx)
	if !abandoned {
		putArena(arena) // the client is done with every record
	}
	return d.result(errs)
}

// result turns the per-record outcomes into Deliver's error.
func (d *Destination) result(errs []error) error {
	var (
		failed      []destination.ItemError
		first       *Error
		firstClass  class
		uniform     = true
		recordLevel bool
	)
	for i, err := range errs {
		if err == nil {
			continue
		}
		e, c := d.wrapError(err)
		if first == nil {
			first, firstClass = e, c
		} else if c.permanent != firstClass.permanent {
			uniform = false
		}
		recordLevel = recordLevel || c.record
		var item error = e
		if c.permanent {
			item = retry.Permanent(e)
		}
		failed = append(failed, destination.ItemError{Index: i, Err: item})
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) == len(errs) && uniform && !recordLevel:
		if firstClass.permanent {
			return retry.Permanent(first)
		}
		return first
	}
	return &destination.BatchError{Failed: failed}
}

// attempt collects the promises of one Deliver call.
type attempt struct {
	mu        sync.Mutex
	errs      []error
	pending   int
	abandoned bool
	done      chan struct{}
}

// errNotAcked marks a record whose outcome was still unknown when the
// attempt ended.
var errNotAcked = errors.New("not acknowledged")

func newAttempt(n int) *attempt {
	a := &attempt{errs: make([]error, n), pending: n, done: make(chan struct{})}
	for i := range a.errs {
		a.errs[i] = errNotAcked
	}
	return a
}

func (a *attempt) promise(i int) func(*kgo.Record, error) {
	return func(_ *kgo.Record, err error) { a.finish(i, err) }
}

func (a *attempt) finish(i int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.abandoned {
		a.errs[i] = err
	}
	a.pending--
	if a.pending == 0 {
		close(a.done)
	}
}

// end stops recording outcomes and returns them; records still pending get
// the context's cause (the timeout or the caller's cancellation).
// abandoned reports whether some were still pending.
func (a *attempt) end(ctx context.Context) ([]error, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.abandoned = a.pending > 0
	if a.abandoned {
		cause := context.Cause(ctx)
		if ctx.Err() == nil {
			cause = context.Canceled // not reached: done or ctx ended
		}
		for i, err := range a.errs {
			if err == errNotAcked {
				if te, ok := cause.(*timeoutError); ok {
					a.errs[i] = te
				} else {
					a.errs[i] = fmt.Errorf("delivery aborted: %w", cause)
				}
			}
		}
	}
	return a.errs, a.abandoned
}

// Check asks the cluster for the topic's metadata: the brokers must be
// reachable, the credentials accepted, the topic must exist with a leader
// for every partition and, when the broker tells, the user must be allowed
// to write to it. When the topic's max.message.bytes can be read and is
// lower than max_message_bytes, that is an error too.
func (d *Destination) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, d.timeout, &timeoutError{d.timeout})
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(d.topic)
	req.Topics = append(req.Topics, t)
	req.AllowAutoTopicCreation = false
	req.IncludeTopicAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, d.cl)
	if err != nil {
		return d.checkError(ctx, err)
	}
	var mt *kmsg.MetadataResponseTopic
	for i := range resp.Topics {
		if rt := &resp.Topics[i]; rt.Topic != nil && *rt.Topic == d.topic {
			mt = rt
		}
	}
	if mt == nil {
		return d.checkError(ctx, kerr.UnknownTopicOrPartition)
	}
	if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
		return d.checkError(ctx, err)
	}
	if len(mt.Partitions) == 0 {
		return d.checkError(ctx, kerr.UnknownTopicOrPartition)
	}
	for _, p := range mt.Partitions {
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.ReplicaNotAvailable) {
			e, _ := d.wrapError(err)
			e.msg = fmt.Sprintf("%s (partition %d)", e.msg, p.Partition)
			return e
		}
		if p.Leader < 0 {
			e, _ := d.wrapError(kerr.LeaderNotAvailable)
			e.msg = fmt.Sprintf("%s (partition %d)", e.msg, p.Partition)
			return e
		}
	}
	// Bit 4 of the authorized operations is WRITE; math.MinInt32 means
	// the broker did not say.
	const opWrite = 4
	if ops := mt.AuthorizedOperations; ops != math.MinInt32 && ops&(1<<opWrite) == 0 {
		e, _ := d.wrapError(kerr.TopicAuthorizationFailed)
		e.msg = fmt.Sprintf("kafka topic %s: not authorized to write (the user may describe the topic but needs WRITE on it)", d.topic)
		return e
	}
	return d.checkMaxMessageBytes(ctx)
}

// checkMaxMessageBytes compares the topic's max.message.bytes with the
// setting; a broker that does not answer (no DESCRIBE_CONFIGS right) is
// not an error.
func (d *Destination) checkMaxMessageBytes(ctx context.Context) error {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = d.topic
	r.ConfigNames = []string{"max.message.bytes"}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, d.cl)
	if err != nil {
		if ctx.Err() != nil {
			return d.checkError(ctx, err)
		}
		return nil
	}
	for _, res := range resp.Resources {
		if res.ErrorCode != 0 {
			continue
		}
		for _, cfg := range res.Configs {
			if cfg.Name != "max.message.bytes" || cfg.Value == nil {
				continue
			}
			var limit int
			if _, err := fmt.Sscan(*cfg.Value, &limit); err != nil || limit <= 0 {
				continue
			}
			if limit < d.maxMessageBytes {
				return &Error{
					msg: fmt.Sprintf("kafka topic %s: the topic's max.message.bytes is %d, lower than max_message_bytes %d: set max_message_bytes to %d or less, or batches will be rejected",
						d.topic, limit, d.maxMessageBytes, limit),
					status: 400,
				}
			}
		}
	}
	return nil
}

// checkError classifies a probe failure: timeouts say so, a missing topic
// is named.
func (d *Destination) checkError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if te, ok := context.Cause(ctx).(*timeoutError); ok {
			return &Error{msg: fmt.Sprintf("kafka: cannot reach the cluster at bootstrap_servers: %s", te.Error()), err: te}
		}
	}
	e, c := d.wrapError(err)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		e.msg = fmt.Sprintf("kafka topic %s does not exist (Runnel never creates topics: create it first)", d.topic)
	} else if c.hint == "" && !errors.As(err, new(*kerr.Error)) {
		e.msg = d.redact(fmt.Sprintf("kafka: cannot reach the cluster at bootstrap_servers: %v", err))
	}
	return e
}

// Close flushes what the client still buffers (records of attempts that
// timed out) within ctx, then closes the client. Later calls do nothing.
func (d *Destination) Close(ctx context.Context) error {
	d.closeOnce.Do(func() {
		err := d.cl.Flush(ctx)
		d.cl.Close()
		if err != nil {
			d.closeErr = fmt.Errorf("kafka: close: records left unflushed: %w", err)
		}
	})
	return d.closeErr
}

// Arenas for the copies of the records, reused when an attempt ended with
// every record settled.
const maxPooledArena = 16 << 20

var arenaPool sync.Pool

func getArena(n int) []byte {
	if p, ok := arenaPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, max(n, 64<<10))
}

func putArena(b []byte) {
	if cap(b) > maxPooledArena {
		return
	}
	b = b[:0]
	arenaPool.Put(&b)
}

// slogger passes the client's warnings and errors to slog.
type slogger struct{ l *slog.Logger }

func (s slogger) Level() kgo.LogLevel { return kgo.LogLevelError }

func (s slogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelError
	if level > kgo.LogLevelError {
		lvl = slog.LevelWarn
	}
	s.l.Log(context.Background(), lvl, "kafka client: "+msg, keyvals...)
}
