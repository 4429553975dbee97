package processors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// arena hands out the objects, arrays and member/element slices of one
// event's tree from reusable slabs, so that decoding a typical event does
// not allocate once the arena is warm. An arena belongs to one Apply call
// at a time (they are pooled); everything it handed out is dead once the
// call has encoded its output.
type arena struct {
	members []member
	values  []value
	objs    []object
	arrs    []array
	// decoder stacks
	stackM []member
	stackV []value
	// ephemeral: strings made during the call (unescaped, masked) may be
	// carved from strs, because nothing outlives the call (ApplyJSON).
	ephemeral bool
	strs      []byte
}

func (a *arena) reset() {
	// The slabs are not cleared: what they still point to is one event's
	// worth of memory, overwritten by the next event.
	a.members = a.members[:0]
	a.values = a.values[:0]
	a.objs = a.objs[:0]
	a.arrs = a.arrs[:0]
	a.stackM = a.stackM[:0]
	a.stackV = a.stackV[:0]
	a.strs = a.strs[:0]
	if cap(a.strs) > 1<<20 {
		a.strs = nil
	}
}

// spare is the extra capacity an object gets so that a processor can add a
// key or two without reallocating.
const spare = 2

func (a *arena) newObject(ms []member) *object {
	var o *object
	if len(a.objs) < cap(a.objs) {
		a.objs = a.objs[:len(a.objs)+1]
		o = &a.objs[len(a.objs)-1]
		*o = object{}
	} else if cap(a.objs) < 1024 {
		// A new slab; objects already handed out keep the old one alive.
		a.objs = make([]object, 1, max(16, 2*cap(a.objs)))
		o = &a.objs[0]
	} else {
		o = new(object)
	}
	n := len(ms) + spare
	if len(a.members)+n > cap(a.members) {
		if n > 4096 {
			o.m = append(make([]member, 0, n), ms...)
			return o
		}
		a.members = make([]member, 0, max(256, 2*cap(a.members), n))
	}
	start := len(a.members)
	a.members = append(a.members, ms...)
	a.members = a.members[:start+n]
	o.m = a.members[start : start+len(ms) : start+n]
	return o
}

func (a *arena) newArray(vs []value) *array {
	var r *array
	if len(a.arrs) < cap(a.arrs) {
		a.arrs = a.arrs[:len(a.arrs)+1]
		r = &a.arrs[len(a.arrs)-1]
		*r = array{}
	} else if cap(a.arrs) < 1024 {
		a.arrs = make([]array, 1, max(8, 2*cap(a.arrs)))
		r = &a.arrs[0]
	} else {
		r = new(array)
	}
	n := len(vs)
	if len(a.values)+n > cap(a.values) {
		if n > 4096 {
			r.v = append(make([]value, 0, n), vs...)
			return r
		}
		a.values = make([]value, 0, max(128, 2*cap(a.values), n))
	}
	start := len(a.values)
	a.values = append(a.values, vs...)
	r.v = a.values[start : start+n : start+n]
	return r
}

// decoder reads JSON text into a value tree. Strings without escapes are
// substrings of data (no copy). It accepts what encoding/json accepts:
// invalid UTF-8 inside strings is replaced by U+FFFD (as json.Unmarshal
// does), the nesting limit is 10000, and when an object repeats a key the
// first occurrence wins (as in the template package).
type decoder struct {
	data  string
	i     int
	a     *arena
	depth int
}

// errSyntax is wrapped with the offset by the decoder.
var errSyntax = errors.New("invalid JSON")

func (d *decoder) fail(what string) error {
	if d.i >= len(d.data) {
		return fmt.Errorf("%w: unexpected end of input (%s)", errSyntax, what)
	}
	return fmt.Errorf("%w at offset %d: %s", errSyntax, d.i, what)
}

// decodeJSON decodes one JSON value that must fill data (surrounding
// whitespace allowed).
func decodeJSON(data string, a *arena) (value, error) {
	d := decoder{data: data, a: a}
	d.ws()
	v, err := d.value()
	if err != nil {
		return value{}, err
	}
	d.ws()
	if d.i != len(d.data) {
		return value{}, d.fail("data after the value")
	}
	return v, nil
}

func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (value, error) {
	if d.i >= len(d.data) {
		return value{}, d.fail("expected a value")
	}
	switch c := d.data[d.i]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		s, clean, err := d.str()
		return value{kind: kString, clean: clean, s: s}, err
	case 't':
		return trueValue, d.lit("true")
	case 'f':
		return falseValue, d.lit("false")
	case 'n':
		return nullValue, d.lit("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.num()
		}
		return value{}, d.fail(fmt.Sprintf("unexpected character %q", c))
	}
}

