package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

type errCode uint8

const (
	errNone     errCode = iota
	errSyntax           // invalid byte c at off, ctx says what was expected
	errEOF              // input ended at off, ctx says what was expected
	errControl          // raw control byte c inside a string at off
	errUTF8             // invalid UTF-8 inside a string at off
	errDepth            // container at off nested deeper than maxDepth
	errEnvelope         // envelope rule broken; ctx is the message
)

// scanner holds the limits and, after a failure, what went wrong. The scan
// functions take the input and a position and return the position after
// what they consumed, or -1 after recording the failure; they keep their
// state in locals so the loops stay in registers.
type scanner struct {
	maxDepth int
	ndjson   bool // errors name a line, and input ends at end of line
	records  bool // Records: events are any objects, no envelope rules
	idx      int  // index of the event being scanned, -1 outside events
	line     int  // 1-based NDJSON line being scanned

	code errCode
	off  int
	c    byte
	ctx  string
}

func (s *scanner) fail(code errCode, off int, c byte, ctx string) {
	s.code, s.off, s.c, s.ctx = code, off, c, ctx
}

func (s *scanner) syntax(off int, c byte, ctx string) { s.fail(errSyntax, off, c, ctx) }
func (s *scanner) eof(off int, ctx string)            { s.fail(errEOF, off, 0, ctx) }
func (s *scanner) envelope(msg string)                { s.fail(errEnvelope, 0, 0, msg) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// value scans one JSON value starting at b[i], inside depth containers.
func (s *scanner) value(b []byte, i, depth int) int {
	if i >= len(b) {
		s.eof(i, "looking for beginning of value")
		return -1
	}
	switch c := b[i]; c {
	case '"':
		return s.str(b, i+1)
	case '{':
		return s.object(b, i, depth+1, false)
	case '[':
		return s.array(b, i, depth+1)
	case 't':
		return s.lit(b, i, "true")
	case 'f':
		return s.lit(b, i, "false")
	case 'n':
		return s.lit(b, i, "null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return s.num(b, i)
		}
		s.syntax(i, c, "looking for beginning of value")
		return -1
	}
}

// object scans the object whose '{' is at b[i]; depth is its own level.
// With env set the object is an event: its keys are matched against the
// envelope fields and their rules checked.
func (s *scanner) object(b []byte, i, depth int, env bool) int {
	if depth > s.maxDepth {
		s.fail(errDepth, i, 0, "")
		return -1
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return s.closeObject(env, 0, i+1)
	}
	seen := 0 // envelope fields seen, when env
	for {
		if i >= len(b) {
			s.eof(i, "looking for an object key")
			return -1
		}
		if b[i] != '"' {
			s.syntax(i, b[i], "looking for beginning of object key string")
			return -1
		}
		ks := i + 1
		if i = s.str(b, ks); i < 0 {
			return -1
		}
		f := 0
		if env {
			f = field(b[ks : i-1])
		}
		if i < len(b) && b[i] == ':' {
			i = skipWS(b, i+1)
		} else if i = s.colon(b, i); i < 0 {
			return -1
		}
		vs := i
		if i < len(b) && b[i] == '"' {
			i = s.str(b, i+1) // the most common value, without dispatch
		} else {
			i = s.value(b, i, depth)
		}
		if i < 0 {
			return -1
		}
		if f != 0 {
			if seen&f != 0 {
				s.envelope(fmt.Sprintf("duplicate %q key", fieldName(f)))
				return -1
			}
			seen |= f
			if !s.checkField(f, b[vs:i]) {
				return -1
			}
		}
		if i = skipWS(b, i); i >= len(b) {
			s.eof(i, "after object key:value pair")
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return s.closeObject(env, seen, i+1)
		default:
			s.syntax(i, b[i], "after object key:value pair")
			return -1
		}
	}
}

// closeObject returns end, the index after an object, unless the object is
// an event (env) that lacks some of the required fields.
func (s *scanner) closeObject(env bool, seen, end int) int {
	if env && seen&fRequired != fRequired {
		s.missing(seen)
		return -1
	}
	return end
}

// colon consumes the ':' after an object key (and the whitespace around it)
// and returns the position of the value.
func (s *scanner) colon(b []byte, i int) int {
	if i = skipWS(b, i); i >= len(b) {
		s.eof(i, "after object key")
		return -1
	}
	if b[i] != ':' {
		s.syntax(i, b[i], "after object key")
		return -1
	}
	return skipWS(b, i+1)
}

// array scans the array whose '[' is at b[i]; depth is its own level.
func (s *scanner) array(b []byte, i, depth int) int {
	if depth > s.maxDepth {
		s.fail(errDepth, i, 0, "")
		return -1
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		if i = s.value(b, i, depth); i < 0 {
			return -1
		}
		if i = skipWS(b, i); i >= len(b) {
			s.eof(i, "after array element")
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1
		default:
			s.syntax(i, b[i], "after array element")
			return -1
		}
	}
}

// lit scans the literal want (true, false or null) at b[i].
func (s *scanner) lit(b []byte, i int, want string) int {
	for k := 1; k < len(want); k++ {
		if i+k >= len(b) {
			s.eof(i+k, "in literal "+want)
			return -1
		}
		if b[i+k] != want[k] {
			s.syntax(i+k, b[i+k], "in literal "+want)
			return -1
		}
	}
	return i + len(want)
}

// num scans a number at b[i] (a '-' or a digit):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num(b []byte, i int) int {
	if b[i] == '-' {
		i++
		if i >= len(b) {
			s.eof(i, "in numeric literal")
			return -1
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i+1)
	default:
		s.syntax(i, c, "in numeric literal")
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = s.someDigits(b, i+1, "after decimal point in numeric literal"); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = s.someDigits(b, i, "in exponent of numeric literal"); i < 0 {
			return -1
		}
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// someDigits scans one or more digits at b[i].
func (s *scanner) someDigits(b []byte, i int, ctx string) int {
	if i >= len(b) {
		s.eof(i, ctx)
		return -1
	}
	if b[i] < '0' || b[i] > '9' {
		s.syntax(i, b[i], ctx)
		return -1
	}
	return digits(b, i+1)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain[c] is true for bytes that need no attention inside a string:
// printable ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// special returns a mask with the high bit set in each byte of x (eight
// bytes of a string) that is < 0x20, '"', '\\' or >= 0x80. The borrows of
// the subtractions can only flag bytes above a truly flagged one, so the
// lowest flag is exact.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return ((x-lsb*0x20)&^x | (q-lsb)&^q | (e-lsb)&^e | x) & msb
}

// str scans a string whose opening quote is at b[i-1] and returns the index
// after its closing quote. The common string, printable ASCII without
// escapes, ends in this loop; anything else goes on in strSlow.
func (s *scanner) str(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if b[i] == '"' {
				return i + 1
			}
			break
		}
	}
	return s.strSlow(b, i)
}

