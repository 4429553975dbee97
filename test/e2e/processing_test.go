package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProcessingYAMLRoutes applies docs/examples/processing.yaml with the
// CLI (parse → remove → mask → filter → sample → three destinations, two
// with routes) and checks what each destination received against what the
// rules predict, and the counters of the stream status.
func TestProcessingYAMLRoutes(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	recv := newPathSink(t)
	def, err := os.ReadFile("../../docs/examples/processing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(def), "http://127.0.0.1:9001/") {
		t.Fatal("the example no longer uses http://127.0.0.1:9001/; update this test")
	}
	file := filepath.Join(t.TempDir(), "processing.yaml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(def), "http://127.0.0.1:9001/", recv.URL+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin("runnel"), "streams", "apply", "-f", file)
	cmd.Env = append(os.Environ(), "RUNNEL_URL="+n.URL, "RUNNEL_TOKEN="+n.Token)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("streams apply: %v\n%s", err, out)
	}

	// 3000 orders: every 10th is a test order; statuses alternate
	// declined / approved / pending.
	const total = 3000
	statuses := []string{"declined", "approved", "pending"}
	var events []map[string]any
	for i := range total {
		env := "prod"
		if i%10 == 0 {
			env = "test"
		}
		raw := fmt.Sprintf("order=%d status=%s env=%s email=buyer%d@example.com card=4111111111111111", i, statuses[i%3], env, i)
		events = append(events, map[string]any{"timestamp": "2025-02-12T14:32:15Z", "source": "shop", "event": map[string]any{"raw": raw}})
	}
	for i := 0; i < total; i += 500 {
		if code := ingest(t, n, n.Token, "checkout", ndjson(events[i:i+500]...)); code != 200 {
			t.Fatalf("ingest: %d", code)
		}
	}

	// Status counters settle when every event is processed by every destination.
	type dstatus struct {
		Name       string `json:"name"`
		Processed  uint64 `json:"processed"`
		Delivered  uint64 `json:"delivered"`
		Filtered   uint64 `json:"filtered"`
		SampledOut uint64 `json:"sampled_out"`
		RoutedAway uint64 `json:"routed_away"`
		Masked     uint64 `json:"masked_values"`
		Processors []struct {
			Stage   string `json:"stage"`
			Dropped uint64 `json:"dropped"`
		} `json:"processors"`
	}
	var st struct {
		Destinations []dstatus `json:"destinations"`
	}
	waitFor(t, 60*time.Second, "every event processed and delivered", func() bool {
		st.Destinations = nil
		n.do("GET", "/v1/streams/checkout/status", nil, &st)
		if len(st.Destinations) != 3 {
			return false
		}
		for _, d := range st.Destinations {
			if d.Processed != total || d.Delivered+d.Filtered+d.SampledOut+d.RoutedAway != total {
				return false
			}
		}
		return true
	})

	archive, fraud, ledger := recv.records(t, "/archive"), recv.records(t, "/fraud"), recv.records(t, "/ledger")
	// Filter: no test order anywhere. Sample: about half of the 2700 others.
	if len(archive) < 1200 || len(archive) > 1500 {
		t.Errorf("archive got %d events, want about half of 2700", len(archive))
	}
	orders := func(recs []map[string]any) []string {
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprint(r["event.p.order"]))
		}
		slices.Sort(out)
		return out
	}
	var wantFraud, wantLedger []string
	for _, r := range archive {
		o := fmt.Sprint(r["event.p.order"])
		var i int
		fmt.Sscan(o, &i)
		if i%10 == 0 {
			t.Fatalf("test order %d was not filtered", i)
		}
		if r["event.p.status"] != statuses[i%3] {
			t.Fatalf("order %d has status %v, want %s", i, r["event.p.status"], statuses[i%3])
		}
		if r["event.p.email"] != "[REDACTED]" || r["event.p.card"] != "[REDACTED]" {
			t.Fatalf("order %d not masked: %v", i, r)
		}
		switch statuses[i%3] {
		case "declined":
			wantFraud = append(wantFraud, o)
		case "approved":
			wantLedger = append(wantLedger, o)
		}
	}
	slices.Sort(wantFraud)
	slices.Sort(wantLedger)
	// Routes: the routed destinations got exactly the archive's (same
	// sample) declined and approved orders.
	if got := orders(fraud); !slices.Equal(got, wantFraud) {
		t.Errorf("fraud got %d orders, want the archive's %d declined ones", len(got), len(wantFraud))
	}
	if got := orders(ledger); !slices.Equal(got, wantLedger) {
		t.Errorf("ledger got %d orders, want the archive's %d approved ones", len(got), len(wantLedger))
	}
	for _, d := range st.Destinations {
		if d.Filtered != total/10 || d.SampledOut != total-total/10-uint64(len(archive)) {
			t.Errorf("%s: filtered %d sampled_out %d, want %d and %d", d.Name, d.Filtered, d.SampledOut, total/10, total-total/10-len(archive))
		}
		want := map[string]int{"archive": len(archive), "fraud": len(fraud), "ledger": len(ledger)}[d.Name]
		if d.Delivered != uint64(want) || d.RoutedAway != uint64(len(archive)-want) {
			t.Errorf("%s: delivered %d routed_away %d, want %d and %d", d.Name, d.Delivered, d.RoutedAway, want, len(archive)-want)
		}
		if d.Masked != 2*total {
			t.Errorf("%s: masked %d values, want %d (e-mail and card of every event)", d.Name, d.Masked, 2*total)
		}
		var stages []string
		for _, p := range d.Processors {
			stages = append(stages, p.Stage)
		}
		if want := []string{"processors[0]", "processors[1]", "processors[2]", "processors[3]", "processors[4]", "route"}; !slices.Equal(stages, want) {
			t.Errorf("%s: stages %v, want %v", d.Name, stages, want)
		}
	}
	// The counters are in /metrics too.
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	metrics := string(body)
	for _, want := range []string{
		fmt.Sprintf(`runnel_filtered_events_total{destination="fraud",stream="checkout",workspace="default"} %d`, total/10),
		fmt.Sprintf(`runnel_routed_away_events_total{destination="ledger",stream="checkout",workspace="default"} %d`, len(archive)-len(ledger)),
		`runnel_processor_events_total{destination="archive",outcome="dropped",processor="filter",stage="processors[3]",stream="checkout",workspace="default"} 300`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// pathSink is an HTTP receiver that keeps the NDJSON lines by path.
type pathSink struct {
	*httptest.Server
	mu    sync.Mutex
	lines map[string][]string
}

func newPathSink(t *testing.T) *pathSink {
	s := &pathSink{lines: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				s.lines[r.URL.Path] = append(s.lines[r.URL.Path], l)
			}
		}
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pathSink) records(t *testing.T, path string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range s.lines[path] {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: %q is not JSON", path, l)
		}
		out = append(out, m)
	}
	return out
}

