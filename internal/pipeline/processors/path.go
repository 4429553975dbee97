package processors

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxIndexDigits bounds the array index a segment can name (as in the
// template package).
const maxIndexDigits = 9

// segment is one element of a dotted path.
type segment struct {
	key   string // object key, after removing path escapes
	index int    // array index, or -1 when key is not a canonical index
}

// path is a compiled dotted path. The syntax is the template package's:
// segments separated by '.', a backslash makes the next character literal
// (http\.status), and a canonical non-negative integer segment (0, 17, not
// 01) indexes an array when the value at that point is an array and is an
// ordinary key on an object.
type path struct {
	src  string
	segs []segment
}

func (p path) String() string { return p.src }

// parsePath compiles a dotted path.
func parsePath(p string) (path, error) {
	if p == "" {
		return path{}, errors.New("empty path")
	}
	if !utf8.ValidString(p) {
		return path{}, fmt.Errorf("path %q: invalid UTF-8", p)
	}
	var segs []segment
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return path{}, fmt.Errorf("path %q: trailing backslash", p)
			}
			i++
			b.WriteByte(p[i])
		case '.':
			if b.Len() == 0 {
				return path{}, fmt.Errorf("path %q: empty segment", p)
			}
			segs = append(segs, newSegment(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return path{}, fmt.Errorf("path %q: empty segment", p)
	}
	return path{src: p, segs: append(segs, newSegment(b.String()))}, nil
}

func newSegment(key string) segment {
	return segment{key: key, index: parseIndex(key)}
}

// parseIndex returns the array index a key names, or -1.
func parseIndex(s string) int {
	if s == "" || len(s) > maxIndexDigits || (s[0] == '0' && len(s) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// child returns the value at seg inside v, or nil.
func child(v *value, seg segment) *value {
	switch v.kind {
	case kObject:
		return v.obj().get(seg.key)
	case kArray:
		if seg.index >= 0 && seg.index < len(v.arr().v) {
			return &v.arr().v[seg.index]
		}
	}
	return nil
}

// lookup returns a pointer to the value at p, or nil when it is missing.
// The pointer is valid until the tree is next modified.
func lookup(root *object, p path) *value {
	cur := root.get(p.segs[0].key)
	for _, s := range p.segs[1:] {
		if cur == nil {
			return nil
		}
		cur = child(cur, s)
	}
	return cur
}

// prefix is the source text of the first n segments of p, for messages.
func (p path) prefix(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p.segs[i].key, `\`, `\\`), ".", `\.`)
	}
	return strings.Join(parts, ".")
}

// setPath stores v at p, creating missing (or null) intermediate objects.
// It fails when an intermediate value is a scalar or an array index is out
// of range: the processor then fails on the event rather than silently
// overwriting data.
func setPath(root *object, p path, v value) error {
	cur := root
	last := len(p.segs) - 1
	for i := 0; i < last; i++ {
		s := p.segs[i]
		next := cur.get(s.key)
		if next == nil {
			o := &object{}
			cur.m = append(cur.m, member{key: s.key, val: objValue(o)})
			cur = o
			continue
		}
		// Descend through arrays by index.
		for next.kind == kArray && i < last {
			idx := p.segs[i+1].index
			if idx < 0 || idx >= len(next.arr().v) {
				return fmt.Errorf("cannot set %s: %s is an array without element %q", p, p.prefix(i+1), p.segs[i+1].key)
			}
			i++
			next = &next.arr().v[idx]
			if i == last {
				*next = v
				return nil
			}
		}
		switch next.kind {
		case kObject:
			cur = next.obj()
		case kNull:
			o := &object{}
			*next = objValue(o)
			cur = o
		default:
			return fmt.Errorf("cannot set %s: %s is %s", p, p.prefix(i+1), next.kind)
		}
	}
	cur.set(p.segs[last].key, v)
	return nil
}

// deletePath removes the value at p (an array element is removed and the
// rest shift down) and reports whether it was there.
func deletePath(root *object, p path) bool {
	if len(p.segs) == 1 {
		return root.del(p.segs[0].key)
	}
	parent := root.get(p.segs[0].key)
	for _, s := range p.segs[1 : len(p.segs)-1] {
		if parent == nil {
			return false
		}
		parent = child(parent, s)
	}
	if parent == nil {
		return false
	}
	s := p.segs[len(p.segs)-1]
	switch parent.kind {
	case kObject:
		return parent.obj().del(s.key)
	case kArray:
		a := parent.arr()
		if s.index < 0 || s.index >= len(a.v) {
			return false
		}
		copy(a.v[s.index:], a.v[s.index+1:])
		a.v[len(a.v)-1] = value{}
		a.v = a.v[:len(a.v)-1]
		return true
	}
	return false
}
