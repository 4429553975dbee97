package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline/processors"
)

// Health values.
const (
	HealthAvailable   = "available"
	HealthUnavailable = "unavailable"
)

// backlogSample is how many pending messages are read to count backlog
// events; beyond it the count is extrapolated.
const backlogSample = 10000

// StreamStatus is GET /v1/streams/{id}/status.
type StreamStatus struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// DroppedEvents are the events removed from the full buffer by
	// overflow drop_oldest since the stream was created, counted by every
	// node together (they are kept as dead letters of destination "*").
	// Events removed by buffer.max_age are not counted.
	DroppedEvents uint64              `json:"dropped_events"`
	Destinations  []DestinationStatus `json:"destinations"`
}

// DestinationStatus is the state of one destination. Counters and health
// are this node's (in memory since it started); backlog is the buffer's.
type DestinationStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Health is "available" or "unavailable".
	Health string `json:"health"`
	// UnavailableSince is when it became unavailable (null while available).
	UnavailableSince *time.Time `json:"unavailable_since"`
	// Running reports whether a deliverer for it runs on this node.
	Running bool `json:"running"`
	// LastProbe is the time of the last health probe (null: none yet, or
	// a type without a probe).
	LastProbe *time.Time `json:"last_probe"`
	// NextProbe is when the next scheduled probe is due (null: none).
	NextProbe *time.Time `json:"next_probe"`
	// Probes and ProbeFailures count health probes on this node.
	Probes        uint64 `json:"probes"`
	ProbeFailures uint64 `json:"probe_failures"`
	// LastAttempt is the time of the last send attempt (null: none yet).
	LastAttempt *time.Time `json:"last_attempt"`
	// LastError is the last send or probe error ("" if none).
	LastError string `json:"last_error"`
	// LastStatus is the HTTP-like status of the last attempt: 200 on
	// success, the destination's status, 503 when skipped because the
	// destination is unavailable, 504 on timeout; 0 before any attempt.
	LastStatus int `json:"last_status"`

	// BacklogMessages are the buffered messages (ingest requests) not yet
	// settled by this destination.
	BacklogMessages uint64 `json:"backlog_messages"`
	// BacklogEvents are the events in them (extrapolated beyond the
	// first 10,000 messages: see BacklogEventsEstimated).
	BacklogEvents          uint64 `json:"backlog_events"`
	BacklogEventsEstimated bool   `json:"backlog_events_estimated"`
	// BacklogBytes is approximate: the buffer's bytes × the share of its
	// messages that are pending here.
	BacklogBytes uint64 `json:"backlog_bytes"`
	// OldestUndeliveredAgeSeconds is the age of the oldest message not
	// yet settled (0 with no backlog).
	OldestUndeliveredAgeSeconds float64 `json:"oldest_undelivered_age_seconds"`

	Processed    uint64 `json:"processed"`
	Delivered    uint64 `json:"delivered"`
	Failed       uint64 `json:"failed"`
	Retried      uint64 `json:"retried"`
	DeadLettered uint64 `json:"dead_lettered"`
	// Filtered counts events dropped by a filter processor or by the
	// stream's domains; SampledOut by sampling (the stream's
	// sampling_percent or a sample processor); RoutedAway those the
	// destination's route did not select. ProcessorErrors are events a
	// processor or the route failed on: each is dead-lettered (and in
	// DeadLettered too). MaskedValues and ParseErrors count values.
	Filtered        uint64 `json:"filtered"`
	SampledOut      uint64 `json:"sampled_out"`
	RoutedAway      uint64 `json:"routed_away"`
	ProcessorErrors uint64 `json:"processor_errors"`
	MaskedValues    uint64 `json:"masked_values"`
	ParseErrors     uint64 `json:"parse_errors"`
	// Processors are the counters of each stage of the running
	// processing, since this stream version started on this node: the
	// stream's domains and sampling, then each processor in order, then
	// the route. Empty when the stream has no processing.
	Processors []ProcessorStatus `json:"processors"`
}

