package processors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// objectFromNative converts a decoded event to the tree, keys sorted.
func objectFromNative(m map[string]any, depth int) (*object, error) {
	if depth > maxDepth {
		return nil, errors.New("exceeded max depth")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := &object{m: make([]member, len(keys), len(keys)+spare)}
	for i, k := range keys {
		v, err := fromNative(m[k], depth+1)
		if err != nil {
			return nil, err
		}
		o.m[i] = member{key: k, val: v}
	}
	return o, nil
}

// fromNative converts one Go value as produced by encoding/json (or close
// to it) to a tree value.
func fromNative(x any, depth int) (value, error) {
	switch v := x.(type) {
	case nil:
		return nullValue, nil
	case string:
		return strValue(v), nil
	case bool:
		return boolValue(v), nil
	case json.Number:
		d := decoder{data: string(v)}
		nv, err := d.num()
		if err != nil || d.i != len(d.data) || v == "" {
			return value{}, fmt.Errorf("invalid number %q", string(v))
		}
		return nv, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return value{}, fmt.Errorf("number %v cannot be represented in JSON", v)
		}
		return numValue(formatFloat(v)), nil
	case float32:
		return fromNative(float64(v), depth)
	case int:
		return intValue(int64(v)), nil
	case int8:
		return intValue(int64(v)), nil
	case int16:
		return intValue(int64(v)), nil
	case int32:
		return intValue(int64(v)), nil
	case int64:
		return intValue(v), nil
	case uint:
		return numValue(strconv.FormatUint(uint64(v), 10)), nil
	case uint8:
		return intValue(int64(v)), nil
	case uint16:
		return intValue(int64(v)), nil
	case uint32:
		return intValue(int64(v)), nil
	case uint64:
		return numValue(strconv.FormatUint(v, 10)), nil
	case map[string]any:
		o, err := objectFromNative(v, depth)
		if err != nil {
			return value{}, err
		}
		return objValue(o), nil
	case []any:
		if depth > maxDepth {
			return value{}, errors.New("exceeded max depth")
		}
		a := &array{v: make([]value, len(v))}
		for i, e := range v {
			ev, err := fromNative(e, depth+1)
			if err != nil {
				return value{}, err
			}
			a.v[i] = ev
		}
		return arrValue(a), nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return value{}, fmt.Errorf("unsupported value of type %T: %v", x, err)
		}
		var a arena
		return decodeJSON(string(b), &a)
	}
}

// toNative converts a tree value to the types json.Decoder with UseNumber
// produces: map[string]any, []any, string, json.Number, bool, nil.
func toNative(v *value) any {
	switch v.kind {
	case kString:
		return v.s
	case kNumber:
		return json.Number(v.s)
	case kTrue:
		return true
	case kFalse:
		return false
	case kObject:
		m := make(map[string]any, len(v.obj().m))
		for i := range v.obj().m {
			m[v.obj().m[i].key] = toNative(&v.obj().m[i].val)
		}
		return m
	case kArray:
		l := make([]any, len(v.arr().v))
		for i := range v.arr().v {
			l[i] = toNative(&v.arr().v[i])
		}
		return l
	}
	return nil
}
