package delivery

import (
	"context"
	"errors"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel/runnel/internal/pipeline/processors"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// Status codes recorded for attempts that have no HTTP status of their own.
const (
	StatusOK          = 200
	StatusPartial     = 207 // some records of the batch failed (destination.BatchError)
	StatusTooLarge    = 413 // an event exceeds max_size or the kind's record limit
	StatusUnprocessed = 422 // the template could not render an event
	StatusBadGateway  = 502 // a failure that carries no status
	StatusSkipped     = 503 // the send was skipped: the destination is unavailable
	StatusTimeout     = 504 // the attempt timed out
)

// StatusCoder is implemented by destination errors that carry the target's
// HTTP (or HTTP-like) status; it shows in the stream status and in dead
// letters. Destinations wrap their errors in a type with this method.
type StatusCoder interface {
	StatusCode() int
}

// StatusOf maps the outcome of an attempt to an HTTP-like status: 200 for
// nil, the error's own StatusCode when it has one, 504 for a timeout
// (context.DeadlineExceeded or a net timeout), otherwise 400 for a
// permanent error and 502 for a retryable one.
func StatusOf(err error) int {
	if err == nil {
		return StatusOK
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		if c := sc.StatusCode(); c > 0 {
			return c
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return StatusTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return StatusTimeout
	}
	if retry.IsPermanent(err) {
		return 400
	}
	return StatusBadGateway
}

// userinfo matches the user:password@ part of URLs in error texts.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s"']*@`)

// maxErrorText bounds error texts kept in status and dead letters.
const maxErrorText = 2048

// cleanError renders an error for status and dead letters: destinations
// already keep secrets out of their errors; as a second line of defence
// URL userinfo is removed, and the text is bounded.
func cleanError(err error) string {
	if err == nil {
		return ""
	}
	return cleanText(err.Error())
}

func cleanText(s string) string {
	s = userinfo.ReplaceAllString(s, "$1")
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}

// Stats are the in-memory state and counters of one destination on this
// node. They outlive a deliverer: a restarted deliverer (configuration
// change) keeps counting where its predecessor stopped, and keeps its
// health until its own first probe.
type Stats struct {
	delivered, failed, retried, deadLettered, filtered, processed atomic.Uint64
	sampledOut, routedAway, procErrors, masked, parseErrors       atomic.Uint64
	probes, probeFailures                                         atomic.Uint64
	// chain is the running deliverer's processing chain (its
	// per-processor counters), nil without one.
	chain atomic.Pointer[processors.Chain]

	mu          sync.Mutex
	unavailable bool
	since       time.Time     // start of the current unavailability
	availC      chan struct{} // closed when it becomes available again; nil while available
	probing     time.Time     // start of the last probe
	lastProbe   time.Time     // end of the last probe
	nextProbe   time.Time
	lastFailure time.Time // last send that failed with a retryable error
	lastAttempt time.Time
	lastError   string
	lastStatus  int
	running     int
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	Delivered, Failed, Retried, DeadLettered, Filtered, Processed uint64
	SampledOut, RoutedAway, ProcessorErrors, Masked, ParseErrors  uint64
	Probes, ProbeFailures                                         uint64

	Available        bool
	UnavailableSince time.Time
	LastProbe        time.Time
	NextProbe        time.Time
	LastAttempt      time.Time
	LastError        string
	LastStatus       int
	Running          bool
}

// Snapshot returns the current values.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StatsSnapshot{
		Delivered:        s.delivered.Load(),
		Failed:           s.failed.Load(),
		Retried:          s.retried.Load(),
		DeadLettered:     s.deadLettered.Load(),
		Filtered:         s.filtered.Load(),
		Processed:        s.processed.Load(),
		SampledOut:       s.sampledOut.Load(),
		RoutedAway:       s.routedAway.Load(),
		ProcessorErrors:  s.procErrors.Load(),
		Masked:           s.masked.Load(),
		ParseErrors:      s.parseErrors.Load(),
		Probes:           s.probes.Load(),
		ProbeFailures:    s.probeFailures.Load(),
		Available:        !s.unavailable,
		UnavailableSince: s.since,
		LastProbe:        s.lastProbe,
		NextProbe:        s.nextProbe,
		LastAttempt:      s.lastAttempt,
		LastError:        s.lastError,
		LastStatus:       s.lastStatus,
		Running:          s.running > 0,
	}
}

func (s *Stats) isAvailable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.unavailable
}

// setAvailable changes the health; s.mu is held. It reports whether the
// health changed.
func (s *Stats) setAvailable(avail bool, now time.Time) bool {
	if avail != s.unavailable {
		return false
	}
	s.unavailable = !avail
	if avail {
		s.since = time.Time{}
		if s.availC != nil {
			close(s.availC)
			s.availC = nil
		}
	} else {
		s.since = now
		s.availC = make(chan struct{})
	}
	return true
}