// ProcessorStatus is one processing stage of a destination.
type ProcessorStatus struct {
	// Stage is "domains", "sampling", "processors[i]" or "route".
	Stage string `json:"stage"`
	// Name is the processor's name (parse, mask, …); the stage otherwise.
	Name string `json:"name"`
	// Processed counts events that reached it.
	Processed uint64 `json:"processed"`
	// Dropped counts events it dropped (filtered, sampled out or routed away).
	Dropped uint64 `json:"dropped"`
	// DropReason is what its drops count as: filtered, sampled_out, routed_away ("" if it never drops).
	DropReason  string `json:"drop_reason,omitempty"`
	Errors      uint64 `json:"errors"`
	ParseErrors uint64 `json:"parse_errors"`
	Masked      uint64 `json:"masked"`
}

// processorStatus lists the stages of a chain with their counters.
func processorStatus(c *processors.Chain) []ProcessorStatus {
	out := []ProcessorStatus{}
	if c == nil {
		return out
	}
	ss := c.StageStats()
	ps := c.Stats()
	rs := c.RouteStats()
	var entered uint64
	if len(ps) > 0 {
		entered = ps[0].Processed
	} else {
		for _, r := range rs {
			entered = r.Selected + r.RoutedAway + r.Errors
		}
	}
	// The stream's stages see what the processors see plus what they drop.
	sampling := entered + ss.SampledOut
	domains, sample := c.Stages()
	if domains {
		out = append(out, ProcessorStatus{Stage: "domains", Name: "domains", Processed: sampling + ss.DomainFiltered,
			Dropped: ss.DomainFiltered, DropReason: string(processors.ReasonFiltered)})
	}
	if sample {
		out = append(out, ProcessorStatus{Stage: "sampling", Name: "sampling", Processed: sampling,
			Dropped: ss.SampledOut, DropReason: string(processors.ReasonSampledOut)})
	}
	for _, p := range ps {
		out = append(out, ProcessorStatus{Stage: fmt.Sprintf("processors[%d]", p.Index), Name: p.Name, Processed: p.Processed,
			Dropped: p.Dropped, DropReason: string(p.DropReason()), Errors: p.Errors, ParseErrors: p.ParseErrors, Masked: p.Masked})
	}
	for _, r := range rs {
		out = append(out, ProcessorStatus{Stage: "route", Name: "route", Processed: r.Selected + r.RoutedAway + r.Errors,
			Dropped: r.RoutedAway, DropReason: "routed_away", Errors: r.Errors})
	}
	return out
}

// Status reports the delivery state of a stream's destinations.
func (m *Manager) Status(ctx context.Context, st *model.Stream) (StreamStatus, error) {
	out := StreamStatus{ID: st.ID, Name: st.Name, Status: st.Status, Destinations: make([]DestinationStatus, 0, len(st.Destinations))}
	if out.Status == "" {
		out.Status = model.StatusActive
	}
	m.mu.Lock()
	stats := map[string]*Stats{}
	if sr := m.streams[st.ID]; sr != nil {
		for name, ds := range sr.stats {
			stats[name] = ds.stats
		}
	}
	m.mu.Unlock()

	s, err := m.b.JS.Stream(ctx, bus.EventStreamName(st.ID))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, fmt.Errorf("status: event stream: %w", err)
	}
	var state jetstream.StreamState
	if s != nil {
		if info, err := s.Info(ctx); err == nil {
			state = info.State
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return out, fmt.Errorf("status: event stream: %w", err)
		} else {
			s = nil
		}
	}
	if dc, err := m.b.Dropped(ctx, st.ID); err == nil {
		out.DroppedEvents = dc.Events
	} else {
		return out, fmt.Errorf("status: dropped events: %w", err)
	}
	now := time.Now()
	for i := range st.Destinations {
		d := &st.Destinations[i]
		ds := DestinationStatus{Name: d.Name, Type: d.Type, Health: HealthAvailable, Processors: []ProcessorStatus{}}
		if sp := stats[d.Name]; sp != nil {
			snap := sp.Snapshot()
			if !snap.Available {
				ds.Health = HealthUnavailable
			}
			ds.Running = snap.Running
			ds.UnavailableSince = timePtr(snap.UnavailableSince)
			ds.LastProbe = timePtr(snap.LastProbe)
			ds.NextProbe = timePtr(snap.NextProbe)
			ds.LastAttempt = timePtr(snap.LastAttempt)
			ds.Probes, ds.ProbeFailures = snap.Probes, snap.ProbeFailures
			ds.LastError, ds.LastStatus = snap.LastError, snap.LastStatus
			ds.Processed, ds.Delivered, ds.Failed, ds.Retried = snap.Processed, snap.Delivered, snap.Failed, snap.Retried
			ds.DeadLettered, ds.Filtered = snap.DeadLettered, snap.Filtered
			ds.SampledOut, ds.RoutedAway, ds.ProcessorErrors = snap.SampledOut, snap.RoutedAway, snap.ProcessorErrors
			ds.MaskedValues, ds.ParseErrors = snap.Masked, snap.ParseErrors
			ds.Processors = processorStatus(sp.chain.Load())
		}
		if s != nil {
			if err := backlog(ctx, s, st.ID, d.Name, state, now, &ds); err != nil {
				return out, err
			}
			m.setBacklog(st.Workspace, st.Name, d.Name, ds.BacklogMessages)
		}
		out.Destinations = append(out.Destinations, ds)
	}
	return out, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// backlog fills the backlog fields of one destination.
