package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// target is what a "fake" destination delivers to; tests steer it.
type target struct {
	mu        sync.Mutex
	events    []int // the "n" of every delivered record, in arrival order
	calls     int
	failFirst int           // that many calls fail with a retryable 503
	permanent bool          // calls fail with a permanent 400
	block     chan struct{} // when set, calls wait for it to close
}

func (t *target) Deliver(ctx context.Context, b destination.Batch) error {
	t.mu.Lock()
	t.calls++
	if t.failFirst > 0 {
		t.failFirst--
		t.mu.Unlock()
		return statusErr{503}
	}
	if t.permanent {
		t.mu.Unlock()
		return retry.Permanent(statusErr{400})
	}
	block := t.block
	t.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ns := make([]int, 0, len(b.Records))
	for _, r := range b.Records {
		var e struct{ N int }
		if err := json.Unmarshal(r, &e); err != nil {
			return retry.Permanent(err)
		}
		ns = append(ns, e.N)
	}
	t.mu.Lock()
	t.events = append(t.events, ns...)
	t.mu.Unlock()
	return nil
}

func (t *target) Close(context.Context) error { return nil }

func (t *target) got() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.events)
}

func (t *target) set(fn func(t *target)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(t)
}

type fakeConfig struct {
	Target string `json:"target"`
}

func (c *fakeConfig) Validate() model.FieldErrors { return nil }

// world is a bus, a registry with the "fake" kind, and named targets.
type world struct {
	t       *testing.T
	b       *bus.Bus
	reg     *destination.Registry
	met     *telemetry.Metrics
	mu      sync.Mutex
	targets map[string]*target
}

func newWorld(t *testing.T) *world {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	w := &world{t: t, b: b, met: telemetry.NewMetrics(), targets: map[string]*target{}}
	w.reg = destination.NewRegistry(destination.Kind{
		Name:   "fake",
		Config: func() destination.Config { return &fakeConfig{} },
		New: func(_ context.Context, c destination.Config, _ destination.Deps) (destination.Destination, error) {
			return w.target(c.(*fakeConfig).Target), nil
		},
		Batch: model.Batch{MaxEvents: 100, MaxAge: model.Duration(20 * time.Millisecond)},
	})
	return w
}

func (w *world) target(name string) *target {
	w.mu.Lock()
	defer w.mu.Unlock()
	tg := w.targets[name]
	if tg == nil {
		tg = &target{}
		w.targets[name] = tg
	}
	return tg
}

