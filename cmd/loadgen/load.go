package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// counters are shared by all clients.
type counters struct {
	reqs      atomic.Int64 // completed requests (any outcome)
	okReqs    atomic.Int64 // 2xx
	okEvents  atomic.Int64 // events in 2xx requests
	okBytes   atomic.Int64 // uncompressed body bytes of 2xx requests
	wireBytes atomic.Int64 // bytes sent (compressed with -gzip), all requests
	errs      atomic.Int64 // transport errors (no HTTP status)
	codes     [600]atomic.Int64
	lastErr   atomic.Value // string
	hist      histogram
	ivMax     atomic.Int64 // max latency in the current report interval
	reserved  atomic.Int64 // events handed to clients (for -events)
}

func (c *counters) noteMax(d time.Duration) {
	v := int64(d)
	for {
		m := c.ivMax.Load()
		if v <= m || c.ivMax.CompareAndSwap(m, v) {
			return
		}
	}
}

// result is the summary of a load run.
type result struct {
	Mode        string         `json:"mode"`
	Dialect     string         `json:"dialect,omitempty"`
	Clients     int            `json:"clients"`
	Batch       int            `json:"batch"`
	EventBytes  int            `json:"event_bytes"`
	Gzip        bool           `json:"gzip"`
	Seconds     float64        `json:"seconds"`
	Requests    int64          `json:"requests"`
	OKRequests  int64          `json:"ok_requests"`
	Events      int64          `json:"events"` // accepted (2xx)
	ReqPerSec   float64        `json:"requests_per_s"`
	EventsPerS  float64        `json:"events_per_s"`
	MBPerS      float64        `json:"mb_per_s"`      // uncompressed, accepted, 10^6 bytes
	WireMBPerS  float64        `json:"wire_mb_per_s"` // as sent
	Codes       map[string]int `json:"codes"`
	Errors      int64          `json:"errors"`
	LastError   string         `json:"last_error,omitempty"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	P999ms      float64        `json:"p999_ms"`
	MaxMs       float64        `json:"max_ms"`
	CPU         *cpuUsage      `json:"cpu,omitempty"`
	ServerPID   int            `json:"server_pid,omitempty"`
	PeakRSSMiB  float64        `json:"server_peak_rss_mib,omitempty"` // VmHWM at the end
	FinalRSSMiB float64        `json:"server_rss_mib,omitempty"`      // VmRSS at the end

	// e2e only
	Stream              string  `json:"stream,omitempty"`
	Template            string  `json:"template,omitempty"`
	Delivered           int64   `json:"delivered,omitempty"`
	DeliveredDuringLoad int64   `json:"delivered_during_load,omitempty"`
	DeliveredPerS       float64 `json:"delivered_per_s,omitempty"` // whole run: first send to last delivery
	DeliveredPerSLoad   float64 `json:"delivered_per_s_during_load,omitempty"`
	DrainSeconds        float64 `json:"drain_seconds,omitempty"`
	Drained             bool    `json:"drained,omitempty"`
	SinkRequests        int64   `json:"sink_requests,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// extraReport adds fields to each per-second line (e2e: delivered/s).
type extraReport func(interval time.Duration) string

// runLoad sends load until -duration, -events or ctx ends and returns the
// totals. The caller prints them.
func runLoad(ctx context.Context, c *config, out io.Writer, extra extraReport) (*result, error) {
	target, err := newDialectTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	endpoint := target.endpoint
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.clients,
		MaxIdleConnsPerHost: c.clients,
		MaxConnsPerHost:     c.clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      16 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.timeout}

	bodies := make([]*body, c.clients)
	for i := range bodies {
		d := c.dialect
		if c.template == "plan" && (d == "" || d == "native") {
			d = "native-plan"
		}
		if bodies[i], err = newDialectBody(d, i, c.batch, c.eventSize); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "loadgen: %s %s, %d clients, %d events/request, %d bytes/request (~%d bytes/event), gzip=%v, rate=%v, duration=%s\n",
		c.dialect, endpoint, c.clients, c.batch, len(bodies[0].buf), len(bodies[0].buf)/c.batch, c.gzip, rateString(c.rate), c.duration)

	var cnt counters
	runCtx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	cpu0 := takeCPU(c.pid)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &loadClient{cfg: c, hc: client, endpoint: endpoint, header: target.header, body: bodies[i], cnt: &cnt, start: start}
			if c.rate > 0 {
				cl.interval = time.Duration(float64(time.Second) * float64(c.clients*c.batch) / c.rate)
				// Spread the clients over one interval.
				cl.offset = cl.interval * time.Duration(i) / time.Duration(c.clients)
			}
			cl.loop(runCtx, ctx, cancel)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	rep := reporter{cnt: &cnt, out: out, start: start, pid: c.pid, extra: extra, quiet: c.quiet, cpu: cpu0}
	rep.prev = cnt.hist.snapshot()
	t := time.NewTicker(time.Second)
	defer t.Stop()
loop:
	for {
		select {
		case <-t.C:
			rep.line()
		case <-done:
			break loop
		}
	}
	elapsed := time.Since(start)
	if time.Since(rep.last) >= 500*time.Millisecond {
		rep.line() // the last partial second, unless too short to be a rate
	}
	res := summarize(c, &cnt, elapsed)
	if u, ok := usageBetween(cpu0, takeCPU(c.pid)); ok {
		res.CPU = &u
	}
	return res, nil
}

