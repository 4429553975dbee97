// Command loadgen drives Runnel's native ingest endpoint with keep-alive
// HTTP clients and reports throughput and acknowledgement latency; it can
// also receive deliveries (a counting HTTP sink) and run both together for
// an end-to-end measurement. See docs/BENCHMARKS.md.
//
// Modes:
//
//	-mode ingest (default)  POST NDJSON batches to -url for -duration.
//	                         -create first creates the stream (no
//	                         destinations, or one HTTP destination with
//	                         -dest-url). -dialect sends the same events
//	                         through another ingest dialect (hec, hec-raw,
//	                         bulk, otlp-json, otlp-proto, collection,
//	                         eventsv2: dialect.go).
//	-mode sink              an HTTP receiver on -listen that counts the
//	                         delivered lines (answers -sink-status).
//	-mode e2e               starts a sink in-process, creates a stream whose
//	                         HTTP destination is that sink, drives load and
//	                         reports ingest and delivered events/s and the
//	                         time the backlog took to drain. -dest kafka
//	                         delivers to kfake in-process instead, -dest s3
//	                         to an S3 gateway (-s3-*); -outage adds a second
//	                         destination that is down for a while (dest.go).
//
// Bodies are built once per client; before each request only the
// fixed-width event ids are rewritten, so ids are unique and increase per
// client while no JSON encoding happens on the measured path. With -rate,
// latency is measured from each request's scheduled time (no coordinated
// omission).
//
// Every address must be loopback unless -allow-remote is given, and every
// mode stops by itself after -duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	mode        string
	dialect     string // ingest mode: the ingest dialect (dialect.go)
	url         string
	token       string
	stream      string
	clients     int
	batch       int
	eventSize   int
	duration    time.Duration
	rate        float64
	maxEvents   int64
	gzip        bool
	timeout     time.Duration
	create      bool
	destURL     string
	template    string
	listen      string
	sinkStatus  int
	drain       time.Duration
	keep        bool
	pid         int
	jsonOut     bool
	allowRemote bool
	quiet       bool
	dst         destFlags // e2e: -dest, -outage… (dest.go)
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.mode, "mode", "ingest", "ingest | sink | e2e")
	fs.StringVar(&c.dialect, "dialect", "native", "ingest mode: "+strings.Join(dialectNames, " | ")+" (dialect.go)")
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "Runnel base URL")
	fs.StringVar(&c.token, "token", os.Getenv("RUNNEL_TOKEN"), "bearer token (default $RUNNEL_TOKEN); @FILE reads it from FILE")
	fs.StringVar(&c.stream, "stream", "", "stream id or name (e2e: default loadgen-e2e-<time>; ingest: required)")
	fs.IntVar(&c.clients, "clients", 16, "concurrent keep-alive clients, one request in flight each")
	fs.IntVar(&c.batch, "batch", 100, "events per request")
	fs.IntVar(&c.eventSize, "event-size", 300, "approximate bytes per event (NDJSON line without newline)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to send (sink mode: how long to listen)")
	fs.Float64Var(&c.rate, "rate", 0, "target events/s over all clients (0: as fast as possible)")
	fs.Int64Var(&c.maxEvents, "events", 0, "stop after sending this many events (0: no limit)")
	fs.BoolVar(&c.gzip, "gzip", false, "gzip each request body (compression runs in the client, outside the latency)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.BoolVar(&c.create, "create", false, "ingest mode: create -stream first (an existing stream of that name is reused)")
	fs.StringVar(&c.destURL, "dest-url", "", "with -create: give the stream one HTTP destination with this URL")
	fs.StringVar(&c.template, "template", "variables", "e2e and -create: stream template, none | variables | plan (parse json → mask e-mail and card → CEL filter → 8 variables; native dialect only)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9000", "sink mode: listen address (e2e: the in-process sink uses 127.0.0.1:0 unless set)")
	fs.IntVar(&c.sinkStatus, "sink-status", 200, "sink: HTTP status to answer (e.g. 503 to keep events buffered)")
	fs.DurationVar(&c.drain, "drain-timeout", 2*time.Minute, "e2e: how long to wait for the backlog to drain after the load")
	fs.BoolVar(&c.keep, "keep", false, "e2e: keep the stream afterwards (default: delete it)")
	fs.IntVar(&c.pid, "pid", 0, "sample VmRSS/VmHWM of this process (the server) every second")
	fs.BoolVar(&c.jsonOut, "json", false, "print the final summary as one JSON object on stdout as the last line")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow non-loopback addresses")
	fs.BoolVar(&c.quiet, "quiet", false, "no per-second lines")
	c.dst.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f, ok := strings.CutPrefix(c.token, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c.token = strings.TrimSpace(string(b))
	}
	switch {
	case c.mode != "ingest" && c.mode != "sink" && c.mode != "e2e":
		return nil, fmt.Errorf("-mode %q: want ingest, sink or e2e", c.mode)
	case c.clients < 1 || c.clients > 4096:
		return nil, errors.New("-clients must be in 1..4096")
	case c.batch < 1 || c.batch > 100000:
		return nil, errors.New("-batch must be in 1..100000")
	case c.eventSize < 0 || c.eventSize > 1<<20:
		return nil, errors.New("-event-size must be in 0..1MiB")
	case c.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case c.rate < 0 || c.maxEvents < 0:
		return nil, errors.New("-rate and -events must not be negative")
	case !slices.Contains(dialectNames, c.dialect):
		return nil, fmt.Errorf("-dialect %q: want one of %s", c.dialect, strings.Join(dialectNames, ", "))
	case c.dialect != "native" && c.mode != "ingest":
		return nil, errors.New("-dialect applies to -mode ingest only")
	case c.template != "none" && c.template != "variables" && c.template != "plan":
		return nil, fmt.Errorf("-template %q: want none, variables or plan", c.template)
	case c.template == "plan" && c.dialect != "" && c.dialect != "native":
		return nil, fmt.Errorf("-template plan works with the native dialect only")
	}
	if err := c.dst.validate(c); err != nil {
		return nil, err
	}
	if c.mode == "sink" {
		return c, checkLoopbackAddr(c.listen, c.allowRemote)
	}
	if err := checkLoopbackURL(c.url, c.allowRemote); err != nil {
		return nil, err
	}
	if c.destURL != "" {
		if err := checkLoopbackURL(c.destURL, c.allowRemote); err != nil {
			return nil, fmt.Errorf("-dest-url: %w", err)
		}
	}
	if c.token == "" {
		return nil, errors.New("-token (or $RUNNEL_TOKEN) is required")
	}
	if c.mode == "ingest" && c.stream == "" {
		return nil, errors.New("-stream is required")
	}
	return c, nil
}

func run(args []string, out io.Writer) error {
	c, err := parseFlags(args, out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch c.mode {
	case "sink":
		return runSink(ctx, c, out)
	case "e2e":
		return runE2E(ctx, c, out)
	default:
		if c.create {
			id, err := createStream(ctx, c, c.stream, c.destURL)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "stream %s ready (id %s)\n", c.stream, id)
		}
		res, err := runLoad(ctx, c, out, nil)
		if err != nil {
			return err
		}
		res.print(out, c.jsonOut)
		return nil
	}
}

// checkLoopbackURL refuses URLs whose host is not a loopback address.
func checkLoopbackURL(raw string, allow bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http(s) URL", raw)
	}
	return checkLoopbackHost(u.Hostname(), allow)
}

// checkLoopbackAddr refuses listen addresses that are not loopback.
func checkLoopbackAddr(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	return checkLoopbackHost(host, allow)
}

func checkLoopbackHost(host string, allow bool) error {
	if allow {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (use -allow-remote to send elsewhere)", host)
	}
	return nil
}