// attempt records the outcome of a send attempt; available is false for
// a retryable failure. It reports whether the health changed.
func (s *Stats) attempt(now time.Time, status int, err error, available bool) (changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastAttempt = now
	s.lastStatus = status
	if err != nil {
		s.lastError = cleanError(err)
	}
	if !available {
		s.lastFailure = now
	}
	return s.setAvailable(available, now)
}

// probeStarted records the start of a probe.
func (s *Stats) probeStarted(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probing = now
}

// probe records the outcome of a health probe that started at started.
// A failed probe makes the destination unavailable; a successful one makes
// it available, unless a send failed while the probe was under way (the
// probe saw the target before that failure). It reports whether the
// health changed.
func (s *Stats) probe(started, now time.Time, err error) (changed bool) {
	s.probes.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastProbe = now
	if err != nil {
		s.probeFailures.Add(1)
		s.lastError = cleanError(err)
		return s.setAvailable(false, now)
	}
	if started.Before(s.lastFailure) {
		return false
	}
	return s.setAvailable(true, now)
}

// setNextProbe records when the next scheduled probe is due.
func (s *Stats) setNextProbe(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextProbe = t
}

// gate tells a sender whether it may send: when the destination is
// unavailable, wait is closed once it is available again, and probe is
// true when no probe has started since the last failed send.
func (s *Stats) gate() (wait <-chan struct{}, available, probe bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unavailable {
		return nil, true, false
	}
	return s.availC, false, !s.probing.After(s.lastFailure)
}

// needsProbe reports whether no probe has started since the last failed send.
func (s *Stats) needsProbe() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastFailure.IsZero() && !s.probing.After(s.lastFailure)
}

// availableAgain returns a channel closed when an unavailable destination
// becomes available (nil while it is available).
func (s *Stats) availableAgain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.availC
}

// skipped records a send skipped because the destination is unavailable.
func (s *Stats) skipped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastStatus = StatusSkipped
}

func (s *Stats) setRunning(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running += delta
}

// metricSet holds one destination's metric series, resolved once.
type metricSet struct {
	processed, delivered, failed, retried, deadLettered prometheus.Counter
	filtered, sampledOut, routedAway, procErrors        prometheus.Counter
	masked, parseErrors                                 prometheus.Counter
	probeOK, probeErr                                   prometheus.Counter
	healthy                                             prometheus.Gauge
	latency, batchBytes, probeTime                      prometheus.Observer
}

func newMetricSet(m *telemetry.Metrics, workspace, stream, dest string) metricSet {
	if m == nil {
		m = discardMetrics()
	}
	l := prometheus.Labels{"workspace": workspace, "stream": stream, "destination": dest}
	return metricSet{
		processed:    m.Processed.With(l),
		delivered:    m.Delivered.With(l),
		failed:       m.Failed.With(l),
		retried:      m.Retried.With(l),
		deadLettered: m.DeadLettered.With(l),
		filtered:     m.Filtered.With(l),
		sampledOut:   m.SampledOut.With(l),
		routedAway:   m.RoutedAway.With(l),
		procErrors:   m.ProcErrors.With(l),
		masked:       m.Masked.With(l),
		parseErrors:  m.ParseErrors.With(l),
		healthy:      m.Healthy.With(l),
		latency:      m.Latency.With(l),
		batchBytes:   m.BatchBytes.With(l),
		probeOK:      m.Probes.WithLabelValues(workspace, stream, dest, "ok"),
		probeErr:     m.Probes.WithLabelValues(workspace, stream, dest, "error"),
		probeTime:    m.ProbeLatency.With(l),
	}
}

// deleteMetrics removes one destination's series (stream or destination gone).
func deleteMetrics(m *telemetry.Metrics, workspace, stream, dest string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"workspace": workspace, "stream": stream, "destination": dest}
	for _, v := range []*prometheus.CounterVec{m.Processed, m.Delivered, m.Failed, m.Retried, m.DeadLettered, m.Filtered, m.SampledOut, m.RoutedAway, m.ProcErrors, m.Masked, m.ParseErrors} {
		v.Delete(l)
	}
	m.Backlog.Delete(l)
	m.Healthy.Delete(l)
	m.Latency.Delete(l)
	m.BatchBytes.Delete(l)
	m.Probes.DeletePartialMatch(l)
	m.ProbeLatency.Delete(l)
}

var (
	discardOnce sync.Once
	discard     *telemetry.Metrics
)

// discardMetrics is a private metrics set for callers that pass none.
func discardMetrics() *telemetry.Metrics {
	discardOnce.Do(func() { discard = telemetry.NewMetrics() })
	return discard
}
