package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
)

// Objects are small JSON documents that features built on streams keep
// next to them (the flow-service facade's connections and flows), under
// their own key prefix: "obj.<workspace>.<kind>.<id>". They are not part
// of the in-memory snapshot (Open's watch ignores the prefix) and are read
// from the bucket on each call: they are few and rarely read.

// Object is one stored object.
type Object struct {
	ID    string
	Value []byte // JSON
	Rev   uint64
}

var objPartRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func objectKey(ws, kind, id string) (string, error) {
	for _, p := range []string{ws, kind, id} {
		if !objPartRe.MatchString(p) {
			return "", fmt.Errorf("store: invalid object key part %q", p)
		}
	}
	return "obj." + ws + "." + kind + "." + id, nil
}

// CreateObject stores v (JSON-encoded) as object id of kind in ws and
// records the creation in the activity history (resource kind, named name).
func (s *Store) CreateObject(ctx context.Context, ws, kind, id, name string, v any, a Actor) (uint64, error) {
	if _, ok := s.Workspace(ws); !ok {
		return 0, fmt.Errorf("workspace %q: %w", ws, ErrNotFound)
	}
	key, err := objectKey(ws, kind, id)
	if err != nil {
		return 0, err
	}
	rev, err := s.put(ctx, key, v, 0)
	if err != nil {
		return 0, err
	}
	s.record(ctx, ws, a, model.ActivityCreated, kind, id, name)
	return rev, nil
}

// GetObject decodes object id of kind in ws into v and returns its
// revision; ErrNotFound when there is none.
func (s *Store) GetObject(ctx context.Context, ws, kind, id string, v any) (uint64, error) {
	key, err := objectKey(ws, kind, id)
	if err != nil {
		return 0, ErrNotFound // no such key can exist
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// Objects lists the objects of kind in ws, in key order.
func (s *Store) Objects(ctx context.Context, ws, kind string) ([]Object, error) {
	prefix, err := objectKey(ws, kind, "x")
	if err != nil {
		return nil, err
	}
	prefix = strings.TrimSuffix(prefix, "x")
	keys, err := s.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("store: list %s*: %w", prefix, err)
	}
	defer func() { _ = keys.Stop() }()
	var out []Object
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", k, err)
		}
		out = append(out, Object{ID: strings.TrimPrefix(k, prefix), Value: e.Value(), Rev: e.Revision()})
	}
	return out, nil
}

// SealDestination returns a copy of d, a destination kept outside a
// stream, with its secret settings sealed like a stored stream's. The
// placeholder "********" is refused: there is no stored value to keep.
func (s *Store) SealDestination(d *model.Destination) (*model.Destination, error) {
	out := cloneDestination(d)
	var errs model.FieldErrors
	_ = s.eachSecret(out, func(path, v string) (string, error) {
		if v == secret.Mask {
			errs.Add("settings."+path, "%q is the placeholder shown for a stored secret; give the secret itself", secret.Mask)
			return v, nil
		}
		return s.box.Seal(v), nil
	})
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// OpenDestination returns a copy of a sealed destination with its secrets
// in clear, ready to be put in a stream (which seals them again).
func (s *Store) OpenDestination(d *model.Destination) (*model.Destination, error) {
	out := cloneDestination(d)
	err := s.eachSecret(out, func(path, v string) (string, error) {
		if !secret.Sealed(v) {
			return v, nil
		}
		pt, err := s.box.Open(v)
		if err != nil {
			return "", fmt.Errorf("destination %s setting %s: %w", d.Name, path, err)
		}
		return pt, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MaskDestination returns a copy of d with every secret setting replaced
// by "********".
func (s *Store) MaskDestination(d *model.Destination) *model.Destination {
	out := cloneDestination(d)
	_ = s.eachSecret(out, func(string, string) (string, error) { return secret.Mask, nil })
	return out
}

func cloneDestination(d *model.Destination) *model.Destination {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("store: clone destination: %v", err))
	}
	var out model.Destination
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("store: clone destination: %v", err))
	}
	if out.Settings == nil {
		out.Settings = map[string]any{}
	}
	return &out
}
