// Package destination defines what a delivery target is: the Destination
// interface a kind implements, the Kind descriptor (settings, defaults,
// limits, secrets) and the Registry that the stream validation and the
// deliverer consult. Retries, batching, in-flight limits and acks live in
// the deliverer; a destination only sends one batch and classifies its
// errors with package retry and *BatchError.
package destination

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/runnel/runnel/internal/model"
)

// Framer joins records into one payload with the destination's payload
// options (format, separator).
type Framer interface {
	Frame(dst []byte, records [][]byte) []byte
}

// Batch is what a destination sends at once.
type Batch struct {
	// Records are the events as rendered by the template (one JSON object
	// each, already ascii-escaped when asked).
	Records [][]byte
	// Framer frames Records for text destinations.
	Framer Framer
}

// Destination sends batches to one target.
type Destination interface {
	// Deliver sends one batch. nil: all accepted. *BatchError: some
	// records failed, by index. retry.Permanent(err): retrying cannot help.
	// retry.After(d, err): retry no sooner than d.
	Deliver(ctx context.Context, b Batch) error
	Close(ctx context.Context) error
}

// Checker is implemented by destinations that can probe their target
// (health probe and "test connection").
type Checker interface {
	Check(ctx context.Context) error
}

// ItemError is the failure of one record of a batch.
type ItemError struct {
	Index int
	Err   error
}

// BatchError reports per-record failures; records not listed were accepted.
type BatchError struct {
	Failed []ItemError
}

func (e *BatchError) Error() string {
	if len(e.Failed) == 0 {
		return "batch partially failed"
	}
	return fmt.Sprintf("%d records failed, first: record %d: %v", len(e.Failed), e.Failed[0].Index, e.Failed[0].Err)
}

// Config is a kind's typed settings.
type Config interface {
	// Validate returns every invalid setting (paths relative to settings).
	Validate() model.FieldErrors
}

// Deps are the shared facilities a destination may use.
type Deps struct {
	Logger *slog.Logger
	// HTTPClient is a base client (transport shared); kinds set their own timeout.
	HTTPClient *http.Client
	// Stream and Destination name the destination for errors and logs.
	Stream, Destination string
}

// Limits are hard limits of a kind's target.
type Limits struct {
	MaxEvents int // records per request (0: none)
	MaxBytes  int // bytes per request (0: none)
	MaxRecord int // bytes per record (0: none)
}

// Kind describes one destination type.
type Kind struct {
	Name    string
	Aliases []string
	// Config returns a config with its defaults set, to decode settings into.
	Config func() Config
	// New builds a destination from a validated config.
	New func(ctx context.Context, c Config, d Deps) (Destination, error)
	// Batch is the default batch (max events, max age).
	Batch model.Batch
	// Limits of the target.
	Limits Limits
	// Secret reports whether the settings value at path ("key" or
	// "key.sub" for maps such as http headers) is a secret.
	Secret func(path string) bool
}

// Decode decodes settings into the kind's config; unknown keys are errors.
func (k *Kind) Decode(settings map[string]any) (Config, model.FieldErrors) {
	c := k.Config()
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, model.FieldErrors{{Message: err.Error()}}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, model.FieldErrors{decodeError(err)}
	}
	return c, c.Validate()
}

func decodeError(err error) model.FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return model.FieldError{Path: te.Field, Message: fmt.Sprintf("must be of type %s", te.Type)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return model.FieldError{Path: strings.Trim(f, `"`), Message: "unknown setting"}
	}
	return model.FieldError{Message: strings.TrimPrefix(msg, "json: ")}
}

// Registry is the set of known kinds. It implements model.Kinds.
type Registry struct {
	kinds []Kind
}

// NewRegistry builds a registry from an explicit list of kinds.
func NewRegistry(kinds ...Kind) *Registry { return &Registry{kinds: kinds} }

// Kind returns the kind for a type name or alias.
func (r *Registry) Kind(typ string) (*Kind, bool) {
	for i := range r.kinds {
		k := &r.kinds[i]
		if k.Name == typ || slices.Contains(k.Aliases, typ) {
			return k, true
		}
	}
	return nil, false
}

// Canonical implements model.Kinds.
func (r *Registry) Canonical(typ string) (string, bool) {
	k, ok := r.Kind(typ)
	if !ok {
		return "", false
	}
	return k.Name, true
}

// Names implements model.Kinds.
func (r *Registry) Names() []string {
	out := make([]string, len(r.kinds))
	for i, k := range r.kinds {
		out[i] = k.Name
	}
	return out
}

// ValidateSettings implements model.Kinds.
func (r *Registry) ValidateSettings(typ string, settings map[string]any) model.FieldErrors {
	k, ok := r.Kind(typ)
	if !ok {
		return model.FieldErrors{{Message: "unknown destination type"}}
	}
	_, errs := k.Decode(settings)
	return errs
}

// DefaultBatch implements model.Kinds.
func (r *Registry) DefaultBatch(typ string) model.Batch {
	if k, ok := r.Kind(typ); ok {
		return k.Batch
	}
	return model.Batch{}
}

// IsSecret implements model.Kinds.
func (r *Registry) IsSecret(typ, path string) bool {
	k, ok := r.Kind(typ)
	return ok && k.Secret != nil && k.Secret(path)
}

// New builds the destination d of a stream.
func (r *Registry) New(ctx context.Context, d *model.Destination, deps Deps) (Destination, *Kind, error) {
	k, ok := r.Kind(d.Type)
	if !ok {
		return nil, nil, fmt.Errorf("unknown destination type %q", d.Type)
	}
	c, errs := k.Decode(d.Settings)
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("destination %s: invalid settings: %w", d.Name, errs)
	}
	dst, err := k.New(ctx, c, deps)
	if err != nil {
		return nil, nil, err
	}
	return dst, k, nil
}
