package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/template"
)

// compileTemplate compiles the stream's template: a preset is replaced by
// its variables, and every variable or dataset reference must belong to
// the stream's data source (any path for custom) or be written by one of
// its processors (wrote). Errors name the
// offending field as the definition writes it: data_source,
// template.preset, template.variables[3], template.dataset."key". An
// empty data source is custom, as Normalize makes it.
func compileTemplate(st *model.Stream, wrote []string) (*template.Template, model.FieldErrors) {
	var errs model.FieldErrors
	ds := st.DataSource
	if ds == "" {
		ds = catalog.Custom // the default (model.Stream.Normalize)
	}
	if !catalog.Valid(ds) {
		errs.Add("data_source", "unknown data source %q (want one of %s)", ds, strings.Join(catalog.Names(), ", "))
	}
	vars := st.Template.Variables
	if name := st.Template.Preset; name != "" {
		if pe := model.PresetErrors(name, ds); len(pe) > 0 {
			errs.Merge("template.preset", pe)
			return nil, errs
		}
		if len(vars) > 0 || isSet(st.Template.Dataset) {
			errs.Add("template", "set at most one of variables, dataset and preset (a preset's variables cannot be changed)")
			return nil, errs
		}
		p, _ := catalog.Preset(name)
		vars = p.Variables
	}
	tpl, err := template.Compile(vars, st.Template.Dataset)
	if err != nil {
		errs.Add("template", "%v", err)
		return nil, errs
	}
	if len(errs) > 0 || ds == catalog.Custom || st.Template.Preset != "" {
		return tpl, errs
	}
	for i, v := range st.Template.Variables {
		if !catalog.Allows(ds, v) && !written(wrote, v) {
			errs.Add(fmt.Sprintf("template.variables[%d]", i), "%s", unknownVariable(ds, v))
		}
	}
	if isSet(st.Template.Dataset) {
		for _, r := range datasetRefs(st.Template.Dataset) {
			if !catalog.Allows(ds, r.path) && !written(wrote, r.path) {
				errs.Add("template.dataset."+strconv.Quote(r.key), "%s", unknownVariable(ds, "$"+r.path))
			}
		}
	}
	return tpl, errs
}

// unknownVariable is the message for a variable (or "$reference") that is
// not in the data source's catalog.
func unknownVariable(ds, v string) string {
	msg := fmt.Sprintf("%q is not a variable of data source %s", v, ds)
	if s := catalog.Suggest(ds, strings.TrimPrefix(v, "$")); s != "" {
		if strings.HasPrefix(v, "$") {
			s = "$" + s
		}
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; see GET /v1/data-sources"
}

func isSet(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

type datasetRef struct{ key, path string }

// datasetRefs lists the "$path" references of a dataset that compiled,
// in written order, with their keys: top-level string values starting
// with "$" but not "$$" (the rules of template.Compile).
func datasetRefs(raw json.RawMessage) []datasetRef {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var refs []datasetRef
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return refs
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return refs
		}
		var s string
		if len(val) == 0 || val[0] != '"' || json.Unmarshal(val, &s) != nil {
			continue
		}
		if strings.HasPrefix(s, "$") && !strings.HasPrefix(s, "$$") {
			refs = append(refs, datasetRef{key: key, path: s[1:]})
		}
	}
	return refs
}
