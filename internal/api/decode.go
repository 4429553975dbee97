package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
)

// Bounds of request bodies.
const (
	MaxBody  = 1 << 20
	MaxDepth = 64
)

// inputError is a 4xx about the request body as a whole.
type inputError struct {
	code   apierr.Code
	detail string
}

func (e *inputError) write(w http.ResponseWriter) { apierr.Write(w, e.code, e.detail) }

// readBody reads the whole body, at most MaxBody bytes, uncompressed.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *inputError) {
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, &inputError{apierr.UnsupportedMedia, "Content-Encoding is not supported by the management API; send the body uncompressed"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt == "application/json-patch+json" || strings.HasPrefix(mt, "multipart/") || mt == "application/x-www-form-urlencoded" {
			return nil, &inputError{apierr.UnsupportedMedia, "Content-Type must be application/json (or application/merge-patch+json for PATCH)"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &inputError{apierr.PayloadTooLarge, fmt.Sprintf("request body exceeds %d bytes (1 MiB)", MaxBody)}
		}
		return nil, &inputError{apierr.InvalidFormat, "could not read the request body"}
	}
	return body, nil
}

// checkJSON checks that body is one JSON object: valid UTF-8, well
// formed, nested at most MaxDepth deep.
func checkJSON(body []byte) *inputError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return &inputError{apierr.InvalidFormat, "empty body: want a JSON object"}
	}
	if !utf8.Valid(body) {
		return &inputError{apierr.InvalidFormat, "request body is not valid UTF-8"}
	}
	var raw json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &inputError{apierr.InvalidFormat, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))}
		}
		return &inputError{apierr.InvalidFormat, "malformed JSON"}
	}
	if !depthOK(body, MaxDepth) {
		return &inputError{apierr.InvalidFormat, fmt.Sprintf("JSON nested more than %d levels deep", MaxDepth)}
	}
	if body[0] != '{' {
		return &inputError{apierr.InvalidFormat, "the body must be a JSON object"}
	}
	return nil
}

// depthOK reports whether well-formed JSON b nests at most max deep.
func depthOK(b []byte, max int) bool {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}

// decodeStrict checks body (checkJSON) and decodes it into v (a pointer to
// a struct). Unlike encoding/json it reports every unknown field (names
// match exactly) and every mistyped value, with their paths, instead of
// the first.
func decodeStrict(body []byte, v any) (model.FieldErrors, *inputError) {
	if ie := checkJSON(body); ie != nil {
		return nil, ie
	}
	d := &decoder{}
	d.decode(bytes.TrimSpace(body), reflect.ValueOf(v).Elem(), "")
	return d.errs, nil
}

type decoder struct {
	errs model.FieldErrors
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(raw []byte, v reflect.Value, path string) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return // as encoding/json: null leaves other values alone
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.errs.Add(path, "%s", unmarshalMessage(v.Type(), err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(raw, v.Elem(), path)
	case reflect.Struct:
		if raw[0] != '{' {
			d.errs.Add(path, "must be an object")
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			d.errs.Add(path, "must be an object")
			return
		}
		fields := structFields(v.Type())
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			idx, ok := fields[k]
			if !ok {
				msg := "unknown field"
				for name := range fields {
					if strings.EqualFold(name, k) {
						msg = fmt.Sprintf("unknown field (did you mean %q?)", name)
					}
				}
				d.errs.Add(join(path, k), "%s", msg)
				continue
			}
			f, err := v.FieldByIndexErr(idx)
			if err != nil {
				d.errs.Add(join(path, k), "cannot be set")
				continue
			}
			d.decode(m[k], f, join(path, k))
		}
	case reflect.Slice:
		if raw[0] != '[' {
			d.errs.Add(path, "must be an array")
			return
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			d.errs.Add(path, "must be an array")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			d.decode(it, s.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	case reflect.Map:
		if raw[0] != '{' {
			d.errs.Add(path, "must be an object")
			return
		}
		if v.Type().Elem().Kind() == reflect.Interface {
			if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
				d.errs.Add(path, "must be an object")
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || v.Type().Key().Kind() != reflect.String {
			d.errs.Add(path, "must be an object")
			return
		}
		out := reflect.MakeMapWithSize(v.Type(), len(m))
		for k, r := range m {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(r, e, join(path, k))
			out.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(out)
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.errs.Add(path, "%s", typeMessage(v.Type()))
		}
	}
}

func typeMessage(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	}
	return "has the wrong type"
}

func unmarshalMessage(t reflect.Type, err error) string {
	if t == timeType {
		return "must be an RFC 3339 time such as \"2025-02-12T14:32:15Z\""
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return typeMessage(t)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// structFields maps the JSON names of t's fields (embedded structs
// flattened, the shallowest field of a name winning) to their index.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	depth := map[string]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(index), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, idx)
				continue
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depth[name]; ok && d <= len(idx) {
				continue
			}
			out[name], depth[name] = idx, len(idx)
		}
	}
	walk(t, nil)
	return out
}

// mergeErrors returns decode errors followed by validation errors, less
// the validation errors about a field that could not be decoded (they
// would only repeat it).
func mergeErrors(decodeErrs, validateErrs model.FieldErrors) model.FieldErrors {
	out := slices.Clone(decodeErrs)
	for _, v := range validateErrs {
		dup := false
		for _, d := range decodeErrs {
			if d.Path == "" || v.Path == d.Path || strings.HasPrefix(v.Path, d.Path+".") || strings.HasPrefix(v.Path, d.Path+"[") {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// mergePatch applies a JSON merge patch (RFC 7396) to doc.
func mergePatch(doc, patch []byte) ([]byte, error) {
	var target, p any
	for _, x := range []struct {
		b []byte
		v *any
	}{{doc, &target}, {patch, &p}} {
		dec := json.NewDecoder(bytes.NewReader(x.b))
		dec.UseNumber()
		if err := dec.Decode(x.v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(mergeValue(target, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergeValue(tm[k], v)
		}
	}
	return tm
}

// queryLimit reads the limit parameter: default 100, at most 1000.
func queryLimit(r *http.Request) (int, *inputError) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, &inputError{apierr.BadRequest, "limit must be an integer between 1 and 1000"}
	}
	return min(n, 1000), nil
}

// queryCursor reads a cursor parameter (a sequence number; "" = none).
func queryCursor(r *http.Request, name string) (uint64, *inputError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &inputError{apierr.BadRequest, name + " must be a cursor returned as next by the previous page"}
	}
	return n, nil
}

func cursor(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}
