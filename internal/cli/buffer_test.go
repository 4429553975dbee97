package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// populate writes a store into dir: stream str_a (two destinations, n
// frames of 3 events) and str_b (no destinations, 1 frame), their
// configuration, a dead letter, and whatever extra messages damage adds.
func populate(t *testing.T, dir string, n int, damage func(ctx context.Context, b *bus.Bus)) {
	t.Helper()
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, err := b.KV(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streams := []*model.Stream{
		{ID: "str_a", Workspace: "default", Name: "payments", Destinations: []model.Destination{
			{Name: "web", Type: "http"}, {Name: "lake", Type: "http"}}},
		{ID: "str_b", Workspace: "default", Name: "audit"},
	}
	for _, st := range streams {
		st.Normalize(fakeKinds{})
		if err := b.EnsureEventStream(ctx, st); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(st)
		if _, err := kv.Put(ctx, "st."+st.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "ws.default", []byte(`{"name":"default"}`)); err != nil {
		t.Fatal(err)
	}
	publish := func(id string, i int) {
		body := fmt.Sprintf(`{"timestamp":"t","source":"s","event":{"i":%d,"k":0}}`+"\n"+
			`{"timestamp":"t","source":"s","event":{"i":%d,"k":1}}`+"\n"+
			`{"timestamp":"t","source":"s","event":{"i":%d,"k":2}}`, i, i, i)
		f := &event.Frame{Workspace: "default", Stream: id, Count: 3, Received: time.Now(), Body: []byte(body)}
		if _, err := b.Publish(ctx, event.Message(bus.EventSubject(id), f, fmt.Sprintf("%s-%d", id, i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		publish("str_a", i)
	}
	publish("str_b", 0)
	dl := nats.NewMsg(bus.DLQSubject("str_a", "web"))
	dl.Data = []byte(`{"stream_id":"str_a","destination":"web","event":{},"error":"HTTP 400","attempts":1}`)
	if _, err := b.JS.PublishMsg(ctx, dl); err != nil {
		t.Fatal(err)
	}
	if damage != nil {
		damage(ctx, b)
	}
}

func TestBufferVerifyOK(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir, 10, nil)
	res := runCLI(runOpts{}, map[string]string{"RUNNEL_DATA_DIR": dir}, nil, "buffer", "verify")
	if res.err != nil {
		t.Fatalf("%v\n%s\n%s", res.err, res.stdout, res.stderr)
	}
	out := res.stdout
	for _, want := range []string{
		"config: 3 keys (1 workspaces, 0 tokens, 2 streams)\n",
		"stream str_a (default/payments): 10 messages, ",
		"first seq 1, last seq 10\n",
		"  destination lake: pending 10, ack pending 0, redelivered 0\n",
		"  destination web: pending 10, ack pending 0, redelivered 0\n",
		"stream str_b (default/audit): 1 messages, ",
		"  destination (hold: no destinations): pending 1, ack pending 0",
		"dead letters: 1 messages, ",
		"  str_a/web: 1\n",
		"activity: 0 messages",
		"ok: 2 streams, 11 messages, 33 events, 0 damaged\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if res.stderr != "" {
		t.Errorf("stderr %q", res.stderr)
	}

	// The store is intact afterwards: verifying again gives the same.
	res2 := runCLI(runOpts{}, nil, nil, "buffer", "verify", "--data-dir", dir)
	if res2.err != nil || !strings.Contains(res2.stdout, "ok: 2 streams, 11 messages, 33 events, 0 damaged\n") {
		t.Errorf("second verify: %v\n%s", res2.err, res2.stdout)
	}
}

func TestBufferVerifyDamaged(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir, 3, func(ctx context.Context, b *bus.Bus) {
		// Published raw, without the frame headers.
		raw := nats.NewMsg(bus.EventSubject("str_a"))
		raw.Data = []byte(`{"timestamp":"t","source":"s","event":{}}`)
		if _, err := b.JS.PublishMsg(ctx, raw); err != nil {
			t.Fatal(err)
		}
		// A count that does not match its lines, and a line that is not JSON.
		f := &event.Frame{Workspace: "default", Stream: "str_b", Count: 5, Received: time.Now(), Body: []byte("{}\n{}")}
		if _, err := b.Publish(ctx, event.Message(bus.EventSubject("str_b"), f, "")); err != nil {
			t.Fatal(err)
		}
		f = &event.Frame{Workspace: "default", Stream: "str_b", Count: 2, Received: time.Now(), Body: []byte("{}\nnot json")}
		if _, err := b.Publish(ctx, event.Message(bus.EventSubject("str_b"), f, "")); err != nil {
			t.Fatal(err)
		}
	})
	res := runCLI(runOpts{}, nil, nil, "buffer", "verify", "--data-dir", dir)
	if res.err == nil {
		t.Fatalf("no error:\n%s", res.stdout)
	}
	for _, want := range []string{
		"  damaged: stream str_a message 4: no frame headers: not a Runnel frame\n",
		"  damaged: stream str_b message 2: header Runnel-Count says 5 events, the body holds 2\n",
		"  damaged: stream str_b message 3: event 1 is not a JSON object\n",
		"DAMAGED: 2 streams, 7 messages, 12 events, 3 damaged\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "error: 3 damaged message(s)") {
		t.Errorf("stderr %q", res.stderr)
	}
}

func TestBufferVerifyRefusesRunningServerAndMissingStore(t *testing.T) {
	res := runCLI(runOpts{}, nil, nil, "buffer", "verify", "--data-dir", t.TempDir())
	if res.err == nil || !strings.Contains(res.stderr, "no Runnel store in ") {
		t.Errorf("empty dir: %v %q", res.err, res.stderr)
	}

	dir := t.TempDir()
	populate(t, dir, 1, nil)
	unlock, err := lockStore(dir) // as a running server holds it
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	res = runCLI(runOpts{}, nil, nil, "buffer", "verify", "--data-dir", dir)
	if res.err == nil || !strings.Contains(res.stderr, "is in use by a running Runnel server") {
		t.Errorf("locked: %v %q", res.err, res.stderr)
	}
	if strings.Contains(res.stdout, "stream ") {
		t.Errorf("opened the store anyway:\n%s", res.stdout)
	}
}

func TestCheckFrame(t *testing.T) {
	h := nats.Header{}
	h.Set(event.HdrWorkspace, "w")
	h.Set(event.HdrStream, "s")
	h.Set(event.HdrCount, "2")
	h.Set(event.HdrReceived, "1700000000000")
	if n, p := checkFrame(h, []byte("{\"a\":1}\n{}\n")); n != 2 || p != "" {
		t.Errorf("good frame: %d %q", n, p)
	}
	if _, p := checkFrame(h, []byte("{\"a\":1}\n[]")); p != "event 1 is not a JSON object" {
		t.Errorf("array line: %q", p)
	}
	h.Set(event.HdrCount, "x")
	if _, p := checkFrame(h, []byte("{}")); !strings.Contains(p, "not a count") {
		t.Errorf("bad count: %q", p)
	}
	h.Del(event.HdrWorkspace)
	if _, p := checkFrame(h, []byte("{}")); p != "missing header Runnel-Workspace" {
		t.Errorf("missing: %q", p)
	}
}
