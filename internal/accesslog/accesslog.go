// Package accesslog reads web-server access logs: it compiles an nginx
// log_format (SPEC §4: "Edge Applications accepts raw nginx/Apache
// access-log lines (combined, or a log_format the user gives)") and turns
// each line into one flat JSON object whose keys are the variables of the
// Edge Applications data source (package catalog), typed as the catalog
// types them.
//
// It is the one access-log parser of Runnel: native ingest uses it for
// text/plain bodies sent to an edge_applications stream (the stream's
// log_format), the parse processor for format nginx.
//
// # From a line to a record
//
// A log_format is literal text and variables, $name or ${name} (letters,
// digits, '_'; names are case-sensitive, so that ${requestPath} is the
// catalog's requestPath). "" and
// "combined" are nginx's predefined format (Combined), "common" the
// NCSA/Apache common log format (Common). Each variable's value runs up
// to the first occurrence of the literal text that follows it in the
// format, so two variables must be separated by some text; the text after
// the last variable must end the line. Three refinements keep real logs
// parsing:
//
//   - a '"' preceded by a backslash does not end a value (Apache and
//     nginx's escape=json write a quote inside a quoted field as \");
//     nginx's default escaping writes it as \x22, which never ends one;
//   - the upstream_* variables hold several values separated by ", "
//     (servers of one group) and " : " (groups after an internal
//     redirect); the spaces of those separators do not end the value;
//   - $time_local ("10/Oct/2000:13:55:36 -0700") has a space of its own.
//
// Each variable becomes one key of the record:
//
//   - Names the catalog knows keep their name and take the catalog's type:
//     status, bytes_sent, body_bytes_sent, request_length, remote_port,
//     server_port and tcpinfo_rtt are integers, request_time is a number.
//   - nginx names that differ from the catalog's are renamed: time_local,
//     time_iso8601 and msec become time, an RFC 3339 timestamp
//     (time_local keeps its offset, +0000 is written Z; msec is written
//     in UTC); http_referer becomes http_referrer. A variable that
//     the log_format also has under the catalog's name keeps its own name,
//     and of two variables renamed to the same key the first wins.
//   - $request ("GET /a?b=1 HTTP/1.1") gives request_method, request_uri
//     and server_protocol (each unless the format has that variable
//     itself), and request_uri gives requestPath and requestQuery (the
//     query without '?', absent without a '?'; for an absolute URI the
//     path without scheme and host). A request line that cannot be split
//     (the bytes of a TLS handshake sent to a plain-HTTP port, logged with
//     status 400) is kept whole as request, a string; so is $request when
//     the format has all three parts itself.
//   - upstream_status, upstream_addr and the other multi-valued upstream_*
//     variables are kept as sent (strings) and their last value is added as
//     upstream_*_last, typed ("502 : 200" gives upstream_status_last 200).
//   - Any other variable keeps its own name and is a string.
//
// # "-" and escapes
//
// nginx writes "-" for an empty or unset variable. A string variable keeps
// it as written ("-"), as the catalog documents for upstream_status,
// proxy_status and others and as templates written for the seed product
// expect. A variable of another type (integer, number, timestamp), a
// derived upstream_*_last, and the parts of a "-" request are absent from
// the record: a record never holds "-" where a number or a time belongs,
// and never null. An empty value is treated like "-".
//
// String values are unescaped: \xHH (nginx's default escaping of '"', '\'
// and bytes outside printable ASCII) becomes the byte, \" \\ \n \r \t and
// \uHHHH (Apache, escape=json) their character. A value whose unescaped
// bytes are not UTF-8 (the binary garbage of a TLS handshake sent to a
// plain-HTTP port) is kept with its escapes as written, so nothing is
// lost; raw invalid UTF-8 (escaping turned off) is written as U+FFFD.
//
// A value of the wrong type for its variable (status "abc"), or with a
// space where there is none (remote_addr, host, request_method, …), makes
// the line fail: it means that the line does not match the format.
//
// # Errors
//
// Compile's errors name the column of the log_format (1-based byte offset)
// and read well as the message of a 400 for the field log_format. A line
// that does not match fails with a *ParseError naming the column of the
// line and the variable. Formatting a record allocates nothing besides
// growing dst; errors allocate.
package accesslog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/runnel/runnel/internal/catalog"
)

