package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/retry"
)

func sizes(calls []call) []int {
	var out []int
	for _, c := range calls {
		out = append(out, len(c.records))
	}
	return out
}

func TestFlushAtMaxEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 3, maxAge: time.Minute})
		start := time.Now()
		m := newFrame("", ev(0, 0), ev(1, 0), ev(2, 0), ev(3, 0), ev(4, 0), ev(5, 0), ev(6, 0))
		r.send(m)
		synctest.Wait()
		calls := r.dest.snapshot()
		if got := sizes(calls); !slices.Equal(got, []int{3, 3}) {
			t.Fatalf("batches before max_age: %v, want [3 3]", got)
		}
		for _, c := range calls {
			if !c.at.Equal(start) {
				t.Errorf("full batch sent at +%v, want at once", c.at.Sub(start))
			}
		}
		if acks, _, _ := m.state(); acks != 0 {
			t.Fatal("message acked while its last event is still waiting in a batch")
		}
		time.Sleep(time.Minute) // fake time: the last batch ages out
		synctest.Wait()
		calls = r.dest.snapshot()
		if got := sizes(calls); !slices.Equal(got, []int{3, 3, 1}) {
			t.Fatalf("batches: %v, want [3 3 1]", got)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatalf("message acked %d times after all events were delivered, want 1", acks)
		}
		var all []string
		for _, c := range calls {
			all = append(all, c.records...)
		}
		for i, rec := range all {
			if rec != ev(i, 0) {
				t.Fatalf("record %d = %s, want %s (order kept)", i, rec, ev(i, 0))
			}
		}
	})
}

func TestFlushAtMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sep := ","
		const maxSize = 200
		r := newRig(t, rigOpts{maxEvents: 1000, maxSize: maxSize, format: "[$dataset]", sep: &sep})
		var events []string
		for i := range 40 {
			events = append(events, ev(i, i%13*3))
		}
		m := newFrame("", events...)
		r.send(m)
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := r.dest.snapshot()
		if len(calls) < 2 {
			t.Fatalf("want several payloads, got %d", len(calls))
		}
		var all []string
		for i, c := range calls {
			if len(c.payload) > maxSize {
				t.Fatalf("payload %d is %d bytes, over max_size %d", i, len(c.payload), maxSize)
			}
			if i < len(calls)-1 {
				// It was flushed because the next record would not fit.
				next := calls[i+1].records[0]
				if len(c.payload)+len(sep)+len(next) <= maxSize {
					t.Fatalf("payload %d (%d bytes) flushed although the next record (%d bytes) fit", i, len(c.payload), len(next))
				}
			}
			if c.payload != "["+strings.Join(c.records, ",")+"]" {
				t.Fatalf("payload %d framed as %q", i, c.payload)
			}
			all = append(all, c.records...)
		}
		if !slices.Equal(all, events) {
			t.Fatalf("records differ from events:\n%v\n%v", all, events)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatalf("acks = %d, want 1", acks)
		}
	})
}

func TestFlushAtMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const age = 5 * time.Second
		r := newRig(t, rigOpts{maxEvents: 100, maxAge: age})
		t0 := time.Now()
		r.send(newFrame("", ev(0, 0)))
		time.Sleep(2 * time.Second)
		r.send(newFrame("", ev(1, 0))) // joins the open batch: its age counts from the first record
		time.Sleep(age - 2*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := len(r.dest.snapshot()); n != 0 {
			t.Fatalf("batch sent %d times before max_age", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		calls := r.dest.snapshot()
		if len(calls) != 1 || !calls[0].at.Equal(t0.Add(age)) || len(calls[0].records) != 2 {
			t.Fatalf("want one batch of 2 at exactly +%v, got %d calls %+v", age, len(calls), calls)
		}
		// A new batch starts its own clock at its first record.
		time.Sleep(7 * time.Second)
		t1 := time.Now()
		r.send(newFrame("", ev(2, 0)))
		time.Sleep(age)
		synctest.Wait()
		calls = r.dest.snapshot()
		if len(calls) != 2 || !calls[1].at.Equal(t1.Add(age)) {
			t.Fatalf("second batch at %v, want +%v after its first record", calls[len(calls)-1].at.Sub(t1), age)
		}
	})
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dest := &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				return retry.After(30*time.Second, statusErr{503})
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 2, dest: dest})
		m := newFrame("", ev(0, 0), ev(1, 0))
		r.send(m)
		synctest.Wait()
		if n := len(dest.snapshot()); n != 1 {
			t.Fatalf("calls = %d, want 1", n)
		}
		snap := r.d.Stats().Snapshot()
		if snap.Available || snap.LastStatus != 503 || snap.Failed != 2 {
			t.Fatalf("after a 503: %+v", snap)
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := len(dest.snapshot()); n != 1 {
			t.Fatalf("destination called again %v after a Retry-After of 30s", 30*time.Second-time.Nanosecond)
		}
		if acks, _, _ := m.state(); acks != 0 {
			t.Fatal("acked before delivery")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		calls := dest.snapshot()
		if len(calls) != 2 || calls[1].at.Sub(calls[0].at) != 30*time.Second {
			t.Fatalf("retry at %v, want exactly 30s later", calls[len(calls)-1].at.Sub(calls[0].at))
		}
		if !slices.Equal(calls[0].records, calls[1].records) {
			t.Fatal("retry sent different records")
		}
		snap = r.d.Stats().Snapshot()
		if !snap.Available || snap.LastStatus != 200 || snap.Delivered != 2 || snap.Retried != 1 {
			t.Fatalf("after the retry: %+v", snap)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked after delivery")
		}
	})
}

