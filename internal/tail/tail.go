// Package tail serves GET /v1/streams/{id}/tail: the events of a stream as
// they arrive, as Server-Sent Events, optionally filtered by a CEL
// expression over the event's top-level fields. Each client gets its own
// ephemeral ordered consumer starting at the newest event, so a tail never
// holds up delivery and leaves nothing behind when it disconnects.
package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/expr"
)

// Heartbeat is how often an idle tail sends a comment line, so proxies
// and clients see the connection is alive.
const Heartbeat = 15 * time.Second

// Handler returns the tailStream extension of the management API.
func Handler(b *bus.Bus, log *slog.Logger) api.Extension {
	return func(w http.ResponseWriter, r *http.Request, c *api.Call) {
		var filter *expr.Program
		if src := r.URL.Query().Get("filter"); src != "" {
			p, err := expr.Compile(src, expr.DefaultVars)
			if err != nil {
				apierr.Write(w, apierr.BadRequest, "filter: "+err.Error())
				return
			}
			filter = p
		}
		ctx := r.Context()
		stream, err := b.JS.Stream(ctx, bus.EventStreamName(c.Stream.ID))
		if err != nil {
			apierr.WriteRetry(w, apierr.Unavailable, "the stream's buffer is not available", 2*time.Second)
			return
		}
		cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			apierr.WriteRetry(w, apierr.Unavailable, "cannot follow the stream now", 2*time.Second)
			return
		}
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, ": tailing stream %s\n\n", c.Stream.Name)
		if err := rc.Flush(); err != nil {
			return
		}
		if err := follow(ctx, cons, w, rc, filter); err != nil && !errors.Is(err, context.Canceled) {
			log.Debug("tail ended", "stream", c.Stream.ID, "error", err)
		}
	}
}

func follow(ctx context.Context, cons jetstream.Consumer, w http.ResponseWriter, rc *http.ResponseController, filter *expr.Program) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return err
	}
	defer it.Stop()
	msgs := make(chan jetstream.Msg)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	beat := time.NewTicker(Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return err
			}
		case m := <-msgs:
			f := event.Parse(m.Headers(), m.Data())
			var werr error
			event.Each(f.Body, func(_ int, ev []byte) bool {
				if filter != nil && !matches(ctx, filter, ev) {
					return true
				}
				_, werr = fmt.Fprintf(w, "event: event\ndata: %s\n\n", ev)
				return werr == nil
			})
			if werr != nil {
				return werr
			}
		}
		if err := rc.Flush(); err != nil {
			return err
		}
	}
}

// matches evaluates the filter; an event it cannot be evaluated on (a
// missing field, a type mismatch) is not shown.
func matches(ctx context.Context, p *expr.Program, ev []byte) bool {
	var fields map[string]any
	if json.Unmarshal(ev, &fields) != nil {
		return false
	}
	ok, err := p.Match(ctx, fields)
	return err == nil && ok
}
