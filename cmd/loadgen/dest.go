package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Destination kinds of -mode e2e (-dest).
const (
	destHTTP  = "http"
	destKafka = "kafka"
	destS3    = "s3"
)

// destFlags are the e2e flags that choose and set up the destination
// (-dest), the outage run (-outage) and the RSS series (-rss-every).
type destFlags struct {
	kind string

	kafkaPartitions  int
	kafkaCompression string

	s3URL, s3Access, s3Secret, s3Bucket, s3Dir string
	s3Gzip                                     bool

	verify bool

	outage      time.Duration
	outageProbe time.Duration
	rssEvery    time.Duration
	settle      time.Duration
}

func (d *destFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.kind, "dest", destHTTP, "e2e: the destination, http (a sink in this process) | kafka (kfake in this process) | s3 (a gateway: -s3-*)")
	fs.IntVar(&d.kafkaPartitions, "kafka-partitions", 3, "e2e -dest kafka: partitions of the topic")
	fs.StringVar(&d.kafkaCompression, "kafka-compression", "", "e2e -dest kafka: the destination's compression setting (empty: its default, lz4)")
	fs.StringVar(&d.s3URL, "s3-url", "", "e2e -dest s3: the S3 gateway's URL (host_url), e.g. a versitygw on loopback")
	fs.StringVar(&d.s3Access, "s3-access", "", "e2e -dest s3: access key")
	fs.StringVar(&d.s3Secret, "s3-secret", "", "e2e -dest s3: secret key; @FILE reads it from FILE")
	fs.StringVar(&d.s3Bucket, "s3-bucket", "bench", "e2e -dest s3: bucket (created as a directory in -s3-dir when missing)")
	fs.StringVar(&d.s3Dir, "s3-dir", "", "e2e -dest s3: the gateway's posix root directory; the objects' lines are counted there")
	fs.BoolVar(&d.s3Gzip, "s3-gzip", false, "e2e -dest s3: content_type application/gzip (gzip objects) instead of plain/text")
	fs.BoolVar(&d.verify, "verify", false, "e2e -dest kafka|s3: after the drain, read everything back and check every accepted event id arrived once (kafka then stores the records)")
	fs.DurationVar(&d.outage, "outage", 0, "e2e: add a second HTTP destination that answers 503 from the start for this long (then 200), and wait for it to drain too")
	fs.DurationVar(&d.outageProbe, "outage-probe", 5*time.Second, "e2e -outage: health.interval of the second destination (how soon it is found back)")
	fs.DurationVar(&d.rssEvery, "rss-every", 5*time.Second, "e2e with -pid: record the server's RSS this often into the summary (0: not)")
	fs.DurationVar(&d.settle, "settle", 0, "e2e: keep sampling this long after the drain before the summary")
}

