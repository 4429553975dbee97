package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ErrInvalidEvent is returned by [Template.Render] when the event is not a
// valid JSON object.
var ErrInvalidEvent = errors.New("template: event is not a valid JSON object")

// Template is compiled once per stream version and is safe for concurrent
// use.
type Template struct {
	nodes  []node  // path trie; nil for pass-through
	fields []field // output members in order; nil for pass-through
	paths  []string
}

// field is one member of the rendered record.
type field struct {
	// head is the member's JSON key with its separator and colon
	// (`{"k":` for the first, `,"k":` after), followed by the literal value
	// for a literal field.
	head string
	node int // trie node of the referenced path, or -1 for a literal
}

// stackSpans is how many trie nodes Render handles without the pool.
const stackSpans = 32

var spanPool = sync.Pool{New: func() any { return new([]span) }}

// Compile builds a template. variables and dataset are mutually exclusive
// (error if both). Errors name the offending variable or key, e.g.
// `variables[2]: empty path` or `dataset."x": invalid reference "$"`.
// dataset is the raw JSON object (keys kept in their written order); an
// empty or null dataset and an empty variables list mean "not set". With
// neither set, Render passes the event through unchanged.
func Compile(variables []string, dataset json.RawMessage) (*Template, error) {
	hasDataset := len(bytes.TrimSpace(dataset)) > 0 && string(bytes.TrimSpace(dataset)) != "null"
	switch {
	case len(variables) > 0 && hasDataset:
		return nil, errors.New("variables and dataset are mutually exclusive")
	case len(variables) > 0:
		return compileVariables(variables)
	case hasDataset:
		return compileDataset(dataset)
	default:
		return &Template{}, nil
	}
}

func compileVariables(vars []string) (*Template, error) {
	t := &Template{paths: make([]string, 0, len(vars))}
	tr := newTrie()
	seen := make(map[string]int, len(vars))
	for i, v := range vars {
		segs, err := parsePath(v)
		if err != nil {
			return nil, fmt.Errorf("variables[%d]: %w", i, err)
		}
		if j, dup := seen[v]; dup {
			return nil, fmt.Errorf("variables[%d]: %q duplicates variables[%d]", i, v, j)
		}
		seen[v] = i
		t.fields = append(t.fields, field{
			head: memberHead(i, v),
			node: int(tr.insert(segs)),
		})
		t.paths = append(t.paths, v)
	}
	t.nodes = tr.nodes
	return t, nil
}

func compileDataset(raw json.RawMessage) (*Template, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("dataset: invalid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("dataset: must be a JSON object")
	}
	t := &Template{}
	tr := newTrie()
	seen := map[string]bool{}
	seenPath := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("dataset: invalid JSON: %w", err)
		}
		key := tok.(string) // object keys are always strings
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("dataset.%q: invalid JSON: %w", key, err)
		}
		switch {
		case key == "":
			return nil, errors.New(`dataset."": empty key`)
		case seen[key]:
			return nil, fmt.Errorf("dataset.%q: duplicate key", key)
		}
		seen[key] = true
		head := memberHead(len(t.fields), key)

		var s string
		if val[0] != '"' || json.Unmarshal(val, &s) != nil || !strings.HasPrefix(s, "$") {
			// A literal: copied as compact JSON.
			var b bytes.Buffer
			if err := json.Compact(&b, val); err != nil {
				return nil, fmt.Errorf("dataset.%q: %w", key, err)
			}
			t.fields = append(t.fields, field{head: head + b.String(), node: -1})
			continue
		}
		if strings.HasPrefix(s, "$$") {
			lit := appendString(nil, s[1:])
			t.fields = append(t.fields, field{head: head + string(lit), node: -1})
			continue
		}
		p := s[1:]
		segs, err := parsePath(p)
		if err != nil {
			return nil, fmt.Errorf("dataset.%q: invalid reference %q: %w", key, s, err)
		}
		t.fields = append(t.fields, field{head: head, node: int(tr.insert(segs))})
		if !seenPath[p] {
			seenPath[p] = true
			t.paths = append(t.paths, p)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("dataset: invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("dataset: unexpected data after the object")
	}
	if len(t.fields) == 0 {
		return nil, errors.New("dataset: empty object (omit dataset to send events as stored)")
	}
	t.nodes = tr.nodes
	return t, nil
}

// memberHead is `{"key":` for the first member and `,"key":` after.
func memberHead(i int, key string) string {
	b := []byte{','}
	if i == 0 {
		b[0] = '{'
	}
	b = appendString(b, key)
	return string(append(b, ':'))
}

// Render appends the record for one event (a compact JSON object) to dst.
// It returns [ErrInvalidEvent], and dst unchanged, if the event is not a
// valid JSON object (the whole event is validated, also for pass-through,
// so the record is always valid JSON). Values are copied from the event as
// written (strings keep their escapes, numbers their spelling); objects and
// arrays are compacted if the event has whitespace between tokens, so a
// variables or dataset record never contains a raw newline. Pass-through
// copies the event as stored, without surrounding whitespace. With dst
// reused it does not allocate.
func (t *Template) Render(dst, event []byte) ([]byte, error) {
	var buf [stackSpans]span
	var spans []span
	if n := len(t.nodes); n <= stackSpans {
		spans = buf[:n]
	} else {
		p := spanPool.Get().(*[]span)
		if cap(*p) < n {
			*p = make([]span, n)
		}
		spans = (*p)[:n]
		clear(spans)
		defer spanPool.Put(p)
	}
	s := scanner{data: event, nodes: t.nodes, spans: spans}
	if !s.object() {
		return dst, ErrInvalidEvent
	}
	if t.fields == nil {
		return append(dst, bytes.TrimLeft(bytes.TrimRight(event, " \t\r\n"), " \t\r\n")...), nil
	}
	for _, f := range t.fields {
		dst = append(dst, f.head...)
		if f.node < 0 {
			continue
		}
		sp := spans[f.node]
		switch {
		case sp.end == 0:
			dst = append(dst, "null"...)
		case s.ws && (event[sp.start] == '{' || event[sp.start] == '['):
			dst = appendCompact(dst, event[sp.start:sp.end])
		default:
			dst = append(dst, event[sp.start:sp.end]...)
		}
	}
	return append(dst, '}'), nil
}

// Paths lists the dotted paths the template reads, as written (for catalog
// checks), in first-use order without repeats; nil for pass-through and
// empty but non-nil for a dataset of literals only.
func (t *Template) Paths() []string {
	if t.PassThrough() {
		return nil
	}
	return append([]string{}, t.paths...)
}

// PassThrough reports whether the template is empty: Render copies the
// event as stored.
func (t *Template) PassThrough() bool { return t.fields == nil }

// appendString appends s as a JSON string. Only what JSON requires is
// escaped (no HTML escaping); s must be valid UTF-8.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
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
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
