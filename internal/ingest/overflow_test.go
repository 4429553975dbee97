package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// Buffer limits end to end (SPEC §4 buffer, §7): a tiny buffer, real
// embedded bus, real ingest handler, real delivery to an HTTP endpoint.

// ovEvent is an event of about 260 bytes carrying id.
func ovEvent(id string) string {
	return `{"timestamp":"2025-02-12T14:32:15Z","source":"overflow-test","event":{"transactionId":"` + id +
		`","pad":"` + strings.Repeat("x", 160) + `"},"metadata":{"env":"test"}}`
}

// ovRequest is request i: n events with ids "<i>-<j>".
func ovRequest(i, n int) (body []byte, ids []string) {
	evs := make([]string, n)
	for j := range evs {
		ids = append(ids, fmt.Sprintf("%d-%d", i, j))
		evs[j] = ovEvent(ids[j])
	}
	return array(evs...), ids
}

// ovWithOverflow returns a copy of e whose handler (and test server) has
// a drop_oldest dropper, on bus b (e.bus or a second connection).
func ovWithOverflow(t *testing.T, e *env, b *bus.Bus, m *telemetry.Metrics) *env {
	t.Helper()
	e2 := *e
	e2.h = New(Deps{Bus: b, Overflow: delivery.NewOverflow(b, m, nil), Streams: e.store, Tokens: e.store, Metrics: m, Now: e.clock.Now})
	mux := http.NewServeMux()
	e2.h.Register(mux)
	e2.srv = httptest.NewServer(mux)
	t.Cleanup(e2.srv.Close)
	return &e2
}

// ovSink is an HTTP endpoint that records the transaction ids it receives.
type ovSink struct {
	*httptest.Server
	mu    sync.Mutex
	got   map[string]int
	heads int
}

