package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
)

func TestObjects(t *testing.T) {
	b := newBus(t)
	s := openStore(t, b)
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	type doc struct{ N int }
	r1, err := s.CreateObject(ctx, model.DefaultWorkspace, "thing", "a-1", "first", doc{1}, System)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateObject(ctx, model.DefaultWorkspace, "thing", "b-2", "second", doc{2}, System); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateObject(ctx, model.DefaultWorkspace, "other", "c", "other kind", doc{3}, System); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateObject(ctx, model.DefaultWorkspace, "thing", "a-1", "again", doc{9}, System); !errors.Is(err, ErrConflict) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := s.CreateObject(ctx, "nowhere", "thing", "x", "x", doc{}, System); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown workspace: %v", err)
	}
	if _, err := s.CreateObject(ctx, model.DefaultWorkspace, "thing", "a.b", "x", doc{}, System); err == nil {
		t.Fatal("a key part with a dot was accepted")
	}
	var d doc
	if rev, err := s.GetObject(ctx, model.DefaultWorkspace, "thing", "a-1", &d); err != nil || rev != r1 || d.N != 1 {
		t.Fatalf("get: %v %d %+v", err, rev, d)
	}
	for _, id := range []string{"zzz", "a.b", ""} {
		if _, err := s.GetObject(ctx, model.DefaultWorkspace, "thing", id, &d); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get %q: %v", id, err)
		}
	}
	objs, err := s.Objects(ctx, model.DefaultWorkspace, "thing")
	if err != nil || len(objs) != 2 || objs[0].ID != "a-1" || objs[1].ID != "b-2" || !bytes.Equal(objs[1].Value, []byte(`{"N":2}`)) {
		t.Fatalf("objects: %v %+v", err, objs)
	}
	if objs, err := s.Objects(ctx, "nowhere", "thing"); err != nil || len(objs) != 0 {
		t.Fatalf("objects of an empty workspace: %v %+v", err, objs)
	}
	// Objects are not streams, tokens or workspaces.
	if len(s.Streams("")) != 0 || len(s.Workspaces()) != 1 {
		t.Fatal("an object leaked into the snapshot")
	}
	acts, _, err := s.Activity(ctx, model.DefaultWorkspace, 0, 10)
	if err != nil || len(acts) < 3 || acts[0].Resource != "other" || acts[0].ResourceID != "c" || acts[0].AuthorName != "runnel" {
		t.Fatalf("activity %v %+v", err, acts)
	}
}

func TestDestinationSecrets(t *testing.T) {
	s := openStore(t, newBus(t))
	d := &model.Destination{Name: "d", Type: "web", Settings: map[string]any{
		"url": "https://x", "password": "pw", "headers": map[string]any{"Authorization": "Bearer t", "Accept": "json"},
	}}
	sealed, err := s.SealDestination(d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Settings["password"] != "pw" {
		t.Fatal("SealDestination changed its argument")
	}
	h := sealed.Settings["headers"].(map[string]any)
	if !secret.Sealed(sealed.Settings["password"].(string)) || !secret.Sealed(h["Authorization"].(string)) || h["Accept"] != "json" || sealed.Settings["url"] != "https://x" {
		t.Fatalf("sealed %+v", sealed.Settings)
	}
	m := s.MaskDestination(sealed)
	if m.Settings["password"] != secret.Mask || m.Settings["headers"].(map[string]any)["Authorization"] != secret.Mask || m.Settings["url"] != "https://x" {
		t.Fatalf("masked %+v", m.Settings)
	}
	clear, err := s.OpenDestination(sealed)
	if err != nil || clear.Settings["password"] != "pw" || clear.Settings["headers"].(map[string]any)["Authorization"] != "Bearer t" {
		t.Fatalf("opened %+v %v", clear, err)
	}
	if _, err := s.SealDestination(m); err == nil {
		t.Fatal("the mask was sealed as a secret")
	}
}
