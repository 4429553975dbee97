package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/runnel/runnel/internal/model"
)

// Schema is a compiled schema of one of the generated documents. It checks
// the subset of JSON Schema 2020-12 the documents use: $ref (local), type,
// properties, required, additionalProperties, items, enum, const, oneOf,
// anyOf, allOf, if/then, pattern, minimum, maximum, minItems, maxItems. It lets
// the CLI check a stream file before sending it and the tests check that
// every API answer matches its documented schema.
type Schema struct {
	doc  map[string]any
	root map[string]any

	mu sync.Mutex
	re map[string]*regexp.Regexp
}

// Compile returns the schema at pointer ("#/components/schemas/Stream";
// "" or "#" for the document's root) of a generated document.
func Compile(doc []byte, pointer string) (*Schema, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	s := &Schema{doc: d, re: map[string]*regexp.Regexp{}}
	root, err := s.resolve(pointer)
	if err != nil {
		return nil, err
	}
	s.root = root
	return s, nil
}

func (s *Schema) resolve(ptr string) (map[string]any, error) {
	ptr = strings.TrimPrefix(ptr, "#")
	var cur any = s.doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("spec: no schema at %q", ptr)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("spec: no schema at %q", ptr)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("spec: no schema at %q", ptr)
	}
	return m, nil
}

// ValidateJSON checks a JSON document.
func (s *Schema) ValidateJSON(data []byte) model.FieldErrors {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return model.FieldErrors{{Message: "invalid JSON: " + err.Error()}}
	}
	return s.Validate(v)
}

// Validate checks a value decoded by encoding/json (numbers as float64 or
// json.Number) and returns every violation, with paths in the style of the
// API's field errors ("destinations[0].batch.max_age").
func (s *Schema) Validate(v any) model.FieldErrors {
	var errs model.FieldErrors
	s.check(s.root, v, "", &errs, 0)
	return errs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (s *Schema) check(sch map[string]any, v any, path string, errs *model.FieldErrors, depth int) {
	if depth > 64 {
		errs.Add(path, "schema nesting too deep")
		return
	}
	if r, ok := sch["$ref"].(string); ok {
		target, err := s.resolve(r)
		if err != nil {
			errs.Add(path, "%v", err)
			return
		}
		s.check(target, v, path, errs, depth+1)
	}
	switch t := sch["type"].(type) {
	case string:
		if !hasType(v, t) {
			errs.Add(path, "must be %s", article(t))
			return
		}
	case []any:
		if !slices.ContainsFunc(t, func(x any) bool { s, _ := x.(string); return hasType(v, s) }) {
			errs.Add(path, "must be of type %v", t)
			return
		}
	}
	if alts, ok := sch["anyOf"].([]any); ok {
		matched := false
		var first model.FieldErrors
		for i, a := range alts {
			var e model.FieldErrors
			if m, ok := a.(map[string]any); ok {
				s.check(m, v, path, &e, depth+1)
			}
			if len(e) == 0 {
				matched = true
				break
			} else if i == 0 {
				first = e
			}
		}
		if !matched {
			*errs = append(*errs, first...)
		}
	}
	if e, ok := sch["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		errs.Add(path, "must be one of %v", e)
	}
	if c, ok := sch["const"]; ok && !equal(c, v) {
		errs.Add(path, "must be %v", c)
	}
	if all, ok := sch["allOf"].([]any); ok {
		for _, a := range all {
			if m, ok := a.(map[string]any); ok {
				s.check(m, v, path, errs, depth+1)
			}
		}
	}
	if one, ok := sch["oneOf"].([]any); ok {
		n := 0
		var first model.FieldErrors
		for i, a := range one {
			var e model.FieldErrors
			if m, ok := a.(map[string]any); ok {
				s.check(m, v, path, &e, depth+1)
			}
			if len(e) == 0 {
				n++
			} else if i == 0 {
				first = e
			}
		}
		if n != 1 {
			if d, _ := sch["description"].(string); d != "" && n == 0 {
				errs.Add(path, "invalid value: %s", firstSentence(d))
			} else if len(first) > 0 {
				*errs = append(*errs, first...)
			} else {
				errs.Add(path, "matches %d alternatives, want exactly one", n)
			}
		}
	}
	if cond, ok := sch["if"].(map[string]any); ok {
		var e model.FieldErrors
		s.check(cond, v, path, &e, depth+1)
		if then, ok := sch["then"].(map[string]any); ok && len(e) == 0 {
			s.check(then, v, path, errs, depth+1)
		}
	}
	switch x := v.(type) {
	case string:
		if p, ok := sch["pattern"].(string); ok {
			if re := s.regexp(p); re != nil && !re.MatchString(x) {
				errs.Add(path, "does not match the pattern %s", p)
			}
		}
	case float64, json.Number:
		f := toFloat(x)
		if m, ok := sch["minimum"]; ok && f < toFloat(m) {
			errs.Add(path, "must be at least %v", m)
		}
		if m, ok := sch["maximum"]; ok && f > toFloat(m) {
			errs.Add(path, "must be at most %v", m)
		}
	case []any:
		if m, ok := sch["minItems"]; ok && float64(len(x)) < toFloat(m) {
			errs.Add(path, "must have at least %v items", m)
		}
		if m, ok := sch["maxItems"]; ok && float64(len(x)) > toFloat(m) {
			errs.Add(path, "must have at most %v items", m)
		}
		if items, ok := sch["items"].(map[string]any); ok {
			for i, e := range x {
				s.check(items, e, path+"["+strconv.Itoa(i)+"]", errs, depth+1)
			}
		}
	case map[string]any:
		props, _ := sch["properties"].(map[string]any)
		req, _ := sch["required"].([]any)
		for _, r := range req {
			if name, _ := r.(string); name != "" {
				if _, ok := x[name]; !ok {
					errs.Add(join(path, name), "is required")
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := props[k].(map[string]any); ok {
				s.check(p, x[k], join(path, k), errs, depth+1)
				continue
			}
			switch ap := sch["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs.Add(join(path, k), "unknown field")
				}
			case map[string]any:
				s.check(ap, x[k], join(path, k), errs, depth+1)
			}
		}
	}
}

func (s *Schema) regexp(p string) *regexp.Regexp {
	s.mu.Lock()
	defer s.mu.Unlock()
	if re, ok := s.re[p]; ok {
		return re
	}
	re, _ := regexp.Compile(p)
	s.re[p] = re
	return re
}

func firstSentence(s string) string {
	if i := strings.Index(s, ": "); i > 0 {
		return s[i+2:]
	}
	return s
}

func article(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

func hasType(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "null":
		return v == nil
	case "number":
		switch v.(type) {
		case float64, json.Number:
			return true
		}
	case "integer":
		switch x := v.(type) {
		case float64:
			return x == math.Trunc(x)
		case json.Number:
			if _, err := x.Int64(); err == nil {
				return true
			}
			f, err := x.Float64()
			return err == nil && f == math.Trunc(f)
		}
	}
	return false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return math.NaN()
}

func equal(a, b any) bool {
	if fa, fb := toFloat(a), toFloat(b); !math.IsNaN(fa) || !math.IsNaN(fb) {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}