func (d *decoder) lit(want string) error {
	if len(d.data)-d.i >= len(want) && d.data[d.i:d.i+len(want)] == want {
		d.i += len(want)
		return nil
	}
	return d.fail("invalid literal")
}

// num reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) num() (value, error) {
	s := d.data
	start := d.i
	i := d.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		d.i = i
		return value{}, d.fail("invalid number")
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	default:
		d.i = i
		return value{}, d.fail("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == j {
			d.i = i
			return value{}, d.fail("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == j {
			d.i = i
			return value{}, d.fail("invalid number")
		}
	}
	d.i = i
	return numValue(s[start:i]), nil
}

// strSafe[c] is true for ASCII bytes that need no attention inside a
// string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// le64 loads 8 bytes of s at i, little-endian (one load on amd64/arm64).
func le64(s string, i int) uint64 {
	// A read-only byte view of s, so that the compiler emits one load.
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), len(s))[i : i+8])
}

// specialMask has the high bit set in the lowest byte of w that is '"',
// '\\' or a control character, and is 0 when there is none (bits above that
// byte may be set spuriously). Bytes >= 0x80 are not special.
func specialMask(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (w-ones*0x20)&^w) & high
}

// str reads a string starting at the opening quote. clean reports that the
// result needs no escaping when encoded.
func (d *decoder) str() (s string, clean bool, err error) {
	const high = 0x8080808080808080
	data := d.data
	i := d.i + 1
	start := i
	var acc uint64 // OR of the bytes seen: high bits mean non-ASCII
	esc := false
	for {
		for len(data)-i >= 8 {
			w := le64(data, i)
			if m := specialMask(w); m != 0 {
				acc |= w // may include bytes past the special one: harmless
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			acc |= w
			i += 8
		}
		for i < len(data) {
			c := data[i]
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			acc |= uint64(c)
			i++
		}
	special:
		if i >= len(data) {
			d.i = i
			return "", false, d.fail("unterminated string")
		}
		switch data[i] {
		case '"':
			d.i = i + 1
			raw := data[start:i]
			if !esc && (acc&high == 0 || utf8.ValidString(raw)) {
				return raw, true, nil
			}
			return d.a.unquote(raw), false, nil
		case '\\':
			if !esc && acc&high == 0 && d.a != nil && d.a.ephemeral {
				return d.strEsc(start, i)
			}
			esc = true
			if i+1 >= len(data) {
				d.i = i + 1
				return "", false, d.fail("unterminated string")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(data) || !isHex4(data[i+2:i+6]) {
					d.i = i
					return "", false, d.fail(`invalid \u escape`)
				}
				i += 6
			default:
				d.i = i
				return "", false, d.fail("invalid escape")
			}
		default:
			d.i = i
			return "", false, d.fail("control character in string")
		}
	}
}

// strEsc finishes str for a string whose body starts at start and has
// its first escape at i, with only ASCII before it: it decodes the rest
// while validating it, in one pass, into the (ephemeral) arena's string
// bytes. Errors are str's. A string with non-ASCII bytes after the escape
// is decoded again by unquote, which replaces invalid UTF-8.
func (d *decoder) strEsc(start, i int) (string, bool, error) {
	const high = 0x8080808080808080
	data := d.data
	a := d.a
	base := len(a.strs)
	buf := append(a.strs, data[start:i]...)
	var acc uint64 // OR of the plain bytes copied: high bits mean non-ASCII
	for {
		// data[i] is a backslash.
		if i+1 >= len(data) {
			d.i = i + 1
			return "", false, d.fail("unterminated string")
		}
		switch c := data[i+1]; c {
		case '"', '\\', '/':
			buf = append(buf, c)
			i += 2
		case 'b', 'f', 'n', 'r', 't':
			buf, i = unescape(buf, data, i)
		case 'u':
			if i+5 >= len(data) || !isHex4(data[i+2:i+6]) {
				d.i = i
				return "", false, d.fail(`invalid \u escape`)
			}
			// A surrogate pair's second half is only taken when it lies
			// inside the string; a quote ends the string before it.
			buf, i = unescape(buf, data, i)
		default:
			d.i = i
			return "", false, d.fail("invalid escape")
		}
		// Plain bytes up to the next quote, backslash or control
		// character, eight at a time.
		for len(data)-i >= 8 {
			w := le64(data, i)
			if m := specialMask(w); m != 0 {
				k := bits.TrailingZeros64(m) >> 3
				acc |= w & (1<<(8*k) - 1)
				buf = binary.LittleEndian.AppendUint64(buf, w)
				buf = buf[:len(buf)-8+k]
				i += k
				goto special
			}
			acc |= w
			buf = binary.LittleEndian.AppendUint64(buf, w)
			i += 8
		}
		for i < len(data) {
			c := data[i]
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			acc |= uint64(c)
			buf = append(buf, c)
			i++
		}
	special:
		if i >= len(data) {
			d.i = i
			return "", false, d.fail("unterminated string")
		}
		switch data[i] {
		case '"':
			d.i = i + 1
			if acc&high != 0 {
				return a.unquote(data[start:i]), false, nil
			}
			a.strs = buf
			if len(buf) == base {
				return "", false, nil
			}
			return unsafe.String(&buf[base], len(buf)-base), false, nil
		case '\\':
			continue
		default:
			d.i = i
			return "", false, d.fail("control character in string")
		}
	}
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote decodes the (validated) body of a string with escapes or
// invalid UTF-8, as json.Unmarshal does (invalid UTF-8 and lone
// surrogates become U+FFFD). The result is built in the arena's string
// bytes when the arena is ephemeral.
func (a *arena) unquote(raw string) string {
	if a != nil && a.ephemeral {
		start := len(a.strs)
		a.strs = unquoteTo(a.strs, raw)
		if len(a.strs) == start {
			return ""
		}
		return unsafe.String(&a.strs[start], len(a.strs)-start)
	}
	b := unquoteTo(make([]byte, 0, len(raw)), raw)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b)) // b is never written again
}

