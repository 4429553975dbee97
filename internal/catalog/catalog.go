// Package catalog holds the data sources a stream can carry (SPEC §4
// "data_source"), each with the catalog of its variables, and the preset
// templates that go with them.
//
// The data sources and their variables follow the seed product's
// documentation (Azion Data Stream: Activity History, Edge Applications,
// Edge Functions, WAF Events) — names as documented, without the "$" —
// plus "custom", whose events have any shape. Each preset sends every
// documented variable of its data source, as the seed product's presets
// do, except those documented as conditional or deprecated (traceback,
// truncated_body). Variables marked Extra are Runnel's own additions
// (the split upstream_*_last values of Edge Applications and its
// body_bytes_sent and remote_user, which nginx's combined access-log
// format carries; the ids and resource of an Activity History record),
// which presets leave out.
//
// The catalog is a JSON document embedded in the binary (catalog.json),
// read once; it is immutable, and every function returns copies. This
// package imports nothing of Runnel, so that model (validation), pipeline
// (template checks), spec (the OpenAPI schemas) and the CLI can all use
// it; the HTTP handlers are in package catalogapi.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Custom is the data source of events of any shape: no variable catalog,
// no presets, any path allowed in templates.
const Custom = "custom"

// The data sources with a catalog.
const (
	ActivityHistory  = "activity_history"
	EdgeApplications = "edge_applications"
	EdgeFunctions    = "edge_functions"
	WAFEvents        = "waf_events"
)

// Variable types.
const (
	TypeString    = "string"
	TypeInteger   = "integer"
	TypeNumber    = "number"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
)

// Types lists the variable types.
var Types = []string{TypeString, TypeInteger, TypeNumber, TypeBoolean, TypeTimestamp}

// Variable is one field of a data source's events.
type Variable struct {
	// Name of the field in the event and in templates (without "$").
	Name string `json:"name"`
	// Type of the value: string, integer, number, boolean or timestamp (an RFC 3339 string).
	Type string `json:"type"`
	// Description of what the value means.
	Description string `json:"description"`
	// Example value, of the variable's type.
	Example any `json:"example"`
	// Extra marks a variable Runnel adds to those the seed product documents (presets leave it out).
	Extra bool `json:"extra,omitempty"`
}

// DataSource is a kind of events a stream can carry, with its variables.
type DataSource struct {
	// Name is the value of a stream's data_source.
	Name string `json:"name"`
	// Title is the human name.
	Title string `json:"title"`
	// Description of the events.
	Description string `json:"description"`
	// Variables the events carry, in documentation order; empty for custom (any path).
	Variables []Variable `json:"variables"`
	// Presets are the names of the preset templates of this data source.
	Presets []string `json:"presets"`
}

// Template is a template offered by GET /v1/templates: a preset (its
// variables fixed) or the custom template (any variables of the stream's
// data source).
type Template struct {
	// Name of the template: the value of a stream's template.preset for a preset, "custom" for the custom template.
	Name string `json:"name"`
	// DataSource the template belongs to; absent for the custom template, which fits every data source.
	DataSource string `json:"data_source,omitempty"`
	// Title is the human name.
	Title string `json:"title"`
	// Description of what the template sends.
	Description string `json:"description"`
	// Variables the template sends, in order; empty for the custom template.
	Variables []string `json:"variables"`
	// Editable is false for presets (their variables cannot be changed) and true for the custom template.
	Editable bool `json:"editable"`
}

// DataSourceList is the answer of GET /v1/data-sources.
type DataSourceList struct {
	// Items are the data sources, by name.
	Items []DataSource `json:"items"`
}

// TemplateList is the answer of GET /v1/templates.
type TemplateList struct {
	// Items are the presets, by name, then the custom template.
	Items []Template `json:"items"`
}

//go:embed catalog.json
var catalogJSON []byte

type source struct {
	DataSource
	index map[string]int // variable name → position in Variables
}

type catalog struct {
	sources []*source // by name
	byName  map[string]*source
	presets []Template // by name
	preset  map[string]int
}

var load = sync.OnceValue(func() *catalog {
	c, err := parse(catalogJSON)
	if err != nil {
		panic("catalog: " + err.Error())
	}
	return c
})

