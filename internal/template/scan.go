package template

import (
	"encoding/binary"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit: the scanner accepts exactly the
// documents json.Valid accepts.
const maxDepth = 10000

// span is the byte range of a value in the event; end == 0 means not found
// (a value never ends at offset 0).
type span struct{ start, end int }

// scanner validates one event and records, for every trie node, the span
// of the first value found at that node's path.
type scanner struct {
	data  []byte
	nodes []node
	spans []span // indexed by node id
	ws    bool   // whitespace was seen between tokens
}

// strSafe[c] is true for bytes that need no attention inside a string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// object scans the whole event, which must be one JSON object with optional
// surrounding whitespace. It reports whether the event is valid.
func (s *scanner) object() bool {
	i := s.skipWS(0)
	if i >= len(s.data) || s.data[i] != '{' {
		return false
	}
	nd := 0
	if len(s.nodes) == 0 || len(s.nodes[0].kids) == 0 {
		nd = -1
	}
	i = s.obj(i, nd, 1)
	if i < 0 {
		return false
	}
	return s.skipWS(i) == len(s.data)
}

// skipWS returns the offset of the first non-whitespace byte at or after i.
func (s *scanner) skipWS(i int) int {
	if i < len(s.data) && s.data[i] > ' ' {
		return i // compact JSON: no whitespace between tokens
	}
	return s.skipWSSlow(i)
}

func (s *scanner) skipWSSlow(i int) int {
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			s.ws = true
			i++
		default:
			return i
		}
	}
	return i
}

// value scans the value starting at i (no leading whitespace) and returns
// the offset just past it, or -1 if it is invalid. nd is the trie node the
// value sits at, or -1 when nothing inside it is wanted.
func (s *scanner) value(i, nd, depth int) int {
	d := s.data
	if i >= len(d) {
		return -1
	}
	switch c := d[i]; c {
	case '{':
		return s.obj(i, nd, depth+1)
	case '[':
		return s.arr(i, nd, depth+1)
	case '"':
		end, _ := s.str(i)
		return end
	case 't':
		return s.lit(i, "true")
	case 'f':
		return s.lit(i, "false")
	case 'n':
		return s.lit(i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.num(i)
		}
		return -1
	}
}

func (s *scanner) lit(i int, want string) int {
	if len(s.data)-i >= len(want) && string(s.data[i:i+len(want)]) == want {
		return i + len(want)
	}
	return -1
}

