package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
)

// Stream returns a stream of workspace ws by id or name, with its revision.
// The returned value is shared: do not modify it (Clone first).
func (s *Store) Stream(ws, idOrName string) (*model.Stream, uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.streams[idOrName]
	if !ok {
		id, found := s.byName[ws+"/"+idOrName]
		if !found {
			return nil, 0, false
		}
		e = s.streams[id]
	}
	if e.v == nil || e.v.Workspace != ws {
		return nil, 0, false
	}
	return e.v, e.rev, true
}

// StreamByInlet returns the stream with this inlet id.
func (s *Store) StreamByInlet(inletID string) (*model.Stream, uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byInlet[inletID]
	if !ok {
		return nil, 0, false
	}
	e := s.streams[id]
	return e.v, e.rev, e.v != nil
}

// Streams lists the streams of ws (all workspaces when ws is ""), by name.
func (s *Store) Streams(ws string) []*model.Stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.streams, func(st *model.Stream) bool { return ws == "" || st.Workspace == ws },
		func(a, b *model.Stream) int {
			return cmp.Or(cmp.Compare(a.Workspace, b.Workspace), cmp.Compare(a.Name, b.Name))
		})
}

// StreamRev returns the current revision of a stream id (0 if unknown).
func (s *Store) StreamRev(id string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[id].rev
}

// CreateStream stores a new, normalized and validated stream in ws.
func (s *Store) CreateStream(ctx context.Context, ws string, st *model.Stream, a Actor) (*model.Stream, uint64, error) {
	if _, ok := s.Workspace(ws); !ok {
		return nil, 0, fmt.Errorf("workspace %q: %w", ws, ErrNotFound)
	}
	st = Clone(st)
	now := time.Now().UTC().Truncate(time.Millisecond)
	st.ID = model.NewID("str_")
	st.Workspace = ws
	st.InletID = model.NewInletID()
	st.CreatedAt, st.UpdatedAt = now, now
	if err := s.sealSecrets(st, nil); err != nil {
		return nil, 0, err
	}
	if _, err := s.put(ctx, nameKey(ws, st.Name), st.ID, 0); err != nil {
		return nil, 0, fmt.Errorf("stream %q: %w", st.Name, err)
	}
	if err := s.b.EnsureEventStream(ctx, st); err != nil {
		_ = s.del(ctx, nameKey(ws, st.Name), 0)
		return nil, 0, err
	}
	rev, err := s.put(ctx, "st."+st.ID, st, 0)
	if err != nil {
		_ = s.b.DeleteEventStream(ctx, st.ID)
		_ = s.del(ctx, nameKey(ws, st.Name), 0)
		return nil, 0, err
	}
	s.record(ctx, ws, a, model.ActivityCreated, "stream", st.ID, st.Name)
	return st, rev, nil
}

// UpdateStream replaces stream id of ws with st (normalized, validated).
// ifMatch, when non-zero, must be the current revision. Secrets given as
// the mask keep their stored value.
func (s *Store) UpdateStream(ctx context.Context, ws, id string, st *model.Stream, ifMatch uint64, a Actor) (*model.Stream, uint64, error) {
	prev, rev, ok := s.Stream(ws, id)
	if !ok {
		return nil, 0, ErrNotFound
	}
	if ifMatch != 0 && ifMatch != rev {
		return nil, 0, ErrPreconditionFailed
	}
	st = Clone(st)
	st.ID, st.Workspace, st.InletID, st.CreatedAt = prev.ID, prev.Workspace, prev.InletID, prev.CreatedAt
	st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	if err := s.sealSecrets(st, prev); err != nil {
		return nil, 0, err
	}
	renamed := st.Name != prev.Name
	if renamed {
		if _, err := s.put(ctx, nameKey(ws, st.Name), st.ID, 0); err != nil {
			return nil, 0, fmt.Errorf("stream %q: %w", st.Name, err)
		}
	}
	if err := s.b.EnsureEventStream(ctx, st); err != nil {
		if renamed {
			_ = s.del(ctx, nameKey(ws, st.Name), 0)
		}
		return nil, 0, err
	}
	nrev, err := s.put(ctx, "st."+st.ID, st, rev)
	if err != nil {
		_ = s.b.EnsureEventStream(ctx, prev)
		if renamed {
			_ = s.del(ctx, nameKey(ws, st.Name), 0)
		}
		return nil, 0, err
	}
	if renamed {
		_ = s.del(ctx, nameKey(ws, prev.Name), 0)
	}
	s.record(ctx, ws, a, model.ActivityChanged, "stream", st.ID, st.Name)
	return st, nrev, nil
}

