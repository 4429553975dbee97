package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/model"
)

// EnvAdminTokenID is the id of the admin token given by RUNNEL_ADMIN_TOKEN.
const EnvAdminTokenID = "tok_admin_env"

// Bootstrap prepares an empty store: workspace "default" and an admin
// token. With envToken (RUNNEL_ADMIN_TOKEN) that token is the admin token;
// otherwise, on first start only, a new one is generated, written to
// <dataDir>/admin.token (mode 0600) and returned so the caller can print
// it once. It returns "" when no new secret was made.
func (s *Store) Bootstrap(ctx context.Context, dataDir, envToken string) (string, error) {
	first := len(s.Workspaces()) == 0
	if _, ok := s.Workspace(model.DefaultWorkspace); !ok && first {
		if _, err := s.CreateWorkspace(ctx, model.DefaultWorkspace, System); err != nil && !errors.Is(err, ErrConflict) {
			return "", err
		}
	}
	if envToken != "" {
		hash := auth.Hash(envToken)
		if t, ok := s.TokenByHash(hash); ok && t.Has(model.ScopeAdmin) {
			return "", nil
		}
		t := &model.Token{ID: EnvAdminTokenID, Name: "admin (RUNNEL_ADMIN_TOKEN)", Workspace: model.DefaultWorkspace,
			Scopes: []string{model.ScopeAdmin}, CreatedAt: time.Now().UTC(), Hash: hash}
		rev := uint64(0)
		s.mu.RLock()
		if e, ok := s.tokens[EnvAdminTokenID]; ok {
			rev = e.rev
		}
		s.mu.RUnlock()
		if _, err := s.put(ctx, "tok."+t.ID, t, rev); err != nil {
			return "", fmt.Errorf("store: admin token: %w", err)
		}
		return "", nil
	}
	if !first {
		return "", nil
	}
	t, sec, err := s.CreateToken(ctx, model.DefaultWorkspace, &model.TokenRequest{Name: "admin", Scopes: []string{model.ScopeAdmin}}, System)
	if err != nil {
		return "", err
	}
	_ = t
	if dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", err
		}
		path := filepath.Join(dataDir, "admin.token")
		if err := os.WriteFile(path, []byte(sec+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("store: write %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return "", err
		}
	}
	return sec, nil
}