func rateString(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(r, 'f', 0, 64) + " events/s"
}

type loadClient struct {
	cfg      *config
	hc       *http.Client
	endpoint string
	header   http.Header // the dialect's (dialect.go)
	body     *body
	cnt      *counters
	start    time.Time
	interval time.Duration // per-request interval with -rate
	offset   time.Duration
	zbuf     bytes.Buffer
	zw       *gzip.Writer
	// lastStart is when the last request was handed to the transport.
	lastStart time.Time
}

// trackedBody lets the client reuse its buffer only after the transport
// has closed the request body (RoundTrip may close it after returning).
type trackedBody struct {
	*bytes.Reader
	closed chan struct{}
	once   sync.Once
}

func (t *trackedBody) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

// loop sends until runCtx ends. Requests run under reqCtx, so the ones in
// flight when the run ends complete and are counted (their events were
// stored); only an interrupt (reqCtx) cancels them.
func (l *loadClient) loop(ctx, reqCtx context.Context, stopAll context.CancelFunc) {
	n := int64(l.body.events())
	for k := int64(0); ctx.Err() == nil; k++ {
		if l.cfg.maxEvents > 0 && l.cnt.reserved.Add(n) > l.cfg.maxEvents {
			stopAll()
			return
		}
		payload := l.body.next()
		raw := len(payload)
		if l.cfg.gzip {
			payload = l.compress(payload)
		}
		var sched time.Time
		if l.interval > 0 {
			sched = l.start.Add(l.offset + time.Duration(k)*l.interval)
			if d := time.Until(sched); d > 0 {
				tm := time.NewTimer(d)
				select {
				case <-ctx.Done():
					tm.Stop()
					return
				case <-tm.C:
				}
			}
		}
		status, retryAfter, err := l.send(reqCtx, payload)
		now := time.Now()
		if reqCtx.Err() != nil && err != nil {
			return // interrupted: not an error of the server
		}
		from := sched
		if from.IsZero() {
			from = l.lastStart
		}
		lat := now.Sub(from)
		c := l.cnt
		c.reqs.Add(1)
		c.wireBytes.Add(int64(len(payload)))
		if err != nil {
			c.errs.Add(1)
			c.lastErr.Store(err.Error())
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		c.hist.record(lat)
		c.noteMax(lat)
		if status >= 0 && status < len(c.codes) {
			c.codes[status].Add(1)
		}
		if status >= 200 && status < 300 {
			c.okReqs.Add(1)
			c.okEvents.Add(n)
			c.okBytes.Add(int64(raw))
		} else if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			// Back off as asked (at most 1 s) instead of spinning.
			sleepCtx(ctx, min(max(retryAfter, 10*time.Millisecond), time.Second))
		}
	}
}

