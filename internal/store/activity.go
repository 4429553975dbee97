package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/model"
)

// Actor is who makes a change: the token, and the client it came from.
type Actor struct {
	TokenID string
	Name    string
	Email   string
	Client  string
	Comment string
}

// System is the actor of changes Runnel makes itself (bootstrap).
var System = Actor{Name: "runnel", Client: "runnel"}

// record appends an activity entry; a failure is logged, not returned:
// the change itself has been made.
func (s *Store) record(ctx context.Context, ws string, a Actor, typ, resource, id, name string) {
	verb := map[string]string{model.ActivityCreated: "created", model.ActivityChanged: "changed", model.ActivityDeleted: "deleted"}[typ]
	act := model.Activity{
		Workspace: ws, Time: time.Now().UTC(), Type: typ, Resource: resource, ResourceID: id, ResourceName: name,
		Title:    fmt.Sprintf("%s %s was %s", strings.ToUpper(resource[:1])+resource[1:], name, verb),
		AuthorID: a.TokenID, AuthorName: a.Name, AuthorEmail: a.Email, Client: a.Client, Comment: a.Comment,
	}
	b, _ := json.Marshal(act)
	if _, err := s.b.JS.Publish(ctx, bus.ActivitySubject(ws), b); err != nil {
		s.log.Error("record activity", "workspace", ws, "resource", resource, "id", id, "error", err)
	}
}

// MaxActivityScan bounds how many entries of a workspace one listing reads.
const MaxActivityScan = 100_000

// Activity lists the activity of ws, newest first: up to limit entries
// older than before (a sequence; 0 = from the newest). next is the cursor
// of the following page, 0 at the end.
func (s *Store) Activity(ctx context.Context, ws string, before uint64, limit int) ([]model.Activity, uint64, error) {
	subj := bus.ActivitySubject(ws)
	stream, err := s.b.JS.Stream(ctx, bus.ActivityStream)
	if err != nil {
		return nil, 0, fmt.Errorf("store: activity: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, 0, fmt.Errorf("store: activity: %w", err)
	}
	total := info.State.Subjects[subj]
	if total == 0 {
		return []model.Activity{}, 0, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}}
	if total > MaxActivityScan {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = info.State.LastSeq - min(info.State.LastSeq-1, MaxActivityScan*4)
	}
	c, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("store: activity: %w", err)
	}
	type rec struct {
		seq uint64
		a   model.Activity
	}
	var all []rec
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			return nil, 0, fmt.Errorf("store: activity: %w", err)
		}
		n := 0
		var pending uint64
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			var a model.Activity
			if json.Unmarshal(m.Data(), &a) == nil {
				a.ID = strconv.FormatUint(md.Sequence.Stream, 10)
				all = append(all, rec{md.Sequence.Stream, a})
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, 0, fmt.Errorf("store: activity: %w", err)
		}
		if n == 0 || pending == 0 || len(all) >= MaxActivityScan {
			break
		}
	}
	slices.Reverse(all)
	out := make([]model.Activity, 0, limit)
	var next uint64
	for _, r := range all {
		if before != 0 && r.seq >= before {
			continue
		}
		if len(out) == limit {
			next, _ = strconv.ParseUint(out[len(out)-1].ID, 10, 64)
			break
		}
		out = append(out, r.a)
	}
	return out, next, nil
}
