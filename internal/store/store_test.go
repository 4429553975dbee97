package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
)

// fakeKinds knows one type, "web", whose "password" and "headers.Authorization" are secret.
type fakeKinds struct{}

func (fakeKinds) Canonical(t string) (string, bool) { return t, t == "web" }
func (fakeKinds) Names() []string                   { return []string{"web"} }
func (fakeKinds) ValidateSettings(string, map[string]any) model.FieldErrors {
	return nil
}
func (fakeKinds) DefaultBatch(string) model.Batch {
	return model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)}
}
func (fakeKinds) IsSecret(_, p string) bool { return p == "password" || p == "headers.Authorization" }

func openStore(t *testing.T, b *bus.Bus) *Store {
	t.Helper()
	box, _ := secret.New([]byte("test-key"))
	s, err := Open(t.Context(), b, box, fakeKinds{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newBus(t *testing.T) *bus.Bus {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func sample(name string) *model.Stream {
	st := &model.Stream{Name: name, Destinations: []model.Destination{{Name: "d1", Type: "web",
		Settings: map[string]any{"url": "http://x", "password": "hunter2", "headers": map[string]any{"Authorization": "Bearer sek", "X-Plain": "p"}}}}}
	st.Normalize(fakeKinds{})
	return st
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestStreamLifecycleSecretsAndWatch(t *testing.T) {
	ctx := t.Context()
	b := newBus(t)
	s1 := openStore(t, b)
	dir := t.TempDir()
	sec, err := s1.Bootstrap(ctx, dir, "")
	if err != nil || !strings.HasPrefix(sec, auth.SecretPrefix) {
		t.Fatalf("bootstrap: %q %v", sec, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "admin.token")); err != nil || strings.TrimSpace(string(data)) != sec {
		t.Fatalf("admin.token: %v", err)
	}
	if again, _ := s1.Bootstrap(ctx, dir, ""); again != "" {
		t.Fatalf("second bootstrap made another admin token")
	}
	if tok, err := auth.Authenticate(s1, sec, time.Now()); err != nil || !tok.Has(model.ScopeAdmin) {
		t.Fatalf("admin token does not authenticate: %v", err)
	}

	s2 := openStore(t, b) // a second node
	var changes = make(chan StreamChange, 16)
	s2.Subscribe(func(c StreamChange) { changes <- c })

	st, rev, err := s1.CreateStream(ctx, "default", sample("payments"), Actor{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.InletID) != 64 || !strings.HasPrefix(st.ID, "str_") {
		t.Fatalf("ids: %+v", st)
	}
	if _, _, err := s1.CreateStream(ctx, "default", sample("payments"), Actor{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	stored := st.Destinations[0].Settings
	if !secret.Sealed(stored["password"].(string)) || stored["headers"].(map[string]any)["X-Plain"] != "p" {
		t.Fatalf("secrets not sealed at rest: %v", stored)
	}
	masked := s1.Masked(st)
	if masked.Destinations[0].Settings["password"] != secret.Mask || masked.Destinations[0].Settings["headers"].(map[string]any)["Authorization"] != secret.Mask {
		t.Fatalf("mask: %v", masked.Destinations[0].Settings)
	}
	select {
	case c := <-changes:
		if c.Op != Put || c.Stream.ID != st.ID {
			t.Fatalf("change: %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second node did not see the new stream")
	}
	if got, _, ok := s2.Stream("default", "payments"); !ok || got.ID != st.ID {
		t.Fatalf("second node lookup by name")
	}
	if _, _, ok := s2.Stream("other", st.ID); ok {
		t.Fatalf("stream visible from another workspace")
	}

	// Update through the masked view keeps secrets; stale etag is refused.
	upd := s1.Masked(st)
	upd.Description = "changed"
	if _, _, err := s1.UpdateStream(ctx, "default", st.ID, upd, rev+100, Actor{}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale etag: %v", err)
	}
	st2, rev2, err := s1.UpdateStream(ctx, "default", "payments", upd, rev, Actor{})
	if err != nil || rev2 <= rev {
		t.Fatalf("update: %v", err)
	}
	dec, err := s1.Decrypted(st2)
	if err != nil || dec.Destinations[0].Settings["password"] != "hunter2" || dec.Destinations[0].Settings["headers"].(map[string]any)["Authorization"] != "Bearer sek" {
		t.Fatalf("secret lost through masked update: %v %v", dec.Destinations[0].Settings, err)
	}
	bad := s1.Masked(st)
	bad.Destinations[0].Name = "renamed" // the mask has nothing to stand for now
	if _, _, err := s1.UpdateStream(ctx, "default", st.ID, bad, 0, Actor{}); err == nil {
		t.Fatalf("mask accepted for a destination without a stored secret")
	}

	if err := s1.DeleteStream(ctx, "default", st.ID, rev, Actor{}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("delete with stale etag: %v", err)
	}
	if err := s1.DeleteStream(ctx, "default", st.ID, rev2, Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s1.Stream("default", st.ID); ok {
		t.Fatalf("deleted stream still readable")
	}
	eventually(t, "second node sees the delete", func() bool { _, _, ok := s2.Stream("default", st.ID); return !ok })
	// The name is free again.
	if _, _, err := s1.CreateStream(ctx, "default", sample("payments"), Actor{}); err != nil {
		t.Fatalf("recreate after delete: %v", err)
	}

	acts, _, err := s1.Activity(ctx, "default", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, a := range acts {
		titles = append(titles, a.Title)
	}
	want := []string{"Stream payments was created", "Stream payments was deleted", "Stream payments was changed", "Stream payments was created"}
	if len(titles) < 4 || strings.Join(titles[:4], "|") != strings.Join(want, "|") {
		t.Fatalf("activity newest first: %q", titles)
	}
	page1, next, _ := s1.Activity(ctx, "default", 0, 2)
	page2, _, _ := s1.Activity(ctx, "default", next, 2)
	if len(page1) != 2 || len(page2) != 2 || page2[0].ID == page1[1].ID {
		t.Fatalf("pagination: %v / %v", page1, page2)
	}
}

func TestTokensAndEnvAdmin(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b := newBus(t)
	s := openStore(t, b)
	if sec, err := s.Bootstrap(ctx, "", "env-secret"); err != nil || sec != "" {
		t.Fatalf("bootstrap with env token: %q %v", sec, err)
	}
	if tok, err := auth.Authenticate(s, "env-secret", time.Now()); err != nil || tok.ID != EnvAdminTokenID {
		t.Fatalf("env admin token: %v", err)
	}
	if _, err := s.CreateWorkspace(ctx, "Bad.Name", Actor{}); err == nil {
		t.Fatalf("invalid workspace name accepted")
	}
	if _, err := s.CreateWorkspace(ctx, "team-b", Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWorkspace(ctx, "team-b", Actor{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate workspace: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "team-b", &model.TokenRequest{Name: "x", Scopes: []string{"events.ingest"}, Streams: []string{"nope"}}, Actor{}); err == nil {
		t.Fatalf("token for unknown stream accepted")
	}
	tok, sec, err := s.CreateToken(ctx, "team-b", &model.TokenRequest{Name: "ing", Scopes: []string{"events.ingest"}}, Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok.Hash, sec) || tok.Hash != auth.Hash(sec) {
		t.Fatalf("token stored in clear")
	}
	if _, ok := s.Token("default", tok.ID); ok {
		t.Fatalf("token visible from another workspace")
	}
	if err := s.DeleteToken(ctx, "team-b", tok.ID, Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(s, sec, time.Now()); !errors.Is(err, auth.ErrUnknown) {
		t.Fatalf("revoked token still works: %v", err)
	}
}
