package processors

import (
	"strconv"
	"strings"
	"unsafe"
)

// kind is the JSON type of a value.
type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNumber
	kString
	kObject
	kArray
)

func (k kind) String() string {
	switch k {
	case kNull:
		return "null"
	case kFalse, kTrue:
		return "a boolean"
	case kNumber:
		return "a number"
	case kString:
		return "a string"
	case kObject:
		return "an object"
	default:
		return "an array"
	}
}

// value is one JSON value of the internal event tree. The tree is the lean
// form of map[string]any the processors work on: no interface boxing, no Go
// maps, numbers kept as their literal text (so they round-trip exactly),
// object members in their original order.
//
// It has four fields at most, so that the compiler keeps it in registers
// (a fifth makes every copy and return go through memory).
type value struct {
	kind kind
	// clean: a kString that JSON needs no escapes for (valid UTF-8, no
	// quote, backslash or control character), so encoding copies it.
	clean bool
	s     string         // kString: the text; kNumber: the literal as written
	p     unsafe.Pointer // kObject: *object; kArray: *array
}

// obj is the object of a kObject value.
func (v value) obj() *object { return (*object)(v.p) }

// arr is the array of a kArray value.
func (v value) arr() *array { return (*array)(v.p) }

// member is one key of an object.
type member struct {
	key string
	val value
}

// object is a JSON object: members in order, keys unique.
type object struct {
	m []member
}

// array is a JSON array.
type array struct {
	v []value
}

var (
	nullValue  = value{kind: kNull}
	trueValue  = value{kind: kTrue}
	falseValue = value{kind: kFalse}
)

func strValue(s string) value   { return value{kind: kString, s: s} }
func numValue(lit string) value { return value{kind: kNumber, s: lit} }
func objValue(o *object) value  { return value{kind: kObject, p: unsafe.Pointer(o)} }
func arrValue(a *array) value   { return value{kind: kArray, p: unsafe.Pointer(a)} }
func intValue(n int64) value    { return numValue(strconv.FormatInt(n, 10)) }
func boolValue(b bool) value {
	if b {
		return trueValue
	}
	return falseValue
}

// index returns the position of key, or -1.
func (o *object) index(key string) int {
	for i := range o.m {
		if o.m[i].key == key {
			return i
		}
	}
	return -1
}

// get returns the value of key, or nil.
func (o *object) get(key string) *value {
	if i := o.index(key); i >= 0 {
		return &o.m[i].val
	}
	return nil
}

// set replaces key's value or appends the key.
func (o *object) set(key string, v value) {
	if i := o.index(key); i >= 0 {
		o.m[i].val = v
		return
	}
	o.m = append(o.m, member{key: key, val: v})
}

// del removes key and reports whether it was there.
func (o *object) del(key string) bool {
	i := o.index(key)
	if i < 0 {
		return false
	}
	copy(o.m[i:], o.m[i+1:])
	o.m[len(o.m)-1] = member{}
	o.m = o.m[:len(o.m)-1]
	return true
}

// clone deep-copies v (strings are immutable and shared).
func (v value) clone() value {
	switch v.kind {
	case kObject:
		o := &object{m: make([]member, len(v.obj().m))}
		for i, m := range v.obj().m {
			o.m[i] = member{key: m.key, val: m.val.clone()}
		}
		return objValue(o)
	case kArray:
		a := &array{v: make([]value, len(v.arr().v))}
		for i, e := range v.arr().v {
			a.v[i] = e.clone()
		}
		return arrValue(a)
	}
	return v
}

// text is the value as a plain string for hashing, sampling keys, lookup
// keys and masking: a string's text, a number's literal, true/false, null,
// and compact JSON for containers.
func (v value) text() string {
	switch v.kind {
	case kString, kNumber:
		return v.s
	case kTrue:
		return "true"
	case kFalse:
		return "false"
	case kNull:
		return "null"
	}
	return string(appendValue(nil, v))
}

// isInteger reports whether a number literal has no fraction or exponent.
func isIntegerLiteral(lit string) bool {
	return !strings.ContainsAny(lit, ".eE")
}
