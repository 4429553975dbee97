package accesslog

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON parses one access-log line (a trailing "\n" or "\r\n" is
// ignored) and appends its record, a compact JSON object on one line, to
// dst. On error it returns dst unchanged and a *ParseError. line is not
// retained.
func (f *Format) AppendJSON(dst, line []byte) ([]byte, error) {
	return f.appendJSON(dst, unsafe.String(unsafe.SliceData(line), len(line)))
}

// AppendJSONString is AppendJSON for a line held in a string.
func (f *Format) AppendJSONString(dst []byte, line string) ([]byte, error) {
	return f.appendJSON(dst, line)
}

func (f *Format) appendJSON(dst []byte, line string) ([]byte, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return dst, &ParseError{Column: 1, Detail: "empty line"}
	}
	if !strings.HasPrefix(line, f.prefix) {
		return dst, &ParseError{Column: 1, Variable: f.fields[0].name,
			Detail: fmt.Sprintf("expected %q at the start of the line, before $%s; found %s", f.prefix, f.fields[0].name, snippet(line))}
	}
	base := len(dst)
	dst = append(dst, '{')
	open := len(dst)
	pos := len(f.prefix)
	for i := range f.fields {
		fd := &f.fields[i]
		end, perr := fd.end(line, pos)
		if perr != nil {
			return dst[:base], perr
		}
		if dst, perr = fd.write(dst, open, line[pos:end], pos); perr != nil {
			return dst[:base], perr
		}
		pos = end + len(fd.next)
	}
	return append(dst, '}'), nil
}

// end finds where the value that starts at line[pos] ends.
func (fd *field) end(line string, pos int) (int, *ParseError) {
	switch {
	case fd.next == "":
		return len(line), nil
	case fd.final:
		if len(line)-pos < len(fd.next) || !strings.HasSuffix(line, fd.next) {
			return 0, &ParseError{Column: pos + 1, Variable: fd.name,
				Detail: fmt.Sprintf("expected %q at the end of the line, after $%s", fd.next, fd.name)}
		}
		return len(line) - len(fd.next), nil
	}
	if fd.width > 0 && len(line)-pos > fd.width && strings.HasPrefix(line[pos+fd.width:], fd.next) {
		return pos + fd.width, nil
	}
	for from := pos; ; {
		j := strings.Index(line[from:], fd.next)
		if j < 0 {
			return 0, &ParseError{Column: pos + 1, Variable: fd.name,
				Detail: fmt.Sprintf("expected %q after $%s", fd.next, fd.name)}
		}
		c := from + j
		if fd.next[0] == '"' && escaped(line, pos, c) || fd.multi && fd.next[0] == ' ' && inSeparator(line, pos, c) {
			from = c + 1
			continue
		}
		return c, nil
	}
}