// A processor or route that does not compile is refused when the stream is
// saved, naming the setting and giving CEL's message; nothing is stored.
func TestProcessingConfigErrors(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	def := map[string]any{
		"name":       "bad",
		"processors": []any{map[string]any{"filter": map[string]any{"if": `event.status =! "x"`}}, map[string]any{"mask": map[string]any{"method": "shred", "fields": []any{"event.a"}}}},
		"domains":    map[string]any{"list": []any{"a.example.com"}, "sampling_percent": 0},
		"destinations": []any{map[string]any{"name": "d", "type": "http", "settings": map[string]any{"url": "http://127.0.0.1:1/"},
			"route": "nosuchvar > 1"}},
	}
	var got struct {
		Error  string `json:"error"`
		Fields []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"fields"`
	}
	if code := n.do("POST", "/v1/streams", def, &got); code != 400 || got.Error != "invalid_config" {
		t.Fatalf("status %d %+v, want 400 invalid_config", code, got)
	}
	paths := map[string]string{}
	for _, f := range got.Fields {
		paths[f.Path] = f.Message
	}
	if len(paths) != 1 || !strings.Contains(paths["domains.sampling_percent"], "more than 0") {
		// The model's checks come first; fix them to see the compile errors.
		t.Fatalf("fields %v, want only domains.sampling_percent first", paths)
	}
	def["domains"] = map[string]any{"list": []any{"a.example.com"}}
	got.Fields = nil
	if code := n.do("POST", "/v1/streams", def, &got); code != 400 {
		t.Fatalf("status %d, want 400", code)
	}
	paths = map[string]string{}
	for _, f := range got.Fields {
		paths[f.Path] = f.Message
	}
	if !strings.Contains(paths["processors[0].filter.if"], "Syntax error") ||
		!strings.Contains(paths["processors[1].mask.method"], "shred") ||
		!strings.Contains(paths["destinations[0].route"], "undeclared reference to 'nosuchvar'") {
		t.Fatalf("fields %v", paths)
	}
	if code := n.do("GET", "/v1/streams/bad", nil, nil); code != 404 {
		t.Fatalf("GET of the refused stream: %d, want 404 (nothing stored)", code)
	}
}
