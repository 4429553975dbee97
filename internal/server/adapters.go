package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/store"
)

// deliveryAdapter serves the API's delivery needs from the delivery engine.
type deliveryAdapter struct {
	mgr   *delivery.Manager
	bus   *bus.Bus
	kinds *destination.Registry
}

func (d deliveryAdapter) Status(ctx context.Context, st *model.Stream) (any, error) {
	return d.mgr.Status(ctx, st)
}

func (d deliveryAdapter) DeadLetters(ctx context.Context, streamID, dest string, after uint64, limit int) (any, uint64, error) {
	return delivery.ListDeadLetters(ctx, d.bus, streamID, dest, after, limit)
}

func (d deliveryAdapter) Replay(ctx context.Context, streamID, dest string, ids []uint64) (int, error) {
	n, err := delivery.ReplayDeadLetters(ctx, d.bus, streamID, dest, ids)
	if errors.Is(err, delivery.ErrDeadLetterNotFound) {
		return n, fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return n, err
}

// Test builds the destination from the decrypted stream and probes it.
func (d deliveryAdapter) Test(ctx context.Context, st *model.Stream, name string) error {
	cfg, ok := st.Destination(name)
	if !ok {
		return store.ErrNotFound
	}
	dst, _, err := d.kinds.New(ctx, cfg, destination.Deps{Stream: st.ID, Destination: name})
	if err != nil {
		return err
	}
	defer dst.Close(context.WithoutCancel(ctx))
	c, ok := dst.(destination.Checker)
	if !ok {
		return fmt.Errorf("destination type %s has no connection test", cfg.Type)
	}
	return c.Check(ctx)
}

// streamChecker compiles a stream's plan so that a definition that would
// not run is refused at the API.
func streamChecker(opts func(*model.Stream) pipeline.Options) func(*model.Stream) model.FieldErrors {
	return func(st *model.Stream) model.FieldErrors {
		return pipeline.Check(st, opts(st))
	}
}

// planOptions are the server-side compile inputs of a stream: its salt,
// derived from the secret key (stable, the same on every node, never
// stored), and the lookup directory.
func planOptions(box *secret.Box, lookupDir string) func(*model.Stream) pipeline.Options {
	return func(st *model.Stream) pipeline.Options {
		return pipeline.Options{Salt: box.Derive("stream-salt/" + st.Workspace + "/" + st.ID), LookupDir: lookupDir}
	}
}
