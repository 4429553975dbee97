// Package schema validates events against a stream's JSON Schema
// (model.Stream.Schema, SPEC §2.1, §2.2, §4).
//
// Compile turns the raw schema into a *Schema once per stream version
// (Cache keeps them); Validate checks one event payload, given as its raw
// JSON bytes, and returns at most MaxViolations violations in a
// deterministic order.
//
// # What is validated
//
// The event payload: for the native dialect the envelope's "event" object,
// for the collection dialect the record itself (which is stored as
// "event"). Violation pointers are relative to that payload: "#/user/age"
// is event.user.age.
//
// # Dialect and keywords
//
// Draft 2020-12 unless the schema names another draft with "$schema"
// (draft 4, 6, 7 and 2019-09 are known). "format" is asserted (date-time,
// email, uuid, ipv4, …; unknown formats are ignored), content keywords
// (contentEncoding, contentMediaType) are annotations only. Regular
// expressions are Go's RE2 syntax (no look-around, no back-references):
// a pattern RE2 cannot compile is refused when the schema is compiled.
//
// # Hostile schemas and events
//
// A schema is configuration written by a workspace user, but it runs on
// every event of every client, so Compile refuses anything whose cost is
// not bounded, with an error that says why:
//   - more than MaxSize bytes, or nested deeper than MaxSchemaDepth;
//   - a "$ref" (or "$schema") to anything that is not inside the schema
//     itself or one of the draft meta-schemas: nothing is ever loaded from
//     the network or the file system;
//   - numbers longer than MaxNumberLen characters or with an exponent
//     beyond ±MaxExponent (math/big would spend seconds on 1e999999);
//   - "$ref" cycles that never go deeper into the event (they could only
//     fail at validation);
//   - combinations of allOf/anyOf/oneOf/$ref that apply more than
//     MaxFanout subschemas to one value of an event (the exponential
//     blow-up of {"$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"},{"$ref":"#/$defs/b"}]},…}}).
//
// The library (github.com/santhosh-tekuri/jsonschema/v6) has no
// cancellation, so the bound on the work of one event is computed before
// validating it: Compile records, for every depth, how many subschemas at
// most apply to one value at that depth (an over-approximation taken on
// the compiled schema graph), and Validate sums it over the event's values.
// An event above MaxWork, numbers out of the bounds above, or nesting
// deeper than MaxEventDepth, gets a violation instead of a validation.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Bounds.
const (
	// MaxSize is the largest schema accepted, in bytes.
	MaxSize = 256 << 10
	// MaxSchemaDepth is the deepest nesting of objects and arrays in a
	// schema document (a schema level is usually two: "properties" and the
	// property's object).
	MaxSchemaDepth = 128
	// MaxEventDepth is the deepest nesting of an event payload that is validated.
	MaxEventDepth = 64
	// MaxNumberLen bounds the characters of one number, in the schema and in events.
	MaxNumberLen = 1000
	// MaxExponent bounds the decimal exponent of one number ("1e400").
	MaxExponent = 1000
	// MaxFanout bounds the subschemas that may apply to one value of an event.
	MaxFanout = 1000
	// MaxWork bounds the estimated subschema evaluations of one event.
	MaxWork = 4 << 20
	// MaxViolations is the most violations Validate returns.
	MaxViolations = 5
	// maxMessage bounds one violation message, in bytes.
	maxMessage = 300
)

// baseURL names the schema inside the compiler. It is never fetched; it
// only appears in relative "$ref" resolution and is stripped from errors.
const baseURL = "https://schema.runnel.invalid/stream.json"

