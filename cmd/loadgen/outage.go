package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// downSink is the second destination of an -outage run: while down it
// answers 503 to everything (the health probe included) without a
// Retry-After, so once it is up the deliverer's next probe ends its
// backoff; when up it is the counting sink.
type downSink struct {
	*sink
	down    atomic.Bool
	refused atomic.Int64 // requests answered 503
	upAt    atomic.Int64 // unix nanos: when it came back
	first   atomic.Int64 // unix nanos: the first POST after that
}

func newDownSink() *downSink {
	d := &downSink{sink: &sink{status: http.StatusOK}}
	d.down.Store(true)
	return d
}

func (d *downSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.down.Load() {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		d.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodPost {
		d.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	d.sink.ServeHTTP(w, r)
}

// up brings the sink back.
func (d *downSink) up(now time.Time) {
	d.upAt.Store(now.UnixNano())
	d.down.Store(false)
}

// destStatus is the part of GET /v1/streams/{id}/status loadgen reads.
type destStatus struct {
	Name          string `json:"name"`
	Health        string `json:"health"`
	LastStatus    int    `json:"last_status"`
	BacklogEvents uint64 `json:"backlog_events"`
	BacklogBytes  uint64 `json:"backlog_bytes"`
	Delivered     uint64 `json:"delivered"`
}

// streamStatus returns the status of the stream's destinations by name.
func streamStatus(ctx context.Context, c *config, id string) (map[string]destStatus, error) {
	code, b, err := apiDo(ctx, c, http.MethodGet, "/v1/streams/"+url.PathEscape(id)+"/status", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("stream status: HTTP %d", code)
	}
	var st struct {
		Destinations []destStatus `json:"destinations"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	m := make(map[string]destStatus, len(st.Destinations))
	for _, d := range st.Destinations {
		m[d.Name] = d
	}
	return m, nil
}

// rssSample is one reading of the server's memory during an e2e run.
type rssSample struct {
	T             float64 `json:"t"` // seconds since the load started
	RSSMiB        float64 `json:"rss_mib"`
	Delivered     int64   `json:"delivered"`                // at the destination under test
	DownDelivered int64   `json:"down_delivered,omitempty"` // at the -outage destination
}

// sampler records rssSamples every interval until stopped.
type sampler struct {
	mu      sync.Mutex
	samples []rssSample
	stop    chan struct{}
	done    chan struct{}
}

// startSampler samples the server c.pid every c.dst.rssEvery from start;
// nil when there is nothing to sample. It does not ask the server for the
// stream's status: with a large backlog that reads up to 10,000 stored
// requests (300 MB with loadgen's) and would change the memory measured.
func startSampler(c *config, start time.Time, recv receiver, down *downSink) *sampler {
	if c.pid <= 0 || c.dst.rssEvery <= 0 {
		return nil
	}
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	take := func(now time.Time) {
		rss, _, err := procRSS(c.pid)
		if err != nil {
			return
		}
		n, _ := recv.count()
		smp := rssSample{T: now.Sub(start).Seconds(), RSSMiB: rss, Delivered: n}
		if down != nil {
			smp.DownDelivered = down.lines.Load()
		}
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(c.dst.rssEvery)
		defer t.Stop()
		take(time.Now())
		for {
			select {
			case <-s.stop:
				take(time.Now())
				return
			case now := <-t.C:
				take(now)
			}
		}
	}()
	return s
}

// finish stops sampling and returns the samples.
func (s *sampler) finish() []rssSample {
	if s == nil {
		return nil
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// rssSummary condenses the samples of an outage run.
type rssSummary struct {
	StartMiB    float64 `json:"start_mib"`      // first sample at or after warmup
	MidMiB      float64 `json:"mid_mib"`        // the sample nearest the middle of the outage
	EndMiB      float64 `json:"end_mib"`        // the last sample of the outage
	PeakMiB     float64 `json:"peak_mib"`       // the highest sample of the outage from warmup on
	DrainPeak   float64 `json:"drain_peak_mib"` // the highest sample after the outage
	LastMiB     float64 `json:"last_mib"`       // the last sample
	WarmupS     float64 `json:"warmup_s"`
	OutageS     float64 `json:"outage_s"`
	SamplesUsed int     `json:"samples_outage"`
}

// summarizeRSS reads start/mid/end/peak of the outage [0, outage] (from
// warmup on: the first seconds start from an idle server) and the peak
// after it.
func summarizeRSS(samples []rssSample, outage time.Duration) *rssSummary {
	if len(samples) == 0 || outage <= 0 {
		return nil
	}
	o := outage.Seconds()
	r := &rssSummary{OutageS: o, WarmupS: min(30, o/10)}
	mid, best := o/2, -1.0
	startSet := false
	for _, s := range samples {
		if s.T > o {
			r.DrainPeak = max(r.DrainPeak, s.RSSMiB)
			continue
		}
		if s.T < r.WarmupS {
			continue
		}
		if !startSet {
			r.StartMiB, startSet = s.RSSMiB, true
		}
		if d := math.Abs(s.T - mid); best < 0 || d < best {
			r.MidMiB, best = s.RSSMiB, d
		}
		r.EndMiB = s.RSSMiB
		r.PeakMiB = max(r.PeakMiB, s.RSSMiB)
		r.SamplesUsed++
	}
	r.LastMiB = samples[len(samples)-1].RSSMiB
	return r
}

// outageReport is what the -outage destination saw.
type outageReport struct {
	Seconds               float64 `json:"outage_s"`
	Refused               int64   `json:"refused_requests"`           // answered 503 while down
	DeliveredDuringOutage int64   `json:"delivered_during_outage"`    // must be 0
	BacklogAtEnd          uint64  `json:"backlog_events_at_end"`      // status API, when it came back
	BacklogBytesAtEnd     uint64  `json:"backlog_bytes_at_end"`       //
	HealthAtEnd           string  `json:"health_at_end"`              // status API, when it came back
	FirstDeliveryAfterS   float64 `json:"first_delivery_after_s"`     // from coming back to its first POST
	Delivered             int64   `json:"delivered"`                  // in total
	Drained               bool    `json:"drained"`                    // every accepted event arrived
	DrainSeconds          float64 `json:"drain_s"`                    // from coming back to the last delivery
	DeliveredPerS         float64 `json:"delivered_per_s_after_back"` // during that drain
	MainDeliveredAtEnd    int64   `json:"main_delivered_at_end"`      // the healthy destination, when the outage ended
	AcceptedAtEnd         int64   `json:"accepted_at_end"`            // ingest, when the outage ended
}

// destReport is what -mode e2e adds to the load summary.
type destReport struct {
	Dest     string        `json:"dest"`
	Receiver string        `json:"receiver"`
	Verify   *verifyResult `json:"verify,omitempty"`
	Outage   *outageReport `json:"outage,omitempty"`
	RSS      []rssSample   `json:"rss,omitempty"`
	RSSSum   *rssSummary   `json:"rss_outage,omitempty"`
}

func (r *destReport) print(out io.Writer) {
	fmt.Fprintf(out, "destination %s: %s\n", r.Dest, r.Receiver)
	if r.Verify != nil {
		fmt.Fprintf(out, "verify      %s\n", r.Verify)
	}
	if o := r.Outage; o != nil {
		fmt.Fprintf(out, "outage      second destination down %.0f s: %d requests refused, %d events delivered meanwhile; when it came back: health %s, backlog %d events (%.1f MB); the destination under test had %d",
			o.Seconds, o.Refused, o.DeliveredDuringOutage, o.HealthAtEnd, o.BacklogAtEnd, float64(o.BacklogBytesAtEnd)/1e6, o.MainDeliveredAtEnd)
		if o.AcceptedAtEnd > 0 {
			fmt.Fprintf(out, " of %d accepted", o.AcceptedAtEnd)
		}
		fmt.Fprintln(out)
		state := "drained"
		if !o.Drained {
			state = "NOT drained"
		}
		fmt.Fprintf(out, "            back: first delivery after %.1f s, %s %.1f s after coming back (%d events, %.0f events/s)\n",
			o.FirstDeliveryAfterS, state, o.DrainSeconds, o.Delivered, o.DeliveredPerS)
	}
	if s := r.RSSSum; s != nil {
		fmt.Fprintf(out, "server RSS  during the outage (from %.0f s): start %.1f, mid %.1f, end %.1f, peak %.1f MiB; after it: peak %.1f, last %.1f MiB\n",
			s.WarmupS, s.StartMiB, s.MidMiB, s.EndMiB, s.PeakMiB, s.DrainPeak, s.LastMiB)
	}
	if len(r.RSS) > 0 {
		var b strings.Builder
		step := max(1, len(r.RSS)/40) // about 40 points on the line
		for i, s := range r.RSS {
			if i%step == 0 || i == len(r.RSS)-1 {
				fmt.Fprintf(&b, " %.0f:%.0f", s.T, s.RSSMiB)
			}
		}
		fmt.Fprintf(out, "server RSS  (seconds:MiB)%s\n", b.String())
	}
}
