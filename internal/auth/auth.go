// Package auth issues and checks tokens: 256-bit random secrets shown once,
// stored only as their SHA-256, compared in constant time, with scopes, an
// optional stream list and an optional expiry.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// SecretPrefix starts every Runnel token secret, so leaked ones are easy to find.
const SecretPrefix = "rnl_"

// Errors of Authenticate; the API maps them onto 401.
var (
	ErrMissing = errors.New("missing token")
	ErrUnknown = errors.New("unknown token")
	ErrExpired = errors.New("token has expired")
)

// NewSecret returns a new token secret and its hash.
func NewSecret() (secret, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, Hash(secret)
}

// Hash is the stored form of a secret: hex SHA-256.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Lookup finds a token by the hash of its secret.
type Lookup interface {
	TokenByHash(hash string) (*model.Token, bool)
}

// Authenticate resolves a presented secret to its token. The final
// comparison of hashes is constant-time.
func Authenticate(l Lookup, secret string, now time.Time) (*model.Token, error) {
	if secret == "" {
		return nil, ErrMissing
	}
	if len(secret) > 512 {
		return nil, ErrUnknown
	}
	h := Hash(secret)
	t, ok := l.TokenByHash(h)
	if !ok || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, ErrUnknown
	}
	if t.Expired(now) {
		return nil, ErrExpired
	}
	return t, nil
}

// FromHeader extracts the secret from an Authorization header value with
// one of the given schemes ("Bearer", "Api-Token", "Splunk"), compared
// case-insensitively.
func FromHeader(v string, schemes ...string) (string, error) {
	if v == "" {
		return "", ErrMissing
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return "", fmt.Errorf("%w: Authorization must be \"<scheme> <token>\"", ErrMissing)
	}
	for _, s := range schemes {
		if strings.EqualFold(scheme, s) {
			return strings.TrimSpace(cred), nil
		}
	}
	return "", fmt.Errorf("%w: Authorization scheme must be one of %s", ErrMissing, strings.Join(schemes, ", "))
}
