package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// Options tune a Manager; the zero value is the production setting.
type Options struct {
	// Backoff between delivery retries (default retry.DefaultBackoff).
	Backoff retry.Backoff
	// DrainTimeout bounds how long a stopping deliverer waits for its send
	// attempt in flight (default 30 s).
	DrainTimeout time.Duration
	// AttemptTimeout is a safety net over one send (default 5 min).
	AttemptTimeout time.Duration
	// HTTPClient is the base client handed to destinations.
	HTTPClient *http.Client
	// BacklogInterval is how often the backlog gauge is refreshed (default 30 s).
	BacklogInterval time.Duration
	// Plan gives the server-side compile options of a stream (its salt,
	// the lookup directory); nil: none (enrich lookups refused, no salt).
	Plan func(st *model.Stream) pipeline.Options
}

// Manager runs one deliverer per destination of every active stream on
// this node and answers status questions about them.
type Manager struct {
	b    *bus.Bus
	reg  *destination.Registry
	met  *telemetry.Metrics
	log  *slog.Logger
	opts Options
	dlq  DeadLetterSink

	mu      sync.Mutex
	ctx     context.Context // set by Run
	stopped bool
	streams map[string]*streamRun
	wg      sync.WaitGroup
}

// streamRun is the running state of one stream.
type streamRun struct {
	st      *model.Stream
	runners map[string]*runner    // by destination name
	stats   map[string]*destStats // by destination name; survives restarts
}

type runner struct {
	hash   string
	cancel context.CancelFunc
	done   chan struct{}
}

type destStats struct {
	stats           *Stats
	workspace, name string // metric labels in use
}

// NewManager builds a manager; nothing runs before Run.
func NewManager(b *bus.Bus, reg *destination.Registry, m *telemetry.Metrics, log *slog.Logger, opts Options) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.BacklogInterval <= 0 {
		opts.BacklogInterval = 30 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	return &Manager{b: b, reg: reg, met: m, log: log, opts: opts, dlq: NewDeadLetterSink(b), streams: map[string]*streamRun{}}
}

// Run starts the deliverers of the streams applied so far, keeps them
// matching later Apply and Remove calls, and refreshes the backlog gauge.
// When ctx is done it stops every deliverer (each finishes its send in
// flight, bounded by DrainTimeout) and returns once they all have.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	for _, sr := range m.streams {
		m.reconcile(sr)
	}
	m.mu.Unlock()
	m.log.Info("delivery started")

	t := time.NewTicker(m.opts.BacklogInterval)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-t.C:
			m.refreshBacklog(ctx)
		case <-ctx.Done():
			done = true
		}
	}
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	m.log.Info("delivery stopped")
	return nil
}

// Apply makes the deliverers of a stream match this version of it: one
// per destination when active, none when inactive. A destination whose
// configuration or the stream's template changed is restarted (the old
// deliverer finishes its send in flight, then the new one starts); one
// that did not change keeps running. Stream secrets must be decrypted,
// and st must not be modified afterwards. Apply before Run is recorded
// and takes effect when Run starts.
func (m *Manager) Apply(st *model.Stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	sr := m.streams[st.ID]
	if sr == nil {
		sr = &streamRun{runners: map[string]*runner{}, stats: map[string]*destStats{}}
		m.streams[st.ID] = sr
	}
	sr.st = st
	if m.ctx != nil {
		m.reconcile(sr)
	}
}

// Remove stops the deliverers of a deleted stream and forgets its
// counters.
func (m *Manager) Remove(streamID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sr := m.streams[streamID]
	if sr == nil {
		return
	}
	for _, r := range sr.runners {
		r.cancel()
	}
	for name, ds := range sr.stats {
		m.forgetMetrics(sr.runners[name], ds.workspace, ds.name, name)
	}
	delete(m.streams, streamID)
}

// reconcile starts, stops and restarts deliverers; m.mu is held.
func (m *Manager) reconcile(sr *streamRun) {
	st := sr.st
	want := map[string]string{}
	if st.Active() {
		for i := range st.Destinations {
			want[st.Destinations[i].Name] = configHash(st, &st.Destinations[i])
		}
	}
	stopping := map[string]*runner{}
	for name, r := range sr.runners {
		if h, ok := want[name]; !ok || h != r.hash {
			r.cancel()
			if !ok {
				stopping[name] = r
				delete(sr.runners, name)
			}
		}
	}
	for name, ds := range sr.stats {
		if _, ok := st.Destination(name); !ok {
			m.forgetMetrics(stopping[name], ds.workspace, ds.name, name)
			delete(sr.stats, name)
		}
	}
	var plan *pipeline.Plan
	for i := range st.Destinations {
		d := &st.Destinations[i]
		h, ok := want[d.Name]
		if !ok {
			continue
		}
		prev := sr.runners[d.Name]
		if prev != nil && prev.hash == h {
			continue
		}
		if plan == nil {
			// One plan per stream version, shared by its deliverers.
			var errs model.FieldErrors
			var po pipeline.Options
			if m.opts.Plan != nil {
				po = m.opts.Plan(st)
			}
			if plan, errs = pipeline.Compile(st, po); errs != nil {
				m.log.Error("stream does not compile, not delivering", "stream", st.ID, "error", errs)
				return
			}
		}
		ds := sr.stats[d.Name]
		if ds == nil {
			ds = &destStats{stats: new(Stats)}
			sr.stats[d.Name] = ds
		}
		if ds.workspace != st.Workspace || ds.name != st.Name {
			if ds.workspace != "" || ds.name != "" {
				m.forgetMetrics(prev, ds.workspace, ds.name, d.Name) // renamed
			}
			ds.workspace, ds.name = st.Workspace, st.Name
		}
		ctx, cancel := context.WithCancel(m.ctx)
		r := &runner{hash: h, cancel: cancel, done: make(chan struct{})}
		sr.runners[d.Name] = r
		stats := ds.stats
		m.wg.Go(func() {
			defer close(r.done)
			defer cancel()
			if prev != nil {
				<-prev.done // keep order: the old deliverer has let go of its messages
			}
			m.runDestination(ctx, st, d, plan, stats)
		})
	}
}

