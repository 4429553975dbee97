package processors

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/accesslog"
)

// parse {field, format, target, on_error, ...}: parses a string field into
// an object (json: any value) stored at target (default: the field
// itself; "." merges the parsed object's keys into the top level).
type parseProc struct {
	field  path
	target path
	toRoot bool
	skip   bool // on_error: skip
	format string
	// kv
	kv kvOptions
	// regex
	re    *regexp.Regexp
	names []string
	// csv
	columns []string
	comma   byte
	// nginx
	nginx *accesslog.Format
}

func buildParse(cc *compiler, s *settings) processor {
	p := &parseProc{}
	s.check("field", "format", "target", "on_error", "pattern", "columns", "delimiter", "separator", "log_format")
	field, _ := s.pathSetting("field", true)
	p.field = field
	p.target = field
	if t, ok := s.str("target", false); ok {
		if t == "." {
			p.toRoot = true
		} else if tp, err := parsePath(t); err != nil {
			s.fail("target", "%v", err)
		} else {
			p.target = tp
		}
	}
	onErr, _ := s.enum("on_error", false, "fail", "fail", "skip")
	p.skip = onErr == "skip"
	format, okFormat := s.enum("format", true, "", "json", "kv", "regex", "csv", "nginx")
	p.format = format
	only := func(key string, formats ...string) {
		if s.has(key) && okFormat && !containsStr(formats, format) {
			s.fail(key, "applies only to format %s", strings.Join(formats, " or "))
		}
	}
	only("pattern", "regex")
	only("columns", "csv")
	only("separator", "kv")
	only("delimiter", "kv", "csv")
	only("log_format", "nginx")
	switch format {
	case "kv":
		p.kv = kvOptions{delim: "="}
		if sep, ok := s.str("separator", false); ok {
			if sep == "" {
				s.fail("separator", "must not be empty (omit it to separate pairs by whitespace)")
			}
			p.kv.sep = sep
		}
		if d, ok := s.str("delimiter", false); ok {
			if d == "" {
				s.fail("delimiter", "must not be empty")
			}
			p.kv.delim = d
		}
		if p.kv.sep != "" && p.kv.sep == p.kv.delim {
			s.fail("delimiter", "must differ from separator")
		}
		if strings.ContainsAny(p.kv.sep+p.kv.delim, `"'`) {
			s.fail("delimiter", "quotes cannot be separators or delimiters")
		}
	case "regex":
		src, ok := s.str("pattern", true)
		if !ok {
			break
		}
		re, err := regexp.Compile(src)
		if err != nil {
			s.fail("pattern", "%v", err)
			break
		}
		for _, n := range re.SubexpNames() {
			if n != "" {
				p.names = append(p.names, n)
			}
		}
		if len(p.names) == 0 {
			s.fail("pattern", "needs at least one named group, like (?P<status>\\d+)")
			break
		}
		p.re = re
	case "csv":
		cols, ok := s.strList("columns", true)
		if ok {
			seen := map[string]int{}
			for i, c := range cols {
				at := fmt.Sprintf("%s[%d]", s.path("columns"), i)
				if c == "" {
					s.errs.Add(at, "empty column name")
				} else if j, dup := seen[c]; dup {
					s.errs.Add(at, "column %q repeats columns[%d]", c, j)
				}
				seen[c] = i
			}
			p.columns = cols
		}
		p.comma = ','
		if d, ok := s.str("delimiter", false); ok {
			if len(d) != 1 || d[0] == '"' || d[0] == '\r' || d[0] == '\n' || d[0] >= utf8.RuneSelf {
				s.fail("delimiter", "must be one ASCII character other than a quote or a newline")
			} else {
				p.comma = d[0]
			}
		}
	case "nginx":
		lf := "combined"
		if v, ok := s.str("log_format", false); ok {
			lf = v
		}
		f, err := accesslog.Compile(lf)
		if err != nil {
			s.fail("log_format", "%v", err)
			break
		}
		p.nginx = f
	}
	return p
}

