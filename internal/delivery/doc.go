// Package delivery moves a stream's buffered events to its destinations
// (DESIGN "deliverer": consume, render, batch, retry, dead-letter, ack).
//
// # Shape
//
// A [Manager] keeps, for every active stream, one [Deliverer] per
// destination, each reading its own durable JetStream pull consumer
// (bus.ConsumerName on bus.EventStreamName, created by
// bus.EnsureEventStream; this package never creates consumers). A
// deliverer is three goroutines:
//
//   - the pump fetches frames from the consumer into a channel,
//     bounded by one fetch of at most ~21 MiB, marking messages it holds in
//     progress so JetStream does not redeliver them;
//   - the builder takes frames from that channel, renders every event with
//     the stream's template, encodes it with the destination's payload
//     options and appends it to the batch being built;
//   - the sender sends one batch at a time with retries, dead-letters what
//     cannot go, and settles events.
//
// Builder and sender form a one-slot pipeline: the next batch is built
// while the current one is being sent, so throughput is max(render, send)
// rather than their sum, and order per destination is kept because only
// one batch is ever in flight. Two batch objects are recycled between the
// two goroutines, so their record buffers are reused and the steady state
// allocates nothing per event beyond what rendering needs.
//
// # Acks
//
// A JetStream message (one ingest request, many events) is acked only when
// every one of its events is settled: delivered, dead-lettered, or not
// for this destination (a dead-letter replay frame for another one). Each
// message carries a pending count that starts at one (the builder's hold,
// released when it has placed every event) and grows by the number of its
// events in each batch handed to the sender; whoever brings it to zero
// acks. Every held message is marked in progress every 10 s, so neither a
// long max_age nor a long outage makes JetStream redeliver it.
//
// # Stopping
//
// When its context is cancelled a deliverer stops taking frames, lets the
// send attempt in flight finish (bounded by Options.DrainTimeout), settles
// what that attempt decided, and naks every message it still holds, so
// that its successor (a restart after a configuration change, which
// starts only once its predecessor is done) or another node gets them at
// once. The nak order is the stream order — the pump's last pull request
// runs out first, then the deliverer naks its messages, then the pump its
// own — because JetStream redelivers nak'd messages in nak order (and at
// once to any open pull request). Events of a frame that was half
// delivered when it stopped are delivered again: delivery is at least
// once.
//
// # Health
//
// A destination is "available" or "unavailable" (status health, metric
// runnel_destination_available). For a kind that implements
// destination.Checker (all built-in kinds should) a prober goroutine
// checks it at start and then every Destination.Health.Interval (default
// 60 s), whether it is available or not (status last_probe, next_probe,
// probes; metrics runnel_destination_probes_total{result} and
// runnel_destination_probe_seconds):
//
//   - a failed probe makes it unavailable, a successful one available;
//   - a send that fails with a retryable error (5xx, 408, 429, transport
//     errors, a timeout, which shows as 504) makes it unavailable at once;
//     once that retry's delay has passed it is probed out of schedule (so
//     a blip costs one backoff, not an interval), then on the schedule;
//   - while unavailable no batch is sent: a waiting send is skipped
//     (last_status 503) until a probe succeeds. A successful probe also
//     ends a retry delay early, unless the target asked for a Retry-After;
//   - a probe that started before a send failed does not make it
//     available again (it saw the target before the failure);
//   - the first send of a deliverer waits for its first probe.
//
// So while a target is down only probes reach it. A target that answers
// its probe but fails every send (an HTTP endpoint answering 503 to
// everything: the http kind's probe counts any answer but 401/403 as
// reachable) gets one probe before each retry, never two sends in a row.
// A kind without Checker is unavailable after a retryable failure and
// available again after the next success; its retries are its probes.
//
// # Buffer overflow
//
// Event streams always refuse new messages when full (DiscardNew). For a
// stream with overflow drop_oldest, ingest hands a refused message to
// [Overflow], which drops the oldest messages, counts their events exactly
// in a per-stream counter every node shares (bus.ClaimDrop, status
// dropped_events, metric runnel_dropped_events_total), keeps them as dead
// letters of destination "*" (reason ReasonDropped; replaying them sends
// them to every destination), and publishes again. Events removed by
// buffer.max_age are removed by JetStream and are not counted.
//
// # Several nodes
//
// Every node runs a deliverer for every destination and they share the
// durable consumer, so JetStream spreads messages over the nodes: the
// "one batch in flight" and the per-destination order then hold per node,
// not across nodes. (A pinned-client priority group on the consumer would
// restore a single active puller per destination with fail-over.)
//
// # Backlog
//
// Backlog messages are exact (the consumer's NumPending + NumAckPending).
// Backlog events are the sum of the Runnel-Count header over the pending
// messages, read with a temporary headers-only consumer starting after
// the consumer's ack floor, for at most the first 10,000 pending messages;
// beyond that the mean events per message of those 10,000 is extrapolated
// to the rest (status says so with backlog_events_estimated). Messages
// acked out of order above the ack floor are counted as pending in that
// sample, which only matters while a few are in flight. Backlog bytes are
// the event stream's bytes × pending / total messages.
package delivery
