package template

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxIndexDigits bounds the array index a segment can name; longer digit
// strings are ordinary keys (no array that long fits in an event).
const maxIndexDigits = 9

// segment is one unescaped element of a dotted path.
type segment struct {
	key   string // object key, after removing path escapes
	index int    // array index, or -1 when key is not a canonical index
}

// parsePath splits a dotted path into segments. A backslash makes the next
// character literal (`http\.status` is one segment).
func parsePath(p string) ([]segment, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	if !utf8.ValidString(p) {
		return nil, fmt.Errorf("path %q: invalid UTF-8", p)
	}
	var segs []segment
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("path %q: trailing backslash", p)
			}
			i++
			b.WriteByte(p[i])
		case '.':
			if b.Len() == 0 {
				return nil, fmt.Errorf("path %q: empty segment", p)
			}
			segs = append(segs, newSegment(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("path %q: empty segment", p)
	}
	return append(segs, newSegment(b.String())), nil
}

func newSegment(key string) segment {
	return segment{key: key, index: parseIndex(key)}
}

// parseIndex returns the array index a key names: a canonical decimal
// (no sign, no leading zero) of at most maxIndexDigits digits; otherwise -1.
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

// node is one element of the trie of all paths a template reads. Node 0 is
// the event itself.
type node struct {
	index    int      // this node's segment as an array index, or -1
	kids     []int32  // child nodes
	kidKeys  []string // kidKeys[j] is the key of kids[j]
	slowKids bool     // some kid key contains U+FFFD: always compare with full JSON unescaping
	hasIndex bool     // some kid has an array index
}

// trie builds the node table.
type trie struct {
	nodes []node
}

func newTrie() *trie {
	return &trie{nodes: []node{{index: -1}}}
}

// insert adds the path and returns the id of its last node. Equal paths
// share a node.
func (t *trie) insert(segs []segment) int32 {
	cur := int32(0)
Segments:
	for _, s := range segs {
		for j, k := range t.nodes[cur].kidKeys {
			if k == s.key {
				cur = t.nodes[cur].kids[j]
				continue Segments
			}
		}
		id := int32(len(t.nodes))
		t.nodes = append(t.nodes, node{index: s.index})
		n := &t.nodes[cur]
		n.kids = append(n.kids, id)
		n.kidKeys = append(n.kidKeys, s.key)
		n.slowKids = n.slowKids || strings.ContainsRune(s.key, utf8.RuneError)
		n.hasIndex = n.hasIndex || s.index >= 0
		cur = id
	}
	return cur
}
