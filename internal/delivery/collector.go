package delivery

import (
	"github.com/prometheus/client_golang/prometheus"
)

// processorDesc is the per-stage counter of every destination's processing.
var processorDesc = prometheus.NewDesc("runnel_processor_events_total",
	"Per processing stage of a destination (domains, sampling, processors[i], route), since its stream version started on this node: "+
		"events processed, dropped (filtered, sampled out or routed away), failed (errors), parse errors and masked values.",
	[]string{"workspace", "stream", "destination", "stage", "processor", "outcome"}, nil)

// Describe implements prometheus.Collector: the Manager reports the
// per-stage counters of the running chains at scrape time, so the hot
// path only bumps the chains' own counters.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) { ch <- processorDesc }

// Collect implements prometheus.Collector.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	type dest struct {
		ws, stream, name string
		st               *Stats
	}
	var ds []dest
	m.mu.Lock()
	for _, sr := range m.streams {
		for name, d := range sr.stats {
			ds = append(ds, dest{d.workspace, d.name, name, d.stats})
		}
	}
	m.mu.Unlock()
	for _, d := range ds {
		for _, p := range processorStatus(d.st.chain.Load()) {
			for _, o := range []struct {
				outcome string
				v       uint64
			}{
				{"processed", p.Processed}, {"dropped", p.Dropped}, {"errors", p.Errors},
				{"parse_errors", p.ParseErrors}, {"masked", p.Masked},
			} {
				ch <- prometheus.MustNewConstMetric(processorDesc, prometheus.CounterValue, float64(o.v),
					d.ws, d.stream, d.name, p.Stage, p.Name, o.outcome)
			}
		}
	}
}