// DeleteStream removes a stream, its buffered events and dead letters.
func (s *Store) DeleteStream(ctx context.Context, ws, id string, ifMatch uint64, a Actor) error {
	prev, rev, ok := s.Stream(ws, id)
	if !ok {
		return ErrNotFound
	}
	if ifMatch != 0 && ifMatch != rev {
		return ErrPreconditionFailed
	}
	if err := s.del(ctx, "st."+prev.ID, rev); err != nil {
		return err
	}
	_ = s.del(ctx, nameKey(ws, prev.Name), 0)
	if err := s.b.DeleteEventStream(ctx, prev.ID); err != nil {
		s.log.Warn("delete event stream", "stream", prev.ID, "error", err)
	}
	if err := s.b.PurgeDeadLetters(ctx, prev.ID); err != nil {
		s.log.Warn("purge dead letters of deleted stream", "stream", prev.ID, "error", err)
	}
	s.record(ctx, ws, a, model.ActivityDeleted, "stream", prev.ID, prev.Name)
	return nil
}

func nameKey(ws, name string) string { return "stname." + ws + "." + name }

// Clone deep-copies a stream.
func Clone(st *model.Stream) *model.Stream {
	b, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("store: clone stream: %v", err))
	}
	var out model.Stream
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("store: clone stream: %v", err))
	}
	return &out
}

// eachSecret calls fn for every secret string value of a destination's
// settings (top-level keys and one level of nested maps).
func (s *Store) eachSecret(d *model.Destination, fn func(path string, v string) (string, error)) error {
	for k, v := range d.Settings {
		switch val := v.(type) {
		case string:
			if s.kinds.IsSecret(d.Type, k) {
				nv, err := fn(k, val)
				if err != nil {
					return err
				}
				d.Settings[k] = nv
			}
		case map[string]any:
			for sk, sv := range val {
				str, ok := sv.(string)
				if ok && s.kinds.IsSecret(d.Type, k+"."+sk) {
					nv, err := fn(k+"."+sk, str)
					if err != nil {
						return err
					}
					val[sk] = nv
				}
			}
		}
	}
	return nil
}

// sealSecrets encrypts secret settings; a value equal to the mask keeps
// the value prev had at the same place.
func (s *Store) sealSecrets(st, prev *model.Stream) error {
	var errs model.FieldErrors
	for i := range st.Destinations {
		d := &st.Destinations[i]
		_ = s.eachSecret(d, func(path, v string) (string, error) {
			if v != secret.Mask {
				return s.box.Seal(v), nil
			}
			if old, ok := prevSecret(prev, d.Name, d.Type, path); ok {
				return old, nil
			}
			errs.Add(fmt.Sprintf("destinations[%d].settings.%s", i, path), "%q is the placeholder shown for a stored secret; give the secret itself", secret.Mask)
			return v, nil
		})
	}
	return errs.Err()
}

func prevSecret(prev *model.Stream, dest, typ, path string) (string, bool) {
	if prev == nil {
		return "", false
	}
	d, ok := prev.Destination(dest)
	if !ok || d.Type != typ {
		return "", false
	}
	key, sub, nested := cutPath(path)
	v := d.Settings[key]
	if nested {
		m, _ := v.(map[string]any)
		v = m[sub]
	}
	str, ok := v.(string)
	return str, ok && secret.Sealed(str)
}

func cutPath(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// Masked returns a copy of a stored stream with every secret replaced by
// the mask: the view of the API, the CLI and the console.
func (s *Store) Masked(st *model.Stream) *model.Stream {
	out := Clone(st)
	for i := range out.Destinations {
		_ = s.eachSecret(&out.Destinations[i], func(string, string) (string, error) { return secret.Mask, nil })
	}
	return out
}

// Decrypted returns a copy of a stored stream with its secrets in clear,
// for the deliverers. It never leaves the process.
func (s *Store) Decrypted(st *model.Stream) (*model.Stream, error) {
	out := Clone(st)
	for i := range out.Destinations {
		d := &out.Destinations[i]
		err := s.eachSecret(d, func(path, v string) (string, error) {
			if !secret.Sealed(v) {
				return v, nil
			}
			pt, err := s.box.Open(v)
			if err != nil {
				return "", fmt.Errorf("stream %s destination %s setting %s: %w", st.ID, d.Name, path, err)
			}
			return pt, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
