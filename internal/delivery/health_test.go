package delivery

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/retry"
)

// Health state machine (SPEC §7): probed every interval whatever the
// health; unavailable → no sends (503); a retryable send failure makes it
// unavailable and it is probed again once the retry delay has passed.

func TestProbedEveryIntervalWhileAvailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{}, ok: true}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd, interval: 30 * time.Second})
		start := time.Now()
		synctest.Wait()
		s := r.d.Stats().Snapshot()
		if !s.Available || s.LastProbe != start || s.NextProbe != start.Add(30*time.Second) || s.Probes != 1 {
			t.Fatalf("after the start probe: %+v", s)
		}
		// Traffic does not change the schedule.
		for i := range 5 {
			time.Sleep(20 * time.Second)
			r.send(newFrame("", ev(i, 0)))
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		synctest.Wait()
		p := cd.probeTimes()
		if len(p) != 4 {
			t.Fatalf("%d probes in 110s, want 4 (0, 30s, 60s, 90s)", len(p))
		}
		for i, at := range p {
			if at.Sub(start) != time.Duration(i)*30*time.Second {
				t.Fatalf("probe %d at +%v", i, at.Sub(start))
			}
		}
		if n := len(cd.snapshot()); n != 5 {
			t.Fatalf("%d sends, want 5", n)
		}
		s = r.d.Stats().Snapshot()
		if !s.Available || s.Probes != 4 || s.ProbeFailures != 0 || s.LastStatus != 200 || s.Delivered != 5 {
			t.Fatalf("stats %+v", s)
		}
		if g := metricValue(testMetrics.Healthy.WithLabelValues("w", "s", "me")); g != 1 {
			t.Fatalf("available gauge %v", g)
		}
	})
}

// A retryable failure makes the destination unavailable at once; once the
// retry delay has passed it is probed (not waiting for the schedule) and a
// successful probe lets the retry go.
func TestFailedSendProbesBeforeRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				return statusErr{502}
			}
			return nil
		}}, ok: true}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd})
		m := newFrame("", ev(0, 0))
		start := time.Now()
		r.send(m)
		synctest.Wait()
		s := r.d.Stats().Snapshot()
		if s.Available || s.LastStatus != 502 || s.LastError != "target answered 502" || s.UnavailableSince != start {
			t.Fatalf("after a 502: %+v", s)
		}
		if g := metricValue(testMetrics.Healthy.WithLabelValues("w", "s", "me")); g != 0 {
			t.Fatalf("available gauge %v while unavailable", g)
		}
		time.Sleep(time.Second) // more than the first retry delay (≤ 500ms)
		synctest.Wait()
		p, calls := cd.probeTimes(), cd.snapshot()
		if len(p) != 2 || len(calls) != 2 {
			t.Fatalf("%d probes, %d calls; want the start probe, one probe after the failure, and the retry", len(p), len(calls))
		}
		if d := p[1].Sub(start); d < 250*time.Millisecond || d > 500*time.Millisecond || calls[1].at != p[1] {
			t.Fatalf("re-probe at +%v, retry at +%v: want both after the retry delay", d, calls[1].at.Sub(start))
		}
		s = r.d.Stats().Snapshot()
		if !s.Available || s.LastStatus != 200 || s.Retried != 1 || !s.UnavailableSince.IsZero() {
			t.Fatalf("after the retry: %+v", s)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked")
		}
		// The probe out of schedule restarted the schedule.
		if s.NextProbe != p[1].Add(time.Minute) {
			t.Fatalf("next probe at +%v", s.NextProbe.Sub(start))
		}
	})
}

// While unavailable nothing is sent, however long it takes: every batch
// waits (status 503), probes run every interval, and the first successful
// probe releases the sends.
func TestUnavailableSendsNothingUntilProbeSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{ok: true}
		cd.fakeDest = &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				cd.setOK(false) // the target goes away with this send
				return errors.New("connection reset by peer")
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd})
		start := time.Now()
		ms := []*fakeMsg{newFrame("", ev(0, 0)), newFrame("", ev(1, 0)), newFrame("", ev(2, 0))}
		go r.send(ms...)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(cd.snapshot()); n != 1 {
			t.Fatalf("%d sends while unavailable, want only the one that failed", n)
		}
		s := r.d.Stats().Snapshot()
		if s.Available || s.LastStatus != StatusSkipped || s.LastError != "connection refused" || s.UnavailableSince != start {
			t.Fatalf("while unavailable: %+v", s)
		}
		p := cd.probeTimes()
		// start, after the retry delay, then every minute from that probe.
		if len(p) != 6 {
			t.Fatalf("%d probes in 5 minutes: %v", len(p), p)
		}
		for i := 2; i < len(p); i++ {
			if p[i].Sub(p[i-1]) != time.Minute {
				t.Fatalf("probe %d %v after the previous one", i, p[i].Sub(p[i-1]))
			}
		}
		if s.ProbeFailures != 5 || s.Probes != 6 {
			t.Fatalf("probe counters %+v", s)
		}
		cd.setOK(true)
		next := p[len(p)-1].Add(time.Minute)
		time.Sleep(time.Until(next))
		synctest.Wait()
		calls := cd.snapshot()
		if len(calls) != 4 || calls[1].at != next {
			t.Fatalf("%d calls, first retry at +%v; want the retry and the two waiting batches right after the probe at +%v", len(calls), calls[1].at.Sub(start), next.Sub(start))
		}
		for i, m := range ms {
			if acks, _, _ := m.state(); acks != 1 {
				t.Fatalf("message %d not acked", i)
			}
		}
		if s := r.d.Stats().Snapshot(); !s.Available || s.LastStatus != 200 || s.Delivered != 3 {
			t.Fatalf("after recovery: %+v", s)
		}
	})
}

