package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/pipeline/processors"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
	"github.com/runnel/runnel/internal/template"
)

// Defaults of a deliverer's timing.
const (
	DefaultDrainTimeout   = 30 * time.Second
	DefaultAttemptTimeout = 5 * time.Minute
	maxProbeTime          = 30 * time.Second
)

// Config is what one deliverer needs: the compiled template and payload
// of its stream version, the built destination, and where to report.
type Config struct {
	StreamID    string
	Workspace   string // metric label
	StreamName  string // metric label
	Destination string // the destination's name

	Dest     destination.Destination
	Limits   destination.Limits
	Template *template.Template
	Payload  *template.Payload
	// Chain is the destination's processing (the stream's domains,
	// sampling and processors, then its route as route 0), with Renderer
	// the plan's; nil: every event goes straight to the template.
	Chain    *processors.Chain
	Renderer *processors.Renderer

	// MaxEvents and MaxAge are the destination's batch options.
	MaxEvents int
	MaxAge    time.Duration
	// HealthInterval is the probe period of a destination.Checker
	// (default 60 s).
	HealthInterval time.Duration
	// Backoff between retries (default retry.DefaultBackoff).
	Backoff retry.Backoff
	// DrainTimeout bounds how long a stopping deliverer waits for the send
	// attempt in flight (default 30 s).
	DrainTimeout time.Duration
	// AttemptTimeout is a safety net over one Deliver call; destinations
	// own their timeouts (HTTP: 20 s), this only ends calls that never
	// return (default 5 min; negative: none).
	AttemptTimeout time.Duration

	DeadLetters DeadLetterSink
	// Stats outlive the deliverer (nil: private).
	Stats   *Stats
	Metrics *telemetry.Metrics
	Logger  *slog.Logger

	// batches is the number of batch objects: 2 pipelines building with
	// sending; 1 builds and sends in series (benchmark comparison).
	batches int
}

// Deliverer consumes frames of one destination, renders, batches, sends
// with retries, dead-letters and acks. A Deliverer runs once.
type Deliverer struct {
	cfg       Config
	maxEvents int
	maxBytes  int // framed payload bound, 0: none
	maxRecord int // encoded record bound, 0: none
	checker   destination.Checker
	stats     *Stats
	m         metricSet
	log       *slog.Logger

	soft, hard context.Context
	// nakAfter, when set, is waited for before held messages are nak'd.
	nakAfter <-chan struct{}

	free    chan *batch
	handoff chan *batch

	heldMu sync.Mutex
	held   inflight // sentinel of the list of messages not yet acked
	nheld  int

	// builder state
	timer   *time.Timer
	timerC  <-chan time.Time
	cur     *batch
	curMsg  *inflight
	curN    int64 // events of curMsg in cur
	scratch []byte
	carry   []byte
	dls     []DeadLetter // builder's dead letters of the current frame
	pc      procCounts   // builder's processing counts of the current frame

	// sender state
	idx, next []int
	recs      [][]byte
	sdls      []DeadLetter

	// health (destination.Checker only): probed is closed after the first
	// probe; probeNow asks the prober for a probe out of schedule.
	probed   chan struct{}
	probeNow chan struct{}
}

// DeadLetterSink stores dead letters durably; Put returns once they are
// stored. Deliverers retry a failed Put (a dead letter's msgID makes the
// retry idempotent).
type DeadLetterSink interface {
	Put(ctx context.Context, dls []DeadLetter) error
}

