// Package decode validates and normalises the body of a native ingest request
// (SPEC 2.1) into the frame body stored in the bus: each event as a compact,
// single-line JSON object, events separated by one '\n', no trailing newline.
//
// # Design
//
// The hot path is one pass of a hand-written byte scanner over the body. No
// maps, no reflection, no encoding/json: the scanner checks JSON syntax,
// nesting depth, string escapes and UTF-8, and, while it walks the top-level
// keys of each event, the envelope rules (timestamp, source, event,
// metadata). It never builds values; it only records where each event starts
// and ends, and the frame body is made of those original bytes. An event is
// rewritten (Compact) only when it contains a newline or carriage return,
// which in valid JSON can only be insignificant whitespace: pretty-printed
// array elements get compacted, everything else is copied as it came.
//
// Costs per event in the common case: the scan itself (strings are checked
// eight bytes at a time), a check of the timestamp, and one copy into dst.
// The timestamp is judged as time.Parse(time.RFC3339Nano, …) judges it: the
// usual spelling (2025-02-12T14:32:15[.123…](Z|±hh:mm)) is confirmed by a
// field-range check that accepts nothing time rejects (FuzzTimestamp holds
// it to that) and costs a fraction of building a time.Time; any other
// spelling goes to the time package itself. No allocations besides growing
// dst, which Envelope does at most once (the frame body is never longer than
// the request body). Escapes are decoded only for keys or timestamps that
// contain a backslash.
//
// The scanner is recursive descent with an explicit depth bound: it refuses
// the (MaxDepth+1)-th nested container before descending into it, so a
// 10,000-deep "[[[[…" costs MaxDepth stack frames and is rejected at once.
//
// Rules beyond the spec's wording, chosen to match encoding/json where it has
// an opinion:
//   - Depth counts nested objects and arrays, the event object itself being
//     level 1; the array that wraps a JSON batch is not counted, so an event
//     has the same limit in an array as on an NDJSON line.
//   - Strings must be valid UTF-8 (encoding/json.Valid does not check this;
//     RFC 8259 requires it). Lone \uD800-style surrogate escapes are
//     accepted, as encoding/json accepts them.
//   - Keys are compared after unescaping ("sour\u0063e" is "source"), and a
//     repeated "timestamp", "source", "event" or "metadata" is rejected: two
//     readers of the stored event must not disagree about which one counts.
//     Other keys, duplicates included, are kept untouched.
//   - NDJSON: every non-blank line is one event object. Blank lines (only
//     spaces, tabs, CR) are skipped and CRLF endings accepted. An object may
//     not span lines.
//   - JSON: one event object or an array of event objects. Anything after it
//     is an error (the detail suggests NDJSON when it looks like one).
//
// Errors are reported as *Error: the index of the first offending event (or
// -1 when the body as a whole is malformed: empty, no events, not an object
// or array, array syntax, data after the top-level value) and a sentence for
// the client that names the event (and, for NDJSON, the line), the byte
// offset of a syntax error and what was expected there.
package decode

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// DefaultMaxDepth is the nesting limit used when Limits.MaxDepth is zero.
const DefaultMaxDepth = 64

// Limits for decoding. Zero values mean defaults: MaxDepth 64.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed in one
	// value; the outermost container is level 1.
	MaxDepth int
}

func (l Limits) maxDepth() int {
	if l.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return l.MaxDepth
}

// Format is the framing of a native ingest body.
type Format int

const (
	// FormatJSON is one event object or a JSON array of event objects,
	// told apart by the first non-space byte (application/json).
	FormatJSON Format = iota
	// FormatNDJSON is one event object per line (application/x-ndjson).
	FormatNDJSON
)

func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatNDJSON:
		return "ndjson"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Error describes why a body was rejected. Index is the 0-based index of the
