// Package bus is Runnel's one durable engine: NATS JetStream, embedded
// in-process (file store under the data directory) or reached at an
// external server or cluster. Events (one JetStream stream per Runnel
// stream), configuration (a KV bucket), activity history and dead letters
// all live here; nothing else holds state.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the shared JetStream resources.
const (
	ConfigBucket   = "runnel_config"
	ActivityStream = "RUNNEL_ACTIVITY"
	DLQStream      = "RUNNEL_DLQ"
	// MaxMessage is the largest frame the embedded server accepts: the
	// 16 MiB hard cap on a request body plus framing headroom.
	MaxMessage = 20 << 20
	// DedupWindow is how long an Idempotency-Key is remembered.
	DedupWindow = 10 * time.Minute
)

// Config chooses and tunes the engine.
type Config struct {
	// DataDir holds the embedded server's file store.
	DataDir string
	// URL, when set, connects to an external NATS server or cluster
	// ("nats://a:4222,nats://b:4222") instead of embedding one.
	URL string
	// Fsync is "always" (every write synced: survives power loss) or a
	// sync interval such as "1s" (survives a process crash).
	Fsync string
	// Replicas for streams and buckets; 0 picks 3 on a cluster of three
	// or more servers, else 1.
	Replicas int
	// Name identifies this node in logs and connection names.
	Name   string
	Logger *slog.Logger
}

// Bus is a connection to JetStream, and the embedded server if any.
type Bus struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	srv      *server.Server
	ownsSrv  bool // Close shuts the server down (false for a Connect'ed bus)
	url      string
	name     string
	kv       jetstream.KeyValue
	replicas int
	log      *slog.Logger
	closed   chan struct{}
}

// Open starts the embedded server (or connects to the external one) and
// creates the shared streams and buckets.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	var srv *server.Server
	if cfg.URL == "" {
		var err error
		if srv, err = startEmbedded(cfg, log); err != nil {
			return nil, err
		}
	}
	b, err := connect(cfg.URL, name, srv, log)
	if err != nil {
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
		return nil, err
	}
	b.ownsSrv = srv != nil
	b.replicas = cfg.Replicas
	if b.replicas == 0 {
		b.replicas = 1
		if cfg.URL != "" && len(b.NC.Servers()) >= 3 {
			b.replicas = 3
		}
	}
	if err := b.setup(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Connect opens another connection to the same JetStream as b: a second
// client of its embedded server, or of its external cluster. It is how a
// second node shares an embedded server in tests. Closing it leaves the
// server running; the shared streams and buckets must already exist.
func (b *Bus) Connect(ctx context.Context, name string) (*Bus, error) {
	nb, err := connect(b.url, name, b.srv, b.log)
	if err != nil {
		return nil, err
	}
	nb.replicas = b.replicas
	if nb.kv, err = nb.JS.KeyValue(ctx, ConfigBucket); err != nil {
		nb.Close()
		return nil, fmt.Errorf("bus: config bucket: %w", err)
	}
	return nb, nil
}

// connect opens the client connection, in-process when srv is set.
func connect(url, name string, srv *server.Server, log *slog.Logger) (*Bus, error) {
	b := &Bus{log: log, closed: make(chan struct{}), url: url, name: name, srv: srv}
	opts := []nats.Option{
		nats.Name("runnel " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("bus reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	if srv != nil {
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	b.NC = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	b.JS = js
	return b, nil
}

func startEmbedded(cfg Config, log *slog.Logger) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("bus: a data directory is required for the embedded store")
	}
	storeDir := filepath.Join(cfg.DataDir, "jetstream")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: data directory: %w", err)
	}
	o := &server.Options{
		ServerName: "runnel-embedded",
		DontListen: true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   storeDir,
		MaxPayload: MaxMessage,
		// Each stream's buffer.max_bytes is a limit, not a reservation: by
		// default JetStream would reserve it up front against 75% of the
		// free disk, refusing the sixth 10GiB stream on an 80GB disk. The
		// disk itself is the bound; when it fills, ingest answers 503.
		JetStreamMaxStore: 1 << 60,
		// Frames are written in one piece; a long write deadline keeps a
		// slow disk from cutting the in-process connection.
		WriteDeadline: 30 * time.Second,
	}
	switch f := strings.TrimSpace(cfg.Fsync); f {
	case "always":
		o.SyncAlways = true
	case "":
		o.SyncInterval = time.Second
	default:
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("bus: --fsync must be \"always\" or a duration like \"1s\", got %q", f)
		}
		o.SyncInterval = d
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded server: %w", err)
	}
	srv.SetLoggerV2(slogAdapter{log.With("component", "nats")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("bus: embedded server did not become ready")
	}
	return srv, nil
}

func (b *Bus) setup(ctx context.Context) error {
	kv, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   ConfigBucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: b.replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: config bucket: %w", err)
	}
	b.kv = kv
	if _, err := b.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ActivityStream,
		Subjects:    []string{"runnel.activity.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
		MaxAge:      400 * 24 * time.Hour,
		AllowDirect: true,
	}); err != nil {
		return fmt.Errorf("bus: activity stream: %w", err)
	}
	if _, err := b.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Subjects:    []string{"runnel.dlq.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
		MaxAge:      30 * 24 * time.Hour,
		MaxMsgSize:  MaxMessage,
		AllowDirect: true,
	}); err != nil {
		return fmt.Errorf("bus: dead-letter stream: %w", err)
	}
	return nil
}

// Replicas is the replication factor used for streams and buckets.
func (b *Bus) Replicas() int { return b.replicas }

// Embedded reports whether the server runs in this process.
func (b *Bus) Embedded() bool { return b.srv != nil }

// Ready reports whether the bus connection is up.
func (b *Bus) Ready() bool { return b.NC != nil && b.NC.IsConnected() }

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.NC != nil {
		// Drain is asynchronous; wait for it (bounded) before the server goes.
		if err := b.NC.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(5 * time.Second):
			}
		}
		b.NC.Close()
	}
	b.shutdownServer()
}

func (b *Bus) shutdownServer() {
	if b.srv != nil && b.ownsSrv {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// KV returns the configuration bucket.
func (b *Bus) KV(ctx context.Context) (jetstream.KeyValue, error) {
	return b.JS.KeyValue(ctx, ConfigBucket)
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any)  {}
