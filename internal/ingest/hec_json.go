package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"
)

// Small JSON helpers shared by the compatible inputs (hec.go, bulk.go,
// otlp.go). They walk the structure of a value without building it: the
// dialects find the top-level members they need, then hand the value's
// original bytes to decode.Valid (syntax, depth, UTF-8) and copy them into
// the frame. On malformed input the walkers return -1 or stop early and
// never panic or read out of bounds; whatever they find is trusted only
// after decode.Valid has accepted the same bytes.

func cjSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// cjWS returns the index of the first non-space byte at or after i.
func cjWS(b []byte, i int) int {
	for i < len(b) && cjSpace(b[i]) {
		i++
	}
	return i
}

// cjStrEnd returns the index after the closing quote of the string whose
// contents start at b[i], or -1 when it does not end. It looks at eight
// bytes at a time for a quote or a backslash (which skips the byte after
// it).
func cjStrEnd(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (ones * '"')
			e := x ^ (ones * '\\')
			// A byte of q or e is zero where x has a quote or a backslash;
			// the lowest flagged byte is exact (later ones may be false).
			m := ((q-ones)&^q | (e-ones)&^e) & highs
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return -1
		}
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes
	}
}

// cjValueEnd returns the index after the value that starts at b[i]
// (which must not be space), judging only its structure: strings and the
// nesting of brackets. -1: it does not end (or b[i] cannot start one).
func cjValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return cjStrEnd(b, i+1)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = cjStrEnd(b, i+1); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	}
	// A literal or a number: up to the next delimiter.
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return i
}

// cjObject walks the members of one object: Next returns the key (the raw
// contents of its string, escapes kept) and the value's bytes.
type cjObject struct {
	b   []byte
	i   int
	end int // after the closing brace, once Next returned false without bad
	bad bool
}

// cjNewObject starts at b[i] == '{'.
func cjNewObject(b []byte, i int) cjObject {
	if i >= len(b) || b[i] != '{' {
		return cjObject{b: b, i: i, bad: true}
	}
	it := cjObject{b: b, i: cjWS(b, i+1)}
	if it.i < len(b) && b[it.i] == '}' {
		it.end = it.i + 1
		it.i = -1
	}
	return it
}

func (it *cjObject) Next() (key, val []byte, ok bool) {
	b, i := it.b, it.i
	if it.bad || i < 0 {
		return nil, nil, false
	}
	if i >= len(b) || b[i] != '"' {
		it.bad = true
		return nil, nil, false
	}
	ke := cjStrEnd(b, i+1)
	if ke < 0 {
		it.bad = true
		return nil, nil, false
	}
	key = b[i+1 : ke-1]
	i = cjWS(b, ke)
	if i >= len(b) || b[i] != ':' {
		it.bad = true
		return nil, nil, false
	}
	vs := cjWS(b, i+1)
	ve := cjValueEnd(b, vs)
	if ve < 0 {
		it.bad = true
		return nil, nil, false
	}
	val = b[vs:ve]
	i = cjWS(b, ve)
	switch {
	case i < len(b) && b[i] == ',':
		it.i = cjWS(b, i+1)
	case i < len(b) && b[i] == '}':
		it.end, it.i = i+1, -1
	default:
		it.bad = true
		return nil, nil, false
	}
	return key, val, true
}

// cjKeyIs reports whether the raw key contents equal name (escapes decoded).
func cjKeyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	s, ok := cjUnquote(raw)
	return ok && s == name
}

// cjUnquote decodes the contents of a JSON string.
func cjUnquote(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '\\') < 0 {
		if !utf8.Valid(raw) {
			return "", false
		}
		return string(raw), true
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", false
	}
	return s, true
}

// cjAppendValue appends one valid JSON value, compacted when it spans lines
// (a frame holds one event per line).
func cjAppendValue(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
		return cjCompact(dst, v)
	}
	return append(dst, v...)
}

// cjCompact appends b without insignificant whitespace (b is valid JSON).
func cjCompact(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			if i = cjStrEnd(b, i+1); i < 0 {
				return append(dst, b[start:]...)
			}
		case ' ', '\t', '\n', '\r':
			dst = append(dst, b[start:i]...)
			for i++; i < len(b) && cjSpace(b[i]); i++ {
			}
			start = i
		default:
			i++
		}
	}
	return append(dst, b[start:]...)
}

// cjAppendTime appends t as a JSON string in RFC 3339 with nanoseconds,
// UTC: what AppendFormat(time.RFC3339Nano) writes, at a fraction of its
// cost (it runs once per event).
func cjAppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	}
	hour, minute, sec := t.Clock()
	dst = append(dst, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z', '"')
}

// cjAppendText appends s as a JSON string, escaping only what JSON
// requires (quotes, backslashes, control characters); invalid UTF-8
// becomes U+FFFD.
func cjAppendText(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return cjAppendEscaped(dst, s)
}

// cjAppendEscaped appends s (valid UTF-8) as a JSON string.
func cjAppendEscaped[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = cjEscape(append(dst, s[start:i]...), c)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// cjEscape appends the JSON escape of c (a quote, a backslash or a
// control character).
func cjEscape(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// cjAppendString appends s as a JSON string, as cjAppendEscaped does, and
// checks on the way that it is valid UTF-8 (false: it is not). It looks
// at eight bytes at a time.
func cjAppendString(dst, s []byte) ([]byte, bool) {
	dst = append(dst, '"')
	start, i := 0, 0
	for {
		for ; i+8 <= len(s); i += 8 {
			if m := cjSpecial(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		for i < len(s) && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\' {
			i++
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; c >= 0x80 {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, false
			}
			i += size
		} else {
			dst = cjEscape(append(dst, s[start:i]...), c)
			i++
			start = i
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}

// cjMaxTime is the first instant RFC 3339 cannot spell (year 10000).
var cjMaxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

// cjRFC3339 reports whether s is certainly an RFC 3339 timestamp that
// time.Time.UnmarshalText accepts, for the usual spelling
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) with every field in range; at a
// fraction of time's cost. False means "not certainly": ask time.
func cjRFC3339(s []byte) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	num := func(i int) int {
		a, b := s[i]-'0', s[i+1]-'0'
		if a > 9 || b > 9 {
			return -1
		}
		return int(a)*10 + int(b)
	}
	century, yy, month, day := num(0), num(2), num(5), num(8)
	hour, minute, sec := num(11), num(14), num(17)
	if century < 0 || yy < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	year := century*100 + yy
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	if day > days {
		return false
	}
	i := 19
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return false
		}
		i = j
	}
	switch {
	case i+1 == len(s) && s[i] == 'Z':
		return true
	case i+6 == len(s) && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		oh, om := num(i+1), num(i+4)
		return oh >= 0 && oh <= 23 && om >= 0 && om <= 59
	}
	return false
}
