// Package view holds the shapes of the management API's requests and
// responses that are not model types themselves: the stream resource, the
// token view without its hash, lists and pages. Package api encodes them and
// package spec reflects them (with the model types) into the OpenAPI
// document, so the document and the server share one definition.
package view

import (
	"encoding/json"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Stream is the stream resource: the stream definition plus the fields the
// server assigns. Secret settings come back as "********"; sending that
// placeholder back keeps the stored secret. The read-only fields (id,
// workspace, inlet_id, inlet_url, etag, created_at, updated_at) are
// accepted on input and ignored, so a resource read with GET can be edited
// and sent back with PUT as it is.
type Stream struct {
	model.Stream
	// ETag is the stream's current revision; send it in If-Match to update or delete only that revision.
	ETag string `json:"etag,omitempty"`
	// InletURL is the collection address of the stream: <base>/collection/<inlet_id>.
	InletURL string `json:"inlet_url,omitempty"`
}

// StreamList is the answer of GET /v1/streams.
type StreamList struct {
	// Items are the streams of the workspace, by name.
	Items []Stream `json:"items"`
}

// StreamStatus is the answer of GET /v1/streams/{id}/status: the stream's
// identity and, per destination, what the delivery engine reports.
type StreamStatus struct {
	// ID of the stream.
	ID string `json:"id"`
	// Name of the stream.
	Name string `json:"name"`
	// Status of the stream: active or inactive.
	Status string `json:"status"`
	// DroppedEvents are the events removed from the full buffer by overflow drop_oldest (kept as dead letters of destination "*").
	DroppedEvents uint64 `json:"dropped_events,omitempty"`
	// Destinations: per destination health (available/unavailable), last probe, last error and HTTP status, backlog events and bytes, oldest undelivered age, delivered/failed/dropped counters.
	Destinations []map[string]any `json:"destinations,omitempty"`
}

// DeadLetterPage is one page of a stream's dead letters.
type DeadLetterPage struct {
	// Items are dead letters: the original event, the destination, the error and the attempt count.
	Items []json.RawMessage `json:"items"`
	// Next is the cursor of the following page (the after parameter); empty at the end.
	Next string `json:"next"`
}

// ReplayRequest is the body of POST /v1/streams/{id}/dead-letters/replay.
// An empty body replays every dead letter of the stream.
type ReplayRequest struct {
	// Destination limits the replay to one destination; empty means all.
	Destination string `json:"destination,omitempty"`
	// IDs limits the replay to these dead letters; empty means all.
	IDs []uint64 `json:"ids,omitempty"`
}

// ReplayResult tells how many dead letters were queued again.
type ReplayResult struct {
	// Replayed is the number of dead letters sent back to their destination.
	Replayed int `json:"replayed"`
}

// TestResult is the answer of a destination test ("test connection").
type TestResult struct {
	// OK is true when the destination answered the probe.
	OK bool `json:"ok"`
	// Error says why the probe failed; it never contains a secret.
	Error string `json:"error,omitempty"`
}

// Token is a token as the API shows it: never its secret, never its hash.
type Token struct {
	// ID of the token ("tok_…").
	ID string `json:"id"`
	// Name is a label for humans.
	Name string `json:"name"`
	// Workspace the token belongs to.
	Workspace string `json:"workspace"`
	// Scopes granted.
	Scopes []string `json:"scopes"`
	// Streams, when not empty, are the ids of the only streams the token may act on.
	Streams []string `json:"streams"`
	// ExpiresAt is when the token stops working; null: never.
	ExpiresAt *time.Time `json:"expires_at"`
	// CreatedAt is when the token was issued.
	CreatedAt time.Time `json:"created_at"`
	// Limits is the token's ingest rate limit.
	Limits model.RateLimit `json:"limits,omitzero"`
}

// FromToken returns the API view of a stored token.
func FromToken(t *model.Token) Token {
	streams := t.Streams
	if streams == nil {
		streams = []string{}
	}
	return Token{
		ID: t.ID, Name: t.Name, Workspace: t.Workspace, Scopes: t.Scopes, Streams: streams,
		ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt, Limits: t.Limits,
	}
}

// NewToken is the answer of POST /v1/tokens: the token and, this once, its secret.
type NewToken struct {
	Token
	// Secret is the token itself, to send as "Authorization: Bearer <token>". It is shown this once and cannot be shown again.
	Secret string `json:"token"`
}

// TokenList is the answer of GET /v1/tokens.
type TokenList struct {
	// Items are the tokens of the workspace, by name.
	Items []Token `json:"items"`
}

// WorkspaceRequest is the body of POST /v1/workspaces.
type WorkspaceRequest struct {
	// Name of the new workspace: 1-64 lower-case letters, digits, '_' or '-'.
	Name string `json:"name"`
}

// WorkspaceList is the answer of GET /v1/workspaces.
type WorkspaceList struct {
	// Items are every workspace, by name.
	Items []model.Workspace `json:"items"`
}

// ActivityPage is one page of the activity history, newest first.
type ActivityPage struct {
	// Items are activity records, newest first.
	Items []model.Activity `json:"items"`
	// Next is the cursor of the following page (the before parameter); empty at the end.
	Next string `json:"next"`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	// Status is "ok" (healthz) or "ready" (readyz).
	Status string `json:"status"`
}