// NewDeliverer checks the configuration and builds a deliverer.
func NewDeliverer(cfg Config) (*Deliverer, error) {
	switch {
	case cfg.Dest == nil:
		return nil, errors.New("delivery: no destination")
	case cfg.Template == nil || cfg.Payload == nil:
		return nil, errors.New("delivery: no template or payload")
	case cfg.Chain != nil && cfg.Renderer == nil:
		return nil, errors.New("delivery: a chain without its renderer")
	case cfg.DeadLetters == nil:
		return nil, errors.New("delivery: no dead-letter sink")
	case cfg.MaxAge <= 0:
		return nil, errors.New("delivery: batch max_age must be positive")
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 60 * time.Second
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff = retry.DefaultBackoff
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.batches <= 0 {
		cfg.batches = 2
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{
		cfg:       cfg,
		maxEvents: cfg.MaxEvents,
		maxBytes:  cfg.Payload.MaxSize(),
		maxRecord: cfg.Limits.MaxRecord,
		stats:     cfg.Stats,
		m:         newMetricSet(cfg.Metrics, cfg.Workspace, cfg.StreamName, cfg.Destination),
		log:       cfg.Logger.With("stream", cfg.StreamID, "destination", cfg.Destination),
		free:      make(chan *batch, cfg.batches),
		handoff:   make(chan *batch),
		probed:    make(chan struct{}),
		probeNow:  make(chan struct{}, 1),
	}
	if d.maxEvents <= 0 || (cfg.Limits.MaxEvents > 0 && cfg.Limits.MaxEvents < d.maxEvents) {
		d.maxEvents = cfg.Limits.MaxEvents
	}
	if d.maxEvents <= 0 {
		d.maxEvents = 2000
	}
	if lb := cfg.Limits.MaxBytes; lb > 0 && (d.maxBytes == 0 || lb < d.maxBytes) {
		d.maxBytes = lb
	}
	d.checker, _ = cfg.Dest.(destination.Checker)
	d.held.next, d.held.prev = &d.held, &d.held
	for range cfg.batches {
		d.free <- new(batch)
	}
	return d, nil
}

// Stats returns the deliverer's counters and health.
func (d *Deliverer) Stats() *Stats { return d.stats }

// Run delivers the messages read from src until src is closed and
// everything read is settled, or until ctx is done. After ctx is done it
// stops taking messages, waits (at most DrainTimeout) for the send attempt
// in flight and settles its outcome, then naks every message it still
// holds.
func (d *Deliverer) Run(ctx context.Context, src <-chan Msg) {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	d.soft, d.hard = ctx, hard
	d.stats.chain.Store(d.cfg.Chain)
	d.stats.setRunning(1)
	defer d.stats.setRunning(-1)
	if d.stats.isAvailable() {
		d.m.healthy.Set(1)
	} else {
		d.m.healthy.Set(0)
	}

	done := make(chan struct{})
	var aux sync.WaitGroup
	aux.Go(func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(d.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelHard()
		case <-done:
		}
	})
	aux.Go(func() { d.keepInProgress(done) })
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	if d.checker != nil {
		aux.Go(func() { d.probeLoop(probeCtx) })
	}

	var pipe sync.WaitGroup
	pipe.Go(func() { d.build(src) })
	pipe.Go(d.send)
	pipe.Wait()
	stopProbes()
	close(done)
	aux.Wait()
	if d.checker != nil {
		d.stats.setNextProbe(time.Time{})
	}
	if d.nakAfter != nil {
		<-d.nakAfter
	}
	d.nakHeld()
}

// ---- messages in flight ----

// inflight is a message held by the deliverer. pending counts its events
// not yet settled, plus one while the builder still places its events.
type inflight struct {
	msg        Msg
	pending    atomic.Int64
	received   time.Time
	prev, next *inflight
}

var inflightPool = sync.Pool{New: func() any { return new(inflight) }}

func (d *Deliverer) hold(m Msg, received time.Time) *inflight {
	inf := inflightPool.Get().(*inflight)
	inf.msg, inf.received = m, received
	inf.pending.Store(1)
	d.heldMu.Lock()
	inf.prev, inf.next = d.held.prev, &d.held
	d.held.prev.next = inf
	d.held.prev = inf
	d.nheld++
	d.heldMu.Unlock()
	return inf
}

// settle adds delta to the message's pending count and acks it when it
// reaches zero.
func (d *Deliverer) settle(inf *inflight, delta int64) {
	if inf.pending.Add(delta) != 0 {
		return
	}
	d.heldMu.Lock()
	inf.prev.next, inf.next.prev = inf.next, inf.prev
	inf.prev, inf.next = nil, nil
	d.nheld--
	d.heldMu.Unlock()
	if err := inf.msg.Ack(); err != nil {
		d.log.Debug("ack failed", "error", err)
	}
	inf.msg = nil
	inflightPool.Put(inf)
}

// keepInProgress marks held messages in progress every progressInterval
// so JetStream does not redeliver them while they wait in a batch or a
// retry.
func (d *Deliverer) keepInProgress(done <-chan struct{}) {
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	var msgs []Msg
	for {
		select {
		case <-t.C:
		case <-done:
			return
		}
		d.heldMu.Lock()
		for inf := d.held.next; inf != &d.held; inf = inf.next {
			msgs = append(msgs, inf.msg)
		}
		d.heldMu.Unlock()
		for i, m := range msgs {
			_ = m.InProgress()
			msgs[i] = nil
		}
		msgs = msgs[:0]
	}
}

// nakHeld returns every message still held to the consumer.
func (d *Deliverer) nakHeld() {
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	for inf := d.held.next; inf != &d.held; {
		next := inf.next
		_ = inf.msg.Nak()
		inf.prev, inf.next, inf.msg = nil, nil, nil
		inflightPool.Put(inf)
		inf = next
	}
	d.held.next, d.held.prev = &d.held, &d.held
	d.nheld = 0
}

// ---- batches ----

// batch holds encoded records back to back in buf.
type batch struct {
	buf      []byte
	ends     []int       // end of record i in buf
	refs     []*inflight // message of record i
	events   [][]byte    // original event of record i (aliases the message)
	attempts []int
	recs     [][]byte // records, built by seal
}

func (b *batch) n() int { return len(b.ends) }

func (b *batch) add(ref *inflight, ev []byte) {
	b.ends = append(b.ends, len(b.buf))
	b.refs = append(b.refs, ref)
	b.events = append(b.events, ev)
	b.attempts = append(b.attempts, 0)
}

func (b *batch) seal() {
	b.recs = b.recs[:0]
	start := 0
	for _, e := range b.ends {
		b.recs = append(b.recs, b.buf[start:e:e])
		start = e
	}
}

func (b *batch) reset() {
	clear(b.refs)
	clear(b.events)
	clear(b.recs)
	b.buf, b.ends, b.refs, b.events, b.attempts, b.recs = b.buf[:0], b.ends[:0], b.refs[:0], b.events[:0], b.attempts[:0], b.recs[:0]
}

// ---- builder ----

func (d *Deliverer) build(src <-chan Msg) {
	defer close(d.handoff)
	d.timer = time.NewTimer(time.Hour)
	d.timer.Stop()
	defer d.timer.Stop()
	d.cur = <-d.free
	for {
		select {
		case m, ok := <-src:
			if !ok {
				if d.cur.n() > 0 {
					d.flush()
				}
				return
			}
			if !d.frame(m) {
				return
			}
		case <-d.timerC:
			d.timerC = nil
			if d.cur.n() > 0 && !d.flush() {
				return
			}
		case <-d.soft.Done():
			return
		}
	}
}

// flush hands the current batch to the sender and takes a free one.
func (d *Deliverer) flush() bool {
	d.timer.Stop()
	d.timerC = nil
	d.cur.seal()
	if d.curMsg != nil && d.curN > 0 {
		d.curMsg.pending.Add(d.curN)
		d.curN = 0
	}
	select {
	case d.handoff <- d.cur:
	case <-d.soft.Done():
		return false
	}
	d.cur = nil
	select {
	case d.cur = <-d.free:
		return true
	case <-d.soft.Done():
		return false
	}
}

// frame places the events of one message; false when the deliverer stops.
func (d *Deliverer) frame(m Msg) bool {
	f := event.Parse(m.Headers(), m.Data())
	if f.OnlyDest != "" && f.OnlyDest != d.cfg.Destination {
		// A dead-letter replay for another destination: nothing for us.
		if err := m.Ack(); err != nil {
			d.log.Debug("ack failed", "error", err)
		}
		return true
	}
	inf := d.hold(m, f.Received)
	d.curMsg, d.curN = inf, 0
	ascii := d.cfg.Payload.ASCIIOnly()
	n := 0
	for body := f.Body; len(body) > 0; {
		ev := body
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			ev, body = body[:j], body[j+1:]
		} else {
			body = nil
		}
		if len(ev) == 0 {
			continue
		}
		n++
		cur := d.cur
		start := len(cur.buf)
		if d.cfg.Chain != nil {
			if !d.process(ev, eventKey(f.Received, n, ev)) {
				continue
			}
		} else {
			var err error
			if ascii {
				d.scratch, err = d.cfg.Template.Render(d.scratch[:0], ev)
				if err == nil {
					cur.buf = d.cfg.Payload.Encode(cur.buf, d.scratch)
				}
			} else {
				cur.buf, err = d.cfg.Template.Render(cur.buf, ev)
			}
			if err != nil {
				cur.buf = cur.buf[:start]
				d.dls = append(d.dls, d.deadLetter(ev, "render: "+err.Error(), StatusUnprocessed, 0))
				continue
			}
		}
		l := len(cur.buf) - start
		if limit, over := d.oversize(l); over {
			cur.buf = cur.buf[:start]
			d.dls = append(d.dls, d.deadLetter(ev, fmt.Sprintf("event of %d bytes exceeds max_size %d", l, limit), StatusTooLarge, 0))
			continue
		}
		if cur.n() > 0 && d.maxBytes > 0 && d.cfg.Payload.Size(cur.n()+1, len(cur.buf)) > d.maxBytes {
			d.carry = append(d.carry[:0], cur.buf[start:]...)
			cur.buf = cur.buf[:start]
			if !d.flush() {
				return false
			}
			cur = d.cur
			cur.buf = append(cur.buf, d.carry...)
		}
		cur.add(inf, ev)
		d.curN++
		if cur.n() == 1 {
			d.timer.Reset(d.cfg.MaxAge)
			d.timerC = d.timer.C
		}
		if cur.n() >= d.maxEvents && !d.flush() {
			return false
		}
	}
	d.stats.processed.Add(uint64(n))
	d.m.processed.Add(float64(n))
	if d.pc != (procCounts{}) {
		d.counted(d.pc)
		d.pc = procCounts{}
	}
	if len(d.dls) > 0 {
		if !d.putDeadLetters(d.dls) {
			return false
		}
		d.deadLettered(len(d.dls))
		clear(d.dls)
		d.dls = d.dls[:0]
	}
	d.curMsg = nil
	d.settle(inf, d.curN-1)
	d.curN = 0
	return true
}

