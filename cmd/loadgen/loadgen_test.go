package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBucketRangeCoversValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []int64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1}
	for range 10000 {
		vals = append(vals, rng.Int64N(1<<rng.IntN(62)+1))
	}
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketRange(i)
		if i >= bucketOf(1<<62) {
			break
		}
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		prevHi = hi
	}
	for _, v := range vals {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if v >= 128 && float64(hi-lo+1)/float64(lo) > 1.0/64+1e-9 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/64 of its value", i, lo, hi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	// 1..100000 µs, shuffled.
	vals := make([]time.Duration, 100000)
	for i := range vals {
		vals[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	for _, v := range vals {
		h.record(v)
	}
	s := h.snapshot()
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := s.quantile(tc.q)
		if got < tc.want || float64(got-tc.want) > float64(tc.want)/64 {
			t.Errorf("q%.2f = %v, want %v (+1/64)", tc.q, got, tc.want)
		}
	}
	if time.Duration(s.max) != 100*time.Millisecond {
		t.Errorf("max = %v", time.Duration(s.max))
	}
	// Interval: only what was recorded after the first snapshot.
	for range 10 {
		h.record(5 * time.Second)
	}
	d := h.snapshot()
	iv := d.sub(&s)
	if iv.total() != 10 || iv.quantile(0.5) < 5*time.Second || iv.quantile(0.5) > 5*time.Second+5*time.Second/64 {
		t.Errorf("interval: n=%d p50=%v", iv.total(), iv.quantile(0.5))
	}
	var empty histSnapshot
	if empty.quantile(0.99) != 0 {
		t.Error("empty histogram quantile is not 0")
	}
}

func TestBodyValidNDJSONUniqueIDs(t *testing.T) {
	for _, size := range []int{0, 300, 1000} {
		seen := map[string]bool{}
		for client := range 3 {
			b := newBody(client, 50, size)
			last := ""
			for req := range 3 {
				p := b.next()
				if !bytes.HasSuffix(p, []byte("\n")) {
					t.Fatal("body does not end with a newline")
				}
				sc := bufio.NewScanner(bytes.NewReader(p))
				lines := 0
				for sc.Scan() {
					ln := sc.Bytes()
					lines++
					if size >= 300 && (len(ln) < size-1 || len(ln) > size+1) {
						t.Errorf("size %d: line of %d bytes", size, len(ln))
					}
					var ev struct {
						Timestamp string `json:"timestamp"`
						Source    string `json:"source"`
						Event     struct {
							ID     string  `json:"id"`
							Status string  `json:"status"`
							Amount float64 `json:"amount"`
							User   string  `json:"user"`
						} `json:"event"`
						Metadata map[string]string `json:"metadata"`
					}
					if err := json.Unmarshal(ln, &ev); err != nil {
						t.Fatalf("client %d request %d: invalid JSON %q: %v", client, req, ln, err)
					}
					if _, err := time.Parse(time.RFC3339, ev.Timestamp); err != nil || ev.Source == "" || ev.Event.Status == "" || ev.Event.User == "" || ev.Metadata["env"] != "bench" {
						t.Fatalf("incomplete envelope %q", ln)
					}
					id := ev.Event.ID
					if seen[id] {
						t.Fatalf("duplicate id %s", id)
					}
					seen[id] = true
					if last != "" && id <= last { // fixed width: string order is numeric order
						t.Fatalf("id %s after %s: not increasing", id, last)
					}
					last = id
				}
				if lines != 50 {
					t.Fatalf("%d lines, want 50", lines)
				}
			}
		}
		if len(seen) != 3*3*50 {
			t.Fatalf("%d ids", len(seen))
		}
	}
}

func TestBodyIDWidth(t *testing.T) {
	b := newBody(7, 2, 300)
	if p := string(b.next()); !strings.Contains(p, `"id":"c007-000000000001"`) || !strings.Contains(p, `"id":"c007-000000000002"`) {
		t.Fatalf("unexpected ids in %s", p)
	}
	b.nextID = 999999999998
	if p := string(b.next()); !strings.Contains(p, `"id":"c007-999999999998"`) || !strings.Contains(p, `"id":"c007-999999999999"`) {
		t.Fatalf("unexpected ids in %s", p)
	}
}

func TestCountLines(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "a\nb\n": 2, "a\n\n\nb\n": 2, "\n": 0} {
		if got := countLines([]byte(in)); got != want {
			t.Errorf("countLines(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:1": true, "http://[::1]:80": true, "http://127.5.5.5": true,
		"http://10.0.0.1:8080": false, "http://example.com": false, "ftp://127.0.0.1": false,
	} {
		if err := checkLoopbackURL(raw, false); (err == nil) != ok {
			t.Errorf("%s: err=%v", raw, err)
		}
		if err := checkLoopbackURL(raw, true); err != nil && !strings.HasPrefix(raw, "ftp") {
			t.Errorf("%s with -allow-remote: %v", raw, err)
		}
	}
}

// TestLoadAgainstFakeServer runs the whole ingest path against an
// httptest server that checks every body and counts the ids.
func TestLoadAgainstFakeServer(t *testing.T) {
	mu := make(chan struct{}, 1) // guards ids and dups
	ids := map[string]bool{}
	dups := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/streams/ingest" || r.Header.Get("X-Stream-Id") != "s" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu <- struct{}{}
		for ln := range bytes.Lines(b) {
			var ev struct {
				Event struct{ ID string } `json:"event"`
			}
			if json.Unmarshal(ln, &ev) != nil {
				<-mu
				http.Error(w, "bad json", 400)
				return
			}
			if ids[ev.Event.ID] {
				dups++
			}
			ids[ev.Event.ID] = true
		}
		<-mu
		w.Write([]byte(`{"status":"accepted"}`))
	}))
	defer srv.Close()
	var out bytes.Buffer
	c, err := parseFlags([]string{"-url", srv.URL, "-token", "tok", "-stream", "s", "-clients", "4", "-batch", "10",
		"-duration", "5s", "-events", "2000", "-quiet"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := runLoad(t.Context(), c, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 2000 || res.Codes["200"] != 200 || res.Errors != 0 || len(ids) != 2000 || dups != 0 {
		t.Fatalf("events=%d codes=%v errors=%d (%s) ids=%d dups=%d", res.Events, res.Codes, res.Errors, res.LastError, len(ids), dups)
	}
	res.print(&out, true)
	last := out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:]
	var back result
	if err := json.Unmarshal([]byte(last), &back); err != nil || back.Events != 2000 {
		t.Fatalf("json summary %q: %v", last, err)
	}
	if back.Mode != "ingest" || back.Clients != 4 {
		t.Fatalf("summary %+v", back)
	}
}