func TestRetryBacksOffExponentially(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := 6
		dest := &fakeDest{fn: func(i int, _ call) error {
			if i < fails {
				return errors.New("connection reset")
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 1, dest: dest})
		m := newFrame("", ev(0, 0))
		r.send(m)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		calls := dest.snapshot()
		if len(calls) != fails+1 {
			t.Fatalf("calls = %d, want %d", len(calls), fails+1)
		}
		for i := 1; i < len(calls); i++ {
			gap := calls[i].at.Sub(calls[i-1].at)
			full := retry.DefaultBackoff.Base << (i - 1)
			if gap < full/2 || gap > full {
				t.Errorf("retry %d after %v, want within [%v, %v]", i, gap, full/2, full)
			}
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked after delivery")
		}
		if s := r.d.Stats().Snapshot(); s.LastStatus != 200 || s.Retried != uint64(fails) || s.Failed != uint64(fails) {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestPermanentErrorDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dest := &fakeDest{fn: func(int, call) error { return retry.Permanent(statusErr{400}) }}
		r := newRig(t, rigOpts{maxEvents: 3, dest: dest})
		m := newFrame("", ev(0, 0), ev(1, 0), ev(2, 0))
		r.send(m)
		synctest.Wait()
		if n := len(dest.snapshot()); n != 1 {
			t.Fatalf("a permanent error was retried: %d calls", n)
		}
		dls := r.sink.snapshot()
		if len(dls) != 3 {
			t.Fatalf("dead letters = %d, want 3", len(dls))
		}
		for i, dl := range dls {
			if string(dl.Event) != ev(i, 0) || dl.StatusCode != 400 || dl.Attempts != 1 || dl.Error != "target answered 400" ||
				dl.StreamID != "str_test" || dl.Destination != "me" || dl.Time.IsZero() {
				t.Fatalf("dead letter %d: %+v", i, dl)
			}
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("message not acked after its events were dead-lettered")
		}
		if s := r.d.Stats().Snapshot(); s.DeadLettered != 3 || s.Delivered != 0 || !s.Available {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestAckWaitsForDeadLetterStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dest := &fakeDest{fn: func(int, call) error { return retry.Permanent(statusErr{422}) }}
		r := newRig(t, rigOpts{maxEvents: 1, dest: dest})
		r.sink.mu.Lock()
		r.sink.err = errors.New("dead-letter stream unavailable")
		r.sink.mu.Unlock()
		m := newFrame("", ev(0, 0))
		r.send(m)
		time.Sleep(time.Minute)
		synctest.Wait()
		if acks, _, _ := m.state(); acks != 0 {
			t.Fatal("acked although the dead letter was not stored")
		}
		r.sink.mu.Lock()
		r.sink.err = nil
		r.sink.mu.Unlock()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if acks, _, _ := m.state(); acks != 1 || len(r.sink.snapshot()) != 1 {
			t.Fatalf("after the store recovered: acks %d, dead letters %d", acks, len(r.sink.snapshot()))
		}
	})
}

func TestBatchErrorResendsOnlyFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dest := &fakeDest{fn: func(i int, _ call) error {
			switch i {
			case 0:
				return &destination.BatchError{Failed: []destination.ItemError{
					{Index: 1, Err: statusErr{429}},
					{Index: 3, Err: retry.Permanent(statusErr{400})},
				}}
			case 1:
				return &destination.BatchError{Failed: []destination.ItemError{{Index: 0, Err: retry.After(10*time.Second, statusErr{503})}}}
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 5, dest: dest})
		m := newFrame("", ev(0, 0), ev(1, 0), ev(2, 0), ev(3, 0), ev(4, 0))
		r.send(m)
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := dest.snapshot()
		if len(calls) != 3 {
			t.Fatalf("calls = %d, want 3", len(calls))
		}
		if !slices.Equal(calls[1].records, []string{ev(1, 0)}) || !slices.Equal(calls[2].records, []string{ev(1, 0)}) {
			t.Fatalf("retries sent %v then %v, want only the failed record", calls[1].records, calls[2].records)
		}
		if gap := calls[2].at.Sub(calls[1].at); gap != 10*time.Second {
			t.Fatalf("record Retry-After not honoured: %v", gap)
		}
		dls := r.sink.snapshot()
		if len(dls) != 1 || string(dls[0].Event) != ev(3, 0) || dls[0].StatusCode != 400 {
			t.Fatalf("dead letters %+v", dls)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked once every event settled")
		}
		if s := r.d.Stats().Snapshot(); s.Delivered != 4 || s.DeadLettered != 1 || s.Retried != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestAckOnlyAfterEveryEventSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		dest := &fakeDest{fn: func(i int, _ call) error {
			if i == 1 {
				<-release
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 3, dest: dest})
		a := newFrame("", ev(0, 0), ev(1, 0))
		b := newFrame("", ev(2, 0), ev(3, 0), ev(4, 0)) // split: 2 | 3, 4
		c := newFrame("", ev(5, 0))
		r.send(a, b, c)
		synctest.Wait()
		if acks, _, _ := a.state(); acks != 1 {
			t.Fatal("frame a (all in batch 1) not acked after batch 1")
		}
		if acks, _, _ := b.state(); acks != 0 {
			t.Fatal("frame b acked while its last events are in the blocked batch 2")
		}
		close(release)
		synctest.Wait()
		for name, m := range map[string]*fakeMsg{"b": b, "c": c} {
			if acks, naks, _ := m.state(); acks != 1 || naks != 0 {
				t.Fatalf("frame %s: acks %d naks %d", name, acks, naks)
			}
		}
	})
}

func TestOtherDestinationReplaySettledWithoutSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 10, maxAge: time.Second})
		other := newFrame("elsewhere", ev(0, 0), ev(1, 0))
		mine := newFrame("me", ev(2, 0))
		r.send(other)
		synctest.Wait()
		if acks, _, _ := other.state(); acks != 1 {
			t.Fatal("replay frame of another destination not settled at once")
		}
		r.send(mine)
		time.Sleep(time.Second)
		synctest.Wait()
		calls := r.dest.snapshot()
		if len(calls) != 1 || !slices.Equal(calls[0].records, []string{ev(2, 0)}) {
			t.Fatalf("calls %+v, want only the frame for this destination", calls)
		}
		if s := r.d.Stats().Snapshot(); s.Processed != 1 {
			t.Fatalf("processed = %d, want 1", s.Processed)
		}
	})
}

func TestOversizedEventDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 10, maxSize: 100, maxAge: time.Second})
		big := ev(1, 200)
		m := newFrame("", ev(0, 0), big, ev(2, 0))
		r.send(m)
		time.Sleep(time.Second)
		synctest.Wait()
		calls := r.dest.snapshot()
		if len(calls) != 1 || !slices.Equal(calls[0].records, []string{ev(0, 0), ev(2, 0)}) {
			t.Fatalf("calls %+v", calls)
		}
		dls := r.sink.snapshot()
		want := fmt.Sprintf("event of %d bytes exceeds max_size 100", len(big))
		if len(dls) != 1 || dls[0].Error != want || string(dls[0].Event) != big || dls[0].Attempts != 0 || dls[0].StatusCode != StatusTooLarge {
			t.Fatalf("dead letters %+v, want one with %q", dls, want)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked")
		}
	})
}

func TestKindLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 100, limits: destination.Limits{MaxEvents: 2, MaxRecord: 20}})
		m := newFrame("", ev(0, 0), ev(1, 0), ev(2, 30), ev(3, 0), ev(4, 0))
		r.send(m)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := sizes(r.dest.snapshot()); !slices.Equal(got, []int{2, 2}) {
			t.Fatalf("batches %v, want [2 2] (kind's max events)", got)
		}
		if dls := r.sink.snapshot(); len(dls) != 1 || !strings.Contains(dls[0].Error, "exceeds max_size 20") {
			t.Fatalf("dead letters %+v", dls)
		}
	})
}

func TestRenderErrorDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 1, vars: []string{"n"}})
		m := newFrame("", `{"n":1}`, `not json`)
		r.send(m)
		synctest.Wait()
		if calls := r.dest.snapshot(); len(calls) != 1 || calls[0].records[0] != `{"n":1}` {
			t.Fatalf("calls %+v", calls)
		}
		dls := r.sink.snapshot()
		if len(dls) != 1 || string(dls[0].Event) != `"not json"` || !strings.HasPrefix(dls[0].Error, "render: ") {
			t.Fatalf("dead letters %+v", dls)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked")
		}
	})
}

func TestASCIIOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 1, ascii: true, vars: []string{"s"}})
		r.send(newFrame("", `{"s":"café ☕"}`))
		synctest.Wait()
		calls := r.dest.snapshot()
		if len(calls) != 1 || calls[0].records[0] != `{"s":"caf\u00e9 \u2615"}` {
			t.Fatalf("calls %+v", calls)
		}
	})
}

func TestInProgressWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		dest := &fakeDest{fn: func(int, call) error {
			if healthy.Load() {
				return nil
			}
			return retry.After(time.Minute, statusErr{503})
		}}
		r := newRig(t, rigOpts{maxEvents: 1, dest: dest})
		m := newFrame("", ev(0, 0))
		r.send(m)
		time.Sleep(45 * time.Second)
		synctest.Wait()
		if _, _, ip := m.state(); ip != 4 {
			t.Fatalf("in-progress marks after 45s = %d, want 4 (every 10s)", ip)
		}
		healthy.Store(true) // the next attempt (at +60s) is the first after this write
		time.Sleep(time.Minute)
		synctest.Wait()
		if acks, naks, _ := m.state(); acks != 1 || naks != 0 {
			t.Fatalf("acks %d naks %d", acks, naks)
		}
	})
}

func TestCheckerGatesSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{}}
		r := newRig(t, rigOpts{maxEvents: 1, dest: cd})
		m := newFrame("", ev(0, 0))
		start := time.Now()
		r.send(m)
		synctest.Wait()
		if n := len(cd.snapshot()); n != 0 {
			t.Fatalf("sent %d batches to a destination whose start probe failed", n)
		}
		s := r.d.Stats().Snapshot()
		if s.Available || s.LastStatus != StatusSkipped || s.LastProbe.IsZero() || s.LastError != "connection refused" {
			t.Fatalf("stats %+v", s)
		}
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if p := cd.probeTimes(); len(p) != 3 || p[1].Sub(p[0]) != time.Minute || p[2].Sub(p[1]) != time.Minute {
			t.Fatalf("probes at %v, want at start and every minute", p)
		}
		cd.setOK(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := cd.snapshot()
		if len(calls) != 1 || calls[0].at.Sub(start) != 3*time.Minute {
			t.Fatalf("calls %+v, want one right after the successful probe at +3m", calls)
		}
		if s := r.d.Stats().Snapshot(); !s.Available || s.LastStatus != 200 {
			t.Fatalf("stats %+v", s)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked")
		}
	})
}

func TestCheckerProbedWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cd := &checkerDest{fakeDest: &fakeDest{}}
		r := newRig(t, rigOpts{dest: cd})
		start := time.Now()
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if p := cd.probeTimes(); len(p) != 3 || p[0] != start || p[2].Sub(start) != 2*time.Minute {
			t.Fatalf("probes at %v, want at start, +1m and +2m without any traffic", p)
		}
		if s := r.d.Stats().Snapshot(); s.Available || s.LastStatus != 0 {
			t.Fatalf("stats %+v (no send was skipped: no batch waited)", s)
		}
		cd.setOK(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := r.d.Stats().Snapshot(); !s.Available {
			t.Fatalf("not available after a successful probe: %+v", s)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if p := cd.probeTimes(); len(p) != 14 || p[13].Sub(start) != 13*time.Minute {
			t.Fatalf("%d probes; an available destination is probed every interval too", len(p))
		}
	})
}

func TestStopNaksWhatIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dest := &fakeDest{fn: func(int, call) error { return errors.New("down") }}
		r := newRig(t, rigOpts{maxEvents: 1, dest: dest})
		a, b := newFrame("", ev(0, 0)), newFrame("", ev(1, 0))
		r.send(a, b) // a is being retried, b waits in the next batch
		time.Sleep(time.Second)
		synctest.Wait()
		stopped := time.Now()
		r.shutdown()
		if time.Since(stopped) != 0 {
			t.Fatalf("stop took %v while only waiting to retry", time.Since(stopped))
		}
		for name, m := range map[string]*fakeMsg{"a": a, "b": b} {
			if acks, naks, _ := m.state(); acks != 0 || naks != 1 {
				t.Fatalf("%s: acks %d naks %d, want nak", name, acks, naks)
			}
		}
	})
}

func TestStopLetsSendInFlightFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		dest := &fakeDest{fn: func(int, call) error { <-release; return nil }}
		r := newRig(t, rigOpts{maxEvents: 1, dest: dest})
		a := newFrame("", ev(0, 0))
		r.send(a)
		synctest.Wait()
		go func() {
			time.Sleep(3 * time.Second)
			close(release)
		}()
		r.shutdown()
		if acks, naks, _ := a.state(); acks != 1 || naks != 0 {
			t.Fatalf("in-flight batch: acks %d naks %d, want it finished and acked", acks, naks)
		}
	})
}

func TestStopAbortsStuckSendAfterDrainTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 1, dest: ctxDest{}}) // blocks until its context ends
		a := newFrame("", ev(0, 0))
		r.send(a)
		synctest.Wait()
		start := time.Now()
		r.shutdown()
		if d := time.Since(start); d != DefaultDrainTimeout {
			t.Fatalf("stop took %v, want the drain timeout %v", d, DefaultDrainTimeout)
		}
		if acks, naks, _ := a.state(); acks != 0 || naks != 1 {
			t.Fatalf("aborted batch: acks %d naks %d, want a nak", acks, naks)
		}
	})
}

// ctxDest blocks every Deliver until its context ends.
type ctxDest struct{}

func (ctxDest) Deliver(ctx context.Context, _ destination.Batch) error {
	<-ctx.Done()
	return ctx.Err()
}
func (ctxDest) Close(context.Context) error { return nil }

func TestAttemptTimeoutIs504(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxEvents: 1, dest: ctxDest{}})
		r.send(newFrame("", ev(0, 0)))
		time.Sleep(DefaultAttemptTimeout + time.Second)
		synctest.Wait()
		if s := r.d.Stats().Snapshot(); s.LastStatus != StatusTimeout || s.Available || s.Failed != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestPipelineBuildsWhileSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		dest := &fakeDest{fn: func(i int, _ call) error {
			if i == 0 {
				<-release
			}
			return nil
		}}
		r := newRig(t, rigOpts{maxEvents: 2, dest: dest})
		a, b, c := newFrame("", ev(0, 0), ev(1, 0)), newFrame("", ev(2, 0)), newFrame("", ev(3, 0))
		r.send(a)
		synctest.Wait()
		// Batch 1 is being sent; the builder still takes frames and fills batch 2.
		done := make(chan struct{})
		go func() { r.send(b, c); close(done) }()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("builder did not take frames while a batch was being sent")
		}
		close(release)
		synctest.Wait()
		calls := dest.snapshot()
		if got := sizes(calls); !slices.Equal(got, []int{2, 2}) {
			t.Fatalf("batches %v", got)
		}
	})
}

func TestStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{statusErr{429}, 429},
		{fmt.Errorf("wrap: %w", retry.Permanent(statusErr{401})), 401},
		{context.DeadlineExceeded, 504},
		{timeoutErr{}, 504},
		{retry.Permanent(errors.New("bad")), 400},
		{errors.New("reset"), 502},
	}
	for _, c := range cases {
		if got := StatusOf(c.err); got != c.want {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestCleanErrorDropsUserinfo(t *testing.T) {
	got := cleanError(errors.New(`Post "https://user:s3cret@example.com/x?a=1": dial tcp: refused; also amqp://bob@h`))
	if strings.Contains(got, "s3cret") || strings.Contains(got, "user") || strings.Contains(got, "bob") {
		t.Fatalf("userinfo kept: %s", got)
	}
	if !strings.Contains(got, "https://example.com/x?a=1") {
		t.Fatalf("url mangled: %s", got)
	}
}
