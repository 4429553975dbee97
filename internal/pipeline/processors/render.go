package processors

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/runnel/runnel/internal/template"
)

// Renderer renders a stream's template straight from the processed event
// tree, skipping the re-encoding of the whole event and the template's
// scan of it. The output is byte for byte what tpl.Render gives for the
// output of ApplyJSON.
//
// It does so for templates whose records are "each path it reads, under
// its own name, in order" — every variables template, and a dataset of
// the same shape. Other templates (datasets with renamed keys or literals,
// pass-through) fall back to ApplyJSON followed by tpl.Render.
type Renderer struct {
	tpl   *template.Template
	paths []path
	heads []string // `{"path":` then `,"path":`
	fast  bool
}

// NewRenderer prepares tpl for ApplyRender; compile it once per stream
// version with the chain.
func NewRenderer(tpl *template.Template) *Renderer {
	r := &Renderer{tpl: tpl}
	srcs := tpl.Paths()
	if len(srcs) == 0 {
		return r
	}
	// The shape check: rendering an empty event must give exactly
	// {"p1":null,"p2":null,...} for the paths in order. Only a template
	// whose keys are its paths, each naming its own path, with nothing
	// else, renders that way.
	want := []byte{}
	for i, s := range srcs {
		p, err := parsePath(s)
		if err != nil {
			return r
		}
		r.paths = append(r.paths, p)
		head := []byte{','}
		if i == 0 {
			head[0] = '{'
		}
		head = appendString(head, s)
		head = append(head, ':')
		r.heads = append(r.heads, string(head))
		want = append(want, head...)
		want = append(want, "null"...)
	}
	want = append(want, '}')
	got, err := tpl.Render(nil, []byte(`{}`))
	r.fast = err == nil && bytes.Equal(got, want)
	return r
}

// ApplyRender is ApplyJSON followed by rendering the kept event with r's
// template: it appends the record to dst. Results and errors are as for
// ApplyJSON; on Drop or error dst is returned unchanged.
func (c *Chain) ApplyRender(ctx context.Context, dst, event []byte, r *Renderer) ([]byte, Result, error) {
	return c.applyRender(ctx, dst, event, r, 0, false)
}

func (c *Chain) applyRender(ctx context.Context, dst, event []byte, r *Renderer, key uint64, keyed bool) ([]byte, Result, error) {
	if !r.fast || c.empty() {
		return c.applyThenRender(ctx, dst, event, r.tpl, key, keyed)
	}
	st := c.getState(ctx)
	defer c.putState(st)
	st.key, st.keyed = key, keyed
	root, err := c.decodeEvent(st, event)
	if err != nil {
		return dst, Result{Processor: -1, Action: Drop}, err
	}
	st.root = root
	res, err := c.run(st)
	if err != nil || res.Action == Drop {
		return dst, res, err
	}
	if !res.Modified {
		// The template copies values as written in the stored event.
		return c.renderStored(dst, event, r.tpl, res)
	}
	for i, p := range r.paths {
		dst = append(dst, r.heads[i]...)
		// lookup follows the template's rules: a numeric segment indexes
		// an array and is a key on an object; first occurrence of a key.
		if v := lookup(st.root, p); v != nil {
			dst = appendValue(dst, *v)
		} else {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, '}'), res, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *Chain) applyThenRender(ctx context.Context, dst, event []byte, tpl *template.Template, key uint64, keyed bool) ([]byte, Result, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf, res, err := c.applyJSON(ctx, (*bp)[:0], event, key, keyed)
	*bp = buf[:0]
	if err != nil || res.Action == Drop {
		return dst, res, err
	}
	return c.renderStored(dst, buf, tpl, res)
}

func (c *Chain) renderStored(dst, event []byte, tpl *template.Template, res Result) ([]byte, Result, error) {
	out, err := tpl.Render(dst, event)
	if err != nil { // only for an invalid event with an empty chain
		return dst, Result{Processor: -1, Action: Drop}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return out, res, nil
}