// oversize reports whether a record of l bytes can never be sent, and the
// limit it exceeds.
func (d *Deliverer) oversize(l int) (int, bool) {
	if !d.cfg.Payload.Fits(l) {
		return d.cfg.Payload.MaxSize(), true
	}
	if d.maxBytes > 0 && d.cfg.Payload.Size(1, l) > d.maxBytes {
		return d.maxBytes, true
	}
	if d.maxRecord > 0 && l > d.maxRecord {
		return d.maxRecord, true
	}
	return 0, false
}

func (d *Deliverer) deadLetter(ev []byte, reason string, status, attempts int) DeadLetter {
	raw := json.RawMessage(ev)
	if !json.Valid(ev) {
		raw, _ = json.Marshal(string(ev))
	}
	return DeadLetter{
		StreamID:    d.cfg.StreamID,
		Destination: d.cfg.Destination,
		Event:       raw,
		Error:       cleanText(reason),
		StatusCode:  status,
		Attempts:    attempts,
		Time:        time.Now().UTC(),
		msgID:       nuid.Next(),
	}
}

// putDeadLetters stores dead letters, retrying until they are stored or
// the deliverer stops.
func (d *Deliverer) putDeadLetters(dls []DeadLetter) bool {
	for attempt := 1; ; attempt++ {
		err := d.cfg.DeadLetters.Put(d.hard, dls)
		if err == nil {
			if attempt > 1 {
				d.log.Info("dead-letter store recovered")
			}
			return true
		}
		if d.hard.Err() != nil {
			return false
		}
		if attempt == 1 {
			d.log.Warn("dead-letter store failed, retrying", "error", err)
		}
		if !sleep(d.soft, d.cfg.Backoff.Delay(attempt, err)) {
			return false
		}
	}
}

