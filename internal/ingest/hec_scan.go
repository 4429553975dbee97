package ingest

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// cjScan is a one-pass JSON validator for the compatible inputs: it checks
// a value as decode.Valid does (RFC 8259 syntax, valid UTF-8 in strings,
// nesting at most maxDepth levels, the outermost container being level 1;
// lone \uD800-style escapes allowed) and, for an object, reports where
// each top-level member is, so that a dialect finds the fields it needs
// and the end of the value in the same pass (HEC bodies are objects one
// after another, with nothing to tell where one ends but the object
// itself). FuzzCJScan holds it to decode.Valid's verdicts.
//
// The functions take a position and return the position after what they
// consumed, or -1 after recording why in err/off.
type cjScan struct {
	b        []byte
	maxDepth int
	err      string // why the input is refused; "" while it is not
	off      int    // where
	nested   bool   // the member value being scanned is an object with an object member
}

// cjMember is a top-level member of an object: the raw contents of its key
// (escapes kept) and its value's bytes. nested: the value is an object
// one of whose members is an object (HEC's "fields" must be flat).
type cjMember struct {
	key, val []byte
	nested   bool
}

func (s *cjScan) fail(off int, format string, args ...any) int {
	if s.err == "" {
		s.off = off
		s.err = fmt.Sprintf(format, args...)
	}
	return -1
}

func (s *cjScan) unexpected(i int, ctx string) int {
	if i >= len(s.b) {
		return s.fail(i, "invalid JSON at byte %d: unexpected end of input %s", i, ctx)
	}
	return s.fail(i, "invalid JSON at byte %d: invalid %s %s", i, cjQuoteChar(s.b[i]), ctx)
}

func cjQuoteChar(c byte) string {
	switch {
	case c == '\'':
		return `character '\''`
	case c >= 0x20 && c < 0x7f:
		return "character '" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

// topObject scans the object whose '{' is at b[i], appending its members to
// out, and returns the index after it.
func (s *cjScan) topObject(i int, out []cjMember) (int, []cjMember) {
	b := s.b
	if s.maxDepth < 1 {
		return s.fail(i, "JSON nested deeper than %d levels at byte %d", s.maxDepth, i), out
	}
	i = cjWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, out
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return s.unexpected(i, "looking for beginning of object key string"), out
		}
		ks := i + 1
		if i = s.str(ks); i < 0 {
			return -1, out
		}
		ke := i - 1
		if i = cjWS(b, i); i >= len(b) || b[i] != ':' {
			return s.unexpected(i, "after object key"), out
		}
		vs := cjWS(b, i+1)
		s.nested = false
		if i = s.value(vs, 1); i < 0 {
			return -1, out
		}
		out = append(out, cjMember{key: b[ks:ke], val: b[vs:i], nested: s.nested})
		if i = cjWS(b, i); i >= len(b) {
			return s.unexpected(i, "after object key:value pair"), out
		}
		switch b[i] {
		case ',':
			i = cjWS(b, i+1)
		case '}':
			return i + 1, out
		default:
			return s.unexpected(i, "after object key:value pair"), out
		}
	}
}

// value scans the value at b[i] inside depth containers.
func (s *cjScan) value(i, depth int) int {
	b := s.b
	if i >= len(b) {
		return s.unexpected(i, "looking for beginning of value")
	}
	switch c := b[i]; {
	case c == '"':
		return s.str(i + 1)
	case c == '{' || c == '[':
		if depth+1 > s.maxDepth {
			return s.fail(i, "JSON nested deeper than %d levels at byte %d", s.maxDepth, i)
		}
		return s.container(i, depth+1)
	case c == '-' || '0' <= c && c <= '9':
		return s.num(i)
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	}
	return s.unexpected(i, "looking for beginning of value")
}

// container scans the object or array at b[i], itself at level depth.
func (s *cjScan) container(i, depth int) int {
	b := s.b
	obj := b[i] == '{'
	i = cjWS(b, i+1)
	closer := byte(']')
	if obj {
		closer = '}'
	}
	if i < len(b) && b[i] == closer {
		return i + 1
	}
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return s.unexpected(i, "looking for beginning of object key string")
			}
			if i = s.str(i + 1); i < 0 {
				return -1
			}
			if i = cjWS(b, i); i >= len(b) || b[i] != ':' {
				return s.unexpected(i, "after object key")
			}
			i = cjWS(b, i+1)
		}
		if i < len(b) && b[i] == '"' {
			i = s.str(i + 1)
		} else {
			if obj && depth == 2 && i < len(b) && b[i] == '{' {
				s.nested = true
			}
			i = s.value(i, depth)
		}
		if i < 0 {
			return -1
		}
		if i = cjWS(b, i); i >= len(b) {
			return s.unexpected(i, "after element")
		}
		switch b[i] {
		case ',':
			i = cjWS(b, i+1)
		case closer:
			return i + 1
		default:
			return s.unexpected(i, "after element")
		}
	}
}

func (s *cjScan) lit(i int, want string) int {
	b := s.b
	for k := 0; k < len(want); k++ {
		if i+k >= len(b) || b[i+k] != want[k] {
			return s.unexpected(i+k, "in literal "+want)
		}
	}
	return i + len(want)
}

// num scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *cjScan) num(i int) int {
	b := s.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return s.unexpected(i, "in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return s.unexpected(i, "after decimal point in numeric literal")
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return s.unexpected(i, "in exponent of numeric literal")
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	}
	return i
}

// cjSpecial flags (high bit of the byte) the bytes of x that a string scan
// must look at: < 0x20, '"', '\\', >= 0x80. The lowest flag is exact.
func cjSpecial(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	e := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x | (q-ones)&^q | (e-ones)&^e | x) & highs
}

// str scans the string whose contents start at b[i] and returns the index
// after its closing quote.
func (s *cjScan) str(i int) int {
	b := s.b
	for {
		for ; i+8 <= len(b); i += 8 {
			if m := cjSpecial(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		for i < len(b) && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return s.unexpected(i, "in string literal")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return s.unexpected(i+1, "in string escape code")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) || !cjIsHex(b[k]) {
						return s.unexpected(k, `in \u hexadecimal character escape`)
					}
				}
				i += 6
			default:
				return s.unexpected(i+1, "in string escape code")
			}
		case c < 0x20:
			return s.fail(i, "invalid JSON at byte %d: control character U+%04X in string literal must be escaped", i, c)
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return s.fail(i, "invalid UTF-8 in string at byte %d", i)
			}
			i += size
		}
	}
}

func cjIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// cjValid reports whether b is one valid JSON value within maxDepth
// (surrounding whitespace allowed), with decode.Valid's verdict; the
// string says why not.
func cjValid(b []byte, maxDepth int) (bool, string) {
	s := cjScan{b: b, maxDepth: maxDepth}
	i := s.value(cjWS(b, 0), 0)
	if i < 0 {
		return false, s.err
	}
	if i = cjWS(b, i); i < len(b) {
		return false, fmt.Sprintf("invalid JSON at byte %d: invalid %s after top-level value", i, cjQuoteChar(b[i]))
	}
	return true, ""
}
