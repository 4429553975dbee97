package activityfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/delivery"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/store"
)

// fakeKinds knows one destination type, "web", whose "password" is secret.
type fakeKinds struct{}

func (fakeKinds) Canonical(t string) (string, bool)                         { return t, t == "web" }
func (fakeKinds) Names() []string                                           { return []string{"web"} }
func (fakeKinds) ValidateSettings(string, map[string]any) model.FieldErrors { return nil }
func (fakeKinds) IsSecret(_, p string) bool                                 { return p == "password" }
func (fakeKinds) DefaultBatch(string) model.Batch {
	return model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)}
}

func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func openStore(t *testing.T, b *bus.Bus) *store.Store {
	t.Helper()
	box, _ := secret.New([]byte("test-key"))
	s, err := store.Open(t.Context(), b, box, fakeKinds{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startFeed runs a feed until the test ends (or stop is called).
func startFeed(t *testing.T, d Deps, o Options) (stop func()) {
	t.Helper()
	if o.Backoff.Base == 0 {
		o.Backoff = retry.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	}
	if o.FetchWait == 0 {
		o.FetchWait = 100 * time.Millisecond
	}
	f, err := New(t.Context(), d, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

var maria = store.Actor{TokenID: "tok_maria", Name: "maria", Email: "maria@example.com", Client: "curl/8.5.0 203.0.113.7"}

func stream(name, dataSource string) *model.Stream {
	st := &model.Stream{Name: name, DataSource: dataSource}
	st.Normalize(fakeKinds{})
	return st
}

func create(t *testing.T, s *store.Store, ws string, st *model.Stream) *model.Stream {
	t.Helper()
	out, _, err := s.CreateStream(t.Context(), ws, st, maria)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// events reads every event stored in a stream's buffer, in order.
func events(t *testing.T, b *bus.Bus, streamID string) []Document {
	t.Helper()
	ctx := t.Context()
	s, err := b.JS.Stream(ctx, bus.EventStreamName(streamID))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []Document
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		f := event.Parse(raw.Header, raw.Data)
		if f.Stream != streamID || f.Count != 1 || raw.Header.Get(event.HdrSource) != Dialect {
			t.Fatalf("frame %+v, dialect %q", f, raw.Header.Get(event.HdrSource))
		}
		var d Document
		dec := json.NewDecoder(strings.NewReader(string(f.Body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("event %s: %v", f.Body, err)
		}
		out = append(out, d)
	}
	return out
}

func titles(ds []Document) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Title
	}
	return out
}

// waitTitle waits until a stream has an event with this title (the feed
// fans records out in order, so everything recorded before it is there).
func waitTitle(t *testing.T, b *bus.Bus, streamID, title string) []Document {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds := events(t, b, streamID)
		if slices.Contains(titles(ds), title) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s never got %q; it has %q", streamID, title, titles(ds))
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// TestFanOutOwnWorkspaceOnly: each activity_history stream receives its
// own workspace's activity from its own creation on, with the catalog's
// variables; never another workspace's, never older activity, never a
// secret; other data sources and inactive streams receive nothing.
func TestFanOutOwnWorkspaceOnly(t *testing.T) {
	ctx := t.Context()
	b := newBus(t)
	s := openStore(t, b)
	for _, ws := range []string{"default", "other"} {
		if _, err := s.CreateWorkspace(ctx, ws, store.System); err != nil {
			t.Fatal(err)
		}
	}
	startFeed(t, Deps{Bus: b, Streams: s}, Options{})

	create(t, s, "default", stream("early", "custom")) // before the audit stream: not replayed
	audit := create(t, s, "default", stream("audit", "activity_history"))
	otherAudit := create(t, s, "other", stream("audit", "activity_history"))
	custom := create(t, s, "default", stream("plain", "custom"))
	off := stream("off", "activity_history")
	off.Status = model.StatusInactive
	off = create(t, s, "default", off)

	withSecret := stream("payments", "custom")
	withSecret.Destinations = []model.Destination{{Name: "web", Type: "web", Settings: map[string]any{"url": "http://x", "password": "hunter2-SECRET"}}}
	withSecret.Normalize(fakeKinds{})
	p := create(t, s, "default", withSecret)
	changed := store.Clone(p)
	changed.Destinations[0].Settings["password"] = "rotated-SECRET"
	if _, _, err := s.UpdateStream(ctx, "default", p.ID, changed, 0, maria); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream(ctx, "default", p.ID, 0, maria); err != nil {
		t.Fatal(err)
	}
	_, tokenSecret, err := s.CreateToken(ctx, "default", &model.TokenRequest{Name: "ci", Scopes: []string{model.ScopeIngest}}, maria)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "other", stream("theirs", "custom"))
	// Sentinels: once they are there, everything before has been handled.
	create(t, s, "default", stream("sentinel", "custom"))
	create(t, s, "other", stream("sentinel", "custom"))

	got := waitTitle(t, b, audit.ID, "Stream sentinel was created")
	want := []string{
		"Stream audit was created", "Stream plain was created", "Stream off was created",
		"Stream payments was created", "Stream payments was changed", "Stream payments was deleted",
		"Token ci was created", "Stream sentinel was created",
	}
	if !slices.Equal(titles(got), want) {
		t.Fatalf("default audit:\n got %q\nwant %q", titles(got), want)
	}
	wantTypes := []string{"CREATED", "CREATED", "CREATED", "CREATED", "CHANGED", "DELETED", "CREATED", "CREATED"}
	ids := map[string]bool{}
	for i, d := range got {
		if d.Type != wantTypes[i] || d.AuthorName != "maria" || d.AuthorEmail != "maria@example.com" || d.Client != "default" ||
			d.Origin != maria.Client || d.AuthorID != maria.TokenID || d.Comment != "" || d.ActivityID == "" || ids[d.ActivityID] {
			t.Errorf("event %d: %+v", i, d)
		}
		ids[d.ActivityID] = true
		at, err := time.Parse(time.RFC3339Nano, d.Time)
		if err != nil || time.Since(at) > time.Minute || at.Before(audit.CreatedAt) {
			t.Errorf("event %d: time %q (%v)", i, d.Time, err)
		}
	}
	if d := got[3]; d.Resource != "stream" || d.ResourceID != p.ID || d.ResourceName != "payments" {
		t.Errorf("resource of %+v", d)
	}

	gotOther := waitTitle(t, b, otherAudit.ID, "Stream sentinel was created")
	wantOther := []string{"Stream audit was created", "Stream theirs was created", "Stream sentinel was created"}
	if !slices.Equal(titles(gotOther), wantOther) {
		t.Fatalf("other audit:\n got %q\nwant %q", titles(gotOther), wantOther)
	}
	for _, d := range gotOther {
		if d.Client != "other" {
			t.Errorf("other workspace event %+v", d)
		}
	}
	if n := len(events(t, b, custom.ID)); n != 0 {
		t.Errorf("custom stream got %d events", n)
	}
	if n := len(events(t, b, off.ID)); n != 0 {
		t.Errorf("inactive stream got %d events", n)
	}

	// Secrets never appear: not the destination's, not the token's.
	for _, d := range append(got, gotOther...) {
		j, _ := json.Marshal(d)
		for _, sec := range []string{"hunter2", "rotated", "SECRET", tokenSecret} {
			if strings.Contains(string(j), sec) {
				t.Errorf("event carries a secret (%q): %s", sec, j)
			}
		}
	}

	// Switched on, the inactive stream receives its own change, and on.
	on := store.Clone(off)
	on.Status = model.StatusActive
	if _, _, err := s.UpdateStream(ctx, "default", off.ID, on, 0, maria); err != nil {
		t.Fatal(err)
	}
	create(t, s, "default", stream("sentinel2", "custom"))
	gotOn := waitTitle(t, b, off.ID, "Stream sentinel2 was created")
	if want := []string{"Stream off was changed", "Stream sentinel2 was created"}; !slices.Equal(titles(gotOn), want) {
		t.Fatalf("activated stream: got %q, want %q", titles(gotOn), want)
	}
}

// countingPublisher counts publishes per node and can fail some.
type countingPublisher struct {
	b *bus.Bus
	n atomic.Int64
	// fail, when set, decides a publish's outcome before it is made;
	// stored: the message is stored first (the ack was lost).
	mu   sync.Mutex
	fail func(m *nats.Msg) (stored bool, err error)
}

func (p *countingPublisher) Publish(ctx context.Context, m *nats.Msg) (bool, error) {
	p.n.Add(1)
	p.mu.Lock()
	fail := p.fail
	p.mu.Unlock()
	if fail != nil {
		if stored, err := fail(m); err != nil {
			if stored {
				if _, perr := p.b.Publish(ctx, m); perr != nil {
					return false, perr
				}
			}
			return false, err
		}
	}
	return p.b.Publish(ctx, m)
}

func (p *countingPublisher) setFail(f func(m *nats.Msg) (bool, error)) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// TestTwoNodesFanOutOnce: two nodes share the durable consumer; each
// record is fanned out by one of them, once; a node that stops leaves the
// rest to the other, and nothing is lost.
func TestTwoNodesFanOutOnce(t *testing.T) {
	ctx := t.Context()
	b1 := newBus(t)
	b2, err := b1.Connect(ctx, "node2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	s1, s2 := openStore(t, b1), openStore(t, b2)
	if _, err := s1.CreateWorkspace(ctx, "default", store.System); err != nil {
		t.Fatal(err)
	}
	p1, p2 := &countingPublisher{b: b1}, &countingPublisher{b: b2}
	stop1 := startFeed(t, Deps{Bus: b1, Streams: s1, Publisher: p1}, Options{})
	startFeed(t, Deps{Bus: b2, Streams: s2, Publisher: p2}, Options{})

	// Changes are made on node 1 and node 2 alternately.
	a := create(t, s1, "default", stream("a", "activity_history"))
	bb := create(t, s2, "default", stream("b", "activity_history"))
	const n = 20
	for i := range n {
		s := []*store.Store{s1, s2}[i%2]
		create(t, s, "default", stream(fmt.Sprintf("s%02d", i), "custom"))
	}
	create(t, s1, "default", stream("sentinel", "custom"))
	gotA := waitTitle(t, b1, a.ID, "Stream sentinel was created")
	gotB := waitTitle(t, b1, bb.ID, "Stream sentinel was created")
	// a: its creation, b's, n streams, the sentinel; b: one less.
	if len(gotA) != n+3 || len(gotB) != n+2 {
		t.Fatalf("a has %d events %q, b has %d %q", len(gotA), titles(gotA), len(gotB), titles(gotB))
	}
	for i := range n {
		if want := fmt.Sprintf("Stream s%02d was created", i); gotA[i+2].Title != want || gotB[i+1].Title != want {
			t.Fatalf("event %d: %q / %q, want %q (in order)", i, gotA[i+2].Title, gotB[i+1].Title, want)
		}
	}
	// One publish per stored event: no record was handled twice.
	if total := p1.n.Load() + p2.n.Load(); total != int64(len(gotA)+len(gotB)) {
		t.Errorf("%d publishes (node 1: %d, node 2: %d) for %d events", total, p1.n.Load(), p2.n.Load(), len(gotA)+len(gotB))
	}

	// Node 1 stops; node 2 carries on alone, and nothing is lost.
	stop1()
	for i := range 5 {
		create(t, s1, "default", stream(fmt.Sprintf("t%d", i), "custom"))
	}
	gotA = waitTitle(t, b1, a.ID, "Stream t4 was created")
	if len(gotA) != n+3+5 {
		t.Fatalf("a has %d events %q", len(gotA), titles(gotA))
	}
	if p2.n.Load() == 0 {
		t.Error("node 2 fanned nothing out")
	}
}

// TestRetryStoresOnce: a publish that fails after storing (a lost ack) is
// retried; the message id keeps one copy. A record waits for a failing
// stream while the other gets its event once.
func TestRetryStoresOnce(t *testing.T) {
	ctx := t.Context()
	b := newBus(t)
	s := openStore(t, b)
	if _, err := s.CreateWorkspace(ctx, "default", store.System); err != nil {
		t.Fatal(err)
	}
	pub := &countingPublisher{b: b}
	startFeed(t, Deps{Bus: b, Streams: s, Publisher: pub}, Options{})
	a := create(t, s, "default", stream("a", "activity_history"))
	bb := create(t, s, "default", stream("b", "activity_history"))
	waitTitle(t, b, bb.ID, "Stream b was created")

	var failures atomic.Int64
	pub.setFail(func(m *nats.Msg) (bool, error) {
		if m.Header.Get(event.HdrStream) == a.ID && failures.Add(1) <= 3 {
			return true, errors.New("ack lost")
		}
		return false, nil
	})
	create(t, s, "default", stream("c", "custom"))
	create(t, s, "default", stream("sentinel", "custom"))
	gotA := waitTitle(t, b, a.ID, "Stream sentinel was created")
	gotB := waitTitle(t, b, bb.ID, "Stream sentinel was created")
	wantA := []string{"Stream a was created", "Stream b was created", "Stream c was created", "Stream sentinel was created"}
	if !slices.Equal(titles(gotA), wantA) || !slices.Equal(titles(gotB), wantA[1:]) {
		t.Fatalf("a: %q\nb: %q", titles(gotA), titles(gotB))
	}
	if failures.Load() < 3 {
		t.Fatalf("%d failures", failures.Load())
	}
}

// TestFullBufferDeadLetters: a stream whose buffer refuses the event
// (overflow reject) holds the record up to FullWait, then gets a dead
// letter; later records dead-letter at once while it stays full, and go
// to the buffer again once it has room. Other streams are not held up.
func TestFullBufferDeadLetters(t *testing.T) {
	ctx := t.Context()
	b := newBus(t)
	s := openStore(t, b)
	if _, err := s.CreateWorkspace(ctx, "default", store.System); err != nil {
		t.Fatal(err)
	}
	pub := &countingPublisher{b: b}
	const fullWait = 300 * time.Millisecond
	startFeed(t, Deps{Bus: b, Streams: s, Publisher: pub}, Options{FullWait: fullWait})
	full := create(t, s, "default", stream("full", "activity_history"))
	ok := create(t, s, "default", stream("ok", "activity_history"))
	waitTitle(t, b, full.ID, "Stream ok was created")

	var isFull atomic.Bool
	isFull.Store(true)
	pub.setFail(func(m *nats.Msg) (bool, error) {
		if m.Header.Get(event.HdrStream) == full.ID && isFull.Load() {
			return false, fmt.Errorf("%w: maximum bytes exceeded", bus.ErrBufferFull)
		}
		return false, nil
	})
	start := time.Now()
	create(t, s, "default", stream("x1", "custom"))
	create(t, s, "default", stream("x2", "custom"))
	waitTitle(t, b, ok.ID, "Stream x2 was created")
	if el := time.Since(start); el < fullWait {
		t.Errorf("the first full answer was dead-lettered after %v, before FullWait", el)
	}
	isFull.Store(false)
	create(t, s, "default", stream("x3", "custom"))
	got := waitTitle(t, b, full.ID, "Stream x3 was created")
	if want := []string{"Stream full was created", "Stream ok was created", "Stream x3 was created"}; !slices.Equal(titles(got), want) {
		t.Fatalf("full stream: %q, want %q", titles(got), want)
	}
	dls, _, err := delivery.ListDeadLetters(ctx, b, full.ID, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var dlTitles []string
	for _, dl := range dls {
		var d Document
		if err := json.Unmarshal(dl.Event, &d); err != nil {
			t.Fatal(err)
		}
		dlTitles = append(dlTitles, d.Title)
		if dl.Destination != delivery.AllDestinations || !strings.Contains(dl.Error, "buffer is full") {
			t.Errorf("dead letter %+v", dl)
		}
	}
	if want := []string{"Stream x1 was created", "Stream x2 was created"}; !slices.Equal(dlTitles, want) {
		t.Fatalf("dead letters %q, want %q", dlTitles, want)
	}
	if got := titles(events(t, b, ok.ID)); len(got) != 4 {
		t.Fatalf("ok stream: %q", got)
	}
}

// TestRestartResumes: changes made while no feed runs are fanned out when
// one starts again (the consumer is durable).
func TestRestartResumes(t *testing.T) {
	ctx := t.Context()
	b := newBus(t)
	s := openStore(t, b)
	if _, err := s.CreateWorkspace(ctx, "default", store.System); err != nil {
		t.Fatal(err)
	}
	stop := startFeed(t, Deps{Bus: b, Streams: s}, Options{})
	a := create(t, s, "default", stream("a", "activity_history"))
	waitTitle(t, b, a.ID, "Stream a was created")
	stop()
	create(t, s, "default", stream("while-down", "custom"))
	startFeed(t, Deps{Bus: b, Streams: s}, Options{})
	got := waitTitle(t, b, a.ID, "Stream while-down was created")
	if len(got) != 2 {
		t.Fatalf("%q", titles(got))
	}
}

func TestEventDocument(t *testing.T) {
	a := &model.Activity{
		ID: "42", Workspace: "ignored", Time: time.Date(2022, 10, 31, 19, 30, 41, 0, time.FixedZone("x", 3600)),
		Type: model.ActivityChanged, Resource: "stream", ResourceID: "str_1", ResourceName: "payments",
		Title: "Stream payments was changed", AuthorID: "tok_1", AuthorName: "maria", Client: "curl/8 10.0.0.1",
	}
	want := `{"time":"2022-10-31T18:30:41Z","type":"CHANGED","title":"Stream payments was changed","author_name":"maria",` +
		`"author_email":"","client":"default","comment":"","activity_id":"42","author_id":"tok_1","origin":"curl/8 10.0.0.1",` +
		`"resource":"stream","resource_id":"str_1","resource_name":"payments"}`
	if got := string(Event("default", a)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