// escaped reports whether line[c] is preceded by an odd number of
// backslashes within the value that starts at pos.
func escaped(line string, pos, c int) bool {
	n := 0
	for i := c - 1; i >= pos && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// inSeparator reports whether the space at line[c] belongs to a ", " or
// " : " separator of a multi-valued upstream variable that starts at pos.
func inSeparator(line string, pos, c int) bool {
	switch {
	case c > pos && line[c-1] == ',':
		return true
	case c > pos && strings.HasPrefix(line[c:], " : "):
		return true
	case c-2 >= pos && line[c-2] == ' ' && line[c-1] == ':':
		return true
	}
	return false
}

// absent reports whether a value stands for "no value": nginx writes "-"
// for an empty or unset variable.
func absent(v string) bool { return v == "-" || v == "" }

// write appends the keys of the field whose value is v (at column pos+1).
func (fd *field) write(dst []byte, open int, v string, pos int) ([]byte, *ParseError) {
	if fd.method != "" || fd.uri != "" || fd.protocol != "" {
		return fd.writeRequest(dst, open, v), nil
	}
	switch fd.kind {
	case kString:
		if fd.token && strings.IndexByte(v, ' ') >= 0 {
			return dst, &ParseError{Column: pos + 1, Variable: fd.name,
				Detail: fmt.Sprintf("$%s is %s, which has a space: the line does not match the log_format", fd.name, snippet(v))}
		}
		dst = appendString(appendKey(dst, open, fd.key), v)
	case kInteger, kNumber, kTimestamp:
		if absent(v) {
			break
		}
		n := len(dst)
		var ok bool
		dst, ok = appendTyped(appendKey(dst, open, fd.key), v, fd.kind)
		if !ok {
			return dst[:n], &ParseError{Column: pos + 1, Variable: fd.name,
				Detail: fmt.Sprintf("$%s is %s, not %s%s", fd.name, snippet(v), fd.kind, kindHint(fd.kind))}
		}
	}
	if fd.path != "" {
		dst = writePath(dst, open, v, fd.path, fd.query)
	}
	if fd.last != "" {
		dst = fd.writeLast(dst, open, v)
	}
	return dst, nil
}

func kindHint(k kind) string {
	if k == kTimestamp {
		return " (like 10/Oct/2000:13:55:36 -0700, 2000-10-10T13:55:36-07:00 or 971211336.123)"
	}
	return ""
}

// writeRequest splits a request line into its parts; a line that cannot
// be split is written whole under the field's own key, "-" not at all.
func (fd *field) writeRequest(dst []byte, open int, v string) []byte {
	if absent(v) {
		return dst
	}
	method, uri, protocol, ok := splitRequest(v)
	if !ok {
		return appendString(appendKey(dst, open, fd.key), v)
	}
	if fd.method != "" {
		dst = appendString(appendKey(dst, open, fd.method), method)
	}
	if fd.uri != "" {
		dst = appendString(appendKey(dst, open, fd.uri), uri)
	}
	if fd.protocol != "" && protocol != "" {
		dst = appendString(appendKey(dst, open, fd.protocol), protocol)
	}
	if fd.path != "" {
		dst = writePath(dst, open, uri, fd.path, fd.query)
	}
	return dst
}

// splitRequest splits "GET /a?b HTTP/1.1" into method, URI and protocol.
// The method must be an HTTP token, the protocol (absent for HTTP/0.9's
// "GET /") must start with "HTTP/".
func splitRequest(v string) (method, uri, protocol string, ok bool) {
	sp := strings.IndexByte(v, ' ')
	if sp <= 0 {
		return "", "", "", false
	}
	method, rest := v[:sp], v[sp+1:]
	for i := 0; i < len(method); i++ {
		if !isTokenByte(method[i]) {
			return "", "", "", false
		}
	}
	uri = rest
	if l := strings.LastIndexByte(rest, ' '); l >= 0 {
		protocol = rest[l+1:]
		if !strings.HasPrefix(protocol, "HTTP/") {
			return "", "", "", false
		}
		uri = rest[:l]
	}
	if uri == "" {
		return "", "", "", false
	}
	return method, uri, protocol, true
}

// isTokenByte reports whether c may appear in an HTTP token (RFC 9110 tchar).
func isTokenByte(c byte) bool {
	if isNameByte(c) {
		return true
	}
	return c < utf8.RuneSelf && strings.IndexByte("!#$%&'*+-.^`|~", c) >= 0
}

// writePath adds requestPath and requestQuery (pathKey, queryKey; "" for
// none) from a request URI. "-" gives neither.
func writePath(dst []byte, open int, uri, pathKey, queryKey string) []byte {
	if absent(uri) {
		return dst
	}
	path, query, hasQuery := uri, "", false
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query, hasQuery = path[:i], path[i+1:], true
	}
	// Absolute form (a request to a proxy): drop scheme and authority.
	if i := strings.Index(path, "://"); i > 0 && isScheme(path[:i]) {
		rest := path[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			path = rest[j:]
		} else {
			path = "/"
		}
	}
	if pathKey != "" {
		dst = appendString(appendKey(dst, open, pathKey), path)
	}
	if queryKey != "" && hasQuery {
		dst = appendString(appendKey(dst, open, queryKey), query)
	}
	return dst
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// writeLast adds upstream_*_last: the value after the last ", " or " : "
// separator, typed; absent when it is "-" or not of its type.
func (fd *field) writeLast(dst []byte, open int, v string) []byte {
	last := v
	if i := strings.LastIndex(last, ", "); i >= 0 {
		last = last[i+2:]
	}
	if i := strings.LastIndex(last, " : "); i >= 0 {
		last = last[i+3:]
	}
	last = strings.TrimSpace(last)
	if absent(last) {
		return dst
	}
	if fd.lastKind == kString {
		return appendString(appendKey(dst, open, fd.last), last)
	}
	n := len(dst)
	dst, ok := appendTyped(appendKey(dst, open, fd.last), last, fd.lastKind)
	if !ok {
		return dst[:n]
	}
	return dst
}

// appendKey appends `"key":`, after a comma unless it is the first key.
// Keys are variable names: letters, digits and '_', nothing to escape.
func appendKey(dst []byte, open int, key string) []byte {
	if len(dst) > open {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendTyped appends v as a JSON value of kind k (not kString); false
// when v is not of that kind.
func appendTyped(dst []byte, v string, k kind) ([]byte, bool) {
	switch k {
	case kInteger:
		return appendInteger(dst, v)
	case kNumber:
		return appendNumber(dst, v)
	case kTimestamp:
		n := len(dst)
		dst = append(dst, '"')
		dst, ok := appendTime(dst, v)
		if !ok {
			return dst[:n], false
		}
		return append(dst, '"'), true
	}
	return dst, false
}

// appendInteger appends a decimal integer of at most 18 digits (so that it
// fits an int64), optionally negative, without its leading zeros.
func appendInteger(dst []byte, v string) ([]byte, bool) {
	neg := false
	if v != "" && v[0] == '-' {
		neg, v = true, v[1:]
	}
	if v == "" || len(v) > 18 || !allDigits(v) {
		return dst, false
	}
	v = trimZeros(v)
	if neg && v != "0" {
		dst = append(dst, '-')
	}
	return append(dst, v...), true
}

// appendNumber appends a decimal number (digits, an optional fraction and
// exponent) as a JSON number: "00.5" and ".5" become 0.5, "5." becomes 5.
func appendNumber(dst []byte, v string) ([]byte, bool) {
	neg := false
	if v != "" && v[0] == '-' {
		neg, v = true, v[1:]
	}
	mant, exp := v, ""
	if i := strings.IndexAny(v, "eE"); i >= 0 {
		mant, exp = v[:i], v[i+1:]
		e := exp
		if e != "" && (e[0] == '+' || e[0] == '-') {
			e = e[1:]
		}
		if e == "" || len(e) > 4 || !allDigits(e) {
			return dst, false
		}
	}
	ip, fp, _ := strings.Cut(mant, ".")
	if ip == "" && fp == "" || ip != "" && !allDigits(ip) || fp != "" && !allDigits(fp) || len(ip)+len(fp) > 40 {
		return dst, false
	}
	if neg {
		dst = append(dst, '-')
	}
	if ip = trimZeros(ip); ip == "" {
		ip = "0"
	}
	dst = append(dst, ip...)
	if fp != "" {
		dst = append(dst, '.')
		dst = append(dst, fp...)
	}
	if exp != "" {
		dst = append(dst, 'e')
		dst = append(dst, exp...)
	}
	return dst, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// trimZeros removes leading zeros but keeps one digit.
func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// appendString appends the log value s, unescaped, as a JSON string.
func appendString(dst []byte, s string) []byte {
	if strings.IndexByte(s, '\\') < 0 {
		return appendJSONString(dst, s)
	}
	// Unescape into dst, then write the JSON string after it and move it
	// back: no scratch buffer. If the second append reallocates, u still
	// reads the old array, which stays valid.
	p := len(dst)
	dst = appendUnescaped(dst, s)
	q := len(dst)
	if !utf8.Valid(dst[p:q]) {
		// Binary bytes (a TLS handshake logged as the request): keep the
		// escapes as written rather than lose the bytes to U+FFFD.
		return appendJSONString(dst[:p], s)
	}
	u := unsafe.String(unsafe.SliceData(dst[p:]), q-p)
	dst = appendJSONString(dst, u)
	n := copy(dst[p:], dst[q:])
	return dst[:p+n]
}

// appendUnescaped decodes the escapes web servers write into log values:
// \xHH (nginx), \" \\ \n \r \t (Apache, nginx escape=json) and \uHHHH
// (escape=json). Any other backslash is kept.
func appendUnescaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			dst = append(dst, c)
			continue
		}
		switch e := s[i+1]; e {
		case 'x':
			if i+3 < len(s) {
				if h, ok := hexByte(s[i+2], s[i+3]); ok {
					dst = append(dst, h)
					i += 3
					continue
				}
			}
		case '"', '\\':
			dst = append(dst, e)
			i++
			continue
		case 'n':
			dst = append(dst, '\n')
			i++
			continue
		case 'r':
			dst = append(dst, '\r')
			i++
			continue
		case 't':
			dst = append(dst, '\t')
			i++
			continue
		case 'u':
			if i+5 < len(s) {
				if r, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
					dst = utf8.AppendRune(dst, rune(r))
					i += 5
					continue
				}
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := hexDigit(a)
	y, ok2 := hexDigit(b)
	return x<<4 | y, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
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

// snippet quotes a value of a line for an error message, cut to 40 bytes.
func snippet(s string) string {
	if len(s) > 40 {
		return strconv.Quote(strings.ToValidUTF8(s[:40], "")) + "…"
	}
	return strconv.Quote(s)
}
