// Package secret encrypts destination secrets at rest with AES-256-GCM.
// The key comes from RUNNEL_SECRET_KEY (any string; its SHA-256 is the
// key, so every node of a cluster must be given the same value) or from a
// key file generated in the data directory with mode 0600.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prefix marks an encrypted value in stored configuration.
const Prefix = "enc:v1:"

// Mask is what the API shows instead of a secret.
const Mask = "********"

// Box encrypts and decrypts secrets.
type Box struct {
	aead   cipher.AEAD
	derive []byte // HMAC key of Derive, independent of the AEAD key
}

// New returns a Box for a key of any length (hashed to 256 bits).
func New(key []byte) (*Box, error) {
	if len(key) == 0 {
		return nil, errors.New("secret: empty key")
	}
	k := sha256.Sum256(key)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	d := sha256.Sum256(append([]byte("runnel/derive/v1\x00"), key...))
	return &Box{aead: aead, derive: d[:]}, nil
}

// Derive returns 32 bytes derived from the key and label (HMAC-SHA256):
// stable for a key, unguessable without it. Per-stream salts come from it,
// so every node of a cluster (given the same key) derives the same salt
// and nothing more needs to be stored or kept secret.
func (b *Box) Derive(label string) []byte {
	m := hmac.New(sha256.New, b.derive)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Load returns the Box for envKey when it is set, else for the key file
// in dataDir, generating it (32 random bytes, mode 0600) on first use.
func Load(envKey, dataDir string) (*Box, error) {
	if envKey != "" {
		return New([]byte(envKey))
	}
	path := filepath.Join(dataDir, "secret.key")
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("secret: generate key: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secret: write key file: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("secret: write key file: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("secret: write key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("secret: write key file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("secret: read key file: %w", err)
	}
	return New(key)
}

// Seal encrypts plaintext into "enc:v1:<base64(nonce|ciphertext)>".
func (b *Box) Seal(plaintext string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return Prefix + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed string) (string, error) {
	enc, ok := strings.CutPrefix(sealed, Prefix)
	if !ok {
		return "", errors.New("secret: value is not sealed")
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("secret: malformed sealed value")
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", errors.New("secret: cannot decrypt (wrong RUNNEL_SECRET_KEY or key file?)")
	}
	return string(pt), nil
}

// Sealed reports whether v is an encrypted value.
func Sealed(v string) bool { return strings.HasPrefix(v, Prefix) }
