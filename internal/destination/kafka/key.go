package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// keyPath is a parsed key_field: object keys or array indices, outermost
// first. It follows the dotted paths of templates: "a.b.0" is member b of
// member a, then element 0 when b is an array (or member "0" of an object);
// a backslash makes the next character literal ("http\.status" is one
// key).
type keyPath []pathSegment

type pathSegment struct {
	key   string
	index int // array index the key names, or -1
}

// maxIndexDigits bounds the array index a segment can name.
const maxIndexDigits = 9

// maxKeyDepth bounds the nesting the key lookup descends into.
const maxKeyDepth = 512

func parsePath(p string) (keyPath, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	if !utf8.ValidString(p) {
		return nil, errors.New("must be valid UTF-8")
	}
	var segs keyPath
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("trailing backslash in %q", p)
			}
			i++
			b.WriteByte(p[i])
		case '.':
			if b.Len() == 0 {
				return nil, fmt.Errorf("empty segment in %q (escape a literal dot as \\.)", p)
			}
			segs = append(segs, newSegment(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("empty segment in %q (escape a literal dot as \\.)", p)
	}
	segs = append(segs, newSegment(b.String()))
	if len(segs) > maxKeyDepth {
		return nil, fmt.Errorf("at most %d segments", maxKeyDepth)
	}
	return segs, nil
}

func newSegment(key string) pathSegment {
	return pathSegment{key: key, index: parseIndex(key)}
}

// parseIndex returns the array index a key names: a canonical decimal (no
// sign, no leading zero) of at most maxIndexDigits digits; otherwise -1.
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

// key returns the message key for a record: the value at the path, as
// text for a string (unescaped), as its JSON text for a number, boolean,
// object or array; nil (no key) when the path is missing, the value is
// null, or the record is malformed on the way to it.
func (p keyPath) key(rec []byte) []byte {
	v, ok := lookup(rec, p)
	if !ok || len(v) == 0 {
		return nil
	}
	switch v[0] {
	case 'n':
		return nil
	case '"':
		s := v[1 : len(v)-1]
		if !needsUnescape(s) {
			return s
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			return nil
		}
		return []byte(str)
	}
	return v
}

func needsUnescape(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// lookup returns the raw JSON value at path p in doc. ok is false when the
// path is absent or doc is malformed on the way there.
//
// Records come from the template and are valid JSON, so the scan checks
// the structure it walks but not every detail (control characters and
// UTF-8 inside strings, what follows the value found): a malformed record
// gives no key or some key, never a panic.
func lookup(doc []byte, p keyPath) ([]byte, bool) {
	i := skipWS(doc, 0)
	for _, seg := range p {
		if i >= len(doc) {
			return nil, false
		}
		switch doc[i] {
		case '{':
			j, ok := findMember(doc, i, seg.key)
			if !ok {
				return nil, false
			}
			i = j
		case '[':
			if seg.index < 0 {
				return nil, false
			}
			j, ok := findElement(doc, i, seg.index)
			if !ok {
				return nil, false
			}
			i = j
		default:
			return nil, false
		}
	}
	end := skipValue(doc, i, 0)
	if end < 0 {
		return nil, false
	}
	return doc[i:end], true
}

// findMember returns the start of the value of member key in the object at
// doc[i] (the first one when the key repeats, as templates read paths).
func findMember(doc []byte, i int, key string) (int, bool) {
	i = skipWS(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return -1, false
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return -1, false
		}
		end := skipString(doc, i)
		if end < 0 {
			return -1, false
		}
		match := keyEqual(doc[i:end], key)
		i = skipWS(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return -1, false
		}
		i = skipWS(doc, i+1)
		if match {
			return i, true
		}
		vend := skipValue(doc, i, 1)
		if vend < 0 {
			return -1, false
		}
		i = skipWS(doc, vend)
		if i >= len(doc) {
			return -1, false
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		default:
			return -1, false // '}' before the key, or malformed
		}
	}
}

// findElement returns the start of element n of the array at doc[i].
func findElement(doc []byte, i, n int) (int, bool) {
	i = skipWS(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return -1, false
	}
	for k := 0; ; k++ {
		start := i
		end := skipValue(doc, i, 1)
		if end < 0 {
			return -1, false
		}
		if k == n {
			return start, true
		}
		i = skipWS(doc, end)
		if i >= len(doc) {
			return -1, false
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		default:
			return -1, false // ']' before element n, or malformed
		}
	}
}

// keyEqual compares a raw JSON string (quotes included) with key.
func keyEqual(raw []byte, key string) bool {
	s := raw[1 : len(raw)-1]
	if !needsUnescape(s) {
		return string(s) == key
	}
	var str string
	if json.Unmarshal(raw, &str) != nil {
		return false
	}
	return str == key
}

func skipWS(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the value starting at doc[i], or
// -1 when it is malformed.
func skipValue(doc []byte, i, depth int) int {
	if i >= len(doc) || depth > maxKeyDepth {
		return -1
	}
	switch c := doc[i]; {
	case c == '"':
		return skipString(doc, i)
	case c == '{':
		i = skipWS(doc, i+1)
		if i < len(doc) && doc[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(doc) || doc[i] != '"' {
				return -1
			}
			if i = skipString(doc, i); i < 0 {
				return -1
			}
			i = skipWS(doc, i)
			if i >= len(doc) || doc[i] != ':' {
				return -1
			}
			if i = skipValue(doc, skipWS(doc, i+1), depth+1); i < 0 {
				return -1
			}
			i = skipWS(doc, i)
			if i >= len(doc) {
				return -1
			}
			switch doc[i] {
			case ',':
				i = skipWS(doc, i+1)
			case '}':
				return i + 1
			default:
				return -1
			}
		}
	case c == '[':
		i = skipWS(doc, i+1)
		if i < len(doc) && doc[i] == ']' {
			return i + 1
		}
		for {
			if i = skipValue(doc, i, depth+1); i < 0 {
				return -1
			}
			i = skipWS(doc, i)
			if i >= len(doc) {
				return -1
			}
			switch doc[i] {
			case ',':
				i = skipWS(doc, i+1)
			case ']':
				return i + 1
			default:
				return -1
			}
		}
	case c == 't':
		return skipLit(doc, i, "true")
	case c == 'f':
		return skipLit(doc, i, "false")
	case c == 'n':
		return skipLit(doc, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(doc, i)
	}
	return -1
}

func skipLit(doc []byte, i int, lit string) int {
	if len(doc)-i < len(lit) || string(doc[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipNumber follows the JSON number grammar.
func skipNumber(doc []byte, i int) int {
	if doc[i] == '-' {
		i++
	}
	switch {
	case i < len(doc) && doc[i] == '0':
		i++
	case i < len(doc) && '1' <= doc[i] && doc[i] <= '9':
		i = digits(doc, i)
	default:
		return -1
	}
	if i < len(doc) && doc[i] == '.' {
		j := digits(doc, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		i++
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		j := digits(doc, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(doc []byte, i int) int {
	for i < len(doc) && '0' <= doc[i] && doc[i] <= '9' {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at doc[i]
// (a quote), or -1 when it is unterminated or has a bad escape.
func skipString(doc []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(doc[i:], '"')
		if q < 0 {
			return -1
		}
		bs := bytes.IndexByte(doc[i:i+q], '\\')
		if bs < 0 {
			return i + q + 1
		}
		i += bs
		if i+1 >= len(doc) {
			return -1
		}
		switch doc[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if len(doc)-i < 6 || !isHex4(doc[i+2:i+6]) {
				return -1
			}
			i += 6
		default:
			return -1
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
