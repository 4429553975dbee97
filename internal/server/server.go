package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/runnel/runnel/internal/activityfeed"
	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/catalog/catalogapi"
	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/destination/builtins"
	"github.com/runnel/runnel/internal/flowservice"
	"github.com/runnel/runnel/internal/ingest"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/tail"
	"github.com/runnel/runnel/internal/telemetry"
)

// Run starts a node and serves until ctx is cancelled. Startup problems
// are returned at once (fail fast); after that it does not crash.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	log := telemetry.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	if cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The store's block caches are released to the garbage collector
		// (weak references) but only collected when the heap grows past
		// its GC goal: with no limit a node whose ingest outruns delivery
		// sat at 2 GiB; with 512 MiB it stays near it (docs/BENCHMARKS.md).
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	box, err := secret.Load(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return err
	}
	metrics := telemetry.NewMetrics()
	b, err := bus.Open(ctx, bus.Config{DataDir: cfg.DataDir, URL: cfg.NATS, Fsync: cfg.Fsync, Replicas: cfg.Replicas, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	kinds := builtins.Registry()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := store.Open(runCtx, b, box, kinds, log)
	if err != nil {
		return err
	}
	adminSecret, err := st.Bootstrap(ctx, cfg.DataDir, cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if adminSecret != "" {
		fmt.Fprintf(stdout, "Admin token (shown once, also written to %s):\n%s\n",
			filepath.Join(cfg.DataDir, "admin.token"), adminSecret)
	}

	if cfg.LookupDir == "" {
		cfg.LookupDir = filepath.Join(cfg.DataDir, "lookups")
	}
	planOpts := planOptions(box, cfg.LookupDir)
	checkStream := streamChecker(planOpts)
	mgr := delivery.NewManager(b, kinds, metrics, log, delivery.Options{Plan: planOpts})
	metrics.Registry.MustRegister(mgr) // per-stage processing counters
	apply := func(c store.StreamChange) {
		if c.Op == store.Delete {
			mgr.Remove(c.Stream.ID)
			return
		}
		dec, err := st.Decrypted(c.Stream)
		if err != nil {
			log.Error("stream secrets cannot be decrypted; its deliverers are stopped", "stream", c.Stream.ID, "error", err)
			mgr.Remove(c.Stream.ID)
			return
		}
		mgr.Apply(dec)
	}
	st.Subscribe(apply)
	for _, s := range st.Streams("") {
		// Consumers of every destination exist before deliverers start
		// (idempotent; repairs a stream whose update was cut short).
		if err := b.EnsureEventStream(ctx, s); err != nil {
			log.Error("prepare stream buffer", "stream", s.ID, "error", err)
		}
		apply(store.StreamChange{Op: store.Put, Stream: s})
	}

	mux := http.NewServeMux()
	extensions := map[string]api.Extension{"tailStream": tail.Handler(b, log)}
	maps.Copy(extensions, catalogapi.Extensions()) // GET /v1/data-sources, /v1/templates
	// The flow-service facade (/flowservice/…): its routes are in spec.Routes.
	maps.Copy(extensions, flowservice.New(flowservice.Deps{
		Store: st, Kinds: kinds, Check: checkStream, PublicURL: cfg.PublicURL, Log: log,
	}).Extensions())
	api.New(api.Deps{
		Store: st, Kinds: kinds, Delivery: deliveryAdapter{mgr: mgr, bus: b, kinds: kinds},
		Metrics: metrics, Log: log, Ready: b.Ready, Check: checkStream,
		PublicURL: cfg.PublicURL, Now: time.Now,
		Extensions: extensions,
	}).Register(mux)
	overflow := delivery.NewOverflow(b, metrics, log)
	// Compiled stream schemas, one per stream version; a deleted stream's goes.
	schemas := schema.NewCache(0, 0)
	st.Subscribe(func(c store.StreamChange) {
		if c.Op == store.Delete {
			schemas.Forget(c.Stream.ID)
		}
	})
	ingestHandler := ingest.New(ingest.Deps{
		Bus: b, Overflow: overflow,
		Streams: st, Tokens: st, Metrics: metrics, Log: log, Now: time.Now,
		Schemas: schemas, DeadLetters: delivery.NewStreamDeadLetters(b),
	})
	// Activity History streams: every node shares one durable consumer of
	// the activity stream; created before the node takes changes.
	feed, err := activityfeed.New(ctx, activityfeed.Deps{
		Bus: b, Streams: st, Overflow: overflow, Metrics: metrics, Log: log.With("component", "activityfeed"),
	}, activityfeed.Options{})
	if err != nil {
		return err
	}
	ingestHandler.Register(mux)

	srv := &http.Server{
		// Wrap serves Elasticsearch's _bulk (and GET / for ES clients) in
		// front of the mux, where its patterns would overlap others.
		Handler:           ingestHandler.Wrap(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return runCtx },
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	}
	log.Info("runnel listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "embedded_bus", b.Embedded(), "tls", cfg.TLSCert != "")

	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return mgr.Run(gctx) })
	g.Go(func() error { return feed.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer scancel()
		err := srv.Shutdown(sctx)
		cancel()
		return err
	})
	err = g.Wait()
	log.Info("runnel stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// lockDataDir takes an exclusive lock on <dir>/runnel.lock so that two
// processes never share one embedded store.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "runnel.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another runnel process", dir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