func (s *scanner) strSlow(b []byte, i int) int {
	for {
		for ; i+8 <= len(b); i += 8 {
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			s.eof(i, "in string literal")
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i = s.escape(b, i); i < 0 {
				return -1
			}
		case c < 0x20:
			s.fail(errControl, i, c, "")
			return -1
		default: // c >= 0x80
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.fail(errUTF8, i, c, "")
				return -1
			}
			i += size
		}
	}
}

// escape checks the escape sequence whose backslash is at b[i].
func (s *scanner) escape(b []byte, i int) int {
	if i+1 >= len(b) {
		s.eof(i+1, "in string escape code")
		return -1
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		for k := i + 2; k < i+6; k++ {
			if k >= len(b) {
				s.eof(k, `in \u hexadecimal character escape`)
				return -1
			}
			if unhex(b[k]) < 0 {
				s.syntax(k, b[k], `in \u hexadecimal character escape`)
				return -1
			}
		}
		return i + 6
	}
	s.syntax(i+1, b[i+1], "in string escape code")
	return -1
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unescape appends the contents of a valid JSON string (raw, without its
// quotes) to dst with escapes decoded, as encoding/json does: a lone
// surrogate becomes U+FFFD.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// Envelope fields of an event object, as bits of a set.
const (
	fTimestamp = 1 << iota
	fSource
	fEvent
	fMetadata
	fRequired = fTimestamp | fSource | fEvent
)

var fieldNames = [...]string{"timestamp", "source", "event", "metadata"}

// field identifies an envelope key from its raw (still escaped) bytes.
func field(raw []byte) int {
	if f := fieldOf(raw); f != 0 {
		return f
	}
	// Escaped spellings ("sour\u0063e") are rare: decode only when a
	// backslash is present and the key is short enough to be one of ours.
	if len(raw) > 6*len("timestamp") || bytes.IndexByte(raw, '\\') < 0 {
		return 0
	}
	var buf [6 * len("timestamp")]byte
	return fieldOf(unescape(buf[:0], raw))
}

func fieldOf(name []byte) int {
	switch string(name) {
	case "timestamp":
		return fTimestamp
	case "source":
		return fSource
	case "event":
		return fEvent
	case "metadata":
		return fMetadata
	}
	return 0
}

// event scans the event object whose '{' is at b[i] and checks the envelope.
func (s *scanner) event(b []byte, i int) int { return s.object(b, i, 1, !s.records) }

// missing reports the required fields absent from the set seen.
func (s *scanner) missing(seen int) {
	msg, sep := "missing required", " "
	for f := fTimestamp; f&fRequired != 0; f <<= 1 {
		if seen&f == 0 {
			msg += sep + strconv.Quote(fieldName(f))
			sep = ", "
		}
	}
	s.envelope(msg)
}

func fieldName(f int) string { return fieldNames[bits.TrailingZeros(uint(f))] }

// checkField applies the envelope rule of field f to its (valid) value v.
func (s *scanner) checkField(f int, v []byte) bool {
	switch f {
	case fTimestamp:
		if v[0] != '"' {
			s.envelope(`"timestamp" must be an RFC 3339 string, got ` + kindOf(v[0]))
			return false
		}
		if raw := v[1 : len(v)-1]; !validTimestamp(raw) {
			s.envelope(`"timestamp" is not an RFC 3339 timestamp: ` + quoteValue(raw))
			return false
		}
	case fSource:
		if v[0] != '"' {
			s.envelope(`"source" must be a string, got ` + kindOf(v[0]))
			return false
		}
		if len(v) == 2 {
			s.envelope(`"source" must not be empty`)
			return false
		}
	case fEvent, fMetadata:
		if v[0] != '{' {
			s.envelope(fmt.Sprintf("%q must be a JSON object, got %s", fieldName(f), kindOf(v[0])))
			return false
		}
	}
	return true
}