// stream builds, normalizes and validates a stream whose destinations
// are named after their targets.
func (w *world) stream(id string, dests ...model.Destination) *model.Stream {
	st := &model.Stream{ID: id, Workspace: "w", Name: "s-" + id, Destinations: dests}
	st.Normalize(w.reg)
	if errs := st.Validate(w.reg); len(errs) > 0 {
		w.t.Fatal(errs)
	}
	if err := w.b.EnsureEventStream(w.t.Context(), st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func fakeDestCfg(name string) model.Destination {
	return model.Destination{Name: name, Type: "fake", Settings: map[string]any{"target": name}}
}

// publish stores frames of perFrame events numbered from..from+n-1.
func (w *world) publish(st *model.Stream, from, n, perFrame int) {
	w.t.Helper()
	for i := from; i < from+n; i += perFrame {
		var lines []string
		for j := i; j < min(i+perFrame, from+n); j++ {
			lines = append(lines, fmt.Sprintf(`{"n":%d,"source":"test"}`, j))
		}
		m := event.Message(bus.EventSubject(st.ID), &event.Frame{Workspace: st.Workspace, Stream: st.Name, Count: len(lines), Received: time.Now(), Body: []byte(strings.Join(lines, "\n"))}, "")
		if _, err := w.b.Publish(w.t.Context(), m); err != nil {
			w.t.Fatal(err)
		}
	}
}

// startManager runs a manager until the test ends, then checks that it
// stopped and left no goroutine behind.
func (w *world) startManager(streams ...*model.Stream) *Manager {
	t := w.t
	m := NewManager(w.b, w.reg, w.met, nil, Options{
		Backoff:         retry.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		DrainTimeout:    2 * time.Second,
		BacklogInterval: 50 * time.Millisecond,
	})
	for _, st := range streams {
		m.Apply(st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		// Unblock stuck targets so the drain is quick.
		w.mu.Lock()
		for _, tg := range w.targets {
			tg.mu.Lock()
			if tg.block != nil {
				select {
				case <-tg.block:
				default:
					close(tg.block)
				}
			}
			tg.mu.Unlock()
		}
		w.mu.Unlock()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("manager did not stop")
		}
		var leaked []string
		eventually(t, 5*time.Second, "goroutines of the manager to end", func() bool {
			leaked = leakedGoroutines()
			return len(leaked) == 0
		}, func() string { return strings.Join(leaked, "\n\n") })
	})
	return m
}

// leakedGoroutines returns the stacks of goroutines still running code
// of this package or a client fetch (the server's own goroutines live as
// long as the bus and are not ours).
func leakedGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") {
			continue // a test's own goroutine
		}
		if strings.Contains(g, "runnel/internal/delivery.") || strings.Contains(g, "jetstream.(*pullConsumer)") {
			out = append(out, g)
		}
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, f := range detail {
				msg += f()
			}
			t.Fatalf("timed out after %v waiting for %s %s", d, what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkInOrder reports gaps and disorder; it returns the duplicates.
func checkInOrder(t *testing.T, name string, got []int, n int) int {
	t.Helper()
	seen := map[int]bool{}
	var uniq []int
	dups := 0
	for _, v := range got {
		if seen[v] {
			dups++
			continue
		}
		seen[v] = true
		uniq = append(uniq, v)
	}
	if len(uniq) != n {
		t.Fatalf("%s: %d distinct events, want %d", name, len(uniq), n)
	}
	for i, v := range uniq {
		if v != i {
			t.Fatalf("%s: event %d is %d: out of order", name, i, v)
		}
	}
	t.Logf("%s: %d events in order, %d duplicates", name, n, dups)
	return dups
}

func destStatus(t *testing.T, m *Manager, st *model.Stream, name string) DestinationStatus {
	t.Helper()
	ss, err := m.Status(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ss.Destinations {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no status for %s", name)
	return DestinationStatus{}
}

func TestManagerRetriesUntilDeliveredInOrder(t *testing.T) {
	w := newWorld(t)
	w.target("d1").set(func(t *target) { t.failFirst = 4 })
	st := w.stream("str_retry", fakeDestCfg("d1"))
	m := w.startManager(st)
	const n = 1000
	w.publish(st, 0, n, 25)
	eventually(t, 20*time.Second, "all events at d1", func() bool { return len(w.target("d1").got()) >= n })
	if dups := checkInOrder(t, "d1", w.target("d1").got(), n); dups != 0 {
		t.Errorf("%d duplicates without any restart", dups)
	}
	eventually(t, 5*time.Second, "backlog to drain", func() bool { return destStatus(t, m, st, "d1").BacklogMessages == 0 })
	s := destStatus(t, m, st, "d1")
	if s.Health != HealthAvailable || s.LastStatus != 200 || s.Delivered != n || s.Retried != 4 || s.Failed == 0 || s.LastError != "target answered 503" || !s.Running {
		t.Fatalf("status %+v", s)
	}
}

func TestManagerIsolatesDestinations(t *testing.T) {
	w := newWorld(t)
	release := make(chan struct{})
	w.target("d2").set(func(t *target) { t.block = release })
	st := w.stream("str_iso", fakeDestCfg("d2"), fakeDestCfg("d3"))
	m := w.startManager(st)
	const n = 500
	w.publish(st, 0, n, 25)
	eventually(t, 20*time.Second, "all events at d3 while d2 is stuck", func() bool { return len(w.target("d3").got()) >= n })
	checkInOrder(t, "d3", w.target("d3").got(), n)
	if got := len(w.target("d2").got()); got != 0 {
		t.Fatalf("d2 received %d events while blocked", got)
	}

	s2 := destStatus(t, m, st, "d2")
	if s2.BacklogMessages != n/25 || s2.BacklogEvents != n || s2.BacklogEventsEstimated || s2.BacklogBytes == 0 || s2.OldestUndeliveredAgeSeconds <= 0 || s2.Delivered != 0 {
		t.Fatalf("stuck destination status %+v", s2)
	}
	eventually(t, 5*time.Second, "d3 backlog to drain", func() bool { return destStatus(t, m, st, "d3").BacklogMessages == 0 })
	s3 := destStatus(t, m, st, "d3")
	if s3.Delivered != n || s3.Processed != n || s3.BacklogEvents != 0 || s3.Health != HealthAvailable {
		t.Fatalf("d3 status %+v", s3)
	}
	b, _ := json.Marshal(s2)
	for _, k := range []string{`"backlog_messages":20`, `"backlog_events":500`, `"oldest_undelivered_age_seconds":`, `"last_probe":null`, `"dead_lettered":0`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("status JSON %s lacks %s", b, k)
		}
	}

	close(release)
	eventually(t, 20*time.Second, "d2 to catch up", func() bool { return len(w.target("d2").got()) >= n })
	checkInOrder(t, "d2", w.target("d2").got(), n)
	eventually(t, 5*time.Second, "d2 backlog to drain", func() bool {
		s := destStatus(t, m, st, "d2")
		return s.BacklogMessages == 0 && s.BacklogEvents == 0
	})
}

func TestDeadLettersListAndReplay(t *testing.T) {
	w := newWorld(t)
	w.target("bad").set(func(t *target) { t.permanent = true })
	small := fakeDestCfg("small")
	small.Payload.MaxSize = 100
	st := w.stream("str_dlq", fakeDestCfg("good"), fakeDestCfg("bad"), small)
	m := w.startManager(st)
	const n = 30
	w.publish(st, 0, n, 10)
	big := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", 200))
	w.b.Publish(t.Context(), event.Message(bus.EventSubject(st.ID), &event.Frame{Count: 1, Received: time.Now(), Body: []byte(big)}, ""))

	eventually(t, 20*time.Second, "good to get everything", func() bool { return len(w.target("good").got()) == n+1 })
	eventually(t, 20*time.Second, "bad to dead-letter everything", func() bool { return destStatus(t, m, st, "bad").DeadLettered == n+1 })
	eventually(t, 20*time.Second, "small to dead-letter the big event", func() bool { return destStatus(t, m, st, "small").DeadLettered == 1 })

	// Pagination over the bad destination's dead letters.
	var all []DeadLetter
	after := uint64(0)
	for page := 0; ; page++ {
		dls, next, err := ListDeadLetters(t.Context(), w.b, st.ID, "bad", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, dls...)
		if next == 0 {
			break
		}
		if len(dls) != 7 || page > 10 {
			t.Fatalf("page %d has %d entries with next %d", page, len(dls), next)
		}
		after = next
	}
	if len(all) != n+1 {
		t.Fatalf("listed %d dead letters of bad, want %d", len(all), n+1)
	}
	for i, dl := range all {
		var e struct{ N int }
		_ = json.Unmarshal(dl.Event, &e)
		if e.N != i || dl.Destination != "bad" || dl.StreamID != st.ID || dl.Error != "target answered 400" || dl.StatusCode != 400 || dl.Attempts != 1 || dl.ID == "" || dl.Time.IsZero() {
			t.Fatalf("dead letter %d: %+v", i, dl)
		}
	}
	smallDLs, _, err := ListDeadLetters(t.Context(), w.b, st.ID, "small", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(smallDLs) != 1 || smallDLs[0].Error != fmt.Sprintf("event of %d bytes exceeds max_size 100", len(big)) || string(smallDLs[0].Event) != big {
		t.Fatalf("small's dead letters %+v", smallDLs)
	}
	every, _, err := ListDeadLetters(t.Context(), w.b, st.ID, "", 0, 1000)
	if err != nil || len(every) != n+2 {
		t.Fatalf("all destinations: %d dead letters, %v", len(every), err)
	}

	// Fix the destination and replay: first two by id, then the rest.
	w.target("bad").set(func(t *target) { t.permanent = false })
	if _, err := ReplayDeadLetters(t.Context(), w.b, st.ID, "bad", []uint64{smallDLs[0].Seq}); err == nil {
		t.Fatal("replaying another destination's dead letter as bad's must fail")
	}
	got, err := ReplayDeadLetters(t.Context(), w.b, st.ID, "bad", []uint64{all[0].Seq, all[1].Seq})
	if err != nil || got != 2 {
		t.Fatalf("replay by id: %d, %v", got, err)
	}
	eventually(t, 20*time.Second, "the two replayed events at bad", func() bool { return len(w.target("bad").got()) == 2 })
	got, err = ReplayDeadLetters(t.Context(), w.b, st.ID, "bad", nil)
	if err != nil || got != n-1 {
		t.Fatalf("replay all: %d, %v", got, err)
	}
	eventually(t, 20*time.Second, "bad to get everything", func() bool { return len(w.target("bad").got()) == n+1 })
	checkInOrder(t, "bad", w.target("bad").got(), n+1)
	left, _, err := ListDeadLetters(t.Context(), w.b, st.ID, "bad", 0, 0)
	if err != nil || len(left) != 0 {
		t.Fatalf("bad's dead letters after replay: %d, %v", len(left), err)
	}
	// The other destinations skipped the replay frames: settled, not delivered.
	for _, name := range []string{"good", "small"} {
		eventually(t, 5*time.Second, name+" to settle the replay frames", func() bool { return destStatus(t, m, st, name).BacklogMessages == 0 })
	}
	if got := len(w.target("good").got()); got != n+1 {
		t.Fatalf("good received %d events, want %d: replays leaked to it", got, n+1)
	}
	if s := destStatus(t, m, st, "small"); s.DeadLettered != 1 {
		t.Fatalf("small status %+v", s)
	}

	if err := w.b.PurgeDeadLetters(t.Context(), st.ID); err != nil {
		t.Fatal(err)
	}
	if rest, _, _ := ListDeadLetters(t.Context(), w.b, st.ID, "", 0, 0); len(rest) != 0 {
		t.Fatalf("%d dead letters after purge", len(rest))
	}
}

func TestInactiveStreamHoldsEvents(t *testing.T) {
	w := newWorld(t)
	st := w.stream("str_pause", fakeDestCfg("d1"))
	m := w.startManager(st)
	w.publish(st, 0, 50, 10)
	eventually(t, 20*time.Second, "first events", func() bool { return len(w.target("d1").got()) == 50 })

	paused := *st
	paused.Status = model.StatusInactive
	m.Apply(&paused)
	eventually(t, 5*time.Second, "the deliverer to stop", func() bool { return !destStatus(t, m, &paused, "d1").Running })
	w.publish(&paused, 50, 50, 10)
	// A consumer's pending count follows the publish ack shortly after.
	var s DestinationStatus
	eventually(t, 5*time.Second, "the backlog to show the held events", func() bool {
		s = destStatus(t, m, &paused, "d1")
		return s.BacklogMessages == 5 && s.BacklogEvents == 50
	}, func() string { return fmt.Sprintf("%+v", s) })
	if got := len(w.target("d1").got()); got != 50 {
		t.Fatalf("inactive stream delivered: %d events", got)
	}

	m.Apply(st)
	eventually(t, 20*time.Second, "held events after re-activation", func() bool { return len(w.target("d1").got()) >= 100 })
	checkInOrder(t, "d1", w.target("d1").got(), 100)
}

func TestApplyRestartsOnlyChangedDestinations(t *testing.T) {
	w := newWorld(t)
	st := w.stream("str_change", fakeDestCfg("a"), fakeDestCfg("b"))
	m := w.startManager(st)
	w.publish(st, 0, 40, 10)
	eventually(t, 20*time.Second, "first events", func() bool {
		return len(w.target("a").got()) == 40 && len(w.target("b").got()) == 40
	})
	m.mu.Lock()
	ra, rb := m.streams[st.ID].runners["a"], m.streams[st.ID].runners["b"]
	m.mu.Unlock()

	// b now sends to another target; a is unchanged. Events keep coming
	// before, during and after the restart.
	w.publish(st, 40, 200, 10)
	st2 := w.stream(st.ID, fakeDestCfg("a"), model.Destination{Name: "b", Type: "fake", Settings: map[string]any{"target": "b2"}})
	m.Apply(st2)
	m.mu.Lock()
	ra2, rb2 := m.streams[st.ID].runners["a"], m.streams[st.ID].runners["b"]
	m.mu.Unlock()
	if ra2 != ra || rb2 == rb {
		t.Fatal("Apply must keep unchanged deliverers and restart changed ones")
	}
	w.publish(st2, 240, 200, 10)
	const n = 440
	eventually(t, 20*time.Second, "later events at b2", func() bool {
		got := w.target("b2").got()
		return len(got) > 0 && got[len(got)-1] == n-1
	})
	if dups := checkInOrder(t, "a", w.target("a").got(), n); dups != 0 {
		t.Errorf("unchanged destination a got %d duplicates", dups)
	}
	checkInOrder(t, "b then b2", append(w.target("b").got(), w.target("b2").got()...), n)
	eventually(t, 5*time.Second, "b's backlog to drain", func() bool { return destStatus(t, m, st2, "b").BacklogMessages == 0 })
	if s := destStatus(t, m, st2, "b"); s.Delivered < n {
		t.Fatalf("counters must survive the restart: %+v", s)
	}

	m.Remove(st.ID)
	eventually(t, 5*time.Second, "deliverers to stop after Remove", func() bool {
		select {
		case <-ra.done:
		default:
			return false
		}
		select {
		case <-rb2.done:
			return true
		default:
			return false
		}
	})
}