// Combined is nginx's predefined log format "combined", the default.
const Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// Common is the NCSA/Apache common log format, in nginx's terms.
const Common = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent`

// kind is the JSON type a value is written as.
type kind uint8

const (
	kString    kind = iota
	kInteger        // a JSON integer
	kNumber         // a JSON number
	kTimestamp      // an RFC 3339 string
)

func (k kind) String() string {
	switch k {
	case kInteger:
		return "an integer"
	case kNumber:
		return "a number"
	case kTimestamp:
		return "a time"
	}
	return "a string"
}

// renames maps nginx variables onto the catalog variable they fill.
var renames = map[string]string{
	"time_local":   "time",
	"time_iso8601": "time",
	"msec":         "time",
	"http_referer": "http_referrer",
}

// tokens are the string variables whose values never hold a space: a
// line in which one does is not of the format (it usually means that a
// literal of the format was found in the wrong place).
var tokens = map[string]bool{
	"remote_addr": true, "server_addr": true, "request_method": true, "server_protocol": true, "scheme": true,
	"request_id": true, "host": true, "ssl_protocol": true, "ssl_cipher": true, "upstream_cache_status": true,
}

// Format is a compiled log_format. It is immutable and safe for
// concurrent use.
type Format struct {
	src    string  // the log_format, "combined" and "common" expanded
	prefix string  // literal text before the first variable
	fields []field // the variables, in order
	keys   []string
}

// field is one variable of the format and the keys it fills.
type field struct {
	name  string // the nginx variable, without '$'
	next  string // literal text after the value; "" when the format ends with the variable
	final bool   // next is the format's last text: it ends the line
	key   string // the output key
	kind  kind
	multi bool // upstream_*: ", " and " : " inside the value do not end it
	token bool // a value without spaces (an address, a method, …)
	width int  // time_local: the value's usual width, so its inner space does not end it

	// Derived keys; "" when not written.
	last     string // upstream_*_last
	lastKind kind
	method   string // request_method, request_uri, server_protocol ($request)
	uri      string
	protocol string
	path     string // requestPath, requestQuery (from $request or $request_uri)
	query    string
}

// widthTimeLocal is the length of "10/Oct/2000:13:55:36 -0700".
const widthTimeLocal = 26

// Compile compiles an nginx log_format. "" and "combined" are Combined,
// "common" is Common. The error names the column of the problem and is
// meant to be shown as is, for example as the message of a field
// log_format.
func Compile(logFormat string) (*Format, error) {
	src := logFormat
	switch strings.TrimSpace(logFormat) {
	case "", "combined":
		src = Combined
	case "common":
		src = Common
	}
	if t := strings.TrimSpace(src); strings.HasPrefix(t, "log_format") && len(t) > 10 && (t[10] == ' ' || t[10] == '\t') {
		return nil, errors.New(`give the format string only, not the log_format directive: for log_format main '$remote_addr [$time_local] "$request" $status'; write $remote_addr [$time_local] "$request" $status`)
	}
	if i := strings.IndexAny(src, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("column %d: a line break; a log_format is one line (write the quoted parts of an nginx log_format directive one after the other, without the quotes)", i+1)
	}

	f := &Format{src: src}
	seen := map[string]int{} // variable → column
	var lit strings.Builder
	for i := 0; i < len(src); {
		c := src[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		col := i + 1
		var name string
		if i+1 < len(src) && src[i+1] == '{' {
			end := strings.IndexByte(src[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("column %d: unterminated ${: expected } after the variable name", col)
			}
			name = src[i+2 : i+2+end]
			if !validName(name) {
				return nil, fmt.Errorf("column %d: invalid variable name %q (letters, digits and _ only)", col, "${"+name+"}")
			}
			i += 3 + end
		} else {
			j := i + 1
			for j < len(src) && isNameByte(src[j]) {
				j++
			}
			name = src[i+1 : j]
			if name == "" {
				return nil, fmt.Errorf("column %d: \"$\" is not followed by a variable name (a log_format has no literal $)", col)
			}
			i = j
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("column %d: variable $%s appears twice (first at column %d); a record cannot hold two values of it", col, name, first)
		}
		seen[name] = col
		if n := len(f.fields); n == 0 {
			f.prefix = lit.String()
		} else if lit.Len() == 0 {
			return nil, fmt.Errorf("column %d: variables $%s and $%s are not separated by text, so a line cannot be split between them", col, f.fields[n-1].name, name)
		} else {
			f.fields[n-1].next = lit.String()
		}
		lit.Reset()
		f.fields = append(f.fields, field{name: name})
	}
	if len(f.fields) == 0 {
		return nil, errors.New(`no variables: a log_format is text with $variables, like $remote_addr [$time_local] "$request" $status (or "combined", the default)`)
	}
	lf := &f.fields[len(f.fields)-1]
	lf.next = lit.String()
	lf.final = lf.next != ""
	f.assignKeys()
	return f, nil
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// assignKeys gives every field its output key, type and derived keys:
// names of their own first, then renamed ones, then derived ones, each
// only when the key is still free.
func (f *Format) assignKeys() {
	taken := map[string]bool{}
	for i := range f.fields {
		if _, renamed := renames[f.fields[i].name]; !renamed {
			taken[f.fields[i].name] = true
		}
	}
	for i := range f.fields {
		fd := &f.fields[i]
		fd.key = fd.name
		if to, ok := renames[fd.name]; ok && !taken[to] {
			fd.key = to
			taken[to] = true
		}
		fd.kind = kindOf(fd.key)
		fd.multi = strings.HasPrefix(fd.key, "upstream_")
		fd.token = tokens[fd.key]
		if fd.name == "time_local" {
			fd.width = widthTimeLocal
		}
	}
	claim := func(key string) string {
		if taken[key] {
			return ""
		}
		taken[key] = true
		return key
	}
	var pathFrom *field // the field requestPath and requestQuery come from
	for i := range f.fields {
		fd := &f.fields[i]
		switch fd.key {
		case "request":
			fd.method, fd.uri, fd.protocol = claim("request_method"), claim("request_uri"), claim("server_protocol")
			if fd.uri != "" && pathFrom == nil {
				pathFrom = fd
			}
		case "request_uri":
			pathFrom = fd
		}
	}
	if pathFrom != nil {
		pathFrom.path, pathFrom.query = claim("requestPath"), claim("requestQuery")
	}
	for i := range f.fields {
		fd := &f.fields[i]
		if !fd.multi {
			continue
		}
		if v, ok := catalog.Lookup(catalog.EdgeApplications, fd.key+"_last"); ok {
			fd.last, fd.lastKind = claim(v.Name), typeKind(v.Type)
		}
	}
	for _, fd := range f.fields {
		f.keys = append(f.keys, fd.key)
		for _, k := range []string{fd.method, fd.uri, fd.protocol, fd.path, fd.query, fd.last} {
			if k != "" {
				f.keys = append(f.keys, k)
			}
		}
	}
}

// kindOf is the type of an output key: the catalog's, else string.
func kindOf(key string) kind {
	v, ok := catalog.Lookup(catalog.EdgeApplications, key)
	if !ok {
		return kString
	}
	return typeKind(v.Type)
}

func typeKind(t string) kind {
	switch t {
	case catalog.TypeInteger:
		return kInteger
	case catalog.TypeNumber:
		return kNumber
	case catalog.TypeTimestamp:
		return kTimestamp
	}
	return kString
}

// String returns the log_format, with "combined" and "common" expanded.
func (f *Format) String() string { return f.src }

// Keys returns every key a record of this format can have, in the order
// records write them. A key may be absent from a record ("-" for a
// number, a request that cannot be split, …).
func (f *Format) Keys() []string { return append([]string(nil), f.keys...) }

// ParseError is why a line does not fit its format.
type ParseError struct {
	// Column is the 1-based byte offset in the line (trailing newline
	// removed) where the problem is.
	Column int
	// Variable is the log_format variable concerned, without '$'; "" when none.
	Variable string
	// Detail says what is wrong.
	Detail string
}

func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Detail) }
