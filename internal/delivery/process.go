package delivery

import (
	"errors"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/runnel/runnel/internal/pipeline/processors"
)

// procCounts are what processing did to the events of one frame.
type procCounts struct {
	filtered, sampledOut, routedAway, errors, masked, parseErrors uint64
}

// process runs the destination's chain over one event and, when the event
// is kept and routed here, appends its record to the current batch. It
// reports whether a record was appended; an event it drops is counted, one
// it fails on (a processor or the route) is dead-lettered with the error.
func (d *Deliverer) process(ev []byte, key uint64) bool {
	cur := d.cur
	start := len(cur.buf)
	var (
		res processors.Result
		err error
	)
	if d.cfg.Payload.ASCIIOnly() {
		d.scratch, res, err = d.cfg.Chain.ApplyRenderKey(d.soft, d.scratch[:0], ev, key, d.cfg.Renderer)
		if err == nil && res.Action == processors.Keep && res.RouteErr == nil && res.Routed(0) {
			cur.buf = d.cfg.Payload.Encode(cur.buf, d.scratch)
		}
	} else {
		cur.buf, res, err = d.cfg.Chain.ApplyRenderKey(d.soft, cur.buf, ev, key, d.cfg.Renderer)
	}
	d.pc.masked += uint64(res.Masked)
	d.pc.parseErrors += uint64(res.ParseErrors)
	switch {
	case err != nil:
		cur.buf = cur.buf[:start]
		d.pc.errors++
		var pe *processors.Error
		reason := err.Error()
		if !errors.As(err, &pe) {
			reason = "processing: " + reason
		}
		d.dls = append(d.dls, d.deadLetter(ev, reason, StatusUnprocessed, 0))
		return false
	case res.Action == processors.Drop:
		if res.Reason == processors.ReasonSampledOut {
			d.pc.sampledOut++
		} else {
			d.pc.filtered++
		}
		return false
	case res.RouteErr != nil:
		cur.buf = cur.buf[:start]
		d.pc.errors++
		d.dls = append(d.dls, d.deadLetter(ev, "route: "+res.RouteErr.Error(), StatusUnprocessed, 0))
		return false
	case !res.Routed(0):
		cur.buf = cur.buf[:start]
		d.pc.routedAway++
		return false
	}
	return true
}

// counted adds one frame's processing counts to the stats and metrics.
func (d *Deliverer) counted(pc procCounts) {
	s := d.stats
	s.filtered.Add(pc.filtered)
	s.sampledOut.Add(pc.sampledOut)
	s.routedAway.Add(pc.routedAway)
	s.procErrors.Add(pc.errors)
	s.masked.Add(pc.masked)
	s.parseErrors.Add(pc.parseErrors)
	d.m.filtered.Add(float64(pc.filtered))
	d.m.sampledOut.Add(float64(pc.sampledOut))
	d.m.routedAway.Add(float64(pc.routedAway))
	d.m.procErrors.Add(float64(pc.errors))
	d.m.masked.Add(float64(pc.masked))
	d.m.parseErrors.Add(float64(pc.parseErrors))
}

// eventKey identifies an event for keyed sampling decisions: the same on
// every destination and on a redelivery of its message (its bytes, its
// request's receive time and its place in the request), so all
// destinations of a stream keep the same sample.
func eventKey(received time.Time, n int, ev []byte) uint64 {
	return xxhash.Sum64(ev) ^ uint64(received.UnixMilli())*0x9e3779b97f4a7c15 ^ uint64(n)<<40
}