// num scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num(i int) int {
	d := s.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return -1
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		i = digits(d, i+1)
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// str scans the string whose opening quote is at i. It returns the offset
// past the closing quote (-1 if invalid) and whether the string holds a
// backslash escape.
func (s *scanner) str(i int) (int, bool) {
	d := s.data
	esc := false
	i++
	for {
		// Eight bytes at a time up to the first byte that needs attention;
		// the last few bytes of the event one at a time.
		for {
			if len(d)-i < 8 {
				for i < len(d) && strSafe[d[i]] {
					i++
				}
				break
			}
			if m := specialMask(binary.LittleEndian.Uint64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			return -1, esc
		}
		switch d[i] {
		case '"':
			return i + 1, esc
		case '\\':
			esc = true
			if i+1 >= len(d) {
				return -1, esc
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(d) || hex4(d[i+2:i+6]) < 0 {
					return -1, esc
				}
				i += 6
			default:
				return -1, esc
			}
		default: // control character
			return -1, esc
		}
	}
}

// specialMask has the high bit set in the lowest byte of w (in memory
// order) that is '"', '\\' or a control character (< 0x20), and is 0 when
// there is none. Bits above that byte may be set spuriously (borrows); only
// the lowest set bit is meaningful.
func specialMask(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (w-ones*0x20)&^w) & high
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// obj scans the object whose '{' is at i.
func (s *scanner) obj(i, nd, depth int) int {
	if depth > maxDepth {
		return -1
	}
	d := s.data
	i = s.skipWS(i + 1)
	if i < len(d) && d[i] == '}' {
		return i + 1
	}
	missing := 0 // children of nd not found yet; matching stops at 0
	if nd >= 0 {
		missing = len(s.nodes[nd].kids)
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return -1
		}
		ks := i + 1
		ke, esc := s.str(i)
		if ke < 0 {
			return -1
		}
		i = s.skipWS(ke)
		if i >= len(d) || d[i] != ':' {
			return -1
		}
		i = s.skipWS(i + 1)
		kid := -1
		if missing > 0 {
			kid = s.matchKey(nd, d[ks:ke-1], esc)
		}
		start := i
		i = s.value(i, s.descend(kid), depth)
		if i < 0 {
			return -1
		}
		if kid >= 0 {
			s.spans[kid] = span{start, i}
			missing--
		}
		i = s.skipWS(i)
		if i >= len(d) {
			return -1
		}
		switch d[i] {
		case ',':
			i = s.skipWS(i + 1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// arr scans the array whose '[' is at i.
func (s *scanner) arr(i, nd, depth int) int {
	if depth > maxDepth {
		return -1
	}
	d := s.data
	i = s.skipWS(i + 1)
	if i < len(d) && d[i] == ']' {
		return i + 1
	}
	if nd >= 0 && !s.nodes[nd].hasIndex {
		nd = -1
	}
	for n := 0; ; n++ {
		kid := -1
		if nd >= 0 {
			kid = s.matchIndex(nd, n)
		}
		start := i
		i = s.value(i, s.descend(kid), depth)
		if i < 0 {
			return -1
		}
		if kid >= 0 {
			s.spans[kid] = span{start, i}
		}
		i = s.skipWS(i)
		if i >= len(d) {
			return -1
		}
		switch d[i] {
		case ',':
			i = s.skipWS(i + 1)
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// descend returns the node to scan a matched value with: -1 when the node
// has no children (the value is only copied, never looked into).
func (s *scanner) descend(kid int) int {
	if kid < 0 || len(s.nodes[kid].kids) == 0 {
		return -1
	}
	return kid
}

// matchKey returns the child of nd whose key equals the raw (still
// JSON-escaped) key, or -1. A child already found earlier in the same
// object is not matched again: the first occurrence wins.
func (s *scanner) matchKey(nd int, raw []byte, esc bool) int {
	n := &s.nodes[nd]
	j := -1
	if esc || n.slowKids {
		for i, k := range n.kidKeys {
			if keyEqual(raw, k) {
				j = i
				break
			}
		}
	} else {
		for i, k := range n.kidKeys {
			if string(raw) == k {
				j = i
				break
			}
		}
	}
	if j < 0 {
		return -1
	}
	k := n.kids[j]
	if s.spans[k].end != 0 {
		return -1
	}
	return int(k)
}

func (s *scanner) matchIndex(nd, idx int) int {
	for _, k := range s.nodes[nd].kids {
		if s.nodes[k].index == idx {
			return int(k)
		}
	}
	return -1
}

// keyEqual reports whether the JSON string body raw (valid, between the
// quotes) decodes to key, decoding exactly as encoding/json does (invalid
// UTF-8 and unpaired surrogates become U+FFFD).
func keyEqual(raw []byte, key string) bool {
	j := 0
	var buf [utf8.UTFMax]byte
	for i := 0; i < len(raw); {
		c := raw[i]
		var r rune
		switch {
		case c == '\\':
			switch c2 := raw[i+1]; c2 {
			case 'u':
				r = hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						r = dec
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				}
			case 'b':
				r, i = '\b', i+2
			case 'f':
				r, i = '\f', i+2
			case 'n':
				r, i = '\n', i+2
			case 'r':
				r, i = '\r', i+2
			case 't':
				r, i = '\t', i+2
			default: // " \ /
				r, i = rune(c2), i+2
			}
		case c < utf8.RuneSelf:
			if j >= len(key) || key[j] != c {
				return false
			}
			i++
			j++
			continue
		default:
			var size int
			r, size = utf8.DecodeRune(raw[i:])
			i += size
		}
		n := utf8.EncodeRune(buf[:], r)
		if len(key)-j < n || key[j:j+n] != string(buf[:n]) {
			return false
		}
		j += n
	}
	return j == len(key)
}

// appendCompact appends the valid JSON value v without whitespace between
// tokens.
func appendCompact(dst, v []byte) []byte {
	start := 0
	inStr := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}
