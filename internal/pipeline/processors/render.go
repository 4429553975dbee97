package processors

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
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
	// The paths' distinct proper prefixes (event, event.parsed, ...), each
	// after its own prefix, and each path as its longest proper prefix
	// plus the last segment: a prefix shared by several paths is looked
	// up once per event. Empty when there are too many prefixes.
	prefixes []step
	leaves   []step
}

// step is a lookup from an earlier prefix (-1: the event's top level).
type step struct {
	from int
	seg  segment
}

// maxPrefixes bounds Renderer.prefixes (their values are kept on the
// stack).
const maxPrefixes = 16

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
	r.prefixes, r.leaves = prefixSteps(r.paths)
	return r
}

// prefixSteps splits paths into shared prefix lookups and one last step
// per path; nil when there are more than maxPrefixes prefixes.
func prefixSteps(paths []path) (prefixes, leaves []step) {
	ids := map[string]int{} // prefix (length-prefixed keys) -> index
	for _, p := range paths {
		from, id := -1, ""
		for _, seg := range p.segs[:len(p.segs)-1] {
			id += strconv.Itoa(len(seg.key)) + ":" + seg.key
			i, ok := ids[id]
			if !ok {
				if len(prefixes) == maxPrefixes {
					return nil, nil
				}
				i = len(prefixes)
				ids[id] = i
				prefixes = append(prefixes, step{from: from, seg: seg})
			}
			from = i
		}
		leaves = append(leaves, step{from: from, seg: p.segs[len(p.segs)-1]})
	}
	return prefixes, leaves
}

// stepFrom is the value s leads to, or nil.
func stepFrom(root *object, nodes *[maxPrefixes]*value, s *step) *value {
	if s.from < 0 {
		return root.get(s.seg.key)
	}
	if n := nodes[s.from]; n != nil {
		return child(n, s.seg)
	}
	return nil
}

// appendPaths appends the record: each path's value (null when missing),
// as lookup finds it.
func (r *Renderer) appendPaths(dst []byte, root *object) []byte {
	if r.leaves == nil {
		for i, p := range r.paths {
			dst = append(dst, r.heads[i]...)
			if v := lookup(root, p); v != nil {
				dst = appendValue(dst, *v)
			} else {
				dst = append(dst, "null"...)
			}
		}
		return append(dst, '}')
	}
	var nodes [maxPrefixes]*value
	for i := range r.prefixes {
		nodes[i] = stepFrom(root, &nodes, &r.prefixes[i])
	}
	for i := range r.leaves {
		dst = append(dst, r.heads[i]...)
		if v := stepFrom(root, &nodes, &r.leaves[i]); v != nil {
			dst = appendValue(dst, *v)
		} else {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, '}')
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
	// lookup follows the template's rules: a numeric segment indexes an
	// array and is a key on an object; first occurrence of a key.
	return r.appendPaths(dst, st.root), res, nil
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
