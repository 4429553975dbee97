package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline/processors"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
	"github.com/runnel/runnel/internal/template"
)

// testMetrics is shared by the tests; created outside any synctest bubble.
var testMetrics = telemetry.NewMetrics()

// fakeMsg is a frame message that records how it was settled.
type fakeMsg struct {
	data []byte
	hdr  nats.Header

	mu         sync.Mutex
	acks, naks int
	inProgress int
	ackedAt    time.Time
}

func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Headers() nats.Header { return m.hdr }
func (m *fakeMsg) Ack() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acks++
	m.ackedAt = time.Now()
	return nil
}
func (m *fakeMsg) Nak() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.naks++
	return nil
}
func (m *fakeMsg) InProgress() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inProgress++
	return nil
}

func (m *fakeMsg) state() (acks, naks, inProgress int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acks, m.naks, m.inProgress
}

// newFrame builds a frame message holding events (one JSON object each).
func newFrame(onlyDest string, events ...string) *fakeMsg {
	nm := event.Message("runnel.ev.s", &event.Frame{
		Workspace: "w", Stream: "s", Count: len(events), Received: time.Now(), OnlyDest: onlyDest,
		Body: []byte(strings.Join(events, "\n")),
	}, "")
	return &fakeMsg{data: nm.Data, hdr: nm.Header}
}

// ev is a test event: {"n":n} padded with pad bytes.
func ev(n int, pad int) string {
	if pad == 0 {
		return fmt.Sprintf(`{"n":%d}`, n)
	}
	return fmt.Sprintf(`{"n":%d,"p":"%s"}`, n, strings.Repeat("x", pad))
}

// call is one Deliver call as the fake destination saw it.
type call struct {
	at      time.Time
	records []string
	payload string
}

// fakeDest records calls; fn decides each call's outcome.
type fakeDest struct {
	mu    sync.Mutex
	calls []call
	fn    func(i int, c call) error // i counts from 0; nil: success
}

func (f *fakeDest) Deliver(ctx context.Context, b destination.Batch) error {
	c := call{at: time.Now(), payload: string(b.Framer.Frame(nil, b.Records))}
	for _, r := range b.Records {
		c.records = append(c.records, string(r))
	}
	f.mu.Lock()
	i := len(f.calls)
	f.calls = append(f.calls, c)
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(i, c)
}

func (f *fakeDest) Close(context.Context) error { return nil }

func (f *fakeDest) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// checkerDest is a fakeDest with a health probe; a probe takes delay.
type checkerDest struct {
	*fakeDest
	mu     sync.Mutex
	probes []time.Time
	ok     bool
	delay  time.Duration
}

func (c *checkerDest) Check(ctx context.Context) error {
	c.mu.Lock()
	c.probes = append(c.probes, time.Now())
	ok, delay := c.ok, c.delay
	c.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ok {
		return nil
	}
	return fmt.Errorf("connection refused")
}

func (c *checkerDest) setOK(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok = ok
}

func (c *checkerDest) probeTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.probes...)
}

// fakeSink keeps dead letters in memory.
type fakeSink struct {
	mu  sync.Mutex
	dls []DeadLetter
	err error
}

func (s *fakeSink) Put(_ context.Context, dls []DeadLetter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, dl := range dls {
		dl.Event = append(json.RawMessage(nil), dl.Event...)
		s.dls = append(s.dls, dl)
	}
	return nil
}

func (s *fakeSink) snapshot() []DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeadLetter(nil), s.dls...)
}

// statusErr is a destination error with an HTTP status.
type statusErr struct{ code int }

func (e statusErr) Error() string   { return fmt.Sprintf("target answered %d", e.code) }
func (e statusErr) StatusCode() int { return e.code }

// rig runs a deliverer inside the current synctest bubble.
type rig struct {
	t    *testing.T
	d    *Deliverer
	dest *fakeDest
	sink *fakeSink
	src  chan Msg
	stop context.CancelFunc
	done chan struct{}
}

type rigOpts struct {
	maxEvents int
	maxAge    time.Duration
	maxSize   int
	sep       *string
	format    string
	ascii     bool
	vars      []string
	limits    destination.Limits
	dest      destination.Destination
	batches   int
	backoff   retry.Backoff // zero: retry.DefaultBackoff
	interval  time.Duration // health interval; zero: 1 minute
	// procs (processors JSON) and route, with the CEL variables procVars:
	// the deliverer gets a chain when either is set.
	procs    string
	route    string
	procVars []string
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	if o.maxEvents == 0 {
		o.maxEvents = 100
	}
	if o.maxAge == 0 {
		o.maxAge = time.Minute
	}
	if o.maxSize == 0 {
		o.maxSize = 1_000_000
	}
	if o.interval == 0 {
		o.interval = time.Minute
	}
	tpl, err := template.Compile(o.vars, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := template.NewPayload(o.format, o.sep, o.maxSize, o.ascii)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, sink: &fakeSink{}, src: make(chan Msg), done: make(chan struct{})}
	var dst destination.Destination
	switch d := o.dest.(type) {
	case nil:
		r.dest = &fakeDest{}
		dst = r.dest
	case *fakeDest:
		r.dest, dst = d, d
	case *checkerDest:
		r.dest, dst = d.fakeDest, d
	default:
		dst = d
	}
	var chain *processors.Chain
	if o.procs != "" || o.route != "" {
		var errs model.FieldErrors
		chain, errs = processors.Compile(json.RawMessage(o.procs), processors.Options{
			Vars: o.procVars, Routes: []processors.Route{{Path: "destinations[0].route", Expr: o.route}}, Salt: []byte("salt"),
		})
		if errs != nil {
			t.Fatal(errs)
		}
	}
	r.d, err = NewDeliverer(Config{
		StreamID: "str_test", Workspace: "w", StreamName: "s", Destination: "me",
		Dest: dst, Limits: o.limits, Template: tpl, Payload: p, Chain: chain, Renderer: processors.NewRenderer(tpl),
		MaxEvents: o.maxEvents, MaxAge: o.maxAge, HealthInterval: o.interval, Backoff: o.backoff,
		DeadLetters: r.sink, Metrics: testMetrics, batches: o.batches,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.stop = cancel
	go func() {
		defer close(r.done)
		r.d.Run(ctx, r.src)
	}()
	t.Cleanup(func() { r.shutdown() })
	return r
}

// send hands a message to the deliverer (it blocks until taken).
func (r *rig) send(ms ...*fakeMsg) {
	for _, m := range ms {
		r.src <- m
	}
}

func (r *rig) shutdown() {
	r.stop()
	<-r.done
}
