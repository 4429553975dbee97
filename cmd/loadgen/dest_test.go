package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDestFlags(t *testing.T) {
	base := []string{"-mode", "e2e", "-token", "tok"}
	s3 := []string{"-dest", "s3", "-s3-url", "http://127.0.0.1:7070", "-s3-access", "ak", "-s3-secret", "sk", "-s3-dir", t.TempDir()}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		err  string // "" = valid
	}{
		{base, ""},
		{append(base, "-dest", "kafka"), ""},
		{append(base, "-dest", "kafka", "-verify", "-kafka-partitions", "6", "-kafka-compression", "zstd"), ""},
		{append(base, "-dest", "kafka", "-kafka-partitions", "0"), "-kafka-partitions"},
		{append(base, s3...), ""},
		{append(append(base, s3...), "-verify", "-s3-gzip"), ""},
		{append(base, "-dest", "s3", "-s3-access", "ak", "-s3-secret", "sk", "-s3-dir", "/x"), "needs -s3-url"},
		{append(base, "-dest", "s3", "-s3-url", "http://127.0.0.1:1", "-s3-dir", "/x"), "-s3-access"},
		{append(base, "-dest", "s3", "-s3-url", "http://127.0.0.1:1", "-s3-access", "a", "-s3-secret", "s"), "-s3-dir"},
		{append(base, "-dest", "s3", "-s3-url", "http://10.1.2.3:1", "-s3-access", "a", "-s3-secret", "s", "-s3-dir", "/x"), "loopback"},
		{append(base, "-dest", "s3", "-s3-url", "http://127.0.0.1:1/b", "-s3-access", "a", "-s3-secret", "s", "-s3-dir", "/x"), "without a path"},
		{append(append(base, s3...), "-s3-bucket", "../x"), "-s3-bucket"},
		{append(base, "-dest", "nats"), "want http, kafka or s3"},
		{append(base, "-verify"), "only with -dest kafka or s3"},
		{append(base, "-outage", "10m"), ""},
		{append(base, "-outage", "10m", "-outage-probe", "100ms"), "-outage-probe"},
		{append(base, "-outage", "-1s"), "must not be negative"},
		{[]string{"-token", "tok", "-stream", "s", "-dest", "kafka"}, "for -mode e2e"},
		{[]string{"-token", "tok", "-stream", "s", "-outage", "1m"}, "for -mode e2e"},
		{[]string{"-mode", "sink"}, ""},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.err)
		case err == nil && c.mode == "e2e" && c.dst.kind == "":
			t.Errorf("%q: no -dest default", tc.args)
		}
	}
	c, err := parseFlags(append(append(base, s3[:len(s3)-6]...), "-s3-access", "ak", "-s3-secret", "@"+secretFile, "-s3-dir", "/d"), io.Discard)
	if err != nil || c.dst.s3Secret != "from-file" {
		t.Fatalf("-s3-secret @FILE: %q, %v", c.dst.s3Secret, err)
	}
}

func TestFindID(t *testing.T) {
	for rec, want := range map[string]string{
		`{"timestamp":"x","source":"loadgen-03","event":{"id":"c003-000000000017","status":"p"}}`: "3/17",
		`{"timestamp":"x","source":"loadgen-03","event.id":"c999-999999999999","note":"x"}`:       "999/999999999999",
		`{"note":"consectetur","event.id":"c012-000000000001"}`:                                   "12/1",
		`{"a":"c01-000000000001","b":"c001-00000000001"}`:                                         "none",
		`{"event.id":"c001-000000000000"}`:                                                        "none", // sequences start at 1
		`"c001-000000000005`:                                                                      "none",
		``:                                                                                        "none",
	} {
		c, s, ok := findID([]byte(rec))
		got := "none"
		if ok {
			got = fmt.Sprintf("%d/%d", c, s)
		}
		if got != want {
			t.Errorf("findID(%s) = %s, want %s", rec, got, want)
		}
	}
}

func TestIDSet(t *testing.T) {
	var s idSet
	b := newBody(7, 100, 300)
	n := s.addLines(b.next())
	n += s.addLines(b.next())
	if n != 200 || s.unique != 200 || s.dups != 0 {
		t.Fatalf("n=%d unique=%d dups=%d", n, s.unique, s.dups)
	}
	if r := s.result(n, 200); !r.OK {
		t.Fatalf("result %s", r)
	}
	s.addRecord([]byte(`{"event":{"id":"c007-000000000150"}}`)) // a duplicate
	s.addRecord([]byte(`{"no":"id"}`))
	s.add(7, 5000) // a far sequence grows the bitmap
	r := s.result(n+3, 200)
	if r.OK || r.Duplicates != 1 || r.WithoutID != 1 || r.Unique != 201 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.String(), "MISMATCH") {
		t.Fatalf("String() = %s", r)
	}
	// Rendered with the variables template, clients up to 999.
	var v idSet
	for client := range 1000 {
		v.addRecord(fmt.Appendf(nil, `{"timestamp":"t","source":"s","event.id":"c%03d-%012d"}`, client, 1))
	}
	if v.unique != 1000 || v.dups != 0 {
		t.Fatalf("1000 clients: unique=%d dups=%d", v.unique, v.dups)
	}
}

