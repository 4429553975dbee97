// Package pipeline compiles a stream version into an immutable Plan: the
// template and each destination's payload framing (and, as they arrive,
// processors and routes). A plan is compiled once per stream version and
// shared by every deliverer of that version; a config change compiles a
// new plan and swaps it in.
package pipeline

import (
	"fmt"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/template"
)

// Plan is the compiled form of one stream version.
type Plan struct {
	Template *template.Template
	// Payloads by destination name.
	Payloads map[string]*template.Payload
}

// Compile builds the plan of a normalized stream, or returns every field
// that does not compile, with paths as in the stream definition.
func Compile(st *model.Stream) (*Plan, model.FieldErrors) {
	var errs model.FieldErrors
	p := &Plan{Payloads: make(map[string]*template.Payload, len(st.Destinations))}
	// The template, its preset resolved and its variables checked against
	// the data source's catalog (catalog.go).
	tpl, terrs := compileTemplate(st)
	errs = append(errs, terrs...)
	p.Template = tpl
	for i := range st.Destinations {
		d := &st.Destinations[i]
		pl, err := template.NewPayload(d.Payload.Format, d.Payload.LineSeparator, int(d.Payload.MaxSize), d.Payload.ASCIIOnly)
		if err != nil {
			errs.Add(fmt.Sprintf("destinations[%d].payload", i), "%v", err)
			continue
		}
		p.Payloads[d.Name] = pl
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}