func newOvSink(t *testing.T) *ovSink {
	s := &ovSink{got: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method == http.MethodHead {
			s.heads++
			return
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var e struct {
				Event struct {
					TransactionID string `json:"transactionId"`
				} `json:"event"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.got[e.Event.TransactionID]++
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ovSink) has(ids map[string]bool) (missing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range ids {
		if s.got[id] == 0 {
			missing++
		}
	}
	return missing
}

// ovRegistry knows destination type "web" (the type fakeKinds validates)
// as the real HTTP destination.
func ovRegistry() *destination.Registry {
	k := httpdest.Kind()
	k.Name, k.Aliases = "web", nil
	return destination.NewRegistry(k)
}

// ovStartDelivery runs a delivery manager for st until the test ends.
func ovStartDelivery(t *testing.T, e *env, st *model.Stream) *delivery.Manager {
	t.Helper()
	m := delivery.NewManager(e.bus, ovRegistry(), telemetry.NewMetrics(), nil, delivery.Options{
		Backoff: retry.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}, DrainTimeout: 2 * time.Second,
	})
	m.Apply(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func ovEventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func ovCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// ovBuffered returns the ids of the events left in a stream's buffer.
func ovBuffered(t *testing.T, e *env, streamID string) map[string]bool {
	t.Helper()
	s := e.jsStream(streamID)
	out := map[string]bool{}
	for seq := uint64(1); ; {
		raw, err := s.GetMsg(e.ctx, seq, jetstream.WithGetMsgSubject(bus.EventSubject(streamID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f := event.Parse(raw.Header, raw.Data)
		evs := event.Split(f.Body)
		if len(evs) != f.Count {
			t.Fatalf("message %d holds %d events, its header says %d", raw.Sequence, len(evs), f.Count)
		}
		for _, ev := range evs {
			var x struct {
				Event struct {
					TransactionID string `json:"transactionId"`
				} `json:"event"`
			}
			if err := json.Unmarshal(ev, &x); err != nil {
				t.Fatal(err)
			}
			out[x.Event.TransactionID] = true
		}
		seq = raw.Sequence + 1
	}
}

// overflow: reject — once the 1 MiB buffer is full ingest answers 503 with
// Retry-After, and every event it acknowledged arrives once the
// destination runs.
func TestOverflowRejectLosesNothingAcknowledged(t *testing.T) {
	e := newEnv(t)
	sink := newOvSink(t)
	st := e.newStream(model.DefaultWorkspace, "tiny-reject", func(s *model.Stream) {
		s.Buffer.MaxBytes = 1 << 20
		s.Buffer.Overflow = model.OverflowReject
		s.Destinations = []model.Destination{{
			Name: "sink", Type: "web", Settings: map[string]any{"url": sink.URL},
			Batch: model.Batch{MaxEvents: 500, MaxAge: model.Duration(20 * time.Millisecond)},
		}}
	})
	// The destination is stopped: no deliverer runs, the buffer fills.
	acked := map[string]bool{}
	ok, full := 0, 0
	for i := 0; full < 20; i++ {
		if i > 5000 {
			t.Fatal("the buffer never filled")
		}
		body, ids := ovRequest(i, 25)
		res := e.post(req{stream: st.ID, body: body})
		switch res.status {
		case http.StatusOK:
			if full > 0 {
				// A smaller request may still fit after a refusal; fine,
				// it is acknowledged and must arrive like the others.
				t.Logf("request %d fit after a refusal", i)
			}
			ok++
			for _, id := range ids {
				acked[id] = true
			}
		case http.StatusServiceUnavailable:
			full++
			if res.err.Error != "unavailable" || !strings.Contains(res.err.Detail, "buffer is full") || res.header.Get("Retry-After") != "5" {
				t.Fatalf("503 answer: %s %v", res.raw, res.header)
			}
		default:
			t.Fatalf("request %d: %d %s", i, res.status, res.raw)
		}
	}
	info, err := e.jsStream(st.ID).Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests acknowledged (%d events), %d refused; buffer holds %d bytes of %d", ok, len(acked), full, info.State.Bytes, 1<<20)
	if info.State.Bytes > 1<<20 || info.State.Bytes < 900<<10 {
		t.Fatalf("buffer holds %d bytes; want it nearly full and never over 1 MiB", info.State.Bytes)
	}
	if got := ovBuffered(t, e, st.ID); len(got) != len(acked) {
		t.Fatalf("buffer holds %d events, %d were acknowledged", len(got), len(acked))
	}

	// The destination starts: every acknowledged event arrives.
	ovStartDelivery(t, e, st)
	ovEventually(t, 30*time.Second, "every acknowledged event at the destination", func() bool { return sink.has(acked) == 0 })
	// And the drained buffer takes events again.
	ovEventually(t, 10*time.Second, "ingest to accept again", func() bool {
		body, _ := ovRequest(-1, 1)
		return e.post(req{stream: st.ID, body: body}).status == http.StatusOK
	})
}

// overflow: drop_oldest — no destination, a 1 MiB buffer, about 2.6 MB
// ingested through two nodes: every request is acknowledged, and the
// dropped count is exactly the events ingested minus the events still
// buffered; the dropped events are dead letters of "*" with the reason;
// both nodes read the same counter, and the stream status shows it.
func TestOverflowDropOldestCountsExactly(t *testing.T) {
	e := newEnv(t)
	b2, err := e.bus.Connect(e.ctx, "node2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	m1, m2 := telemetry.NewMetrics(), telemetry.NewMetrics()
	nodes := []*env{ovWithOverflow(t, e, e.bus, m1), ovWithOverflow(t, e, b2, m2)}
	st := e.newStream(model.DefaultWorkspace, "tiny-drop", func(s *model.Stream) {
		s.Buffer.MaxBytes = 1 << 20
		s.Buffer.Overflow = model.OverflowDropOldest
	})

	const requests, per = 400, 25
	acked := map[string]bool{}
	for i := range requests {
		body, ids := ovRequest(i, per)
		res := nodes[i%2].post(req{stream: st.ID, body: body})
		if res.status != http.StatusOK || res.ok.Events != per {
			t.Fatalf("request %d: %d %s", i, res.status, res.raw)
		}
		for _, id := range ids {
			acked[id] = true
		}
	}
	left := ovBuffered(t, e, st.ID)
	c1, err := e.bus.Dropped(e.ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b2.Dropped(e.ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	ingested := uint64(len(acked))
	t.Logf("ingested %d events, %d still buffered, dropped %d (node 1 counted %v, node 2 %v)", ingested, len(left), c1.Events,
		ovCounter(m1.Dropped.WithLabelValues(st.Workspace, st.Name)), ovCounter(m2.Dropped.WithLabelValues(st.Workspace, st.Name)))
	if c1.Events == 0 || c1.Events != ingested-uint64(len(left)) {
		t.Fatalf("dropped %d events, want exactly ingested %d − buffered %d", c1.Events, ingested, len(left))
	}
	if c1 != c2 {
		t.Fatalf("the second node reads %+v, the first %+v", c2, c1)
	}
	if sum := ovCounter(m1.Dropped.WithLabelValues(st.Workspace, st.Name)) + ovCounter(m2.Dropped.WithLabelValues(st.Workspace, st.Name)); sum != float64(c1.Events) {
		t.Fatalf("runnel_dropped_events_total of both nodes: %v, want %d", sum, c1.Events)
	}

	// The dropped events are the dead letters of "*", with the reason.
	dead := map[string]bool{}
	for after := uint64(0); ; {
		dls, next, err := delivery.ListDeadLetters(e.ctx, e.bus, st.ID, "", after, delivery.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range dls {
			var x struct {
				Event struct {
					TransactionID string `json:"transactionId"`
				} `json:"event"`
			}
			if err := json.Unmarshal(dl.Event, &x); err != nil {
				t.Fatal(err)
			}
			id := x.Event.TransactionID
			if dl.Destination != "*" || dl.Error != "buffer full: dropped by overflow drop_oldest" || dead[id] || left[id] || !acked[id] {
				t.Fatalf("dead letter %+v (duplicate %v, also buffered %v)", dl, dead[id], left[id])
			}
			dead[id] = true
		}
		if next == 0 {
			break
		}
		after = next
	}
	if uint64(len(dead)) != c1.Events || len(dead)+len(left) != len(acked) {
		t.Fatalf("%d dead letters + %d buffered, %d acknowledged, %d counted", len(dead), len(left), len(acked), c1.Events)
	}
	// The oldest went: the buffer holds the newest requests.
	if !left[fmt.Sprintf("%d-0", requests-1)] || left["0-0"] {
		t.Fatal("the buffer does not hold the newest events")
	}

	// Stream status shows the counter (any node: it is in the bus).
	mgr := delivery.NewManager(b2, ovRegistry(), nil, nil, delivery.Options{})
	ss, err := mgr.Status(e.ctx, st)
	if err != nil || ss.DroppedEvents != c1.Events {
		t.Fatalf("status dropped_events %d, want %d (%v)", ss.DroppedEvents, c1.Events, err)
	}
	raw, _ := json.Marshal(ss)
	if !strings.Contains(string(raw), fmt.Sprintf(`"dropped_events":%d`, c1.Events)) {
		t.Fatalf("status JSON %s", raw)
	}

	// A request that could never fit in the whole buffer drops nothing and
	// says why.
	big := `{"timestamp":"2025-02-12T14:32:15Z","source":"a","event":{"pad":"` + strings.Repeat("x", 1048500-80) + `"}}`
	res := nodes[0].post(req{stream: st.ID, body: []byte(big)})
	if res.status != http.StatusBadRequest || res.err.Error != "payload_too_large" || !strings.Contains(res.err.Detail, "buffer.max_bytes") {
		t.Fatalf("oversized request: %d %s", res.status, res.raw)
	}
	if c, _ := e.bus.Dropped(e.ctx, st.ID); c != c1 {
		t.Fatalf("an oversized request dropped events: %+v", c)
	}
}
