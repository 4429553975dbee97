package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// countingSink receives deliveries and counts the loadgen ids in them.
type countingSink struct {
	mu  sync.Mutex
	ids map[string]int
}

var loadID = regexp.MustCompile(`c\d{3}-\d{12}`)

func (s *countingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range bytes.Lines(b) {
		if !json.Valid(ln) {
			http.Error(w, "not JSON", 400)
			return
		}
		for _, id := range loadID.FindAll(ln, -1) {
			s.ids[string(id)]++
		}
	}
}

func (s *countingSink) count() (ids, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ids {
		if n > 1 {
			dups++
		}
	}
	return len(s.ids), dups
}

// dialectAnswered checks a dialect's answer to a body of n events: every
// event accepted, by the dialect's own count.
func dialectAnswered(t *testing.T, d string, status int, ctype string, b []byte, n int) {
	t.Helper()
	var v map[string]any
	if d != "otlp-proto" {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: answer %d %q: %v", d, status, b, err)
		}
	}
	count := func(k string) int { f, _ := v[k].(float64); return int(f) }
	switch d {
	case "native":
		if status != 200 || count("events") != n {
			t.Fatalf("%s: %d %s", d, status, b)
		}
	case "hec", "hec-raw":
		if status != 200 || v["text"] != "Success" {
			t.Fatalf("%s: %d %s", d, status, b)
		}
	case "bulk":
		items, _ := v["items"].([]any)
		if status != 200 || v["errors"] != false || len(items) != n {
			t.Fatalf("%s: %d, %d items: %.300s", d, status, len(items), b)
		}
	case "otlp-json":
		if status != 200 || v["partialSuccess"] != nil {
			t.Fatalf("%s: %d %s", d, status, b)
		}
	case "otlp-proto":
		resp := &collogspb.ExportLogsServiceResponse{}
		if status != 200 || ctype != "application/x-protobuf" || proto.Unmarshal(b, resp) != nil || resp.PartialSuccess != nil {
			t.Fatalf("%s: %d %q %x", d, status, ctype, b)
		}
	case "collection":
		rs, _ := v["responses"].([]any)
		if status != 207 || len(rs) != n {
			t.Fatalf("%s: %d, %d responses: %.300s", d, status, len(rs), b)
		}
		for i, r := range rs {
			if m, _ := r.(map[string]any); m["xactionId"] == nil {
				t.Fatalf("%s: message %d: %v", d, i, r)
			}
		}
	case "eventsv2":
		rs, _ := v["eventIngestResults"].([]any)
		if status != 201 || count("reportCount") != n || len(rs) != n {
			t.Fatalf("%s: %d %.300s", d, status, b)
		}
		for i, r := range rs {
			if m, _ := r.(map[string]any); m["status"] != "OK" {
				t.Fatalf("%s: event %d: %v", d, i, r)
			}
		}
	default:
		t.Fatalf("no check for %s", d)
	}
}

// TestDialectBodies sends each dialect's body to a real Runnel node: the
// dialect answers that every event was accepted, and a stream's HTTP
// destination receives each event once, under its loadgen id; then a
// short load run of each dialect (ids rewritten between requests) is
// delivered whole.
func TestDialectBodies(t *testing.T) {
	url, tokenFile := startRunnel(t) // e2e_test.go
	token := "@" + tokenFile
	ctx := t.Context()
	for _, d := range dialectNames {
		t.Run(d, func(t *testing.T) {
			snk := &countingSink{ids: map[string]int{}}
			srv := httptest.NewServer(snk)
			defer srv.Close()
			stream := "lg-" + d
			c, err := parseFlags([]string{"-url", url, "-token", token, "-stream", stream, "-dialect", d, "-template", "none",
				"-clients", "2", "-batch", "100", "-events", "400", "-duration", "20s", "-quiet"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := createStream(ctx, c, stream, srv.URL); err != nil {
				t.Fatal(err)
			}
			target, err := newDialectTarget(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range []int{100, 1} {
				b, err := newDialectBody(d, 500+batch, batch, 300) // clients of their own: ids apart from the load's
				if err != nil {
					t.Fatal(err)
				}
				if b.events() != batch {
					t.Fatalf("%d events in the body, want %d", b.events(), batch)
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", target.endpoint, bytes.NewReader(b.next()))
				req.Header = target.header.Clone()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				ans, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				dialectAnswered(t, d, resp.StatusCode, resp.Header.Get("Content-Type"), ans, batch)
			}
			res, err := runLoad(ctx, c, io.Discard, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Events != 400 || res.OKRequests != 4 || res.Errors != 0 {
				t.Fatalf("load: %d events, %d ok requests of %d, codes %v, %d errors (%s)", res.Events, res.OKRequests, res.Requests, res.Codes, res.Errors, res.LastError)
			}
			const want = 101 + 400
			deadline := time.Now().Add(30 * time.Second)
			for {
				ids, dups := snk.count()
				if dups > 0 {
					t.Fatalf("%d ids delivered more than once", dups)
				}
				if ids == want {
					break
				}
				if ids > want || time.Now().After(deadline) {
					t.Fatalf("%d distinct ids delivered, want %d", ids, want)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// The OTLP/JSON body decodes as protojson does (after the hex ids) into
// the same request as the protobuf body.
func TestOTLPBodiesAgree(t *testing.T) {
	j, err := newDialectBody("otlp-json", 3, 5, 300)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newDialectBody("otlp-proto", 3, 5, 300)
	if err != nil {
		t.Fatal(err)
	}
	fromProto := &collogspb.ExportLogsServiceRequest{}
	if err := proto.Unmarshal(p.next(), fromProto); err != nil {
		t.Fatal(err)
	}
	again, err := otlpJSON(fromProto)
	if err != nil {
		t.Fatal(err)
	}
	if got := j.next(); !bytes.Equal(got, again) {
		t.Fatalf("JSON body\n%s\nprotobuf body as JSON\n%s", got, again)
	}
	if !strings.Contains(string(again), `"traceId":"5b8efff798038103d269b633813fc60c"`) {
		t.Fatalf("ids not in hex: %.400s", again)
	}
	var fromJSON collogspb.ExportLogsServiceRequest
	if err := protojson.Unmarshal([]byte(strings.NewReplacer(`"5b8efff798038103d269b633813fc60c"`, `"W47/95gDgQPSabYzgT/GDA=="`, `"eee19b7ec3c1b174"`, `"7uGbfsPBsXQ="`).Replace(string(again))), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&fromJSON, fromProto) {
		t.Fatal("the JSON and protobuf bodies differ")
	}
}

func TestDialectFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"-dialect", "hec"}, ""},
		{[]string{"-dialect", "syslog"}, "want one of"},
		{[]string{"-dialect", "hec", "-mode", "e2e"}, "ingest only"},
	} {
		_, err := parseFlags(append([]string{"-token", "t", "-stream", "s"}, tt.args...), io.Discard)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.err)
		}
	}
}