// newString copies b into a string: in the arena's string bytes when the
// arena is ephemeral (the string dies with the call), else on the heap.
func (a *arena) newString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if a == nil || !a.ephemeral {
		return string(b)
	}
	start := len(a.strs)
	a.strs = append(a.strs, b...)
	return unsafe.String(&a.strs[start], len(b))
}

// backslashMask has the high bit set in the lowest byte of w that is a
// backslash (higher bits may be spurious), 0 when there is none.
func backslashMask(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q := w ^ (ones * '\\')
	return (q - ones) &^ q & high
}

func unquoteTo(dst []byte, raw string) []byte {
	n := len(raw)
	if !utf8.ValidString(raw) {
		return unquoteSlow(dst, raw)
	}
	// The result is never longer than raw: write into dst's spare room,
	// eight bytes at a time between escapes.
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	buf := dst[base:]
	w := 0
	for i := 0; i < n; {
		if i+8 <= n {
			x := le64(raw, i)
			if m := backslashMask(x); m == 0 {
				binary.LittleEndian.PutUint64(buf[w:], x)
				w += 8
				i += 8
				continue
			} else {
				k := bits.TrailingZeros64(m) >> 3
				binary.LittleEndian.PutUint64(buf[w:], x) // the bytes past k are overwritten below
				w += k
				i += k
			}
		} else if c := raw[i]; c != '\\' {
			buf[w] = c
			w++
			i++
			continue
		}
		// raw[i] is a backslash.
		if c := raw[i+1]; c == '"' || c == '\\' || c == '/' {
			buf[w] = c
			w++
			i += 2
			continue
		}
		var r []byte
		r, i = unescape(buf[w:w], raw, i)
		w += len(r)
	}
	return dst[:base+w]
}

// unescape appends the escape sequence at raw[i] (a backslash) and
// returns the offset after it.
func unescape(dst []byte, raw string, i int) ([]byte, int) {
	i++
	switch raw[i] {
	case '"', '\\', '/':
		dst = append(dst, raw[i])
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
		r := rune(hex4(raw[i+1:]))
		i += 4
		if utf16.IsSurrogate(r) {
			r2 := rune(-1)
			if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' && isHex4(raw[i+3:]) {
				r2 = rune(hex4(raw[i+3:]))
			}
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				i += 6
				r = dec
			} else {
				r = utf8.RuneError
			}
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, i + 1
}

// unquoteSlow handles strings with invalid UTF-8.
func unquoteSlow(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			dst, i = unescape(dst, raw, i)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(s string) uint16 {
	var n uint16
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		n = n<<4 | uint16(c)
	}
	return n
}

