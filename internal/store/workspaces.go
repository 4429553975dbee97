package store

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Workspace returns a workspace by name.
func (s *Store) Workspace(name string) (*model.Workspace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.workspaces[name]
	return e.v, ok
}

// Workspaces lists every workspace by name.
func (s *Store) Workspaces() []*model.Workspace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.workspaces, func(*model.Workspace) bool { return true },
		func(a, b *model.Workspace) int { return cmp.Compare(a.Name, b.Name) })
}

// CreateWorkspace adds a workspace; ErrConflict if the name is taken.
func (s *Store) CreateWorkspace(ctx context.Context, name string, a Actor) (*model.Workspace, error) {
	if !model.ValidWorkspaceName(name) {
		return nil, model.FieldErrors{{Path: "name", Message: "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit"}}
	}
	w := &model.Workspace{Name: name, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := s.put(ctx, "ws."+name, w, 0); err != nil {
		return nil, fmt.Errorf("workspace %q: %w", name, err)
	}
	s.record(ctx, name, a, model.ActivityCreated, "workspace", name, name)
	return w, nil
}
