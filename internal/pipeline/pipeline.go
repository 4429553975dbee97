// Package pipeline compiles a stream version into an immutable Plan: the
// template, each destination's payload framing, and each destination's
// processing chain (the stream's domains, sampling and processors, then
// that destination's route). A plan is compiled once per stream version
// and shared by every deliverer of that version; a config change compiles
// a new plan and swaps it in.
package pipeline

import (
	"fmt"
	"time"

	"github.com/runnel/runnel/internal/accesslog"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline/processors"
	"github.com/runnel/runnel/internal/schema"
	"github.com/runnel/runnel/internal/template"
)

// Options are the server-side inputs of a compile.
type Options struct {
	// Salt is the stream's private salt: mask method hash and the keyed
	// sampling decisions use it (see Salter).
	Salt []byte
	// LookupDir is where enrich lookup tables and GeoIP databases are
	// read from; empty refuses them.
	LookupDir string
	// Now is the clock of CEL's now() (default time.Now).
	Now func() time.Time
}

// Plan is the compiled form of one stream version.
type Plan struct {
	Template *template.Template
	// Renderer renders the template straight from a processed event.
	Renderer *processors.Renderer
	// Payloads by destination name.
	Payloads map[string]*template.Payload
	// Chains by destination name: nil for every destination when the
	// stream has no processors, domain list, sampling or routes (events
	// go straight to the template). Each destination has a chain of its
	// own, so its counters are its own; its route is the chain's route 0.
	Chains map[string]*processors.Chain
}

// Compile builds the plan of a normalized stream, or returns every field
// that does not compile, with paths as in the stream definition.
func Compile(st *model.Stream, opts Options) (*Plan, model.FieldErrors) {
	return compile(st, opts, true)
}

// Check compiles the stream without building its per-destination chains:
// the API refuses a definition that would not run.
func Check(st *model.Stream, opts Options) model.FieldErrors {
	_, errs := compile(st, opts, false)
	return errs
}

func compile(st *model.Stream, opts Options, chains bool) (*Plan, model.FieldErrors) {
	var errs model.FieldErrors
	p := &Plan{Payloads: make(map[string]*template.Payload, len(st.Destinations))}
	written := writtenPaths(st.Processors)
	// The template, its preset resolved and its variables checked against
	// the data source's catalog (catalog.go).
	tpl, terrs := compileTemplate(st, written)
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
	if _, err := schema.Compile(st.Schema); err != nil {
		errs.Add("schema", "%s", err)
	}
	if st.LogFormat != "" {
		if _, err := accesslog.Compile(st.LogFormat); err != nil {
			errs.Add("log_format", "%v", err)
		}
	}
	// Processors and routes: compiled once with every route, to report
	// each error once at its path; then once per destination.
	base := chainOptions(st, opts, written)
	if needsChain(st) {
		all := base
		for i := range st.Destinations {
			all.Routes = append(all.Routes, routeOf(st, i))
		}
		if _, perrs := processors.Compile(st.Processors, all); perrs != nil {
			errs = append(errs, perrs...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	p.Renderer = processors.NewRenderer(tpl)
	if chains && needsChain(st) {
		p.Chains = make(map[string]*processors.Chain, len(st.Destinations))
		for i := range st.Destinations {
			o := base
			o.Routes = []processors.Route{routeOf(st, i)}
			c, perrs := processors.Compile(st.Processors, o)
			if perrs != nil { // only if a lookup file changed since the pass above
				return nil, perrs
			}
			p.Chains[st.Destinations[i].Name] = c
		}
	}
	return p, nil
}

func routeOf(st *model.Stream, i int) processors.Route {
	return processors.Route{Path: fmt.Sprintf("destinations[%d].route", i), Expr: st.Destinations[i].Route}
}

// needsChain reports whether any event of the stream can be changed,
// dropped or routed away.
func needsChain(st *model.Stream) bool {
	if isSet(st.Processors) || !st.Domains.KeepsAll() || st.Domains.Percent() != 100 {
		return true
	}
	for i := range st.Destinations {
		if st.Destinations[i].Route != "" {
			return true
		}
	}
	return false
}