// offending event (-1 when the body as a whole is malformed, e.g. unterminated
// array). Detail is a human sentence such as
// `event 3: "timestamp" is not an RFC 3339 timestamp`.
type Error struct {
	Index  int
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Envelope decodes the native envelope: it validates body, appends the frame
// body to dst and returns it with the number of events. On error it returns
// dst with its original length, 0 and an *Error.
//
// Every event must be a JSON object with "timestamp" (an RFC 3339 string,
// fractional seconds and numeric offsets allowed), "source" (a non-empty
// string) and "event" (an object); "metadata" is optional but must be an
// object when present (null is rejected). Other keys are kept.
func Envelope(dst, body []byte, format Format, lim Limits) (out []byte, n int, err error) {
	base := len(dst)
	// The frame body is never longer than the request body: separators
	// replace commas or newlines, compaction only removes bytes.
	dst = slices.Grow(dst, len(body))
	s := scanner{maxDepth: lim.maxDepth()}
	switch format {
	case FormatJSON:
		dst, n = s.jsonBody(dst, body)
	case FormatNDJSON:
		s.ndjson = true
		dst, n = s.ndjsonBody(dst, body)
	default:
		return dst[:base], 0, &Error{Index: -1, Detail: "unknown body format " + format.String()}
	}
	if s.code != errNone {
		return dst[:base], 0, s.error()
	}
	if n == 0 {
		return dst[:base], 0, &Error{Index: -1, Detail: "no events"}
	}
	return dst, n, nil
}

// Records is Envelope for records without an envelope (the events of a
// stream whose data source has a catalog: flat objects whose keys are the
// catalog's variables): every record must be a JSON object, with any
// keys; syntax, depth, UTF-8 and framing are checked and the frame body
// built as for Envelope. Errors name the record ("record 2: …").
func Records(dst, body []byte, format Format, lim Limits) (out []byte, n int, err error) {
	base := len(dst)
	dst = slices.Grow(dst, len(body))
	s := scanner{maxDepth: lim.maxDepth(), records: true}
	switch format {
	case FormatJSON:
		dst, n = s.jsonBody(dst, body)
	case FormatNDJSON:
		s.ndjson = true
		dst, n = s.ndjsonBody(dst, body)
	default:
		return dst[:base], 0, &Error{Index: -1, Detail: "unknown body format " + format.String()}
	}
	if s.code != errNone {
		return dst[:base], 0, s.error()
	}
	if n == 0 {
		return dst[:base], 0, &Error{Index: -1, Detail: "no records"}
	}
	return dst, n, nil
}

// Valid reports whether b is one syntactically valid JSON value within lim
// (surrounding whitespace allowed). Unlike encoding/json.Valid it also
// requires strings to be valid UTF-8. The error is an *Error with Index -1.
func Valid(b []byte, lim Limits) error {
	s := scanner{maxDepth: lim.maxDepth(), idx: -1}
	i := s.value(b, skipWS(b, 0), 0)
	if i < 0 {
		return s.error()
	}
	if i = skipWS(b, i); i < len(b) {
		s.syntax(i, b[i], "after top-level value")
		return s.error()
	}
	return nil
}

// Compact appends b (one valid JSON value) to dst without insignificant
// whitespace. It does not validate b; on invalid input it never panics but
// the output is unspecified.
func Compact(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			i = skipString(b, i+1)
		case ' ', '\t', '\n', '\r':
			dst = append(dst, b[start:i]...)
			for i++; i < len(b) && isSpace(b[i]); i++ {
			}
			start = i
		default:
			i++
		}
	}
	return append(dst, b[start:]...)
}

