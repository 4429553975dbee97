package ingest

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Byte-level helpers of the Events v2 decoder (eventsv2.go). They never
// read out of bounds; ev2Str and ev2NumEnd check what they scan as
// decode.Valid does, the others trust JSON that has been checked. Each
// one is what encoding/json (or the code that used it) did, for the same
// input; eventsv2_scan_test.go checks them against it.

// ev2At is b[i], or 0 past its end (0 is nowhere valid in JSON).
func ev2At(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// ev2WS returns the index of the first byte at or after i that is not
// JSON white space: at once when b[i] is none (compact JSON).
func ev2WS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && cjSpace(b[i]) {
		i++
	}
	return i
}

// ev2Lit reports whether the literal lit is at b[i].
func ev2Lit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// Flags of a string as sent (ev2Str).
const (
	ev2Esc  = 1 << iota // it holds an escape
	ev2HTML             // it holds '<', '>' or '&', which appendJSONString escapes
	ev2Bad              // it is not a valid JSON string (or does not end)
)

// ev2Str returns the index of the closing quote of the string whose
// contents start at b[i] (len(b) if it does not end) and its flags. It
// checks the string as decode.Valid does (escapes, control characters,
// UTF-8), looking at sixteen bytes at a time for any byte that needs a
// look: most keys and values end in the first sixteen.
func ev2Str(b []byte, i int) (int, uint8) {
	var as uint8
	for {
		if i+16 <= len(b) {
			// The first flagged bit of the two words: 128 for none.
			t := bits.TrailingZeros64(ev2Special(binary.LittleEndian.Uint64(b[i:])))
			t2 := bits.TrailingZeros64(ev2Special(binary.LittleEndian.Uint64(b[i+8:])))
			if t == 64 {
				t += t2
			}
			if t == 128 {
				i += 16
				continue
			}
			i += t >> 3
		} else {
			for i < len(b) && !ev2Look[b[i]] {
				i++
			}
			if i >= len(b) {
				return len(b), as | ev2Bad
			}
		}
		switch c := b[i]; {
		case c == '"':
			return i, as
		case c == '\\':
			as |= ev2Esc
			switch ev2At(b, i+1) {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || ev2Hex4(b[i+2:]) < 0 {
					return min(i+2, len(b)), as | ev2Bad
				}
				i += 6
			default:
				return min(i+2, len(b)), as | ev2Bad
			}
		case c < 0x20:
			as |= ev2Bad
			i++
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				as |= ev2Bad
			}
			i += size
		default: // '<', '>', '&'
			as |= ev2HTML
			i++
		}
	}
}

// ev2Quick is the short way of ev2Str for the common string: one that
// ends within the eight bytes at b[i] with nothing to look at before its
// quote (no escape, nothing ev2HTML or ev2Bad flags). ok false: ask ev2Str.
// (properties has it inlined by hand: the compiler does not.)
func ev2Quick(b []byte, i int) (end int, ok bool) {
	if i+8 >= len(b) {
		return 0, false
	}
	// No flag: end is i+8, and a quote there ends a string of eight bytes
	// that need no look.
	end = i + bits.TrailingZeros64(ev2Special(binary.LittleEndian.Uint64(b[i:])))>>3
	return end, b[end] == '"'
}

// ev2Look: the bytes ev2Str stops at.
var ev2Look = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x80
	}
	for _, c := range `"\<>&` {
		t[c] = true
	}
	return t
}()

// ev2Special flags (high bit of the byte) the bytes of x that ev2Str must
// look at: < 0x20, >= 0x80, '"', '\\', '<', '>', '&'. The lowest flag is
// exact (a false one can only follow a true one). '"' (0x22) and '&'
// (0x26) are the bytes that OR 0x04 makes 0x26; '<' (0x3C) and '>' (0x3E)
// those that OR 0x02 makes 0x3E.
func ev2Special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	qa := (x | ones*0x04) ^ (ones * 0x26)
	lg := (x | ones*0x02) ^ (ones * 0x3E)
	e := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x | (qa-ones)&^qa | (lg-ones)&^lg | (e-ones)&^e | x) & highs
}

// ev2NumEnd returns the index after the JSON number at b[i], -1 when
// there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func ev2NumEnd(b []byte, i int) int {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if ev2At(b, i) == '-' {
		i++
	}
	switch c := ev2At(b, i); {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(i + 1)
	default:
		return -1
	}
	if ev2At(b, i) == '.' {
		if c := ev2At(b, i+1); c < '0' || c > '9' {
			return -1
		}
		i = digits(i + 1)
	}
	if c := ev2At(b, i); c == 'e' || c == 'E' {
		i++
		if c := ev2At(b, i); c == '+' || c == '-' {
			i++
		}
		if c := ev2At(b, i); c < '0' || c > '9' {
			return -1
		}
		i = digits(i)
	}
	return i
}

