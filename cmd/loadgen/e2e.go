package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// runE2E starts a sink in-process, creates a stream delivering to it,
// drives the load, waits for the backlog to drain and reports both sides.
func runE2E(ctx context.Context, c *config, out io.Writer) error {
	s := &sink{status: c.sinkStatus}
	sinkCtx, stopSink := context.WithCancel(context.Background())
	defer stopSink()
	listen := c.listen
	if listen == "127.0.0.1:9000" { // the sink-mode default: pick a free port
		listen = "127.0.0.1:0"
	}
	if err := checkLoopbackAddr(listen, c.allowRemote); err != nil {
		return err
	}
	addr, _, err := s.start(sinkCtx, listen)
	if err != nil {
		return err
	}
	sinkURL := "http://" + addr + "/"
	if c.stream == "" {
		c.stream = fmt.Sprintf("loadgen-e2e-%d", time.Now().UnixNano())
	}
	id, err := createStream(ctx, c, c.stream, sinkURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "e2e: stream %s (%s) delivers to %s, template=%s\n", c.stream, id, sinkURL, c.template)
	if !c.keep {
		defer func() {
			if err := deleteStream(context.Background(), c, id); err != nil {
				fmt.Fprintln(out, "e2e: could not delete the stream:", err)
			}
		}()
	}

	var prevLines int64
	extra := func(iv time.Duration) string {
		l := s.lines.Load()
		d := l - prevLines
		prevLines = l
		return fmt.Sprintf("delivered/s=%.0f delivered=%d", float64(d)/iv.Seconds(), l)
	}
	start := time.Now()
	res, err := runLoad(ctx, c, out, extra)
	if err != nil {
		return err
	}
	loadEnd := time.Now()
	res.DeliveredDuringLoad = s.lines.Load()

	// Drain: wait until every accepted event has arrived (delivered lines
	// can exceed accepted events when a retry duplicated a batch).
	deadline := time.NewTimer(c.drain)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastPrint := time.Now()
drain:
	for s.lines.Load() < res.Events {
		select {
		case <-ctx.Done():
			break drain
		case <-deadline.C:
			break drain
		case now := <-tick.C:
			if !c.quiet && now.Sub(lastPrint) >= time.Second {
				lastPrint = now
				fmt.Fprintf(out, "draining: %d of %d delivered\n", s.lines.Load(), res.Events)
			}
		}
	}
	res.Delivered = s.lines.Load()
	res.Drained = res.Delivered >= res.Events
	lastDelivery := time.Unix(0, s.last.Load())
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
	res.SinkRequests = s.reqs.Load()
	res.Stream = c.stream
	res.Template = c.template
	if c.pid > 0 {
		if rss, hwm, err := procRSS(c.pid); err == nil {
			res.FinalRSSMiB, res.PeakRSSMiB = rss, hwm
		}
	}
	res.print(out, c.jsonOut)
	return nil
}