func TestSummarizeRSS(t *testing.T) {
	var samples []rssSample
	for i := 0; i <= 140; i += 5 {
		rss := 100.0 + float64(i)/10 // grows slowly during the outage
		if i > 100 {
			rss = 400 // the drain
		}
		if i == 0 {
			rss = 30 // idle server at the start
		}
		samples = append(samples, rssSample{T: float64(i), RSSMiB: rss})
	}
	samples[len(samples)-1].RSSMiB = 120
	r := summarizeRSS(samples, 100*time.Second)
	want := rssSummary{StartMiB: 101, MidMiB: 105, EndMiB: 110, PeakMiB: 110, DrainPeak: 400, LastMiB: 120, WarmupS: 10, OutageS: 100, SamplesUsed: 19}
	if *r != want {
		t.Fatalf("summary %+v, want %+v", *r, want)
	}
	if summarizeRSS(nil, time.Minute) != nil || summarizeRSS(samples, 0) != nil {
		t.Fatal("summary without samples or outage")
	}
}

func TestDownSink(t *testing.T) {
	d := newDownSink()
	srv := httptest.NewServer(d)
	defer srv.Close()
	post := func() *http.Response {
		resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader("{\"a\":1}\n{\"a\":2}\n"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	head, err := http.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if resp := post(); resp.StatusCode != 503 || head.StatusCode != 503 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("down: POST %d (Retry-After %q), HEAD %d", resp.StatusCode, resp.Header.Get("Retry-After"), head.StatusCode)
	}
	if d.lines.Load() != 0 || d.refused.Load() != 2 || d.first.Load() != 0 {
		t.Fatalf("down: lines %d refused %d", d.lines.Load(), d.refused.Load())
	}
	d.up(time.Now())
	if resp := post(); resp.StatusCode != 200 {
		t.Fatalf("up: %d", resp.StatusCode)
	}
	if d.lines.Load() != 2 || d.first.Load() < d.upAt.Load() {
		t.Fatalf("up: lines %d first %d upAt %d", d.lines.Load(), d.first.Load(), d.upAt.Load())
	}
}

// writeObject writes an object file the way the gateway's posix backend
// lays them out: DIR/bucket/key.
func writeObject(t *testing.T, root, key string, body []byte, gz bool) {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestS3ReceiverCounts(t *testing.T) {
	dir := t.TempDir()
	for _, verify := range []bool{false, true} {
		r, err := newS3Receiver(dir, "bench", verify)
		if err != nil {
			t.Fatal(err)
		}
		bucket := filepath.Join(dir, "bench")
		if n, last := r.count(); n != 0 || !last.IsZero() {
			t.Fatalf("empty: %d %v", n, last)
		}
		b := newBody(1, 50, 300)
		writeObject(t, bucket, r.prefix+"/2026/11/23/18/19/a", b.next(), false)
		writeObject(t, bucket, r.prefix+"/2026/11/23/18/19/b", b.next(), true)
		// Not counted: the gateway's temporary files, another run's objects.
		writeObject(t, bucket, r.prefix+"/.sgwtmp/partial", b.next(), false)
		writeObject(t, bucket, "loadgen/1/2026/11/23/18/19/old", []byte("{}\n"), false)
		n, last := r.count()
		if n != 100 || time.Since(last) > time.Minute {
			t.Fatalf("verify=%v: %d events, last %v", verify, n, last)
		}
		writeObject(t, bucket, r.prefix+"/2026/11/23/18/20/c", b.next(), false)
		if n, _ := r.count(); n != 150 || r.requests() != 3 {
			t.Fatalf("verify=%v: %d events in %d objects after a third object", verify, n, r.requests())
		}
		if n, _ := r.count(); n != 150 {
			t.Fatalf("counted twice: %d", n)
		}
		v, err := r.verify(t.Context(), 150)
		if verify != (err == nil) {
			t.Fatalf("verify=%v: %v", verify, err)
		}
		if verify && !v.OK {
			t.Fatalf("verify: %s", v)
		}
		if !strings.Contains(r.describe(), "3 objects") {
			t.Fatalf("describe: %s", r.describe())
		}
	}
}

func TestKafkaReceiverCounts(t *testing.T) {
	for _, blackhole := range []bool{true, false} {
		k, err := startKafka(t.Context(), 3, blackhole)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.DefaultProduceTopic(k.topic))
		if err != nil {
			t.Fatal(err)
		}
		b := newBody(4, 500, 300)
		var recs []*kgo.Record
		for ln := range bytes.Lines(b.next()) {
			recs = append(recs, &kgo.Record{Value: bytes.TrimSpace(ln)})
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		n, last := k.count()
		if n != 500 || last.IsZero() || k.requests() == 0 {
			t.Fatalf("blackhole=%v: count %d, last %v, %d produce requests", blackhole, n, last, k.requests())
		}
		v, err := k.verify(t.Context(), 500)
		if blackhole {
			if err == nil {
				t.Fatal("verify of a blackhole cluster")
			}
		} else if err != nil || !v.OK {
			t.Fatalf("verify: %v %v", v, err)
		}
		k.close()
	}
}

func TestStreamDefs(t *testing.T) {
	c, err := parseFlags([]string{"-mode", "e2e", "-token", "t", "-dest", "kafka"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	recv, def, err := setupDest(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	s := def["settings"].(map[string]any)
	if def["type"] != "kafka" || s["kafka_topic"] != kafkaTopic || !strings.HasPrefix(s["bootstrap_servers"].(string), "127.0.0.1:") {
		t.Fatalf("kafka destination %v", def)
	}
	if _, ok := s["compression"]; ok {
		t.Fatal("compression set without -kafka-compression")
	}
	full := e2eStreamDef("n", "variables", []any{def})
	if len(full["destinations"].([]any)) != 1 || full["template"] == nil || full["name"] != "n" {
		t.Fatalf("stream %v", full)
	}
}