// A long retry delay does not outlast a successful probe: the scheduled
// probe after the failure releases the retry.
func TestSuccessfulProbeEndsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				return statusErr{503}
			}
			return nil
		}}, ok: true}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd, backoff: retry.Backoff{Base: 20 * time.Minute, Max: 20 * time.Minute}})
		start := time.Now()
		r.send(newFrame("", ev(0, 0)))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		calls := cd.snapshot()
		if len(calls) != 2 || calls[1].at.Sub(start) != time.Minute {
			t.Fatalf("%d calls; want the retry right after the probe at +1m, not after a 10-20 minute backoff", len(calls))
		}
	})
}

// A Retry-After from the target is honoured even when a probe succeeds.
func TestRetryAfterOutlastsProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				return retry.After(150*time.Second, statusErr{429})
			}
			return nil
		}}, ok: true}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd})
		start := time.Now()
		r.send(newFrame("", ev(0, 0)))
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		calls := cd.snapshot()
		if len(calls) != 2 || calls[1].at.Sub(start) != 150*time.Second {
			t.Fatalf("%d calls, retry at +%v; want it after the Retry-After of 150s", len(calls), calls[len(calls)-1].at.Sub(start))
		}
		if p := cd.probeTimes(); len(p) != 4 { // 0, 1m, 2m, 3m
			t.Fatalf("%d probes", len(p))
		}
	})
}

// A probe that started before a send failed says nothing about the
// failure: it does not make the destination available again.
func TestProbeOlderThanFailureIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				return statusErr{503}
			}
			return nil
		}}, ok: true}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd, backoff: retry.Backoff{Base: 20 * time.Minute, Max: 20 * time.Minute}})
		start := time.Now()
		synctest.Wait()
		cd.mu.Lock()
		cd.delay = 10 * time.Second // probes from now on take 10 s
		cd.mu.Unlock()
		time.Sleep(time.Minute + time.Second) // the probe at +1m is under way
		r.send(newFrame("", ev(0, 0)))        // and this send fails meanwhile
		synctest.Wait()
		time.Sleep(10 * time.Second) // the old probe returns OK
		synctest.Wait()
		if s := r.d.Stats().Snapshot(); s.Available || len(cd.snapshot()) != 1 {
			t.Fatalf("a probe older than the failure made it available: %+v", s)
		}
		// The next probe (at +2m10s, a minute after the last one started) decides.
		time.Sleep(time.Minute + 10*time.Second)
		synctest.Wait()
		calls := cd.snapshot()
		if len(calls) != 2 || calls[1].at.Sub(start) != 2*time.Minute+20*time.Second {
			t.Fatalf("%d calls, last at +%v", len(calls), calls[len(calls)-1].at.Sub(start))
		}
	})
}

// A send that times out shows 504, makes the destination unavailable and
// is retried after a probe.
func TestTimeoutIs504AndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{ok: true}
		cd.fakeDest = &fakeDest{}
		slow := &slowDest{checkerDest: cd, slowCalls: 1}
		r := newRig(t, rigOpts{maxEvents: 1, dest: slow, interval: 90 * time.Second}) // no scheduled probe at +5m
		m := newFrame("", ev(0, 0))
		start := time.Now()
		r.send(m)
		time.Sleep(DefaultAttemptTimeout)
		synctest.Wait()
		if s := r.d.Stats().Snapshot(); s.LastStatus != StatusTimeout || s.Available || s.Failed != 1 {
			t.Fatalf("after the timeout: %+v", s)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("timed-out batch not retried")
		}
		if s := r.d.Stats().Snapshot(); !s.Available || s.LastStatus != 200 || s.Retried != 1 || s.Delivered != 1 {
			t.Fatalf("after the retry: %+v (%v)", s, time.Since(start))
		}
	})
}

// slowDest blocks its first slowCalls sends until their context ends.
type slowDest struct {
	*checkerDest
	slowCalls int
	n         int
}

func (s *slowDest) Deliver(ctx context.Context, b destination.Batch) error {
	s.mu.Lock()
	s.n++
	slow := s.n <= s.slowCalls
	s.mu.Unlock()
	if slow {
		<-ctx.Done()
		return fmt.Errorf("request aborted: %w", ctx.Err())
	}
	return s.checkerDest.Deliver(ctx, b)
}

// metricValue reads a gauge or counter.
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		panic(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}
