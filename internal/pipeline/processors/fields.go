package processors

import (
	"math"
)

// --- set {field, value} | {field, expr} ---

type setProc struct {
	field path
	lit   value
	prg   *program
}

func buildSet(cc *compiler, s *settings) processor {
	s.check("field", "value", "expr")
	p := &setProc{}
	p.field, _ = s.pathSetting("field", true)
	_, hasValue := s.m["value"] // value: null is a value
	switch {
	case hasValue && s.has("expr"):
		s.fail("expr", "give value or expr, not both")
	case hasValue:
		var a arena
		v, err := decodeJSON(string(s.m["value"]), &a)
		if err != nil {
			s.fail("value", "%v", err)
		}
		p.lit = v.clone() // off the arena
	case s.has("expr"):
		p.prg = cc.cel(s, "expr", false)
	default:
		s.fail("", "needs value or expr")
	}
	return p
}

func (p *setProc) apply(st *state) (outcome, error) {
	var v value
	if p.prg != nil {
		out, err := p.prg.eval(st.ctx, &st.act)
		if err != nil {
			return pass, err
		}
		if v, err = fromCEL(out, 0); err != nil {
			return pass, err
		}
	} else {
		v = p.lit.clone()
	}
	st.modified = true
	return pass, setPath(st.root, p.field, v)
}

// --- rename {from, to} ---

type renameProc struct{ from, to path }

func buildRename(cc *compiler, s *settings) processor {
	s.check("from", "to")
	p := &renameProc{}
	var okF, okT bool
	p.from, okF = s.pathSetting("from", true)
	p.to, okT = s.pathSetting("to", true)
	if okF && okT && p.from.src == p.to.src {
		s.fail("to", "is the same as from")
	}
	return p
}

func (p *renameProc) apply(st *state) (outcome, error) {
	v := lookup(st.root, p.from)
	if v == nil {
		return pass, nil // nothing to rename
	}
	val := *v
	deletePath(st.root, p.from)
	st.modified = true
	return pass, setPath(st.root, p.to, val)
}

// --- remove {fields} ---

type removeProc struct{ fields []path }

func buildRemove(cc *compiler, s *settings) processor {
	s.check("fields")
	p := &removeProc{}
	p.fields, _ = s.pathList("fields", true)
	return p
}

func (p *removeProc) apply(st *state) (outcome, error) {
	for _, f := range p.fields {
		if deletePath(st.root, f) {
			st.modified = true
		}
	}
	return pass, nil
}

// --- keep {fields} ---

// keepNode is a node of the trie of kept paths.
type keepNode struct {
	all  bool // the whole value at this node is kept
	kids []keepKid
}

type keepKid struct {
	seg  segment
	node *keepNode
}

func (n *keepNode) kid(key string) *keepNode {
	for _, k := range n.kids {
		if k.seg.key == key {
			return k.node
		}
	}
	return nil
}

type keepProc struct{ root *keepNode }

func buildKeep(cc *compiler, s *settings) processor {
	s.check("fields")
	paths, _ := s.pathList("fields", true)
	root := &keepNode{}
	for _, p := range paths {
		n := root
		for _, seg := range p.segs {
			k := n.kid(seg.key)
			if k == nil {
				k = &keepNode{}
				n.kids = append(n.kids, keepKid{seg: seg, node: k})
			}
			n = k
		}
		n.all = true
	}
	return &keepProc{root: root}
}

func (p *keepProc) apply(st *state) (outcome, error) {
	if pruneObject(st.root, p.root) {
		st.modified = true
	}
	return pass, nil
}

// pruneObject keeps only the members n selects and reports whether it
// removed anything. A container left empty by pruning is removed; a kept
// path whose value is empty stays.
func pruneObject(o *object, n *keepNode) bool {
	changed := false
	w := 0
	for i := range o.m {
		m := &o.m[i]
		k := n.kid(m.key)
		keep := false
		switch {
		case k == nil:
		case k.all:
			keep = true
		case m.val.kind == kObject:
			if pruneObject(m.val.obj(), k) {
				changed = true
			}
			keep = len(m.val.obj().m) > 0
		case m.val.kind == kArray:
			if pruneArray(m.val.arr(), k) {
				changed = true
			}
			keep = len(m.val.arr().v) > 0
		}
		if !keep {
			changed = true
			continue
		}
		o.m[w] = *m
		w++
	}
	clear(o.m[w:])
	o.m = o.m[:w]
	return changed
}

// pruneArray keeps the elements whose index n names (in their order;
// later indexes shift down).
func pruneArray(a *array, n *keepNode) bool {
	changed := false
	w := 0
	for i := range a.v {
		var k *keepNode
		for _, kk := range n.kids {
			if kk.seg.index == i {
				k = kk.node
				break
			}
		}
		keep := false
		e := &a.v[i]
		switch {
		case k == nil:
		case k.all:
			keep = true
		case e.kind == kObject:
			if pruneObject(e.obj(), k) {
				changed = true
			}
			keep = len(e.obj().m) > 0
		case e.kind == kArray:
			if pruneArray(e.arr(), k) {
				changed = true
			}
			keep = len(e.arr().v) > 0
		}
		if !keep {
			changed = true
			continue
		}
		a.v[w] = *e
		w++
	}
	clear(a.v[w:])
	a.v = a.v[:w]
	return changed
}

// --- filter {if} ---

type filterProc struct{ prg *program }

func buildFilter(cc *compiler, s *settings) processor {
	s.check("if")
	return &filterProc{prg: cc.cel(s, "if", true)}
}

func (p *filterProc) apply(st *state) (outcome, error) {
	ok, err := p.prg.match(st.ctx, &st.act)
	if err != nil {
		return pass, err
	}
	if !ok {
		return filtered, nil
	}
	return pass, nil
}

// --- sample {percent, key} ---

type sampleProc struct {
	threshold uint64 // keep when hash % 10000 < threshold
	key       path
	keyed     bool
}

func buildSample(cc *compiler, s *settings) processor {
	s.check("percent", "key")
	p := &sampleProc{}
	if pct, ok := s.number("percent", true); ok {
		if pct < 0 || pct > 100 {
			s.fail("percent", "must be between 0 and 100, not %v", pct)
		} else if r := math.Round(pct * 100); math.Abs(r-pct*100) > 1e-6 {
			s.fail("percent", "at most two decimals (%v)", pct)
		} else {
			p.threshold = uint64(r)
		}
	}
	if s.has("key") {
		p.key, p.keyed = s.pathSetting("key", true)
	}
	return p
}

func (p *sampleProc) apply(st *state) (outcome, error) {
	var h uint64
	keyed := false
	if p.keyed {
		if v := lookup(st.root, p.key); v != nil && v.kind != kNull {
			keyed = true
			switch v.kind {
			case kString, kNumber:
				h = fnv1a(v.s)
			default:
				h = fnv1a(v.text())
			}
		}
	}
	if !keyed {
		h = st.draw(st.cur + 1)
	}
	if h%10000 < p.threshold {
		return pass, nil
	}
	return sampledOut, nil
}

// fnv1a is 64-bit FNV-1a.
func fnv1a(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}