// validate checks the flags of c.mode; -s3-secret @FILE is read here.
func (d *destFlags) validate(c *config) error {
	if f, ok := strings.CutPrefix(d.s3Secret, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		d.s3Secret = strings.TrimSpace(string(b))
	}
	if c.mode != "e2e" {
		if d.kind != destHTTP || d.outage != 0 || d.verify {
			return errors.New("-dest, -outage and -verify are for -mode e2e")
		}
		return nil
	}
	switch d.kind {
	case destHTTP:
		if d.verify {
			return errors.New("-verify: only with -dest kafka or s3")
		}
	case destKafka:
		if d.kafkaPartitions < 1 || d.kafkaPartitions > 1000 {
			return errors.New("-kafka-partitions must be in 1..1000")
		}
	case destS3:
		switch {
		case d.s3URL == "":
			return errors.New("-dest s3 needs -s3-url")
		case d.s3Access == "" || d.s3Secret == "":
			return errors.New("-dest s3 needs -s3-access and -s3-secret")
		case d.s3Dir == "":
			return errors.New("-dest s3 needs -s3-dir (the gateway's posix directory, where the objects are counted)")
		case d.s3Bucket == "" || strings.ContainsAny(d.s3Bucket, `/\`) || strings.HasPrefix(d.s3Bucket, "."):
			return fmt.Errorf("-s3-bucket %q: want a plain bucket name", d.s3Bucket)
		}
		if err := checkLoopbackURL(d.s3URL, c.allowRemote); err != nil {
			return fmt.Errorf("-s3-url: %w", err)
		}
		if u, _ := url.Parse(d.s3URL); u.Path != "" && u.Path != "/" {
			return errors.New("-s3-url: want a gateway's base URL without a path")
		}
	default:
		return fmt.Errorf("-dest %q: want http, kafka or s3", d.kind)
	}
	switch {
	case d.outage < 0 || d.settle < 0 || d.rssEvery < 0:
		return errors.New("-outage, -settle and -rss-every must not be negative")
	case d.outage > 0 && d.outageProbe < time.Second:
		return errors.New("-outage-probe must be at least 1s (the smallest health.interval)")
	}
	return nil
}

// receiver is what the destination under test received.
type receiver interface {
	// count returns the events delivered so far and when the last of
	// them arrived (zero before the first).
	count() (int64, time.Time)
	// requests is how many requests brought them: HTTP requests, S3
	// objects, Kafka produce requests.
	requests() int64
	// describe says what the receiver is, for the summary.
	describe() string
	close()
}

// verifier is a receiver that can read everything back and check the ids.
type verifier interface {
	verify(ctx context.Context, want int64) (*verifyResult, error)
}

// e2eBatch is the batching of every destination loadgen creates.
func e2eBatch() map[string]any {
	return map[string]any{"max_events": 2000, "max_age": "200ms"}
}

// httpReceiver is the in-process counting sink.
type httpReceiver struct {
	s    *sink
	url  string
	stop context.CancelFunc
}

func startHTTPReceiver(listen string, s *sink) (*httpReceiver, error) {
	ctx, stop := context.WithCancel(context.Background())
	addr, _, err := s.start(ctx, listen)
	if err != nil {
		stop()
		return nil, err
	}
	return &httpReceiver{s: s, url: "http://" + addr + "/", stop: stop}, nil
}

func (h *httpReceiver) count() (int64, time.Time) {
	n := h.s.lines.Load()
	var last time.Time
	if ns := h.s.last.Load(); ns > 0 {
		last = time.Unix(0, ns)
	}
	return n, last
}

func (h *httpReceiver) requests() int64  { return h.s.reqs.Load() }
func (h *httpReceiver) describe() string { return "HTTP sink at " + h.url }
func (h *httpReceiver) close()           { h.stop() }

// setupDest starts (or connects to) the receiver of -dest and returns it
// with the stream's destination definition.
func setupDest(ctx context.Context, c *config) (receiver, map[string]any, error) {
	d := &c.dst
	switch d.kind {
	case destKafka:
		k, err := startKafka(ctx, d.kafkaPartitions, !d.verify)
		if err != nil {
			return nil, nil, err
		}
		settings := map[string]any{"bootstrap_servers": strings.Join(k.addrs, ","), "kafka_topic": k.topic}
		if d.kafkaCompression != "" {
			settings["compression"] = d.kafkaCompression
		}
		return k, map[string]any{"name": "kafka", "type": "kafka", "settings": settings, "batch": e2eBatch()}, nil
	case destS3:
		s, err := newS3Receiver(d.s3Dir, d.s3Bucket, d.verify)
		if err != nil {
			return nil, nil, err
		}
		ct := "plain/text"
		if d.s3Gzip {
			ct = "application/gzip"
		}
		settings := map[string]any{
			"host_url": strings.TrimRight(d.s3URL, "/"), "bucket_name": d.s3Bucket, "region": "us-east-1",
			"access_key": d.s3Access, "secret_key": d.s3Secret, "object_key_prefix": s.prefix, "content_type": ct,
		}
		return s, map[string]any{"name": "s3", "type": "s3", "settings": settings, "batch": e2eBatch()}, nil
	default:
		listen := c.listen
		if listen == "127.0.0.1:9000" { // the sink-mode default: pick a free port
			listen = "127.0.0.1:0"
		}
		if err := checkLoopbackAddr(listen, c.allowRemote); err != nil {
			return nil, nil, err
		}
		h, err := startHTTPReceiver(listen, &sink{status: c.sinkStatus})
		if err != nil {
			return nil, nil, err
		}
		return h, map[string]any{"name": "sink", "type": "http", "settings": map[string]any{"url": h.url}, "batch": e2eBatch()}, nil
	}
}

// e2eStreamDef is the e2e stream: loadgen's template and the given
// destinations.
func e2eStreamDef(name, template string, dests []any) map[string]any {
	def := streamDef(name, "", template)
	def["destinations"] = dests
	return def
}