func containsStr(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func (p *parseProc) apply(st *state) (outcome, error) {
	err := p.parse(st)
	if err == nil {
		return pass, nil
	}
	st.countParseError()
	if p.skip {
		return pass, nil
	}
	return pass, err
}

func (p *parseProc) parse(st *state) error {
	fv := lookup(st.root, p.field)
	if fv == nil {
		return fmt.Errorf("field %s is missing", p.field)
	}
	if fv.kind != kString {
		return fmt.Errorf("field %s is %s, not a string", p.field, fv.kind)
	}
	text := fv.s
	var out value
	a := &st.arena
	base := len(a.stackM)
	switch p.format {
	case "json":
		v, err := decodeJSON(text, a)
		if err != nil {
			return fmt.Errorf("field %s: %w", p.field, err)
		}
		out = v
	case "nginx":
		// One access-log parser for ingest and processors: accesslog
		// writes the record as JSON, which the arena decodes.
		var buf [1024]byte
		rec, err := p.nginx.AppendJSONString(buf[:0], text)
		if err != nil {
			return fmt.Errorf("field %s: %w", p.field, err)
		}
		if out, err = decodeJSON(string(rec), a); err != nil {
			return fmt.Errorf("field %s: %w", p.field, err)
		}
	default:
		var err error
		var ms []member
		switch p.format {
		case "kv":
			ms, err = parseKV(text, p.kv, a.stackM)
		case "regex":
			ms, err = p.parseRegex(text, a.stackM)
		case "csv":
			ms, err = parseCSVLine(text, p.comma, p.columns, a.stackM)
		}
		if err != nil {
			clear(ms[base:])
			a.stackM = ms[:base]
			return fmt.Errorf("field %s: %w", p.field, err)
		}
		out = objValue(a.newObject(ms[base:]))
		clear(ms[base:])
		a.stackM = ms[:base]
	}
	st.modified = true
	if p.toRoot {
		if out.kind != kObject {
			return fmt.Errorf("field %s: parsed %s, which cannot be merged into the event (target \".\")", p.field, out.kind)
		}
		for _, m := range out.obj().m {
			st.root.set(m.key, m.val)
		}
		return nil
	}
	return setPath(st.root, p.target, out)
}

func (p *parseProc) parseRegex(s string, out []member) ([]member, error) {
	loc := p.re.FindStringSubmatchIndex(s)
	if loc == nil {
		return out, errors.New("does not match the pattern")
	}
	base := len(out)
	for i, n := range p.re.SubexpNames() {
		if n == "" || loc[2*i] < 0 {
			continue
		}
		out = setMemberFrom(out, base, n, strValue(s[loc[2*i]:loc[2*i+1]]))
	}
	return out, nil
}

// --- kv ---

type kvOptions struct {
	sep   string // between pairs; "" = runs of spaces and tabs
	delim string // between key and value
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// parseKV parses `key=value` pairs into out (appending; a repeated key's
// last value wins). Values may be quoted with " or ' (a backslash escapes
// the next character inside quotes); a key without a delimiter gets "".
// All values are strings. With a custom separator, blanks around keys and
// unquoted values are trimmed.
func parseKV(s string, o kvOptions, out []member) ([]member, error) {
	base := len(out)
	i := 0
	n := len(s)
	atSep := func(i int) int { // length of the separator at i, or 0
		if o.sep == "" {
			if i < n && isBlank(s[i]) {
				return 1
			}
			return 0
		}
		if strings.HasPrefix(s[i:], o.sep) {
			return len(o.sep)
		}
		return 0
	}
	for {
		// Skip separators (and blanks).
		for i < n {
			if k := atSep(i); k > 0 {
				i += k
			} else if isBlank(s[i]) || s[i] == '\r' || s[i] == '\n' {
				i++
			} else {
				break
			}
		}
		if i >= n {
			break
		}
		// Key.
		ks := i
		for i < n && atSep(i) == 0 && !strings.HasPrefix(s[i:], o.delim) {
			if o.sep == "" && (s[i] == '\r' || s[i] == '\n') {
				break
			}
			i++
		}
		key := strings.TrimRight(s[ks:i], " \t\r\n")
		if i >= n || !strings.HasPrefix(s[i:], o.delim) {
			if key == "" {
				continue
			}
			out = setMemberFrom(out, base, key, strValue(""))
			continue
		}
		if key == "" {
			return out, fmt.Errorf("empty key at offset %d", ks)
		}
		i += len(o.delim)
		if o.sep != "" {
			for i < n && isBlank(s[i]) {
				i++
			}
		}
		// Value.
		if i < n && (s[i] == '"' || s[i] == '\'') {
			q := s[i]
			i++
			vs := i
			esc := false
			for i < n && s[i] != q {
				if s[i] == '\\' {
					esc = true
					i++
				}
				i++
			}
			if i >= n {
				return out, fmt.Errorf("unterminated quoted value of %q", key)
			}
			val := s[vs:i]
			if esc {
				val = unescapeKV(val)
			}
			i++ // closing quote
			j := i
			for j < n && isBlank(s[j]) && o.sep != "" {
				j++
			}
			if j < n && atSep(j) == 0 && !(o.sep == "" && (s[j] == '\r' || s[j] == '\n')) {
				return out, fmt.Errorf("unexpected text after the quoted value of %q at offset %d", key, j)
			}
			out = setMemberFrom(out, base, key, strValue(val))
			continue
		}
		vs := i
		for i < n && atSep(i) == 0 {
			if o.sep == "" && (s[i] == '\r' || s[i] == '\n') {
				break
			}
			i++
		}
		val := s[vs:i]
		if o.sep != "" {
			val = strings.TrimRight(val, " \t\r\n")
		}
		out = setMemberFrom(out, base, key, strValue(val))
	}
	return out, nil
}

func setMemberFrom(ms []member, base int, key string, v value) []member {
	for i := len(ms) - 1; i >= base; i-- {
		if ms[i].key == key {
			ms[i].val = v
			return ms
		}
	}
	return append(ms, member{key: key, val: v})
}

func unescapeKV(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// --- csv ---

// parseCSVLine parses one CSV record (RFC 4180 quoting; one trailing
// newline ignored) into the named columns. Fewer fields than columns leave
// the rest absent; more is an error.
func parseCSVLine(s string, comma byte, columns []string, out []member) ([]member, error) {
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	base := len(out)
	i, n, col := 0, len(s), 0
	for {
		var field string
		if i < n && s[i] == '"' {
			i++
			var b []byte
			start := i
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return out, errors.New("unterminated quoted field")
				}
				i += j
				if i+1 < n && s[i+1] == '"' {
					b = append(b, s[start:i+1]...)
					i += 2
					start = i
					continue
				}
				break
			}
			if b == nil {
				field = s[start:i]
			} else {
				field = string(append(b, s[start:i]...))
			}
			i++ // closing quote
			if i < n && s[i] != comma {
				return out, fmt.Errorf("unexpected text after a quoted field at offset %d", i)
			}
		} else {
			j := strings.IndexByte(s[i:], comma)
			end := n
			if j >= 0 {
				end = i + j
			}
			field = s[i:end]
			if strings.IndexByte(field, '"') >= 0 {
				return out, fmt.Errorf(`bare " in a non-quoted field at offset %d`, i+strings.IndexByte(field, '"'))
			}
			i = end
		}
		if col >= len(columns) {
			return out, fmt.Errorf("more than %d fields", len(columns))
		}
		out = setMemberFrom(out, base, columns[col], strValue(field))
		col++
		if i >= n {
			return out, nil
		}
		i++ // comma
	}
}