// Violation is one way an event breaks its stream's JSON Schema.
type Violation struct {
	// Pointer is the JSON Pointer of the offending value inside the event
	// payload, as a URI fragment ("#/user/age"; "#" is the payload itself).
	Pointer string `json:"pointerToViolation"`
	// Keyword is the schema keyword that failed ("type", "required", …).
	Keyword string `json:"keyword"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// Schema is a compiled stream schema, safe for concurrent use.
type Schema struct {
	sch *jsonschema.Schema
	// fanout[d]: at most how many subschemas apply to one value d levels
	// below the payload (an over-approximation, saturated).
	fanout [MaxEventDepth + 1]uint64
	size   int
}

// Size is the length of the raw schema it was compiled from.
func (s *Schema) Size() int { return s.size }

// IsSet reports whether raw holds a schema: absent, empty or null is none.
func IsSet(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

// Compile compiles a stream's schema. It returns nil, nil when raw is
// absent, empty or null (no schema). The error is a sentence for the
// "schema" field of a 400 answer.
func Compile(raw json.RawMessage) (*Schema, error) {
	if !IsSet(raw) {
		return nil, nil
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("is %d bytes, more than the %d (256KiB) a schema may have", len(raw), MaxSize)
	}
	if err := checkDepth(raw); err != nil {
		return nil, err
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("is not valid JSON: %v", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("must be a JSON Schema object (or true or false), got %s", jsonKind(doc))
	}
	if p, msg := checkNumbers(doc, nil); msg != "" {
		return nil, fmt.Errorf("at %s: %s", schemaPointer(p), msg)
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(baseURL, doc); err != nil {
		return nil, compileError(err)
	}
	sch, err := compileSafely(c)
	if err != nil {
		return nil, compileError(err)
	}
	s := &Schema{sch: sch, size: len(raw)}
	if err := s.analyse(); err != nil {
		return nil, err
	}
	return s, nil
}

// compileSafely turns a panic of the library into an error: a schema must
// never take the server down.
func compileSafely(c *jsonschema.Compiler) (sch *jsonschema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("cannot be compiled: %v", r)
		}
	}()
	return c.Compile(baseURL)
}

// refuseLoader loads nothing: a schema is self-contained.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) { return nil, errRemote }

var errRemote = errors.New("remote references are not loaded")

// compileError rewrites a library error into a sentence about the schema.
func compileError(err error) error {
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		if rel, ok := strings.CutPrefix(le.URL, baseURL[:strings.LastIndexByte(baseURL, '/')+1]); ok {
			le.URL = rel
		}
		return fmt.Errorf("refers to %s, which is not part of the schema: schemas are self-contained (put shared definitions under \"$defs\"); nothing is loaded from the network or files", strconv.Quote(le.URL))
	}
	var ve *jsonschema.SchemaValidationError
	if errors.As(err, &ve) {
		var inner *jsonschema.ValidationError
		if errors.As(ve.Err, &inner) {
			leaf := closest(inner)
			return fmt.Errorf("is not a valid JSON Schema: at %s: %s", schemaPointer(leaf.InstanceLocation), truncate(messageOf(leaf), maxMessage))
		}
		return errors.New("is not a valid JSON Schema: " + cleanURL(ve.Err.Error()))
	}
	var re *jsonschema.InvalidRegexError
	if errors.As(err, &re) {
		return fmt.Errorf("has a regular expression Go cannot compile at %s: %s (RE2 syntax: no look-around or back-references)", schemaLocation(re.URL), strconv.Quote(truncate(re.Regex, 100)))
	}
	return errors.New("cannot be compiled: " + cleanURL(err.Error()))
}

// cleanURL strips the internal base URL from a library message.
func cleanURL(s string) string {
	s = strings.ReplaceAll(s, baseURL+"#", "#")
	s = strings.ReplaceAll(s, "'"+baseURL+"'", "the schema")
	return truncate(strings.ReplaceAll(s, baseURL, "schema"), 500)
}

// schemaLocation is the pointer part of a URL of the schema ("/properties/x").
func schemaLocation(u string) string {
	if rest, ok := strings.CutPrefix(u, baseURL); ok {
		rest = strings.TrimPrefix(rest, "#")
		if rest == "" {
			return "/"
		}
		return rest
	}
	return strconv.Quote(u)
}

// checkDepth refuses documents nested deeper than MaxSchemaDepth before
// they are decoded (encoding/json would accept 10000 levels, and the
// library walks them recursively).
func checkDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > MaxSchemaDepth {
				return fmt.Errorf("is nested more than %d levels deep", MaxSchemaDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// decodeJSON decodes one JSON value with numbers kept exact.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the top-level value")
	}
	return v, nil
}

// checkNumbers finds the first number out of bounds in v: its path and why.
func checkNumbers(v any, path []string) ([]string, string) {
	switch v := v.(type) {
	case json.Number:
		if msg := numberBounds(string(v)); msg != "" {
			return path, msg
		}
	case map[string]any:
		for _, k := range sortedMapKeys(v) {
			if p, msg := checkNumbers(v[k], append(path, k)); msg != "" {
				return p, msg
			}
		}
	case []any:
		for i, x := range v {
			if p, msg := checkNumbers(x, append(path, strconv.Itoa(i))); msg != "" {
				return p, msg
			}
		}
	}
	return nil, ""
}

// numberBounds says why a JSON number literal is out of bounds, "" if not.
func numberBounds(n string) string {
	if len(n) > MaxNumberLen {
		return fmt.Sprintf("number of %d characters is longer than the %d that can be checked", len(n), MaxNumberLen)
	}
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil || e > MaxExponent || e < -MaxExponent {
			return fmt.Sprintf("number %s has an exponent beyond ±%d, which cannot be checked", truncate(n, 40), MaxExponent)
		}
	}
	return ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "an object"
}

// ---- validation ----

// Validate checks one event payload (one JSON value, normally an object)
// and returns its violations: none when it matches, at most
// MaxViolations, sorted by pointer, keyword and message. A nil *Schema
// accepts everything. Invalid JSON is one violation at "#".
func (s *Schema) Validate(event []byte) []Violation {
	if s == nil {
		return nil
	}
	v, err := decodeJSON(event)
	if err != nil {
		return []Violation{{Pointer: "#", Keyword: "type", Message: "the event is not valid JSON: " + truncate(err.Error(), 200)}}
	}
	return s.ValidateValue(v)
}

// ValidateValue is Validate for a value decoded with json.Decoder.UseNumber
// (float64 numbers work too, without exactness).
func (s *Schema) ValidateValue(v any) []Violation {
	if s == nil {
		return nil
	}
	w := walker{s: s}
	w.walk(v, 0)
	if w.bad != nil {
		w = walker{s: s, exact: true}
		w.walk(v, 0)
		return []Violation{*w.bad}
	}
	if w.work > MaxWork {
		return []Violation{{Pointer: "#", Keyword: "maxWork", Message: fmt.Sprintf(
			"the event is too large to check against this schema (about %d subschema checks, at most %d): send smaller events or simplify the schema", w.work, MaxWork)}}
	}
	err := s.validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Pointer: "#", Keyword: "", Message: truncate(cleanURL(err.Error()), maxMessage)}}
	}
	out := violations(ve)
	if len(out) == 0 {
		return []Violation{{Pointer: "#", Keyword: "", Message: truncate(cleanURL(ve.Error()), maxMessage)}}
	}
	return out[:min(len(out), MaxViolations)]
}

// validate runs the library, turning a panic into an error.
func (s *Schema) validate(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the schema could not be evaluated: %v", r)
		}
	}()
	return s.sch.Validate(v)
}

// walker checks the bounds of an event before it is validated and sums
// the work validating it will take. The first walk goes in map order and
// keeps no path; only when it finds a problem does an exact walk (sorted
// keys, with the path) name the first one deterministically.
type walker struct {
	s     *Schema
	exact bool
	work  uint64
	path  []string
	bad   *Violation
}

func (w *walker) walk(v any, depth int) {
	if w.bad != nil {
		return
	}
	if depth > MaxEventDepth {
		w.fail("maxDepth", fmt.Sprintf("the event is nested more than %d levels deep", MaxEventDepth))
		return
	}
	w.work = satAdd(w.work, w.s.fanout[depth])
	switch v := v.(type) {
	case json.Number:
		if msg := numberBounds(string(v)); msg != "" {
			w.fail("type", msg)
		}
	case map[string]any:
		// Each evaluation at an object walks its members.
		w.work = satAdd(w.work, satMul(w.s.fanout[depth], uint64(len(v))))
		if !w.exact {
			for _, x := range v {
				w.walk(x, depth+1)
			}
			return
		}
		for _, k := range sortedMapKeys(v) {
			w.path = append(w.path, k)
			w.walk(v[k], depth+1)
			w.path = w.path[:len(w.path)-1]
		}
	case []any:
		w.work = satAdd(w.work, satMul(w.s.fanout[depth], uint64(len(v))))
		for i, x := range v {
			if w.exact {
				w.path = append(w.path, strconv.Itoa(i))
			}
			w.walk(x, depth+1)
			if w.exact {
				w.path = w.path[:len(w.path)-1]
			}
		}
	}
}

func (w *walker) fail(keyword, msg string) {
	w.bad = &Violation{Pointer: Pointer(w.path), Keyword: keyword, Message: msg}
}

var printer = message.NewPrinter(language.English)

// violations flattens a validation error into sorted, de-duplicated
// violations: structural nodes (the whole schema, $ref, allOf, a group)
// are looked through; anyOf/oneOf that match nothing are one violation
// naming the closest alternative.
func violations(e *jsonschema.ValidationError) []Violation {
	var out []Violation
	collect(e, &out)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

func collect(e *jsonschema.ValidationError, out *[]Violation) {
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range e.Causes {
			collect(c, out)
		}
		if len(e.Causes) > 0 {
			return
		}
	case *kind.AnyOf:
		*out = append(*out, alternatives(e, "anyOf"))
		return
	case *kind.OneOf:
		if k.Subschemas == nil {
			*out = append(*out, alternatives(e, "oneOf"))
			return
		}
	case *kind.PropertyNames:
		msg := "invalid property name " + strconv.Quote(truncate(k.Property, 60))
		if leaf := firstLeaf(e); leaf != nil && leaf != e {
			msg += ": " + leaf.ErrorKind.LocalizedString(printer)
		}
		*out = append(*out, Violation{Pointer: Pointer(e.InstanceLocation), Keyword: "propertyNames", Message: truncate(msg, maxMessage)})
		return
	}
	*out = append(*out, Violation{
		Pointer: Pointer(e.InstanceLocation),
		Keyword: keywordOf(e),
		Message: truncate(messageOf(e), maxMessage),
	})
}

// alternatives is the violation of an anyOf or oneOf that matched none of
// its subschemas, naming the one with the fewest failures.
func alternatives(e *jsonschema.ValidationError, kw string) Violation {
	msg := fmt.Sprintf("matches none of the %d alternatives of %s", len(e.Causes), kw)
	best, bestN := -1, 0
	for i, c := range e.Causes {
		var v []Violation
		collect(c, &v)
		if n := len(v); best < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	if best >= 0 {
		var v []Violation
		collect(e.Causes[best], &v)
		if len(v) > 0 {
			msg += fmt.Sprintf("; the closest (%s/%d) fails at %s: %s", kw, best, v[0].Pointer, v[0].Message)
		}
	}
	return Violation{Pointer: Pointer(e.InstanceLocation), Keyword: kw, Message: truncate(msg, maxMessage)}
}

// closest descends to the most telling leaf of e: the first cause, or
// for anyOf/oneOf the alternative with the fewest failures.
func closest(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		next := e.Causes[0]
		switch e.ErrorKind.(type) {
		case *kind.AnyOf, *kind.OneOf:
			bestN := -1
			for _, c := range e.Causes {
				var v []Violation
				collect(c, &v)
				if bestN < 0 || len(v) < bestN {
					next, bestN = c, len(v)
				}
			}
		}
		e = next
	}
	return e
}

func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

func keywordOf(e *jsonschema.ValidationError) string {
	switch e.ErrorKind.(type) {
	case *kind.FalseSchema:
		return "false"
	case *kind.Not:
		return "not"
	case *kind.RefCycle:
		return "$ref"
	}
	if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
		return p[0]
	}
	// The keyword is the last token of the schema location.
	if i := strings.LastIndexByte(e.SchemaURL, '/'); i >= 0 {
		return e.SchemaURL[i+1:]
	}
	return ""
}

func messageOf(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.FalseSchema:
		return "no value is allowed here (the schema is false)"
	case *kind.Not:
		return "must not match the \"not\" schema"
	case *kind.Contains:
		return "no item matches the \"contains\" schema"
	case *kind.Const:
		return "must be the \"const\" value"
	case *kind.AdditionalProperties:
		slices.Sort(k.Properties) // found in map order
		return truncate(k.LocalizedString(printer), maxMessage)
	// Numbers are spelled here: the library's printer localizes them
	// ("1,000", "9.007199254740994×10¹⁵").
	case *kind.Minimum:
		return "must be at least " + ratString(k.Want) + ", got " + ratString(k.Got)
	case *kind.Maximum:
		return "must be at most " + ratString(k.Want) + ", got " + ratString(k.Got)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + ratString(k.Want) + ", got " + ratString(k.Got)
	case *kind.ExclusiveMaximum:
		return "must be less than " + ratString(k.Want) + ", got " + ratString(k.Got)
	case *kind.MultipleOf:
		return "must be a multiple of " + ratString(k.Want) + ", got " + ratString(k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long, got %d", k.Want, k.Got)
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items, got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items, got %d", k.Want, k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("must have at least %d properties, got %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have at most %d properties, got %d", k.Want, k.Got)
	case *kind.AdditionalItems:
		return fmt.Sprintf("the last %d items are not allowed", k.Count)
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinContains:
		return fmt.Sprintf("at least %d items must match the \"contains\" schema, %d do", k.Want, len(k.Got))
	case *kind.MaxContains:
		return fmt.Sprintf("at most %d items may match the \"contains\" schema, %d do", k.Want, len(k.Got))
	case *kind.OneOf:
		return fmt.Sprintf("matches more than one alternative of oneOf (%s/%d and %s/%d)", "oneOf", k.Subschemas[0], "oneOf", k.Subschemas[1])
	}
	return cleanURL(e.ErrorKind.LocalizedString(printer))
}

// ratString spells an exact number: integers in full (up to 40 digits),
// others as the shortest float64 that reads back the same.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		if s := r.Num().String(); len(s) <= 40 {
			return s
		}
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Pointer spells a path of an event as a URI-fragment JSON Pointer
// (RFC 6901 §6): "#/user/age".
func Pointer(tokens []string) string {
	var b strings.Builder
	b.WriteByte('#')
	for _, t := range tokens {
		b.WriteByte('/')
		for i := 0; i < len(t); i++ {
			c := t[i]
			switch {
			case c == '~':
				b.WriteString("~0")
			case c == '/':
				b.WriteString("~1")
			case fragmentSafe(c):
				b.WriteByte(c)
			default:
				const hex = "0123456789ABCDEF"
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
		}
	}
	return b.String()
}

// schemaPointer spells a path inside the schema document ("/properties/age").
func schemaPointer(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	return strings.TrimPrefix(Pointer(tokens), "#")
}

// fragmentSafe: RFC 3986 pchar without '%' (and '/' handled by the caller) plus '?'.
func fragmentSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@?", c) >= 0
}

// Summary joins violations into one sentence: "#/age (type): got string,
// want integer; #/name (required): …".
func Summary(v []Violation) string {
	var b strings.Builder
	for i, x := range v {
		if i == MaxViolations {
			b.WriteString("; …")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x.Pointer)
		if x.Keyword != "" {
			b.WriteString(" (")
			b.WriteString(x.Keyword)
			b.WriteByte(')')
		}
		b.WriteString(": ")
		b.WriteString(x.Message)
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func satMul(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > ^uint64(0)/b {
		return ^uint64(0)
	}
	return a * b
}
