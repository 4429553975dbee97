package delivery

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/retry"
)

// Msg is one frame message as the deliverer sees it. jetstream.Msg
// satisfies it; tests use fakes.
type Msg interface {
	Data() []byte
	Headers() nats.Header
	Ack() error
	Nak() error
	InProgress() error
}

var _ Msg = jetstream.Msg(nil)

// progressInterval is how often held messages are marked in progress. It
// must stay well below the consumers' AckWait (30 s, bus.ConsumerConfig).
const progressInterval = 10 * time.Second

// Fetch bounds of the pump: at most fetchBatch messages and fetchBytes
// bytes per pull request. fetchBytes must exceed the largest frame
// (bus.MaxMessage), or a large frame would stall the consumer.
// fetchExpires bounds how long a stopping pump waits for its last pull
// request to end.
const (
	fetchBatch   = 512
	fetchBytes   = bus.MaxMessage + 1<<20
	fetchExpires = time.Second
)

// pump feeds out with the messages of a JetStream consumer. It pulls one
// fetch at a time and only pulls again once everything of the previous
// fetch has been taken, so at most one fetch (≤ 512 messages, ≤ ~21 MiB)
// waits in the client; while messages wait they are marked in progress
// every 10 s.
//
// Stopping is ordered so that JetStream redelivers in stream order (it
// redelivers nak'd messages in nak order, and at once to any open pull
// request): when ctx is done the pump stops pulling, lets the pull request
// in flight run out (≤ 1 s; cancelling it would drop what the server
// already sent to it until the consumer's AckWait), keeps what it gets,
// and closes idle. The deliverer waits for idle before it naks the
// messages it holds (the older ones); then release is closed and the pump
// naks its own.
func pump(ctx context.Context, release <-chan struct{}, idle chan<- struct{}, cons jetstream.Consumer, out chan<- Msg, log *slog.Logger) {
	var (
		queue    []jetstream.Msg // fetched, not yet taken: queue[head:]
		head     int
		failures int
	)
	ticker := time.NewTicker(progressInterval)
	defer ticker.Stop()
	defer func() {
		close(idle)
		for {
			select {
			case <-ticker.C:
				for _, m := range queue[head:] {
					_ = m.InProgress()
				}
				continue
			case <-release:
			}
			break
		}
		for _, m := range queue[head:] {
			_ = m.Nak()
		}
	}()
	for ctx.Err() == nil {
		mb, err := cons.Fetch(fetchBatch, jetstream.FetchMaxBytes(fetchBytes), jetstream.FetchMaxWait(fetchExpires))
		if err != nil {
			failures++
			if failures == 1 {
				log.Warn("fetch from buffer failed, retrying", "error", err)
			}
			if !sleep(ctx, retry.DefaultBackoff.Delay(min(failures, 8), err)) {
				return
			}
			continue
		}
		in, stop := mb.Messages(), ctx.Done()
		for in != nil || (stop != nil && head < len(queue)) {
			var (
				next Msg
				send chan<- Msg
			)
			if stop != nil && head < len(queue) {
				next, send = queue[head], out
			}
			select {
			case m, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				queue = append(queue, m)
			case send <- next:
				queue[head] = nil
				head++
			case <-ticker.C:
				for _, m := range queue[head:] {
					_ = m.InProgress()
				}
			case <-stop:
				stop = nil // keep what the pull request still brings, for the nak
			}
		}
		if ctx.Err() != nil {
			return
		}
		clear(queue)
		queue, head = queue[:0], 0
		if err := mb.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			failures++
			if failures == 1 {
				log.Warn("fetch from buffer failed, retrying", "error", err)
			}
			if !sleep(ctx, retry.DefaultBackoff.Delay(min(failures, 8), err)) {
				return
			}
			continue
		}
		if failures > 0 {
			log.Info("fetch from buffer recovered")
			failures = 0
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