func backlog(ctx context.Context, s jetstream.Stream, streamID, dest string, state jetstream.StreamState, now time.Time, ds *DestinationStatus) error {
	c, err := s.Consumer(ctx, bus.ConsumerName(dest))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status: consumer of %s: %w", dest, err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("status: consumer of %s: %w", dest, err)
	}
	pending := ci.NumPending + uint64(ci.NumAckPending)
	ds.BacklogMessages = pending
	if pending == 0 {
		return nil
	}
	if state.Msgs > 0 {
		ds.BacklogBytes = uint64(float64(state.Bytes) * min(1, float64(pending)/float64(state.Msgs)))
	}
	sample := min(pending, backlogSample)
	events, read, oldest, err := scanBacklog(ctx, s, streamID, dest, ci.AckFloor.Stream+1, int(sample))
	if err != nil {
		// The scan is best effort (its consumer may be removed by a
		// concurrent EnsureEventStream): every message holds at least one event.
		ds.BacklogEvents, ds.BacklogEventsEstimated = pending, true
		return nil
	}
	ds.BacklogEvents = events
	if read > 0 && uint64(read) < pending {
		ds.BacklogEvents = uint64(float64(events) / float64(read) * float64(pending))
		ds.BacklogEventsEstimated = true
	}
	if !oldest.IsZero() {
		ds.OldestUndeliveredAgeSeconds = max(0, now.Sub(oldest).Seconds())
	}
	return nil
}

// scanBacklog reads the headers of up to n messages from seq on with a
// temporary headers-only consumer and sums their event counts (frames
// replayed for another destination count as none). oldest is the store
// time of the first message.
func scanBacklog(ctx context.Context, s jetstream.Stream, streamID, dest string, seq uint64, n int) (events uint64, read int, oldest time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute,
		FilterSubject:     bus.EventSubject(streamID),
	})
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("status: backlog scan: %w", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = s.DeleteConsumer(dctx, c.CachedInfo().Name)
		dcancel()
	}()
	for read < n {
		mb, err := c.Fetch(min(n-read, 1000), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return events, read, oldest, fmt.Errorf("status: backlog scan: %w", err)
		}
		got := 0
		for msg := range mb.Messages() {
			got++
			h := msg.Headers()
			if read+got == 1 {
				if md, err := msg.Metadata(); err == nil {
					oldest = md.Timestamp
				} else if ms, err := strconv.ParseInt(h.Get(event.HdrReceived), 10, 64); err == nil {
					oldest = time.UnixMilli(ms)
				}
			}
			if only := h.Get(event.HdrOnlyDest); only != "" && only != dest {
				continue
			}
			if c, err := strconv.Atoi(h.Get(event.HdrCount)); err == nil && c > 0 {
				events += uint64(c)
			}
		}
		read += got
		if got == 0 {
			break
		}
	}
	return events, read, oldest, nil
}
