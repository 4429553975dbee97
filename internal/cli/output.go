package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// writeJSON prints a JSON document indented, keeping the server's key order.
func writeJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("unexpected answer (not JSON): %.200s", raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeYAML prints a JSON document as YAML, keeping the key order (so a
// stream reads in the order of its definition and can be applied back).
func writeYAML(w io.Writer, raw []byte) error {
	y, err := jsonToYAML(raw)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// jsonToYAML converts JSON to block-style YAML, preserving the order of
// object keys. Strings are plain when that is unambiguous and JSON-quoted
// otherwise (JSON escapes are valid in YAML double-quoted scalars), so
// "\n" stays "\n" instead of becoming a literal block.
func jsonToYAML(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := orderedValue(dec)
	if err != nil {
		return nil, fmt.Errorf("unexpected answer (not JSON): %w", err)
	}
	var b bytes.Buffer
	if isBlock(v) {
		emitYAML(&b, v, 0)
	} else {
		b.WriteString(yamlScalar(v) + "\n")
	}
	return b.Bytes(), nil
}

// omap is a JSON object with its keys in order.
type omap []omapItem

type omapItem struct {
	key string
	val any
}

func orderedValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool, nil
	}
	switch d {
	case '{':
		m := omap{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := orderedValue(dec)
			if err != nil {
				return nil, err
			}
			m = append(m, omapItem{kt.(string), v})
		}
		_, err := dec.Token() // '}'
		return m, err
	case '[':
		list := []any{}
		for dec.More() {
			v, err := orderedValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token() // ']'
		return list, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// isBlock reports whether v is written as a block (a non-empty object or list).
func isBlock(v any) bool {
	switch t := v.(type) {
	case omap:
		return len(t) > 0
	case []any:
		return len(t) > 0
	}
	return false
}

// emitYAML writes a block value, each line indented by indent.
func emitYAML(b *bytes.Buffer, v any, indent int) {
	pad := strings.Repeat(" ", indent)
	switch t := v.(type) {
	case omap:
		for _, it := range t {
			b.WriteString(pad + yamlString(it.key) + ":")
			switch {
			case !isBlock(it.val):
				b.WriteString(" " + yamlScalar(it.val) + "\n")
			case isList(it.val):
				b.WriteString("\n")
				emitYAML(b, it.val, indent)
			default:
				b.WriteString("\n")
				emitYAML(b, it.val, indent+2)
			}
		}
	case []any:
		for _, item := range t {
			if !isBlock(item) {
				b.WriteString(pad + "- " + yamlScalar(item) + "\n")
				continue
			}
			// The item as a block two columns in, its first indent
			// replaced by the dash.
			var sub bytes.Buffer
			emitYAML(&sub, item, indent+2)
			b.WriteString(pad + "- ")
			b.Write(sub.Bytes()[indent+2:])
		}
	}
}

func isList(v any) bool { _, ok := v.([]any); return ok }

func yamlScalar(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	case string:
		return yamlString(t)
	case omap:
		return "{}"
	case []any:
		return "[]"
	}
	return fmt.Sprint(v)
}

// yamlString writes s plain when no YAML reader can take it for anything
// else, JSON-quoted otherwise.
func yamlString(s string) string {
	if plainYAML(s) {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func plainYAML(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '/' || c == '$') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '/', c == '$':
		case c == ' ' && s[i-1] != ' ':
		default:
			return false
		}
	}
	return true
}

// writeList prints list items as a JSON array or a YAML sequence.
func writeList(w io.Writer, format string, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return err
	}
	if format == "yaml" {
		return writeYAML(w, raw)
	}
	return writeJSON(w, raw)
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// obj is a decoded JSON object whose fields are looked up by one of
// several names (the answers' exact field names are the server's).
type obj map[string]any

func decodeObj(raw []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("unexpected answer (want a JSON object): %.200s", raw)
	}
	return obj(m), nil
}

// get returns the first present value among paths ("a" or "a.b").
func (o obj) get(paths ...string) (any, bool) {
	for _, p := range paths {
		var cur any = map[string]any(o)
		ok := true
		for part := range strings.SplitSeq(p, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if cur, ok = m[part]; !ok {
				break
			}
		}
		if ok && cur != nil {
			return cur, true
		}
	}
	return nil, false
}

// str formats the first present value among paths ("" when none).
func (o obj) str(paths ...string) string {
	v, ok := o.get(paths...)
	if !ok {
		return ""
	}
	return fmtValue(v)
}

func (o obj) list(paths ...string) []any {
	v, _ := o.get(paths...)
	l, _ := v.([]any)
	return l
}

func fmtValue(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmtValue(e)
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
