package delivery

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Processing on the delivery path: kept events are processed and
// delivered; filtered, sampled-out and routed-away events are counted and
// settled; an event a processor fails on is dead-lettered with the error
// while the rest of its message is delivered; the message is acked once.
func TestProcessingOnDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{
			maxEvents: 100, maxAge: time.Second,
			procs:    `[{"filter":{"if":"n % 2 == 0"}},{"mask":{"fields":["email"],"method":"redact"}},{"sample":{"percent":100}}]`,
			route:    "n != 4",
			procVars: []string{"n", "email"},
		})
		var events []string
		for i := range 10 {
			events = append(events, fmt.Sprintf(`{"n":%d,"email":"u%d@example.com"}`, i, i))
		}
		events = append(events, `{"n":"not a number"}`)
		m := newFrame("", events...)
		r.send(m)
		time.Sleep(time.Second)
		synctest.Wait()

		var got []string
		for _, c := range r.dest.snapshot() {
			got = append(got, c.records...)
		}
		want := []string{`{"n":0,"email":"[REDACTED]"}`, `{"n":2,"email":"[REDACTED]"}`, `{"n":6,"email":"[REDACTED]"}`, `{"n":8,"email":"[REDACTED]"}`}
		if !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v", got, want)
		}
		dls := r.sink.snapshot()
		if len(dls) != 1 || string(dls[0].Event) != `{"n":"not a number"}` || !strings.Contains(dls[0].Error, "processors[0] (filter)") ||
			dls[0].StatusCode != StatusUnprocessed {
			t.Fatalf("dead letters %+v, want the string n with the filter's error", dls)
		}
		if acks, naks, _ := m.state(); acks != 1 || naks != 0 {
			t.Fatalf("acks %d naks %d, want the message acked once", acks, naks)
		}
		s := r.d.Stats().Snapshot()
		if s.Processed != 11 || s.Delivered != 4 || s.Filtered != 5 || s.RoutedAway != 1 || s.ProcessorErrors != 1 ||
			s.DeadLettered != 1 || s.Masked != 5 || s.SampledOut != 0 { // n=4 is masked, then routed away
			t.Fatalf("stats %+v", s)
		}
		st := processorStatus(r.d.Stats().chain.Load())
		var stages []string
		for _, p := range st {
			stages = append(stages, fmt.Sprintf("%s:%s p%d d%d e%d m%d", p.Stage, p.Name, p.Processed, p.Dropped, p.Errors, p.Masked))
		}
		wantStages := []string{
			"processors[0]:filter p11 d5 e1 m0",
			"processors[1]:mask p5 d0 e0 m5",
			"processors[2]:sample p5 d0 e0 m0",
			"route:route p5 d1 e0 m0",
		}
		if !slices.Equal(stages, wantStages) {
			t.Fatalf("stages\n%s\nwant\n%s", strings.Join(stages, "\n"), strings.Join(wantStages, "\n"))
		}
	})
}

// A route that fails on an event dead-letters it for this destination.
func TestRouteErrorDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOpts{maxAge: time.Second, route: "n > 1", procVars: []string{"n"}})
		m := newFrame("", `{"n":1}`, `{"n":2}`, `{"n":"x"}`)
		r.send(m)
		time.Sleep(time.Second)
		synctest.Wait()
		var got []string
		for _, c := range r.dest.snapshot() {
			got = append(got, c.records...)
		}
		if !slices.Equal(got, []string{`{"n":2}`}) {
			t.Fatalf("delivered %v", got)
		}
		dls := r.sink.snapshot()
		if len(dls) != 1 || !strings.HasPrefix(dls[0].Error, "route: ") {
			t.Fatalf("dead letters %+v", dls)
		}
		if s := r.d.Stats().Snapshot(); s.RoutedAway != 1 || s.ProcessorErrors != 1 {
			t.Fatalf("stats %+v", s)
		}
		if acks, _, _ := m.state(); acks != 1 {
			t.Fatal("not acked")
		}
	})
}