func (d *Deliverer) deadLettered(n int) {
	d.stats.deadLettered.Add(uint64(n))
	d.m.deadLettered.Add(float64(n))
}

// ---- sender ----

func (d *Deliverer) send() {
	for {
		select {
		case b, ok := <-d.handoff:
			if !ok {
				return
			}
			if !d.deliver(b) {
				return
			}
			b.reset()
			d.free <- b
		case <-d.soft.Done():
			return
		}
	}
}

// probeLoop probes a destination.Checker at once, then every
// HealthInterval whether it is available or not, and out of schedule when
// the sender asks (a send failed and its retry delay has passed without a
// probe). It ends with ctx.
func (d *Deliverer) probeLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	first := true
	for {
		select {
		case <-t.C:
		case <-d.probeNow:
			if !d.stats.needsProbe() {
				continue // a scheduled probe already ran since the failure
			}
			t.Stop()
		case <-ctx.Done():
			return
		}
		if !d.probe(ctx) {
			return
		}
		if first {
			first = false
			close(d.probed)
		}
		d.stats.setNextProbe(time.Now().Add(d.cfg.HealthInterval))
		t.Reset(d.cfg.HealthInterval)
	}
}

// probe checks a destination.Checker and records the outcome; false when
// ctx ended first (the outcome is not recorded).
func (d *Deliverer) probe(ctx context.Context) bool {
	start := time.Now()
	d.stats.probeStarted(start)
	pctx, cancel := context.WithTimeout(ctx, maxProbeTime)
	err := d.checker.Check(pctx)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	now := time.Now()
	d.m.probeTime.Observe(now.Sub(start).Seconds())
	if err == nil {
		d.m.probeOK.Inc()
	} else {
		d.m.probeErr.Inc()
	}
	if d.stats.probe(start, now, err) {
		d.healthChanged(err == nil, err)
	}
	return true
}

