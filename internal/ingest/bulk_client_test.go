package ingest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/runnel/runnel/internal/model"
)

// TestBulkWithGoElasticsearch points the official Go client (v8) at the
// _bulk input, unchanged: its product check passes, the BulkIndexer's
// documents arrive with their per-item results, and an unknown index is a
// per-item failure.
func TestBulkWithGoElasticsearch(t *testing.T) {
	c := newCompat(t)
	logs := c.stream(model.DefaultWorkspace, "app-logs", nil)

	for name, cfg := range map[string]elasticsearch.Config{
		"api key":        {Addresses: []string{c.url}, APIKey: c.token},
		"id:key api key": {Addresses: []string{c.url}, APIKey: base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:" + c.token))},
		"basic":          {Addresses: []string{c.url}, Username: "elastic", Password: c.token, CompressRequestBody: true},
	} {
		t.Run(name, func(t *testing.T) {
			es, err := elasticsearch.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The product check (GET /, X-Elastic-Product) and the version.
			res, err := es.Info()
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			var info struct {
				Version struct{ Number string } `json:"version"`
				Tagline string                  `json:"tagline"`
			}
			if err := json.NewDecoder(res.Body).Decode(&info); err != nil || res.StatusCode != 200 || info.Version.Number != esVersion {
				t.Fatalf("Info: %d %+v %v", res.StatusCode, info, err)
			}
			res.Body.Close()

			before := c.msgs(logs.ID)
			var mu sync.Mutex
			var ok []string
			var failed []esutil.BulkIndexerResponseItem
			bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
				Client: es, Index: "app-logs", NumWorkers: 2, FlushBytes: 4 << 10,
				OnError: func(_ context.Context, err error) { t.Errorf("indexer error: %v", err) },
			})
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			for i := range n + 2 {
				item := esutil.BulkIndexerItem{
					Action: "index",
					Body:   strings.NewReader(fmt.Sprintf(`{"@timestamp":"2025-02-12T14:32:%02d.000Z","message":"request %d","status":%d}`, i%60, i, 200+i%3)),
					OnSuccess: func(_ context.Context, it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
						mu.Lock()
						defer mu.Unlock()
						if r.Status != 201 || r.Result != "created" || r.Index != "app-logs" || r.DocumentID == "" {
							t.Errorf("success item %+v", r)
						}
						ok = append(ok, r.DocumentID)
					},
					OnFailure: func(_ context.Context, it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
						mu.Lock()
						defer mu.Unlock()
						failed = append(failed, r)
					},
				}
				switch i {
				case n:
					item.Action, item.DocumentID = "create", "fixed-id"
				case n + 1:
					item.Index = "no-such-stream"
				}
				if err := bi.Add(t.Context(), item); err != nil {
					t.Fatal(err)
				}
			}
			if err := bi.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			st := bi.Stats()
			if st.NumAdded != n+2 || st.NumFlushed != n+1 || st.NumFailed != 1 || st.NumRequests < 2 {
				t.Fatalf("stats %+v", st)
			}
			if len(failed) != 1 || failed[0].Status != 404 || failed[0].Error.Type != "index_not_found_exception" || failed[0].Index != "no-such-stream" {
				t.Fatalf("failures %+v", failed)
			}
			if !slices.Contains(ok, "fixed-id") {
				t.Fatalf("the create with an id is not among %d successes", len(ok))
			}
			frames := c.frames(logs.ID)
			if uint64(len(frames)) != c.msgs(logs.ID) || c.msgs(logs.ID) == before {
				t.Fatal("nothing stored")
			}
			var evs []map[string]any
			for _, f := range frames[before:] {
				evs = append(evs, frameEvents(t, f)...)
			}
			if len(evs) != n+1 {
				t.Fatalf("%d events stored, want %d", len(evs), n+1)
			}
			seen := map[string]bool{}
			for _, ev := range evs {
				msg, _ := jpath(ev, "event.message").(string)
				var i int
				if _, err := fmt.Sscanf(msg, "request %d", &i); err != nil || seen[msg] {
					t.Fatalf("event %v", ev)
				}
				seen[msg] = true
				if ev["source"] != "elasticsearch:app-logs" || ev["timestamp"] != fmt.Sprintf("2025-02-12T14:32:%02d.000Z", i%60) ||
					fmt.Sprint(jpath(ev, "event.status")) != fmt.Sprint(200+i%3) || !slices.Contains(ok, fmt.Sprint(jpath(ev, "metadata.es_id"))) {
					t.Fatalf("event %d: %v", i, ev)
				}
			}
		})
	}

	// A wrong key: the client gets ES's 401, and nothing is stored.
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{c.url}, APIKey: "rnl_wrong"})
	if err != nil {
		t.Fatal(err)
	}
	before := c.counts()
	res, err := es.Bulk(strings.NewReader(`{"index":{"_index":"app-logs"}}`+"\n"+`{"a":1}`+"\n"), es.Bulk.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || !res.IsError() || !strings.Contains(string(body), "security_exception") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if after := c.counts(); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("stored with a wrong key: %v → %v", before, after)
	}
}
