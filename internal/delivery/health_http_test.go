package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/telemetry"
)

// outageServer is an HTTP endpoint that can answer normally ("up"),
// answer 503 to everything ("503"), drop every connection without an
// answer ("reset"), or be gone (stopped: connection refused). It logs
// the method of every request that reaches it.
type outageServer struct {
	t    *testing.T
	addr string

	mu   sync.Mutex
	mode string
	log  []string    // methods, in arrival order
	got  map[int]int // event n → times received
	srv  *http.Server
	done chan struct{}
}

func newOutageServer(t *testing.T) *outageServer {
	s := &outageServer{t: t, mode: "up", got: map[int]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *outageServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() { defer close(done); _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection: connection refused.
func (s *outageServer) stop() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// start listens again on the same address.
func (s *outageServer) start() {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

// switchMode sets the mode and returns the methods logged since the last
// switch (one step, so no request of the old mode is logged in the new).
func (s *outageServer) switchMode(m string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
	l := s.log
	s.log = nil
	return l
}

// heads counts the probes logged since the last switch.
func (s *outageServer) heads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.log {
		if m == http.MethodHead {
			n++
		}
	}
	return n
}

func (s *outageServer) received(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		if s.got[i] == 0 {
			return false
		}
	}
	return true
}

func (s *outageServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, r.Method)
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case "503":
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	case "reset":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		return
	}
	if r.Method != http.MethodPost {
		return
	}
	var ns []int
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		var e struct{ N int }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ns = append(ns, e.N)
	}
	s.mu.Lock()
	for _, n := range ns {
		s.got[n]++
	}
	s.mu.Unlock()
}