func (l *loadClient) compress(p []byte) []byte {
	l.zbuf.Reset()
	if l.zw == nil {
		l.zw, _ = gzip.NewWriterLevel(&l.zbuf, gzip.BestSpeed)
	} else {
		l.zw.Reset(&l.zbuf)
	}
	_, _ = l.zw.Write(p)
	_ = l.zw.Close()
	return l.zbuf.Bytes()
}

func (l *loadClient) send(ctx context.Context, payload []byte) (status int, retryAfter time.Duration, err error) {
	tb := &trackedBody{Reader: bytes.NewReader(payload), closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint, tb)
	if err != nil {
		return 0, 0, err
	}
	req.ContentLength = int64(len(payload))
	for k, v := range l.header {
		req.Header[k] = v
	}
	if l.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	l.lastStart = time.Now()
	resp, err := l.hc.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		status = resp.StatusCode
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
			retryAfter = time.Duration(s) * time.Second
		}
	}
	// The transport always closes the request body; wait for it before
	// the buffer is rewritten for the next request.
	<-tb.closed
	return status, retryAfter, err
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// reporter prints one line per second.
type reporter struct {
	cnt    *counters
	out    io.Writer
	start  time.Time
	pid    int
	extra  extraReport
	quiet  bool
	cpu    cpuSample
	last   time.Time
	prev   histSnapshot
	pReqs  int64
	pEv    int64
	pBytes int64
	pErrs  int64
	pCodes [600]int64
}

func (r *reporter) line() {
	now := time.Now()
	if r.last.IsZero() {
		r.last = r.start
	}
	iv := now.Sub(r.last)
	if iv <= 0 {
		return
	}
	r.last = now
	c := r.cnt
	snap := c.hist.snapshot()
	d := snap.sub(&r.prev)
	r.prev = snap
	ivMax := time.Duration(c.ivMax.Swap(0))
	reqs, ev, by, errs := c.reqs.Load(), c.okEvents.Load(), c.okBytes.Load(), c.errs.Load()
	var codes []string
	for i := range c.codes {
		v := c.codes[i].Load()
		if dv := v - r.pCodes[i]; dv > 0 {
			codes = append(codes, fmt.Sprintf("%d:%d", i, dv))
		}
		r.pCodes[i] = v
	}
	sec := iv.Seconds()
	if !r.quiet {
		s := fmt.Sprintf("%6.1fs req/s=%-7.0f events/s=%-9.0f MB/s=%-7.1f p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms codes=%s errors=%d",
			now.Sub(r.start).Seconds(), float64(reqs-r.pReqs)/sec, float64(ev-r.pEv)/sec, float64(by-r.pBytes)/sec/1e6,
			ms(d.quantile(0.5)), ms(d.quantile(0.9)), ms(d.quantile(0.99)), ms(ivMax),
			strings.Join(codes, ","), errs-r.pErrs)
		if r.extra != nil {
			s += " " + r.extra(iv)
		}
		cpu := takeCPU(r.pid)
		if u, ok := usageBetween(r.cpu, cpu); ok {
			s += fmt.Sprintf(" cpu: server=%.0f%% loadgen=%.0f%% other=%.0f%%", u.Server, u.Loadgen, u.Other)
		}
		r.cpu = cpu
		if r.pid > 0 {
			if rss, hwm, err := procRSS(r.pid); err == nil {
				s += fmt.Sprintf(" server_rss=%.0fMiB hwm=%.0fMiB", rss, hwm)
			}
		}
		fmt.Fprintln(r.out, s)
	}
	r.pReqs, r.pEv, r.pBytes, r.pErrs = reqs, ev, by, errs
}

