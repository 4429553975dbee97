// Package model holds Runnel's configuration types — workspaces, tokens,
// streams and destinations — with their defaults and validation. The same
// types are decoded from API requests and YAML files, stored in the
// configuration store and reflected into the JSON Schema / OpenAPI document,
// so there is one source of truth for what a valid configuration is.
package model

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"time"
)

// Scopes a token may carry.
const (
	ScopeIngest       = "events.ingest"
	ScopeStreamsRead  = "streams.read"
	ScopeStreamsWrite = "streams.write"
	ScopeTokensWrite  = "tokens.write"
	ScopeAdmin        = "admin"
)

// AllScopes lists every valid scope.
var AllScopes = []string{ScopeIngest, ScopeStreamsRead, ScopeStreamsWrite, ScopeTokensWrite, ScopeAdmin}

// DefaultWorkspace is created on first start.
const DefaultWorkspace = "default"

// Stream statuses.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// Buffer overflow policies.
const (
	OverflowReject     = "reject"
	OverflowDropOldest = "drop_oldest"
)

// Limits on stream configuration values.
const (
	DefaultMaxPayload   = Size(1 << 20)
	HardMaxPayload      = Size(16 << 20)
	DefaultBufferBytes  = Size(10 << 30)
	DefaultBufferAge    = Duration(168 * time.Hour)
	DefaultPayloadSize  = Size(1_000_000)
	DefaultHealthPeriod = Duration(60 * time.Second)
	MaxDestinations     = 32
)

var (
	nameRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	destNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	wsNameRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// ValidWorkspaceName reports whether s is a valid workspace name:
// lower-case letters, digits, '_' and '-' (it is used in bus subjects).
func ValidWorkspaceName(s string) bool { return wsNameRe.MatchString(s) }

// ValidName reports whether s is a valid workspace, stream or token name.
func ValidName(s string) bool { return nameRe.MatchString(s) }

// NewID returns a random identifier with the given prefix ("str_", "tok_", …).
func NewID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// NewInletID returns a random 64-hex-character inlet id.
func NewInletID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Workspace is the isolation boundary of tokens, streams and events.
type Workspace struct {
	// Name of the workspace, unique.
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// RateLimit is a token bucket; zero EventsPerSecond means no limit.
type RateLimit struct {
	// Sustained events per second; 0 disables the limit.
	EventsPerSecond float64 `json:"events_per_second,omitempty"`
	// Bucket size in events; defaults to EventsPerSecond (at least 1).
	Burst int `json:"burst,omitempty"`
}

// Validate checks the limit's values.
func (r RateLimit) Validate() FieldErrors {
	var errs FieldErrors
	if r.EventsPerSecond < 0 {
		errs.Add("events_per_second", "must not be negative")
	}
	if r.Burst < 0 {
		errs.Add("burst", "must not be negative")
	}
	return errs
}

// Token is a credential bound to one workspace. Only the SHA-256 of its
// secret is stored.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Workspace string     `json:"workspace"`
	Scopes    []string   `json:"scopes"`
	Streams   []string   `json:"streams,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Limits    RateLimit  `json:"limits,omitzero"`
	// Hash is the hex SHA-256 of the secret. Never returned by the API.
	Hash string `json:"hash"`
}

// Has reports whether the token carries scope (admin carries all).
func (t *Token) Has(scope string) bool {
	return slices.Contains(t.Scopes, ScopeAdmin) || slices.Contains(t.Scopes, scope)
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// AllowsStream reports whether the token may act on the stream with this id.
func (t *Token) AllowsStream(id string) bool {
	return len(t.Streams) == 0 || slices.Contains(t.Streams, id)
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	// Name is a label for humans.
	Name string `json:"name"`
	// Scopes granted: events.ingest, streams.read, streams.write, tokens.write, admin.
	Scopes []string `json:"scopes"`
	// Streams, if set, limits the token to these stream ids (or names).
	Streams []string `json:"streams,omitempty"`
	// ExpiresAt, if set, is when the token stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Limits is an optional per-token ingest rate limit.
	Limits RateLimit `json:"limits,omitzero"`
}

// Validate checks a token request.
func (r *TokenRequest) Validate(now time.Time) FieldErrors {
	var errs FieldErrors
	if r.Name == "" {
		errs.Add("name", "is required")
	} else if len(r.Name) > 128 {
		errs.Add("name", "must be at most 128 characters")
	}
	if len(r.Scopes) == 0 {
		errs.Add("scopes", "at least one scope is required (one of %v)", AllScopes)
	}
	for i, s := range r.Scopes {
		if !slices.Contains(AllScopes, s) {
			errs.Add(indexPath("scopes", i), "unknown scope %q (want one of %v)", s, AllScopes)
		}
	}
	if len(r.Streams) > 1000 {
		errs.Add("streams", "at most 1000 streams")
	}
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		errs.Add("expires_at", "must be in the future")
	}
	errs.Merge("limits", r.Limits.Validate())
	return errs
}

// Activity is one audit record: who changed what, when.
type Activity struct {
	ID           string    `json:"id"`
	Workspace    string    `json:"workspace"`
	Time         time.Time `json:"time"`
	Type         string    `json:"type"` // CREATED | CHANGED | DELETED
	Resource     string    `json:"resource"`
	ResourceID   string    `json:"resource_id"`
	ResourceName string    `json:"resource_name"`
	Title        string    `json:"title"`
	AuthorID     string    `json:"author_id"`
	AuthorName   string    `json:"author_name"`
	AuthorEmail  string    `json:"author_email"`
	Client       string    `json:"client"`
	Comment      string    `json:"comment"`
}

// Activity types.
const (
	ActivityCreated = "CREATED"
	ActivityChanged = "CHANGED"
	ActivityDeleted = "DELETED"
)

func indexPath(p string, i int) string {
	b, _ := json.Marshal(i)
	return p + "[" + string(b) + "]"
}
