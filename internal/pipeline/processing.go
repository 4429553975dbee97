package pipeline

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/expr"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline/processors"
)

// customHostPaths are where the host of a custom event is read (domains).
var customHostPaths = []string{"host", "event.host", "metadata.host"}

// chainOptions are the processors.Options of a stream, without routes.
func chainOptions(st *model.Stream, opts Options, written []string) processors.Options {
	o := processors.Options{
		Salt:      opts.Salt,
		LookupDir: opts.LookupDir,
		Now:       opts.Now,
		Vars:      celVars(st.DataSource, written),
	}
	if d := st.Domains; d != nil {
		o.Hosts = d.List
		if p := d.Percent(); p != 100 {
			o.SamplingPercent = p
		}
	}
	if st.DataSource == "" || st.DataSource == catalog.Custom {
		o.HostPaths = customHostPaths
	}
	return o
}

// celVars are the top-level fields of the stream's events, the variables
// of its expressions: the envelope's for custom, the catalog's otherwise,
// plus the top-level fields processors add.
func celVars(dataSource string, written []string) []string {
	var vars []string
	if ds, ok := catalog.Get(dataSource); ok && dataSource != catalog.Custom {
		for _, v := range ds.Variables {
			if celIdent(v.Name) {
				vars = append(vars, v.Name)
			}
		}
	} else {
		vars = slices.Clone(expr.DefaultVars)
	}
	for _, w := range written {
		top, _, _ := strings.Cut(w, ".")
		if celIdent(top) && !slices.Contains(vars, top) {
			vars = append(vars, top)
		}
	}
	return vars
}

// celIdent reports whether s can be a CEL variable name.
func celIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	switch s {
	case "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
		"import", "let", "loop", "package", "namespace", "return", "var", "void", "while":
		return false
	}
	return true
}

// writtenPaths lists the paths the processors add or overwrite (set
// field, rename to, parse target, enrich targets and static keys): a
// template may read them although the data source's catalog does not
// list them. The list is read loosely; processors.Compile reports what is
// malformed.
func writtenPaths(raw json.RawMessage) []string {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil
	}
	var out []string
	str := func(m map[string]json.RawMessage, k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	add := func(p string) {
		if p != "" && p != "." {
			out = append(out, p)
		}
	}
	for _, e := range entries {
		for name, raw := range e {
			var s map[string]json.RawMessage
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			switch name {
			case "set":
				add(str(s, "field"))
			case "rename":
				add(str(s, "to"))
			case "parse":
				if t := str(s, "target"); t != "" {
					add(t)
				} else {
					add(str(s, "field"))
				}
			case "enrich":
				for _, k := range []string{"lookup", "geoip"} {
					var sub map[string]json.RawMessage
					if json.Unmarshal(s[k], &sub) == nil {
						add(str(sub, "target"))
					}
				}
				if t := str(s, "target"); t != "" {
					add(t)
				} else {
					var static map[string]json.RawMessage
					if json.Unmarshal(s["static"], &static) == nil {
						for k := range static {
							add(k)
						}
					}
				}
			}
		}
	}
	return out
}

// written reports whether path is, or lies under, a path the processors write.
func written(paths []string, path string) bool {
	for _, w := range paths {
		if path == w || strings.HasPrefix(path, w+".") {
			return true
		}
	}
	return false
}
