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
// A destination is unavailable after a send that failed with a retryable
// error and available again after a success. A destination that
// implements destination.Checker is probed once at start and, while
// unavailable, every Destination.Health.Interval; no batch is sent while it
// is unavailable (status 503). Other destinations are probed by the next
// retry itself.
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
