package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/model"
)

type mapLookup map[string]*model.Token

func (m mapLookup) TokenByHash(h string) (*model.Token, bool) { t, ok := m[h]; return t, ok }

func TestAuthenticate(t *testing.T) {
	now := time.Now()
	sec, h := NewSecret()
	if !strings.HasPrefix(sec, SecretPrefix) || len(sec) != len(SecretPrefix)+43 {
		t.Fatalf("secret shape: %q", sec)
	}
	if strings.Contains(h, sec) || len(h) != 64 {
		t.Fatalf("hash shape: %q", h)
	}
	past := now.Add(-time.Minute)
	expSec, expHash := NewSecret()
	l := mapLookup{h: {ID: "tok_1", Hash: h}, expHash: {ID: "tok_2", Hash: expHash, ExpiresAt: &past}}
	if tok, err := Authenticate(l, sec, now); err != nil || tok.ID != "tok_1" {
		t.Fatalf("valid token: %v %v", tok, err)
	}
	for _, c := range []struct {
		secret string
		want   error
	}{{"", ErrMissing}, {"rnl_nope", ErrUnknown}, {expSec, ErrExpired}, {strings.Repeat("x", 600), ErrUnknown}} {
		if _, err := Authenticate(l, c.secret, now); !errors.Is(err, c.want) {
			t.Errorf("Authenticate(%.10q) = %v, want %v", c.secret, err, c.want)
		}
	}
}

func TestFromHeader(t *testing.T) {
	for _, c := range []struct {
		h, want string
		ok      bool
	}{
		{"Bearer abc", "abc", true}, {"bearer  abc ", "abc", true}, {"Api-Token xyz", "xyz", true},
		{"Basic abc", "", false}, {"", "", false}, {"Bearer", "", false},
	} {
		got, err := FromHeader(c.h, "Bearer", "Api-Token")
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("FromHeader(%q) = %q, %v", c.h, got, err)
		}
	}
}