// healthChanged logs a change of health and sets the gauge from the
// current state (the prober and the sender may both change it).
func (d *Deliverer) healthChanged(available bool, err error) {
	if d.stats.isAvailable() {
		d.m.healthy.Set(1)
	} else {
		d.m.healthy.Set(0)
	}
	if available {
		d.log.Info("destination available")
	} else {
		d.log.Warn("destination unavailable", "error", cleanError(err))
	}
}

// waitAvailable holds sends while a Checker destination is unavailable:
// the send is skipped (status 503) until a probe succeeds. The first send
// waits for the first probe. When no probe has run since the last failed
// send, one is asked for now.
func (d *Deliverer) waitAvailable() bool {
	if d.checker == nil {
		return true
	}
	select {
	case <-d.probed:
	case <-d.soft.Done():
		return false
	}
	for {
		wait, ok, probe := d.stats.gate()
		if ok {
			return true
		}
		d.stats.skipped()
		if probe {
			select {
			case d.probeNow <- struct{}{}:
			default:
			}
		}
		select {
		case <-wait:
		case <-d.soft.Done():
			return false
		}
	}
}

// deliver sends one batch until every record is delivered or
// dead-lettered; false when the deliverer stops first (what is not
// settled then is nak'd by Run).
func (d *Deliverer) deliver(b *batch) bool {
	if d.soft.Err() != nil {
		return false
	}
	d.idx = d.idx[:0]
	for i := range b.recs {
		d.idx = append(d.idx, i)
	}
	for attempt := 1; ; attempt++ {
		if !d.waitAvailable() {
			return false
		}
		d.recs = d.recs[:0]
		size := 0
		for _, i := range d.idx {
			d.recs = append(d.recs, b.recs[i])
			size += len(b.recs[i])
			b.attempts[i]++
		}
		ctx, cancel := d.hard, context.CancelFunc(func() {})
		if d.cfg.AttemptTimeout > 0 {
			ctx, cancel = context.WithTimeout(d.hard, d.cfg.AttemptTimeout)
		}
		err := d.cfg.Dest.Deliver(ctx, destination.Batch{Records: d.recs, Framer: d.cfg.Payload})
		cancel()
		clear(d.recs)
		if err != nil && d.hard.Err() != nil {
			return false // aborted: the outcome is unknown, redeliver
		}
		now := time.Now()
		status := StatusOf(err)
		var be *destination.BatchError
		switch {
		case err == nil:
			if d.stats.attempt(now, status, nil, true) {
				d.healthChanged(true, nil)
			}
			d.m.batchBytes.Observe(float64(d.cfg.Payload.Size(len(d.idx), size)))
			d.delivered(b, d.idx, now)
			return true

		case errors.As(err, &be):
			if d.stats.attempt(now, StatusPartial, err, true) {
				d.healthChanged(true, nil)
			}
			retryErr, ok := d.partial(b, be, now)
			if !ok {
				return false
			}
			if len(d.idx) == 0 {
				return true
			}
			if !d.backoff(attempt, retryErr) {
				return false
			}

		case retry.IsPermanent(err):
			if d.stats.attempt(now, status, err, true) {
				d.healthChanged(true, nil)
			}
			d.failedEvents(len(d.idx))
			d.sdls = d.sdls[:0]
			for _, i := range d.idx {
				d.sdls = append(d.sdls, d.deadLetter(b.events[i], err.Error(), status, b.attempts[i]))
			}
			if !d.putDeadLetters(d.sdls) {
				return false
			}
			d.deadLettered(len(d.sdls))
			clear(d.sdls)
			d.settleIdx(b, d.idx)
			return true

		default:
			if d.stats.attempt(now, status, err, false) {
				d.healthChanged(false, err)
			}
			d.failedEvents(len(d.idx))
			if !d.backoff(attempt, err) {
				return false
			}
		}
	}
}

