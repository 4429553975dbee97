package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// runE2E starts the receiver of -dest (an HTTP sink or kfake in-process,
// or counts the objects of an S3 gateway), creates a stream delivering to
// it (with -outage also to a second HTTP destination that is down at
// first), drives the load, waits for the backlog to drain and reports
// both sides.
func runE2E(ctx context.Context, c *config, out io.Writer) error {
	recv, destDef, err := setupDest(ctx, c)
	if err != nil {
		return err
	}
	defer recv.close()
	dests := []any{destDef}
	var down *downSink
	if c.dst.outage > 0 {
		down = newDownSink()
		sctx, stop := context.WithCancel(context.Background())
		defer stop()
		addr, _, err := serve(sctx, "127.0.0.1:0", down)
		if err != nil {
			return err
		}
		dests = append(dests, map[string]any{
			"name": "down", "type": "http", "settings": map[string]any{"url": "http://" + addr + "/"},
			"batch": e2eBatch(), "health": map[string]any{"interval": c.dst.outageProbe.String()},
		})
		fmt.Fprintf(out, "e2e: second destination http://%s/ answers 503 for %s from the start of the load (health.interval %s)\n", addr, c.dst.outage, c.dst.outageProbe)
	}
	if c.stream == "" {
		c.stream = fmt.Sprintf("loadgen-e2e-%d", time.Now().UnixNano())
	}
	id, err := createStreamDef(ctx, c, c.stream, e2eStreamDef(c.stream, c.template, dests))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "e2e: stream %s (%s) delivers to %s, template=%s\n", c.stream, id, recv.describe(), c.template)
	if !c.keep {
		defer func() {
			if err := deleteStream(context.Background(), c, id); err != nil {
				fmt.Fprintln(out, "e2e: could not delete the stream:", err)
			}
		}()
	}

	var prevLines, prevDown int64
	extra := func(iv time.Duration) string {
		l, _ := recv.count()
		d := l - prevLines
		prevLines = l
		s := fmt.Sprintf("delivered/s=%.0f delivered=%d", float64(d)/iv.Seconds(), l)
		if down != nil {
			dl := down.lines.Load()
			s += fmt.Sprintf(" down_delivered/s=%.0f down_delivered=%d", float64(dl-prevDown)/iv.Seconds(), dl)
			prevDown = dl
		}
		return s
	}
	rep := &destReport{Dest: c.dst.kind}
	start := time.Now()
	smp := startSampler(c, start, recv, down)
	outageEnd := start.Add(c.dst.outage)
	var (
		backOnce chan struct{}
		backTm   *time.Timer
	)
	if down != nil {
		backOnce = make(chan struct{})
		rep.Outage = &outageReport{Seconds: c.dst.outage.Seconds()}
		backTm = time.AfterFunc(c.dst.outage, func() {
			defer close(backOnce)
			o := rep.Outage
			o.MainDeliveredAtEnd, _ = recv.count()
			o.DeliveredDuringOutage = down.lines.Load()
			// One status request (it reads up to 10,000 stored requests of
			// the backlog: the drain reads them next anyway).
			if st, err := streamStatus(context.Background(), c, id); err == nil {
				d := st["down"]
				o.BacklogAtEnd, o.BacklogBytesAtEnd, o.HealthAtEnd = d.BacklogEvents, d.BacklogBytes, d.Health
			}
			down.up(time.Now())
		})
		defer backTm.Stop()
	}
	res, err := runLoad(ctx, c, out, extra)
	if err != nil {
		return err
	}
	loadEnd := time.Now()
	res.DeliveredDuringLoad, _ = recv.count()
	if rep.Outage != nil && outageEnd.After(loadEnd.Add(-2*time.Second)) {
		// The outage ended with the load or after it: everything accepted
		// was accepted during the outage.
		rep.Outage.AcceptedAtEnd = res.Events
	}

	// Drain: wait until every accepted event has arrived (delivered lines
	// can exceed accepted events when a retry duplicated a batch), at the
	// -outage destination too once it is back. The timeout counts from the
	// end of the load or of the outage, whichever is later.
	wait := c.drain
	if d := time.Until(outageEnd); d > 0 {
		wait += d
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastPrint := time.Now()
	done := func() bool {
		n, _ := recv.count()
		if n < res.Events {
			return false
		}
		return down == nil || (!down.down.Load() && down.lines.Load() >= res.Events)
	}
drain:
	for !done() {
		select {
		case <-ctx.Done():
			break drain
		case <-deadline.C:
			break drain
		case now := <-tick.C:
			if !c.quiet && now.Sub(lastPrint) >= time.Second {
				lastPrint = now
				n, _ := recv.count()
				if down != nil {
					fmt.Fprintf(out, "draining: %d of %d delivered, %d at the second destination\n", n, res.Events, down.lines.Load())
				} else {
					fmt.Fprintf(out, "draining: %d of %d delivered\n", n, res.Events)
				}
			}
		}
	}
	var lastDelivery time.Time
	res.Delivered, lastDelivery = recv.count()
	res.Drained = res.Delivered >= res.Events
	if res.Drained {
		res.DrainSeconds = max(0, lastDelivery.Sub(loadEnd).Seconds())
	} else {
		res.DrainSeconds = time.Since(loadEnd).Seconds()
	}
	if res.Delivered > 0 {
		end := loadEnd
		if lastDelivery.After(end) {
			end = lastDelivery
		}
		if !res.Drained {
			end = time.Now()
		}
		res.DeliveredPerS = float64(res.Delivered) / end.Sub(start).Seconds()
	}
	res.DeliveredPerSLoad = float64(res.DeliveredDuringLoad) / loadEnd.Sub(start).Seconds()
	res.SinkRequests = recv.requests()
	res.Stream = c.stream
	res.Template = c.template
	if down != nil {
		finishOutage(rep.Outage, down, backTm, backOnce, res.Events)
	}
	if c.dst.settle > 0 {
		fmt.Fprintf(out, "settling %s\n", c.dst.settle)
		sleepCtx(ctx, c.dst.settle)
	}
	rep.RSS = smp.finish()
	rep.RSSSum = summarizeRSS(rep.RSS, c.dst.outage)
	rep.Receiver = recv.describe()
	if c.dst.verify {
		if v, ok := recv.(verifier); ok {
			vr, err := v.verify(ctx, res.Events)
			if err != nil {
				fmt.Fprintln(out, "e2e: verify:", err)
			}
			rep.Verify = vr
		}
	}
	if c.pid > 0 {
		if rss, hwm, err := procRSS(c.pid); err == nil {
			res.FinalRSSMiB, res.PeakRSSMiB = rss, hwm
		}
	}
	res.print(out, false)
	rep.print(out)
	if c.jsonOut {
		b, err := json.Marshal(struct {
			*result
			*destReport
		}{res, rep})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	}
	if rep.Verify != nil && !rep.Verify.OK {
		return fmt.Errorf("verify: %s", rep.Verify)
	}
	return nil
}

// finishOutage fills in what the -outage destination received after it
// came back (back is closed once the timer tm brought it back and wrote
// the figures at the end of the outage).
func finishOutage(o *outageReport, down *downSink, tm *time.Timer, back <-chan struct{}, accepted int64) {
	select {
	case <-back:
	default:
		if tm.Stop() {
			// Interrupted or timed out before the outage ended.
			o.Refused = down.refused.Load()
			return
		}
		<-back // it is bringing the sink back right now
	}
	o.Refused = down.refused.Load()
	o.Delivered = down.lines.Load()
	o.Drained = o.Delivered >= accepted
	upAt := time.Unix(0, down.upAt.Load())
	if f := down.first.Load(); f > 0 {
		o.FirstDeliveryAfterS = time.Unix(0, f).Sub(upAt).Seconds()
	}
	if l := down.last.Load(); l > 0 {
		last := time.Unix(0, l)
		if !o.Drained {
			last = time.Now()
		}
		o.DrainSeconds = max(0, last.Sub(upAt).Seconds())
		if o.DrainSeconds > 0 {
			o.DeliveredPerS = float64(o.Delivered-o.DeliveredDuringOutage) / o.DrainSeconds
		}
	}
}