// skipString returns the index after the closing quote of the string whose
// contents start at b[i], without validating it.
func skipString(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexAny(b[i:], `"\`)
		if j < 0 {
			return len(b)
		}
		i += j
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // backslash and the escaped byte
	}
	return len(b)
}

// jsonBody handles FormatJSON: one event object or an array of them.
func (s *scanner) jsonBody(dst, b []byte) ([]byte, int) {
	i := skipWS(b, 0)
	if i == len(b) {
		return dst, 0
	}
	n := 0
	switch b[i] {
	case '{':
		j := s.event(b, i)
		if j < 0 {
			return dst, 0
		}
		dst, n, i = appendEvent(dst, b[i:j], 0), 1, j
	case '[':
		if dst, n, i = s.eventArray(dst, b, i); i < 0 {
			return dst, 0
		}
	default:
		s.idx = -1
		s.notObject(b, i, "the body must be an event object or an array of event objects")
		return dst, 0
	}
	if i = skipWS(b, i); i < len(b) {
		s.idx = -1
		hint := ""
		if b[i] == '{' {
			hint = "; send several events as a JSON array, or as NDJSON with Content-Type application/x-ndjson"
		}
		s.syntax(i, b[i], "after the top-level value"+hint)
		return dst, 0
	}
	return dst, n
}

// eventArray scans the array of events whose '[' is at b[i] and appends the
// events to dst. It returns the count and the index after the array, or -1.
// s.idx is the event's index while one is scanned, -1 between events.
func (s *scanner) eventArray(dst, b []byte, i int) ([]byte, int, int) {
	s.idx = -1
	if i = skipWS(b, i+1); i < len(b) && b[i] == ']' {
		return dst, 0, i + 1
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			s.eof(i, "looking for an event (unterminated array)")
			return dst, 0, -1
		}
		s.idx = n
		if b[i] != '{' {
			s.notObject(b, i, "")
			return dst, 0, -1
		}
		j := s.event(b, i)
		if j < 0 {
			return dst, 0, -1
		}
		dst = appendEvent(dst, b[i:j], n)
		s.idx = -1
		if i = skipWS(b, j); i >= len(b) {
			s.eof(i, "after an event (unterminated array)")
			return dst, 0, -1
		}
		switch b[i] {
		case ']':
			return dst, n + 1, i + 1
		case ',':
		default:
			s.syntax(i, b[i], "after array element")
			return dst, 0, -1
		}
		if i = skipWS(b, i+1); i < len(b) && b[i] == ']' {
			s.syntax(i, ']', "after ',' (trailing comma)")
			return dst, 0, -1
		}
	}
}

// ndjsonBody handles FormatNDJSON: one event object per non-blank line.
func (s *scanner) ndjsonBody(dst, body []byte) ([]byte, int) {
	n := 0
	for start := 0; start < len(body); start++ { // start++ steps over the '\n'
		s.line++
		end := len(body)
		if k := bytes.IndexByte(body[start:], '\n'); k >= 0 {
			end = start + k
		}
		// Scanning body[:end] keeps offsets relative to the body while
		// making the end of the line the end of the input.
		b := body[:end]
		i := skipWS(b, start)
		start = end
		if i == end {
			continue // blank line
		}
		s.idx = n
		if b[i] != '{' {
			hint := ""
			if b[i] == '[' {
				hint = "each NDJSON line must be one event object, not an array"
			}
			s.notObject(b, i, hint)
			return dst, 0
		}
		j := s.event(b, i)
		if j < 0 {
			return dst, 0
		}
		if k := skipWS(b, j); k < end {
			s.syntax(k, b[k], "after the event object (each NDJSON line must hold exactly one event)")
			return dst, 0
		}
		dst = appendEvent(dst, b[i:j], n)
		n++
	}
	return dst, n
}

// appendEvent appends event number n (a valid JSON object) to a frame body.
func appendEvent(dst, ev []byte, n int) []byte {
	if n > 0 {
		dst = append(dst, '\n')
	}
	if bytes.IndexByte(ev, '\n') >= 0 || bytes.IndexByte(ev, '\r') >= 0 {
		return Compact(dst, ev)
	}
	return append(dst, ev...)
}

// notObject reports a value at b[i] that should have been an event object.
// An invalid scalar is reported as the syntax error it is; an array is
// refused by its type alone, whatever its contents.
func (s *scanner) notObject(b []byte, i int, hint string) {
	c := b[i]
	if c != '[' && s.value(b, i, 0) < 0 {
		return
	}
	if hint == "" {
		s.envelope(fmt.Sprintf("must be a JSON object, got %s", kindOf(c)))
		return
	}
	if s.idx < 0 {
		s.envelope(fmt.Sprintf("%s, got %s", hint, kindOf(c)))
		return
	}
	s.envelope(hint)
}

// kindOf names the JSON type of the value starting with byte c.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// error turns the scanner's failure state into an *Error.
func (s *scanner) error() *Error {
	var msg string
	switch s.code {
	case errSyntax:
		msg = fmt.Sprintf("invalid JSON at byte %d: invalid %s %s", s.off, quoteChar(s.c), s.ctx)
	case errEOF:
		end := "input"
		if s.ndjson {
			end = "line"
		}
		msg = fmt.Sprintf("invalid JSON at byte %d: unexpected end of %s %s", s.off, end, s.ctx)
	case errControl:
		msg = fmt.Sprintf("invalid JSON at byte %d: control character U+%04X in string literal must be escaped", s.off, s.c)
	case errUTF8:
		msg = fmt.Sprintf("invalid UTF-8 in string at byte %d", s.off)
	case errDepth:
		msg = fmt.Sprintf("JSON nested deeper than %d levels at byte %d", s.maxDepth, s.off)
	case errEnvelope:
		msg = s.ctx
	}
	noun := "event"
	if s.records {
		noun = "record"
	}
	switch {
	case s.idx < 0:
	case s.ndjson:
		msg = fmt.Sprintf("%s %d (line %d): %s", noun, s.idx, s.line, msg)
	default:
		msg = fmt.Sprintf("%s %d: %s", noun, s.idx, msg)
	}
	return &Error{Index: s.idx, Detail: msg}
}

// quoteChar formats an offending byte for an error message.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `character '\''`
	case c >= 0x20 && c < 0x7f:
		return "character '" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

// quoteValue shows a (possibly long) client value in an error message.
func quoteValue(raw []byte) string {
	const max = 64
	if len(raw) > max {
		return fmt.Sprintf("%q…", strings.ToValidUTF8(string(raw[:max]), ""))
	}
	return fmt.Sprintf("%q", raw)
}
