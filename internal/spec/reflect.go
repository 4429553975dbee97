package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// reflector turns Go types into JSON Schema (2020-12) following the rules
// of encoding/json: json tags name the properties, embedded structs are
// flattened, "-" fields are skipped. Named struct types become definitions
// referenced with $ref; a field without omitempty/omitzero is required
// (unless listed in notRequired).
type reflector struct {
	prefix   string // "#/components/schemas/" or "#/$defs/"
	defs     map[string]map[string]any
	names    map[reflect.Type]string
	comments map[string]string
	err      error // the first error met
}

func newReflector(prefix string) *reflector {
	return &reflector{prefix: prefix, defs: map[string]map[string]any{}, names: map[reflect.Type]string{}, comments: comments()}
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	sizeType     = reflect.TypeFor[model.Size]()
	durationType = reflect.TypeFor[model.Duration]()
)

// typeKey is "pkg.Type" (the last element of the package path).
func typeKey(t reflect.Type) string {
	p := t.PkgPath()
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return p + "." + t.Name()
}

// define registers the definition of a named type and returns its $ref.
func (r *reflector) define(name string, t reflect.Type, build func() map[string]any) map[string]any {
	if prev, ok := r.names[t]; ok {
		return map[string]any{"$ref": r.prefix + prev}
	}
	for other, n := range r.names {
		if n == name && other != t && r.err == nil {
			r.err = fmt.Errorf("spec: schema name %q used by %v and %v", name, other, t)
		}
	}
	r.names[t] = name
	r.defs[name] = nil // placeholder: recursion
	r.defs[name] = build()
	return map[string]any{"$ref": r.prefix + name}
}

// schema returns the schema of t (a $ref for named structs).
func (r *reflector) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	case sizeType:
		return r.define("Size", t, func() map[string]any {
			return map[string]any{
				"description": "A byte count: an integer, or a string with a unit (\"256KiB\", \"1MiB\", \"10GiB\"; KB, MB, GB are powers of 1000).",
				"oneOf": []any{
					map[string]any{"type": "integer", "minimum": 0},
					map[string]any{"type": "string", "pattern": SizePattern},
				},
			}
		})
	case durationType:
		return r.define("Duration", t, func() map[string]any {
			return map[string]any{
				"description": "A time span: a Go duration string (\"200ms\", \"60s\", \"168h\"); a bare number is seconds.",
				"oneOf": []any{
					map[string]any{"type": "string", "pattern": DurationPattern},
					map[string]any{"type": "number", "minimum": 0},
				},
			}
		})
	}
	switch t.Kind() {
	case reflect.Pointer:
		return r.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": r.schema(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": r.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return r.object(t)
		}
		name := typeKey(t)
		switch pkg, _, _ := strings.Cut(name, "."); {
		case schemaNames[name] != "":
			name = schemaNames[name]
		case pkg == "model" || pkg == "view" || pkg == "apierr" || pkg == "catalog":
			name = t.Name()
		}
		// Types of other packages (destination settings) keep "pkg.Type".
		return r.define(name, t, func() map[string]any {
			s := r.object(t)
			if d := r.comments[typeKey(t)]; d != "" {
				s["description"] = d
			}
			return s
		})
	}
	if r.err == nil {
		r.err = fmt.Errorf("spec: cannot reflect %v", t)
	}
	return map[string]any{}
}

// jsonField is one property of a struct as encoding/json sees it.
type jsonField struct {
	name  string
	key   string // "pkg.Owner.Field": comments and overrides
	typ   reflect.Type
	omit  bool
	depth int
}

// jsonFields lists the properties of struct t, embedded structs flattened;
// of fields with the same name the shallowest wins.
func jsonFields(t reflect.Type, depth int) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft, depth+1)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		out = append(out, jsonField{name: name, key: typeKey(t) + "." + sf.Name, typ: ft, omit: omit, depth: depth})
	}
	if depth > 0 {
		return out
	}
	// Dominance: the shallowest field of a name wins.
	best := map[string]int{}
	for i, f := range out {
		if j, ok := best[f.name]; !ok || f.depth < out[j].depth {
			best[f.name] = i
		}
	}
	kept := out[:0:0]
	for i, f := range out {
		if best[f.name] == i {
			kept = append(kept, f)
		}
	}
	return kept
}

func (r *reflector) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t, 0) {
		p := r.schema(f.typ)
		p = cloneMap(p)
		if d := r.comments[f.key]; d != "" {
			p["description"] = d
		} else if d := descriptions[f.key]; d != "" {
			p["description"] = d
		}
		if readOnly[f.key] {
			p["readOnly"] = true
		}
		if fn := fieldOverrides[f.key]; fn != nil {
			fn(p)
		}
		if f.typ.Kind() == reflect.Pointer && !f.omit {
			p = nullable(p)
		}
		props[f.name] = p
		if !f.omit && !notRequired[f.key] && !readOnly[f.key] {
			required = append(required, f.name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nullable lets a property be null as well (a pointer field without
// omitempty is written as null when nil).
func nullable(p map[string]any) map[string]any {
	if t, ok := p["type"].(string); ok {
		p["type"] = []any{t, "null"}
		return p
	}
	out := map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
	if d, ok := p["description"]; ok {
		out["description"] = d
	}
	return out
}