// parse reads and checks a catalog document.
func parse(raw []byte) (*catalog, error) {
	var doc struct {
		DataSources []DataSource `json:"data_sources"`
		Presets     []Template   `json:"presets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	c := &catalog{byName: map[string]*source{}, preset: map[string]int{}}
	for _, ds := range doc.DataSources {
		if ds.Name == "" || ds.Title == "" || ds.Description == "" {
			return nil, fmt.Errorf("data source %q: name, title and description are required", ds.Name)
		}
		if c.byName[ds.Name] != nil {
			return nil, fmt.Errorf("data source %q: listed twice", ds.Name)
		}
		s := &source{DataSource: ds, index: map[string]int{}}
		s.Presets = []string{}
		if s.Variables == nil {
			s.Variables = []Variable{}
		}
		for i := range s.Variables {
			v := &s.Variables[i]
			if _, dup := s.index[v.Name]; dup {
				return nil, fmt.Errorf("data source %s: variable %q listed twice", ds.Name, v.Name)
			}
			if err := v.check(); err != nil {
				return nil, fmt.Errorf("data source %s: variable %q: %w", ds.Name, v.Name, err)
			}
			v.Example = plainExample(v.Example)
			s.index[v.Name] = i
		}
		if ds.Name == Custom && len(s.Variables) > 0 {
			return nil, fmt.Errorf("data source %s: has no variables (any path is allowed)", Custom)
		}
		c.sources = append(c.sources, s)
		c.byName[ds.Name] = s
	}
	if c.byName[Custom] == nil {
		return nil, fmt.Errorf("data source %s is missing", Custom)
	}
	for _, p := range doc.Presets {
		s := c.byName[p.DataSource]
		switch {
		case p.Name == "" || p.Title == "" || p.Description == "":
			return nil, fmt.Errorf("preset %q: name, title and description are required", p.Name)
		case p.Name == Custom:
			return nil, fmt.Errorf("preset %q: the name is the custom template's", p.Name)
		case s == nil:
			return nil, fmt.Errorf("preset %s: unknown data source %q", p.Name, p.DataSource)
		case p.DataSource == Custom:
			return nil, fmt.Errorf("preset %s: data source %s has no presets", p.Name, Custom)
		case len(p.Variables) == 0:
			return nil, fmt.Errorf("preset %s: no variables", p.Name)
		case p.Editable:
			return nil, fmt.Errorf("preset %s: presets are not editable", p.Name)
		}
		if _, dup := c.preset[p.Name]; dup {
			return nil, fmt.Errorf("preset %q: listed twice", p.Name)
		}
		seen := map[string]bool{}
		for _, v := range p.Variables {
			if _, ok := s.index[v]; !ok {
				return nil, fmt.Errorf("preset %s: %q is not a variable of %s", p.Name, v, p.DataSource)
			}
			if seen[v] {
				return nil, fmt.Errorf("preset %s: variable %q listed twice", p.Name, v)
			}
			seen[v] = true
		}
		c.preset[p.Name] = len(c.presets)
		c.presets = append(c.presets, p)
		s.Presets = append(s.Presets, p.Name)
	}
	slices.SortFunc(c.sources, func(a, b *source) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.presets, func(a, b Template) int { return strings.Compare(a.Name, b.Name) })
	for i, p := range c.presets {
		c.preset[p.Name] = i
	}
	for _, s := range c.sources {
		slices.Sort(s.Presets)
	}
	return c, nil
}

// check verifies the variable's fields and that its example has its type.
func (v *Variable) check() error {
	if v.Name == "" || strings.ContainsAny(v.Name, ".\\$ ") {
		return fmt.Errorf("invalid name (want a single path segment without '$')")
	}
	if !slices.Contains(Types, v.Type) {
		return fmt.Errorf("type %q (want one of %s)", v.Type, strings.Join(Types, ", "))
	}
	if strings.TrimSpace(v.Description) == "" {
		return fmt.Errorf("no description")
	}
	if v.Example == nil {
		return fmt.Errorf("no example")
	}
	if !HasType(v.Example, v.Type) {
		return fmt.Errorf("example %v is not a %s", v.Example, v.Type)
	}
	return nil
}

// plainExample turns a json.Number into an int64 or a float64, so that the
// example marshals as written and compares with ordinary values.
func plainExample(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, _ := n.Float64()
	return f
}

// HasType reports whether v, a value decoded by encoding/json (numbers as
// float64 or json.Number), is of the variable type typ. A timestamp is an
// RFC 3339 string; an integer is a number without a fractional part.
func HasType(v any, typ string) bool {
	switch typ {
	case TypeString:
		_, ok := v.(string)
		return ok
	case TypeTimestamp:
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case TypeBoolean:
		_, ok := v.(bool)
		return ok
	case TypeNumber:
		switch v.(type) {
		case json.Number, float64, float32, int, int64:
			return true
		}
	case TypeInteger:
		switch t := v.(type) {
		case json.Number:
			_, err := t.Int64()
			return err == nil
		case float64:
			return t == float64(int64(t))
		case int, int64:
			return true
		}
	}
	return false
}

// All returns every data source, by name.
func All() []DataSource {
	c := load()
	out := make([]DataSource, len(c.sources))
	for i, s := range c.sources {
		out[i] = s.clone()
	}
	return out
}

// Names returns the names of the data sources, sorted.
func Names() []string {
	c := load()
	out := make([]string, len(c.sources))
	for i, s := range c.sources {
		out[i] = s.Name
	}
	return out
}

// Get returns the data source of this name.
func Get(name string) (DataSource, bool) {
	s, ok := load().byName[name]
	if !ok {
		return DataSource{}, false
	}
	return s.clone(), true
}

// Valid reports whether name is a data source.
func Valid(name string) bool {
	_, ok := load().byName[name]
	return ok
}

// Lookup returns the variable of a data source. It is false for custom
// (which has no catalog) and for an unknown data source.
func Lookup(dataSource, variable string) (Variable, bool) {
	s, ok := load().byName[dataSource]
	if !ok {
		return Variable{}, false
	}
	i, ok := s.index[variable]
	if !ok {
		return Variable{}, false
	}
	return s.Variables[i], true
}

// Allows reports whether a template of a stream with this data source may
// read path (as written in the template): any path for custom, a
// variable of the catalog otherwise.
func Allows(dataSource, path string) bool {
	if dataSource == Custom {
		return true
	}
	_, ok := Lookup(dataSource, path)
	return ok
}

// Suggest returns the variable of the data source that path most likely
// meant, comparing without case and underscores (request_path →
// requestPath), or "".
func Suggest(dataSource, path string) string {
	s, ok := load().byName[dataSource]
	if !ok {
		return ""
	}
	fold := func(x string) string { return strings.ToLower(strings.ReplaceAll(x, "_", "")) }
	want := fold(path)
	for _, v := range s.Variables {
		if fold(v.Name) == want {
			return v.Name
		}
	}
	return ""
}

// Preset returns the preset template of this name (not the custom template).
func Preset(name string) (Template, bool) {
	c := load()
	i, ok := c.preset[name]
	if !ok {
		return Template{}, false
	}
	return c.presets[i].clone(), true
}

// Presets returns every preset template, by name.
func Presets() []Template {
	c := load()
	out := make([]Template, len(c.presets))
	for i, p := range c.presets {
		out[i] = p.clone()
	}
	return out
}

// CustomTemplate is the entry of GET /v1/templates for templates the user
// writes: any variables of the stream's data source (any path for custom),
// as template.variables or template.dataset.
func CustomTemplate() Template {
	return Template{
		Name:  Custom,
		Title: "Custom Template",
		Description: "Choose the variables yourself, for any data source: template.variables lists them (output keys are the variables), " +
			"template.dataset maps your keys to \"$variable\" references and literals. Variables must belong to the stream's data source; " +
			"with data source custom any path of the event is allowed. Not a preset: do not name it in template.preset.",
		Variables: []string{},
		Editable:  true,
	}
}

// Templates returns the answer of GET /v1/templates: the presets, by
// name, then the custom template.
func Templates() []Template {
	return append(Presets(), CustomTemplate())
}

func (s *source) clone() DataSource {
	d := s.DataSource
	d.Variables = slices.Clone(s.Variables)
	d.Presets = slices.Clone(s.Presets)
	return d
}

func (t Template) clone() Template {
	t.Variables = slices.Clone(t.Variables)
	return t
}