// forgetMetrics deletes a destination's metric series once its deliverer
// (if any) has stopped counting; m.mu is held.
func (m *Manager) forgetMetrics(r *runner, workspace, stream, dest string) {
	if r == nil || m.stopped {
		deleteMetrics(m.met, workspace, stream, dest)
		return
	}
	m.wg.Go(func() {
		<-r.done
		deleteMetrics(m.met, workspace, stream, dest)
	})
}

// configHash identifies what a deliverer is built from: a change of the
// stream's processing restarts it with a new chain.
func configHash(st *model.Stream, d *model.Destination) string {
	b, _ := json.Marshal(struct {
		W, N, DS string
		T        model.Template
		P        json.RawMessage
		Dom      *model.Domains
		D        *model.Destination
	}{st.Workspace, st.Name, st.DataSource, st.Template, st.Processors, st.Domains, d})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// runDestination builds and runs the deliverer of one destination until
// ctx is done, rebuilding it after setup failures.
func (m *Manager) runDestination(ctx context.Context, st *model.Stream, d *model.Destination, plan *pipeline.Plan, stats *Stats) {
	log := m.log.With("stream", st.ID, "destination", d.Name)
	tpl, payload, chain := plan.Template, plan.Payloads[d.Name], plan.Chains[d.Name]
	for attempt := 1; ctx.Err() == nil; attempt++ {
		dst, kind, err := m.reg.New(ctx, d, destination.Deps{Logger: log, HTTPClient: m.opts.HTTPClient, Stream: st.Name, Destination: d.Name})
		if err != nil {
			if attempt == 1 {
				log.Error("cannot build destination, retrying", "error", cleanError(err))
			}
			sleep(ctx, m.backoff().Delay(min(attempt, 10), err))
			continue
		}
		cons, err := m.b.JS.Consumer(ctx, bus.EventStreamName(st.ID), bus.ConsumerName(d.Name))
		if err != nil {
			closeDestination(dst, log)
			if attempt == 1 && ctx.Err() == nil {
				log.Warn("destination consumer not found yet, retrying", "error", err)
			}
			sleep(ctx, m.backoff().Delay(min(attempt, 10), err))
			continue
		}
		dl, err := NewDeliverer(Config{
			StreamID:       st.ID,
			Workspace:      st.Workspace,
			StreamName:     st.Name,
			Destination:    d.Name,
			Dest:           dst,
			Limits:         kind.Limits,
			Template:       tpl,
			Payload:        payload,
			Chain:          chain,
			Renderer:       plan.Renderer,
			MaxEvents:      d.Batch.MaxEvents,
			MaxAge:         d.Batch.MaxAge.D(),
			HealthInterval: d.Health.Interval.D(),
			Backoff:        m.opts.Backoff,
			DrainTimeout:   m.opts.DrainTimeout,
			AttemptTimeout: m.opts.AttemptTimeout,
			DeadLetters:    m.dlq,
			Stats:          stats,
			Metrics:        m.met,
			Logger:         m.log,
		})
		if err != nil {
			closeDestination(dst, log)
			log.Error("invalid delivery settings, not delivering", "error", err)
			<-ctx.Done()
			return
		}
		log.Info("deliverer started")
		stats.setRunning(1) // until the pump has let go of its messages too
		// Ordered stop, see pump: the deliverer naks its (older) messages
		// once the pump's last pull request is over, then the pump naks its own.
		src := make(chan Msg)
		release, idle := make(chan struct{}), make(chan struct{})
		dl.nakAfter = idle
		var pumps sync.WaitGroup
		pumps.Go(func() { pump(ctx, release, idle, cons, src, log) })
		dl.Run(ctx, src)
		close(release)
		pumps.Wait()
		stats.setRunning(-1)
		closeDestination(dst, log)
		log.Info("deliverer stopped")
		return
	}
}

func (m *Manager) backoff() retry.Backoff {
	if m.opts.Backoff.Base > 0 {
		return m.opts.Backoff
	}
	return retry.DefaultBackoff
}

func closeDestination(d destination.Destination, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		log.Warn("closing destination failed", "error", cleanError(err))
	}
}

// refreshBacklog updates the backlog gauge of every running destination.
func (m *Manager) refreshBacklog(ctx context.Context) {
	type item struct{ streamID, workspace, name, dest string }
	var items []item
	m.mu.Lock()
	for id, sr := range m.streams {
		for name := range sr.runners {
			items = append(items, item{id, sr.st.Workspace, sr.st.Name, name})
		}
	}
	m.mu.Unlock()
	for _, it := range items {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := m.b.JS.Consumer(ctx, bus.EventStreamName(it.streamID), bus.ConsumerName(it.dest))
		if err == nil {
			if ci, err := c.Info(ctx); err == nil {
				m.setBacklog(it.workspace, it.name, it.dest, ci.NumPending+uint64(ci.NumAckPending))
			}
		}
		cancel()
	}
}

func (m *Manager) setBacklog(workspace, stream, dest string, n uint64) {
	met := m.met
	if met == nil {
		return
	}
	met.Backlog.WithLabelValues(workspace, stream, dest).Set(float64(n))
}
