// Package telemetry sets up logging (log/slog) and the Prometheus metrics
// that every part of Runnel reports to. Counts go to metrics, never to
// per-event log lines.
package telemetry

import (
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are Runnel's Prometheus metrics, on their own registry.
// Stream labels are the workspace and the stream name.
type Metrics struct {
	Registry *prometheus.Registry

	Received      *prometheus.CounterVec // workspace, stream — events in requests
	Accepted      *prometheus.CounterVec // workspace, stream — events stored
	AcceptedBytes *prometheus.CounterVec // workspace, stream
	Rejected      *prometheus.CounterVec // workspace, stream, reason — events (or requests when the count is unknown)
	IngestLatency *prometheus.HistogramVec

	Processed    *prometheus.CounterVec // workspace, stream, destination
	Filtered     *prometheus.CounterVec // workspace, stream, destination
	SampledOut   *prometheus.CounterVec // workspace, stream, destination
	RoutedAway   *prometheus.CounterVec // workspace, stream, destination — not selected by the route
	ProcErrors   *prometheus.CounterVec // workspace, stream, destination — events a processor or the route failed on (dead-lettered)
	Masked       *prometheus.CounterVec // workspace, stream, destination — values changed by mask processors
	ParseErrors  *prometheus.CounterVec // workspace, stream, destination — values parse processors could not parse
	Delivered    *prometheus.CounterVec // workspace, stream, destination
	Failed       *prometheus.CounterVec // workspace, stream, destination — events in failed attempts
	Retried      *prometheus.CounterVec // workspace, stream, destination — retry attempts
	DeadLettered *prometheus.CounterVec // workspace, stream, destination
	Dropped      *prometheus.CounterVec // workspace, stream — dropped by drop_oldest
	Backlog      *prometheus.GaugeVec   // workspace, stream, destination — undelivered messages
	Healthy      *prometheus.GaugeVec   // workspace, stream, destination — 1 available, 0 unavailable
	Probes       *prometheus.CounterVec // workspace, stream, destination, result (ok|error) — health probes
	ProbeLatency *prometheus.HistogramVec
	Latency      *prometheus.HistogramVec
	BatchBytes   *prometheus.HistogramVec
}

// NewMetrics registers every metric, plus the Go and process collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sl := []string{"workspace", "stream"}
	dl := []string{"workspace", "stream", "destination"}
	cv := func(name, help string, labels []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "runnel", Name: name, Help: help}, labels)
		r.MustRegister(c)
		return c
	}
	gv := func(name, help string, labels []string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "runnel", Name: name, Help: help}, labels)
		r.MustRegister(g)
		return g
	}
	hv := func(name, help string, labels []string, buckets []float64) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "runnel", Name: name, Help: help, Buckets: buckets}, labels)
		r.MustRegister(h)
		return h
	}
	return &Metrics{
		Registry:      r,
		Received:      cv("received_events_total", "Events received by ingest.", sl),
		Accepted:      cv("accepted_events_total", "Events durably stored and acknowledged.", sl),
		AcceptedBytes: cv("accepted_bytes_total", "Bytes of events durably stored.", sl),
		Rejected:      cv("rejected_total", "Ingest rejections by reason (events when known, else requests).", append(sl, "reason")),
		IngestLatency: hv("ingest_ack_seconds", "Time from request start to durable acknowledgement.", sl, prometheus.ExponentialBuckets(0.0005, 2, 16)),
		Processed:     cv("processed_events_total", "Events taken from the buffer by a destination.", dl),
		Filtered:      cv("filtered_events_total", "Events filtered out before a destination.", dl),
		SampledOut:    cv("sampled_out_events_total", "Events removed by sampling before a destination.", dl),
		RoutedAway:    cv("routed_away_events_total", "Events a destination's route did not select.", dl),
		ProcErrors:    cv("processor_errors_total", "Events a processor or route failed on; each is dead-lettered.", dl),
		Masked:        cv("masked_values_total", "Values changed by mask processors.", dl),
		ParseErrors:   cv("parse_errors_total", "Values parse processors could not parse.", dl),
		Delivered:     cv("delivered_events_total", "Events delivered to a destination.", dl),
		Failed:        cv("failed_events_total", "Events in failed delivery attempts.", dl),
		Retried:       cv("retried_total", "Delivery retries.", dl),
		DeadLettered:  cv("dead_lettered_events_total", "Events dead-lettered.", dl),
		Dropped:       cv("dropped_events_total", "Events dropped from a full buffer (overflow drop_oldest).", sl),
		Backlog:       gv("backlog_messages", "Undelivered buffer messages of a destination.", dl),
		Healthy:       gv("destination_available", "1 when the destination is available, 0 when not.", dl),
		Probes:        cv("destination_probes_total", "Health probes of a destination by result (ok, error).", append(dl, "result")),
		ProbeLatency:  hv("destination_probe_seconds", "Duration of destination health probes.", dl, prometheus.ExponentialBuckets(0.001, 2, 16)),
		Latency:       hv("end_to_end_seconds", "Time from ingest to delivery.", dl, prometheus.ExponentialBuckets(0.001, 2, 20)),
		BatchBytes:    hv("batch_bytes", "Size of delivered payloads.", dl, prometheus.ExponentialBuckets(256, 4, 10)),
	}
}

// NewLogger returns a slog logger writing text or JSON ("json") at level.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
