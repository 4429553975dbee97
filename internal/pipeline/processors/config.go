package processors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/runnel/runnel/internal/model"
)

// settings reads one processor's settings object, recording a FieldError
// (with the setting's full path) for every problem.
type settings struct {
	at   string // e.g. processors[2].mask
	m    map[string]json.RawMessage
	keys []string // in the order written
	errs *model.FieldErrors
}

// newSettings decodes raw as an object. On failure it records an error at
// `at` and returns nil.
func newSettings(at string, raw json.RawMessage, errs *model.FieldErrors) *settings {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		errs.Add(at, "must be an object of settings")
		return nil
	}
	keys, err := objectKeys(raw)
	if err != nil {
		errs.Add(at, "%v", err)
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		errs.Add(at, "invalid settings: %v", err)
		return nil
	}
	return &settings{at: at, m: m, keys: keys, errs: errs}
}

// objectKeys lists an object's keys in order and rejects duplicates.
func objectKeys(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := tok.(string)
		if seen[k] {
			return nil, fmt.Errorf("setting %q is given twice", k)
		}
		seen[k] = true
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func (s *settings) path(key string) string { return s.at + "." + key }

func (s *settings) has(key string) bool {
	raw, ok := s.m[key]
	return ok && string(bytes.TrimSpace(raw)) != "null"
}

func (s *settings) fail(key, format string, args ...any) {
	p := s.at
	if key != "" {
		p = s.path(key)
	}
	s.errs.Add(p, format, args...)
}

// check reports every key that is not in valid.
func (s *settings) check(valid ...string) {
	for _, k := range s.keys {
		if !slices.Contains(valid, k) {
			s.errs.Add(s.path(k), "unknown setting (valid: %s)", strings.Join(valid, ", "))
		}
	}
}

// str reads a string setting; ok is false when it is absent or invalid
// (invalid is recorded; a missing required one too).
func (s *settings) str(key string, required bool) (string, bool) {
	if !s.has(key) {
		if required {
			s.fail(key, "required")
		}
		return "", false
	}
	var v string
	if err := json.Unmarshal(s.m[key], &v); err != nil {
		s.fail(key, "must be a string")
		return "", false
	}
	if required && v == "" {
		s.fail(key, "must not be empty")
		return "", false
	}
	return v, true
}

// strList reads a list of non-empty strings; a single string is accepted
// as a list of one.
func (s *settings) strList(key string, required bool) ([]string, bool) {
	if !s.has(key) {
		if required {
			s.fail(key, "required")
		}
		return nil, false
	}
	raw := s.m[key]
	var one string
	if json.Unmarshal(raw, &one) == nil {
		raw = json.RawMessage(strconv.Quote(one))
		raw = append(append(json.RawMessage{'['}, raw...), ']')
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		s.fail(key, "must be a list of strings")
		return nil, false
	}
	if len(elems) == 0 && required {
		s.fail(key, "must not be empty")
		return nil, false
	}
	out := make([]string, 0, len(elems))
	ok := true
	for i, e := range elems {
		var v string
		if err := json.Unmarshal(e, &v); err != nil {
			s.errs.Add(fmt.Sprintf("%s[%d]", s.path(key), i), "must be a string")
			ok = false
			continue
		}
		out = append(out, v)
	}
	return out, ok
}

// pathSetting reads and compiles a dotted path.
func (s *settings) pathSetting(key string, required bool) (path, bool) {
	src, ok := s.str(key, required)
	if !ok {
		return path{}, false
	}
	p, err := parsePath(src)
	if err != nil {
		s.fail(key, "%v", err)
		return path{}, false
	}
	return p, true
}

// pathList reads a list of paths; errors name the element.
func (s *settings) pathList(key string, required bool) ([]path, bool) {
	srcs, ok := s.strList(key, required)
	if !ok {
		return nil, false
	}
	out := make([]path, 0, len(srcs))
	for i, src := range srcs {
		p, err := parsePath(src)
		if err != nil {
			s.errs.Add(fmt.Sprintf("%s[%d]", s.path(key), i), "%v", err)
			ok = false
			continue
		}
		out = append(out, p)
	}
	return out, ok
}

// number reads a finite number.
func (s *settings) number(key string, required bool) (float64, bool) {
	if !s.has(key) {
		if required {
			s.fail(key, "required")
		}
		return 0, false
	}
	var v float64
	if err := json.Unmarshal(s.m[key], &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		s.fail(key, "must be a number")
		return 0, false
	}
	return v, true
}

// sub reads a nested settings object.
func (s *settings) sub(key string) *settings {
	return newSettings(s.path(key), s.m[key], s.errs)
}

// enum reads a string that must be one of choices.
func (s *settings) enum(key string, required bool, def string, choices ...string) (string, bool) {
	v, ok := s.str(key, required)
	if !ok {
		if s.has(key) || required {
			return "", false
		}
		return def, true
	}
	if !slices.Contains(choices, v) {
		s.fail(key, "must be one of %s, not %q", strings.Join(choices, ", "), v)
		return "", false
	}
	return v, true
}