func (d *decoder) object() (value, error) {
	d.depth++
	if d.depth > maxDepth {
		return value{}, d.fail("exceeded max depth")
	}
	d.i++ // '{'
	a := d.a
	base := len(a.stackM)
	var seen map[string]struct{} // for large objects
	var bloom uint64             // of the keys so far, to skip most duplicate checks
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		return objValue(a.newObject(nil)), nil
	}
	for {
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return value{}, d.fail("expected a string key")
		}
		key, _, err := d.str()
		if err != nil {
			return value{}, err
		}
		if d.i < len(d.data) && d.data[d.i] == ':' {
			d.i++
		} else {
			d.ws()
			if d.i >= len(d.data) || d.data[d.i] != ':' {
				return value{}, d.fail("expected ':'")
			}
			d.i++
		}
		if d.i < len(d.data) && d.data[d.i] <= ' ' {
			d.ws()
		}
		var v value
		if d.i < len(d.data) && d.data[d.i] == '"' {
			// The common string member, without value's call.
			s, clean, err := d.str()
			if err != nil {
				return value{}, err
			}
			v = value{kind: kString, clean: clean, s: s}
		} else if v, err = d.value(); err != nil {
			return value{}, err
		}
		// First occurrence of a key wins.
		dup := false
		if n := len(a.stackM) - base; n < 16 {
			bit := uint64(1) << (keyHash(key) & 63)
			if bloom&bit != 0 {
				for j := base; j < len(a.stackM); j++ {
					if a.stackM[j].key == key {
						dup = true
						break
					}
				}
			}
			bloom |= bit
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*n)
				for _, m := range a.stackM[base:] {
					seen[m.key] = struct{}{}
				}
			}
			_, dup = seen[key]
			seen[key] = struct{}{}
		}
		if !dup {
			a.pushMember(key, v)
		}
		if d.i < len(d.data) && d.data[d.i] <= ' ' {
			d.ws()
		}
		if d.i >= len(d.data) {
			return value{}, d.fail("unterminated object")
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			if d.i < len(d.data) && d.data[d.i] <= ' ' {
				d.ws()
			}
			continue
		case '}':
			d.i++
			o := a.newObject(a.stackM[base:])
			a.stackM = a.stackM[:base]
			d.depth--
			return objValue(o), nil
		}
		return value{}, d.fail("expected ',' or '}'")
	}
}

// pushMember appends a member to the decoder's stack field by field: a
// composite literal is assembled on the stack with narrow stores and then
// copied with wide loads, which stalls store-to-load forwarding (a third
// of the decoder's time).
func (a *arena) pushMember(key string, v value) {
	n := len(a.stackM)
	if n < cap(a.stackM) {
		a.stackM = a.stackM[:n+1]
	} else {
		a.stackM = append(a.stackM, member{})
	}
	m := &a.stackM[n]
	m.key = key
	m.val.kind = v.kind
	m.val.clean = v.clean
	m.val.s = v.s
	m.val.p = v.p
}

// keyHash is a cheap hash of a key for the duplicate-key filter.
func keyHash(k string) uint {
	if k == "" {
		return 0
	}
	return uint(len(k))*7 + uint(k[0])*31 + uint(k[len(k)-1])
}

func (d *decoder) array() (value, error) {
	d.depth++
	if d.depth > maxDepth {
		return value{}, d.fail("exceeded max depth")
	}
	d.i++ // '['
	base := len(d.a.stackV)
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		d.depth--
		return arrValue(d.a.newArray(nil)), nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return value{}, err
		}
		d.a.stackV = append(d.a.stackV, v)
		d.ws()
		if d.i >= len(d.data) {
			return value{}, d.fail("unterminated array")
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.ws()
			continue
		case ']':
			d.i++
			r := d.a.newArray(d.a.stackV[base:])
			d.a.stackV = d.a.stackV[:base]
			d.depth--
			return arrValue(r), nil
		}
		return value{}, d.fail("expected ',' or ']'")
	}
}

// appendValue appends v as compact JSON.
func appendValue(dst []byte, v value) []byte {
	switch v.kind {
	case kNull:
		return append(dst, "null"...)
	case kTrue:
		return append(dst, "true"...)
	case kFalse:
		return append(dst, "false"...)
	case kNumber:
		return append(dst, v.s...)
	case kString:
		if v.clean {
			dst = append(dst, '"')
			dst = append(dst, v.s...)
			return append(dst, '"')
		}
		return appendString(dst, v.s)
	case kObject:
		return appendObject(dst, v.obj())
	default:
		dst = append(dst, '[')
		for i, e := range v.arr().v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e)
		}
		return append(dst, ']')
	}
}

func appendObject(dst []byte, o *object) []byte {
	dst = append(dst, '{')
	for i := range o.m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, o.m[i].key)
		dst = append(dst, ':')
		dst = appendValue(dst, o.m[i].val)
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string. Only what JSON requires is
// escaped (no HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	const high = 0x8080808080808080
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			if w := le64(s, i); specialMask(w)|w&high == 0 {
				i += 8
				continue
			}
		}
		c := s[i]
		if strSafe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// formatFloat formats f as encoding/json does.
func formatFloat(f float64) string {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b := strconv.AppendFloat(nil, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}