// ev2LitEnd returns the index after the number or literal at b[i].
func ev2LitEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// ev2Int parses the value at b[i] as strconv.ParseInt(value, 10, 64)
// does: an optional '-' and decimal digits within int64. It returns the
// number and the index after it; ok false for anything else (a string, a
// fraction, an exponent, a number out of range, …).
func ev2Int(b []byte, i int) (n int64, next int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-start < 19 { // 19 digits fit in a uint64; JSON has no leading zeros
			u = u*10 + uint64(b[i]-'0')
		}
	}
	switch {
	case i == start || i-start > 19:
		return 0, i, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, i, false
	case neg && u > 1<<63, !neg && u > 1<<63-1:
		return 0, i, false
	case neg:
		return -int64(u), i, true // -(1<<63) wraps to itself: right
	}
	return int64(u), i, true
}

// ev2Unescape appends the contents of a valid JSON string (raw, without
// its quotes) to dst with escapes decoded, as encoding/json does: a lone
// surrogate becomes U+FFFD.
func ev2Unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
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
			r, size := ev2Rune(raw, i)
			dst = utf8.AppendRune(dst, r)
			i += size
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// ev2Rune decodes the \u escape at raw[i] (with the low surrogate escape
// after it, for a pair) and returns the rune and the bytes it took.
func ev2Rune(raw []byte, i int) (rune, int) {
	r := ev2Hex4(raw[i+2:])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
		if d := utf16.DecodeRune(r, ev2Hex4(raw[i+8:])); d != utf8.RuneError {
			return d, 12
		}
	}
	return utf8.RuneError, 6
}

func ev2Hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// ev2RuneCount is utf8.RuneCount(ev2Unescape(nil, raw)) without decoding:
// raw is valid UTF-8, and so is what its escapes decode to.
func ev2RuneCount(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c != '\\':
			if c&0xC0 != 0x80 { // not a continuation byte: a character starts
				n++
			}
			i++
		case raw[i+1] == 'u':
			_, size := ev2Rune(raw, i)
			n++
			i += size
		default:
			n++
			i += 2
		}
	}
	return n
}

// ev2Escaped: the bytes appendJSONString escapes.
var ev2Escaped = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = true
	}
	return t
}()

// ev2AppendText appends the decoded string s as appendJSONString does,
// as is when it was sent with nothing that needs escaping (as: its
// ev2Str flags).
func ev2AppendText(dst, s []byte, as uint8) []byte {
	if as&(ev2Esc|ev2HTML) != 0 {
		return ev2AppendString(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ev2AppendString appends s as appendJSONString(dst, string(s)) does.
func ev2AppendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if !ev2Escaped[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		if c == '"' || c == '\\' {
			dst = append(dst, '\\', c)
		} else {
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ev2TimeLayout is how the stored timestamp is spelt (UTC).
const ev2TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// ev2AppendMillis appends time.UnixMilli(ms).UTC().AppendFormat(dst,
// ev2TimeLayout), by hand for years 0 to 9999.
func ev2AppendMillis(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, ev2TimeLayout)
	}
	hour, minute, sec := t.Clock()
	milli := t.Nanosecond() / int(time.Millisecond)
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}

var ev2Seed = maphash.MakeSeed()

// ev2Fingerprint is a number that equal keys share, cheap to compare
// (its first and last bytes, and its length).
func ev2Fingerprint(key []byte) uint64 {
	n := uint64(len(key))
	switch {
	case n >= 8:
		return n<<56 ^ binary.LittleEndian.Uint64(key) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(key[n-8:]), 29)
	case n >= 4:
		return n<<56 ^ uint64(binary.LittleEndian.Uint32(key)) ^ uint64(binary.LittleEndian.Uint32(key[n-4:]))<<24
	}
	x := n << 56
	for i, c := range key {
		x |= uint64(c) << (8 * i)
	}
	return x
}

// firstDup returns the index of the first property whose key an earlier
// one has, -1 when none has: pairwise (by fingerprint first) for a few,
// by hashing for more.
func (p *ev2Parser) firstDup(props []ev2Prop) int {
	if len(props) <= 16 {
		// Fingerprints, and a 256-bit filter of them that sends only a
		// key whose bit an earlier one set to the pairwise look.
		var fp [16]uint64
		var seen [4]uint64
		for k := range props {
			f := ev2Fingerprint(props[k].key)
			fp[k] = f
			bit := (f * 0x9E3779B97F4A7C15) >> 56
			if seen[bit>>6]&(1<<(bit&63)) != 0 {
				for j := range k {
					if fp[j] == f && bytes.Equal(props[j].key, props[k].key) {
						return k
					}
				}
			}
			seen[bit>>6] |= 1 << (bit & 63)
		}
		return -1
	}
	size := 1 << bits.Len(uint(2*len(props)-1)) // at least twice as many slots as keys
	if cap(p.slots) < size {
		p.slots = make([]int32, size)
	}
	slots := p.slots[:size]
	clear(slots)
	mask := uint64(size - 1)
	for k := range props {
		key := props[k].key
		for s := maphash.Bytes(ev2Seed, key) & mask; ; s = (s + 1) & mask {
			j := slots[s] // index+1 of the key there, 0: free
			if j == 0 {
				slots[s] = int32(k + 1)
				break
			}
			if bytes.Equal(props[j-1].key, key) {
				return k
			}
		}
	}
	return -1
}