func (d *Deliverer) failedEvents(n int) {
	d.stats.failed.Add(uint64(n))
	d.m.failed.Add(float64(n))
}

// backoff waits before retry attempt+1 and counts the retry. For a
// Checker destination made unavailable by the failure, a successful probe
// ends the wait early, unless the target asked for a Retry-After.
func (d *Deliverer) backoff(attempt int, err error) bool {
	if err == nil {
		err = errors.New("retry")
	}
	var early <-chan struct{}
	if _, ok := retry.RetryAfter(err); !ok && d.checker != nil {
		early = d.stats.availableAgain()
	}
	t := time.NewTimer(d.cfg.Backoff.Delay(attempt, err))
	select {
	case <-t.C:
	case <-early:
		t.Stop()
	case <-d.soft.Done():
		t.Stop()
		return false
	}
	d.stats.retried.Add(1)
	d.m.retried.Inc()
	return true
}

// partial handles a BatchError: settles what was delivered, dead-letters
// permanent failures and leaves the retryable records in d.idx. It
// returns the first retryable record error (its Retry-After counts).
func (d *Deliverer) partial(b *batch, be *destination.BatchError, now time.Time) (retryErr error, ok bool) {
	errs := make([]error, len(d.idx))
	for _, fe := range be.Failed {
		if fe.Index < 0 || fe.Index >= len(errs) || errs[fe.Index] != nil {
			continue
		}
		errs[fe.Index] = fe.Err
		if fe.Err == nil {
			errs[fe.Index] = errors.New("record failed")
		}
	}
	var good, dead []int
	d.next, d.sdls = d.next[:0], d.sdls[:0]
	for k, i := range d.idx {
		switch e := errs[k]; {
		case e == nil:
			good = append(good, i)
		case retry.IsPermanent(e):
			dead = append(dead, i)
			d.sdls = append(d.sdls, d.deadLetter(b.events[i], e.Error(), StatusOf(e), b.attempts[i]))
		default:
			d.next = append(d.next, i)
			if retryErr == nil {
				retryErr = e
			}
		}
	}
	d.failedEvents(len(dead) + len(d.next))
	if len(good) > 0 {
		d.delivered(b, good, now)
	}
	if len(dead) > 0 {
		if !d.putDeadLetters(d.sdls) {
			return nil, false
		}
		d.deadLettered(len(dead))
		clear(d.sdls)
		d.settleIdx(b, dead)
	}
	d.idx, d.next = d.next, d.idx
	return retryErr, true
}

// delivered counts and settles delivered records.
func (d *Deliverer) delivered(b *batch, idx []int, now time.Time) {
	d.stats.delivered.Add(uint64(len(idx)))
	d.m.delivered.Add(float64(len(idx)))
	for _, i := range idx {
		if r := b.refs[i].received; !r.IsZero() {
			d.m.latency.Observe(now.Sub(r).Seconds())
		}
	}
	d.settleIdx(b, idx)
}

// settleIdx settles records, one pending update per run of records of the
// same message.
func (d *Deliverer) settleIdx(b *batch, idx []int) {
	var (
		run *inflight
		n   int64
	)
	for _, i := range idx {
		ref := b.refs[i]
		if ref != run {
			if run != nil {
				d.settle(run, -n)
			}
			run, n = ref, 0
		}
		n++
	}
	if run != nil {
		d.settle(run, -n)
	}
}