func summarize(c *config, cnt *counters, elapsed time.Duration) *result {
	snap := cnt.hist.snapshot()
	sec := elapsed.Seconds()
	r := &result{
		Mode: c.mode, Dialect: c.dialect, Clients: c.clients, Batch: c.batch, EventBytes: c.eventSize, Gzip: c.gzip,
		Seconds:    sec,
		Requests:   cnt.reqs.Load(),
		OKRequests: cnt.okReqs.Load(),
		Events:     cnt.okEvents.Load(),
		Codes:      map[string]int{},
		Errors:     cnt.errs.Load(),
		P50ms:      ms(snap.quantile(0.5)),
		P90ms:      ms(snap.quantile(0.9)),
		P99ms:      ms(snap.quantile(0.99)),
		P999ms:     ms(snap.quantile(0.999)),
		MaxMs:      ms(time.Duration(snap.max)),
	}
	r.ReqPerSec = float64(r.Requests) / sec
	r.EventsPerS = float64(r.Events) / sec
	r.MBPerS = float64(cnt.okBytes.Load()) / sec / 1e6
	r.WireMBPerS = float64(cnt.wireBytes.Load()) / sec / 1e6
	for i := range cnt.codes {
		if v := cnt.codes[i].Load(); v > 0 {
			r.Codes[strconv.Itoa(i)] = int(v)
		}
	}
	if s, ok := cnt.lastErr.Load().(string); ok {
		r.LastError = s
	}
	if c.pid > 0 {
		r.ServerPID = c.pid
		if rss, hwm, err := procRSS(c.pid); err == nil {
			r.FinalRSSMiB, r.PeakRSSMiB = rss, hwm
		}
	}
	return r
}

func (r *result) print(out io.Writer, asJSON bool) {
	fmt.Fprintf(out, "\n== %s: %d clients × %d events × ~%d B, gzip=%v, %.1fs\n", r.Mode, r.Clients, r.Batch, r.EventBytes, r.Gzip, r.Seconds)
	fmt.Fprintf(out, "requests    %d (%.0f/s), 2xx %d\n", r.Requests, r.ReqPerSec, r.OKRequests)
	fmt.Fprintf(out, "events      %d accepted, %.0f events/s, %.1f MB/s (wire %.1f MB/s)\n", r.Events, r.EventsPerS, r.MBPerS, r.WireMBPerS)
	keys := make([]string, 0, len(r.Codes))
	for k := range r.Codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cs []string
	for _, k := range keys {
		cs = append(cs, fmt.Sprintf("%s:%d", k, r.Codes[k]))
	}
	fmt.Fprintf(out, "status      %s; transport errors %d", strings.Join(cs, " "), r.Errors)
	if r.LastError != "" {
		fmt.Fprintf(out, " (last: %s)", r.LastError)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "ack latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	if r.CPU != nil {
		fmt.Fprintf(out, "cpu         %s\n", r.CPU)
	}
	if r.ServerPID > 0 {
		fmt.Fprintf(out, "server      pid %d: peak RSS (VmHWM) %.1f MiB, RSS now %.1f MiB\n", r.ServerPID, r.PeakRSSMiB, r.FinalRSSMiB)
	}
	if r.Mode == "e2e" {
		fmt.Fprintf(out, "delivered   %d events (%d during the load) in %d sink requests; template=%s\n", r.Delivered, r.DeliveredDuringLoad, r.SinkRequests, r.Template)
		fmt.Fprintf(out, "            %.0f events/s delivered over the whole run, %.0f events/s during the load\n", r.DeliveredPerS, r.DeliveredPerSLoad)
		if r.Drained {
			fmt.Fprintf(out, "            backlog drained %.2f s after the load stopped\n", r.DrainSeconds)
		} else {
			fmt.Fprintf(out, "            backlog NOT drained %.2f s after the load stopped (%d of %d delivered)\n", r.DrainSeconds, r.Delivered, r.Events)
		}
	}
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(out, string(b))
	}
}

// procRSS reads VmRSS and VmHWM (MiB) of a process.
func procRSS(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) < 2 {
			continue
		}
		v, perr := strconv.ParseFloat(f[1], 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = v / 1024
		case "VmHWM:":
			hwm = v / 1024
		}
	}
	return rss, hwm, nil
}