// An HTTP destination goes down and comes back (SPEC §7, issue part 8):
// status shows it unavailable with the reason, no send is attempted while
// it is unavailable (only probes, HEAD requests, reach the server), and
// every event arrives once it is back.
func TestHealthOutageWithHTTPDestination(t *testing.T) {
	w := newWorld(t)
	srv := newOutageServer(t)
	met := telemetry.NewMetrics()
	reg := destination.NewRegistry(httpdest.Kind())
	st := &model.Stream{ID: "str_outage", Workspace: "w", Name: "outage", Destinations: []model.Destination{{
		Name: "web", Type: "http",
		Settings: map[string]any{"url": "http://" + srv.addr + "/in", "timeout": "2s"},
		Batch:    model.Batch{MaxEvents: 50, MaxAge: model.Duration(20 * time.Millisecond)},
		Health:   model.Health{Interval: model.Duration(time.Second)},
	}}}
	st.Normalize(reg)
	if errs := st.Validate(reg); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := w.b.EnsureEventStream(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	m := NewManager(w.b, reg, met, nil, Options{
		Backoff:      retry.Backoff{Base: 50 * time.Millisecond, Max: 400 * time.Millisecond},
		DrainTimeout: 2 * time.Second,
	})
	m.Apply(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	status := func() DestinationStatus { return destStatus(t, m, st, "web") }
	gauge := func() float64 { return metricValue(met.Healthy.WithLabelValues("w", "outage", "web")) }

	// Up: events flow, the destination is probed.
	w.publish(st, 0, 100, 10)
	eventually(t, 10*time.Second, "the first 100 events", func() bool { return srv.received(100) })
	if s := status(); s.Health != HealthAvailable || s.LastStatus != 200 || s.LastProbe == nil || s.NextProbe == nil || s.Probes == 0 {
		t.Fatalf("up: %+v", s)
	}
	if gauge() != 1 {
		t.Fatal("available gauge is not 1")
	}

	// 503 to everything. The HTTP destination's probe counts any answer
	// but 401/403 as reachable, so each retry is preceded by a probe:
	// never two sends in a row.
	srv.switchMode("503")
	w.publish(st, 100, 100, 10)
	var s DestinationStatus
	eventually(t, 10*time.Second, "status unavailable with the 503", func() bool {
		s = status()
		return s.Health == HealthUnavailable && strings.Contains(s.LastError, "503") && s.UnavailableSince != nil
	}, func() string { return fmt.Sprintf("%+v", s) })
	time.Sleep(1500 * time.Millisecond)
	log503 := srv.switchMode("reset")
	for i := 1; i < len(log503); i++ {
		if log503[i] == http.MethodPost && log503[i-1] == http.MethodPost {
			t.Fatalf("two sends in a row while the target answers 503: %v", log503)
		}
	}
	t.Logf("503 phase: %v", log503)

	// Connections dropped (switched above): probes fail, so after the send
	// that found out (at most one), only probes arrive, one a second.
	eventually(t, 15*time.Second, "four probes while connections are dropped", func() bool { return srv.heads() >= 4 })
	logReset := srv.switchMode("reset")
	firstHead := strings.Index(strings.Join(logReset, ","), http.MethodHead)
	if firstHead < 0 || strings.Contains(strings.Join(logReset, ",")[firstHead:], http.MethodPost) {
		t.Fatalf("reset phase: %v; want only probes (HEAD) after the first one", logReset)
	}
	s = status()
	if s.Health != HealthUnavailable || s.LastStatus != StatusSkipped || s.LastError == "" || s.ProbeFailures == 0 {
		t.Fatalf("reset phase status %+v", s)
	}
	if gauge() != 0 {
		t.Fatal("available gauge is not 0 while unavailable")
	}
	t.Logf("reset phase: %v; status last_error %q", logReset, s.LastError)

	// Gone: connection refused, events keep coming and wait in the buffer.
	srv.stop()
	failures := s.ProbeFailures
	w.publish(st, 200, 100, 10)
	eventually(t, 10*time.Second, "status to show the refused connection", func() bool {
		s = status()
		return s.Health == HealthUnavailable && strings.Contains(s.LastError, "connection refused") && s.ProbeFailures >= failures+2
	}, func() string { return fmt.Sprintf("%+v", s) })
	if s.LastStatus != StatusSkipped || s.BacklogEvents == 0 {
		t.Fatalf("while gone: %+v", s)
	}

	// Back: a probe finds it, everything arrives.
	srv.switchMode("up")
	srv.start()
	eventually(t, 20*time.Second, "every event after the outage", func() bool { return srv.received(300) })
	eventually(t, 10*time.Second, "status available with an empty backlog", func() bool {
		s = status()
		return s.Health == HealthAvailable && s.LastStatus == 200 && s.UnavailableSince == nil && s.BacklogMessages == 0
	}, func() string { return fmt.Sprintf("%+v", s) })
	if gauge() != 1 {
		t.Fatal("available gauge is not 1 after recovery")
	}
	if ok := metricValue(met.Probes.WithLabelValues("w", "outage", "web", "ok")); ok == 0 {
		t.Fatal("no successful probe counted")
	}
	if bad := metricValue(met.Probes.WithLabelValues("w", "outage", "web", "error")); bad < 3 {
		t.Fatalf("%v failed probes counted", bad)
	}
}

// A send that times out shows 504 and is retried (HTTP timeout 1s).
func TestHTTPTimeoutShows504AndRetries(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	posts, slow := 0, 1
	got := 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			return
		}
		mu.Lock()
		posts++
		wait := posts <= slow
		mu.Unlock()
		if wait {
			time.Sleep(1500 * time.Millisecond)
			return
		}
		sc := bufio.NewScanner(r.Body)
		n := 0
		for sc.Scan() {
			n++
		}
		mu.Lock()
		got += n
		mu.Unlock()
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	reg := destination.NewRegistry(httpdest.Kind())
	st := &model.Stream{ID: "str_slow", Workspace: "w", Name: "slow", Destinations: []model.Destination{{
		Name: "web", Type: "http", Settings: map[string]any{"url": "http://" + ln.Addr().String(), "timeout": "1s"},
		Batch: model.Batch{MaxEvents: 10, MaxAge: model.Duration(20 * time.Millisecond)},
	}}}
	st.Normalize(reg)
	if err := w.b.EnsureEventStream(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	// A retry delay of 1-2 s keeps the 504 visible long enough to poll.
	m := NewManager(w.b, reg, nil, nil, Options{Backoff: retry.Backoff{Base: 2 * time.Second, Max: 2 * time.Second}, DrainTimeout: 2 * time.Second})
	m.Apply(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	w.publish(st, 0, 10, 10)
	var s DestinationStatus
	eventually(t, 10*time.Second, "a 504", func() bool { s = destStatus(t, m, st, "web"); return s.LastStatus == StatusTimeout }, func() string { return fmt.Sprintf("%+v", s) })
	if !strings.Contains(s.LastError, "timed out") || s.Failed != 10 {
		t.Fatalf("after the timeout: %+v", s)
	}
	eventually(t, 10*time.Second, "the retry to deliver", func() bool { mu.Lock(); defer mu.Unlock(); return got == 10 })
	s = destStatus(t, m, st, "web")
	if s.LastStatus != 200 || s.Health != HealthAvailable || s.Retried != 1 || s.Delivered != 10 {
		t.Fatalf("after the retry: %+v", s)
	}
}
