package store

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/model"
)

// TokenByHash implements auth.Lookup.
func (s *Store) TokenByHash(hash string) (*model.Token, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.byHash[hash]
	return t, ok
}

// Tokens lists the tokens of ws, by name.
func (s *Store) Tokens(ws string) []*model.Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.tokens, func(t *model.Token) bool { return t.Workspace == ws },
		func(a, b *model.Token) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
}

// Token returns token id of ws.
func (s *Store) Token(ws, id string) (*model.Token, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.tokens[id]
	if !ok || e.v.Workspace != ws {
		return nil, false
	}
	return e.v, true
}

// CreateToken issues a token in ws and returns it with its secret, which
// is not stored and cannot be shown again. Stream names in req are
// resolved to ids.
func (s *Store) CreateToken(ctx context.Context, ws string, req *model.TokenRequest, a Actor) (*model.Token, string, error) {
	if _, ok := s.Workspace(ws); !ok {
		return nil, "", fmt.Errorf("workspace %q: %w", ws, ErrNotFound)
	}
	var errs model.FieldErrors
	var ids []string
	for i, ref := range req.Streams {
		st, _, ok := s.Stream(ws, ref)
		if !ok {
			errs.Add(fmt.Sprintf("streams[%d]", i), "no stream %q in this workspace", ref)
			continue
		}
		ids = append(ids, st.ID)
	}
	if err := errs.Err(); err != nil {
		return nil, "", err
	}
	sec, hash := auth.NewSecret()
	t := &model.Token{
		ID: model.NewID("tok_"), Name: req.Name, Workspace: ws, Scopes: req.Scopes, Streams: ids,
		ExpiresAt: req.ExpiresAt, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Limits: req.Limits, Hash: hash,
	}
	if _, err := s.put(ctx, "tok."+t.ID, t, 0); err != nil {
		return nil, "", err
	}
	s.record(ctx, ws, a, model.ActivityCreated, "token", t.ID, t.Name)
	return t, sec, nil
}

// DeleteToken revokes a token of ws.
func (s *Store) DeleteToken(ctx context.Context, ws, id string, a Actor) error {
	t, ok := s.Token(ws, id)
	if !ok {
		return ErrNotFound
	}
	if err := s.del(ctx, "tok."+id, 0); err != nil {
		return err
	}
	s.record(ctx, ws, a, model.ActivityDeleted, "token", id, t.Name)
	return nil
}
