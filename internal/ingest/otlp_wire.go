package ingest

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The fast path for protobuf bodies. Unmarshalling an
// ExportLogsServiceRequest into the official Go types costs about fifty
// allocations per log record, which alone is several times the whole
// native dialect's cost per event. frameWire reads the same bytes with
// protowire, field by field, and writes the envelopes straight from them.
//
// It takes only what it is sure to read as proto.Unmarshal would: the
// fields of the OTLP logs schema with their declared wire types, each
// singular field at most once, valid UTF-8 in every string. Anything else
// (a field it does not know, a repeated singular field that protobuf would
// merge, a malformed varint, invalid UTF-8) makes it give up without a
// verdict, and the request goes through proto.Unmarshal into the official
// types and (*otlpConverter).frame, which stay the reference: the two
// paths produce the same bytes (TestOTLPWirePathMatchesOfficialTypes and
// FuzzOTLP compare them).

// Field numbers of the OTLP logs schema (opentelemetry/proto/logs/v1,
// common/v1, resource/v1).
const (
	fReqResourceLogs = 1

	fRLResource  = 1
	fRLScopeLogs = 2
	fRLSchemaURL = 3

	fResAttributes = 1
	fResDropped    = 2

	fSLScope      = 1
	fSLLogRecords = 2
	fSLSchemaURL  = 3

	fScopeName       = 1
	fScopeVersion    = 2
	fScopeAttributes = 3
	fScopeDropped    = 4

	fLRTime         = 1
	fLRSeverityNum  = 2
	fLRSeverityText = 3
	fLRBody         = 5
	fLRAttributes   = 6
	fLRDropped      = 7
	fLRFlags        = 8
	fLRTraceID      = 9
	fLRSpanID       = 10
	fLRObserved     = 11
	fLREventName    = 12

	fAVString   = 1
	fAVBool     = 2
	fAVInt      = 3
	fAVDouble   = 4
	fAVArray    = 5
	fAVKvlist   = 6
	fAVBytes    = 7
	fAVStrindex = 8

	fListValues = 1 // ArrayValue.values, KeyValueList.values

	fKVKey      = 1
	fKVValue    = 2
	fKVStrindex = 3
)

// wireField is one field of a message: number, type and, for BytesType,
// its contents; for varints and fixed values, the value.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	b   []byte
	v   uint64
}

// wireIter walks the fields of a message.
type wireIter struct {
	b   []byte
	bad bool
}

func (it *wireIter) next() (f wireField, ok bool) {
	b := it.b
	if len(b) == 0 || it.bad {
		return f, false
	}
	// Tags of this schema's fields and most lengths fit in one byte.
	if b[0] < 0x80 && b[0] >= 8 && len(b) >= 2 {
		f.num, f.typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
		if f.typ == protowire.BytesType && b[1] < 0x80 {
			if n := int(b[1]); 2+n <= len(b) {
				f.b = b[2 : 2+n : 2+n]
				it.b = b[2+n:]
				return f, true
			}
		}
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		it.bad = true
		return f, false
	}
	b = b[n:]
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.v = uint64(v)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(b)
	default:
		n = -1 // groups: not in this schema
	}
	if n < 0 {
		it.bad = true
		return f, false
	}
	it.b = b[n:]
	return f, true
}

// wireSeen tracks singular fields (numbers below 64): a second occurrence
// would be merged or overwritten by protobuf, so the fast path gives up.
type wireSeen uint64

func (s *wireSeen) once(num protowire.Number) bool {
	bit := wireSeen(1) << uint(num)
	if *s&bit != 0 {
		return false
	}
	*s |= bit
	return true
}

// wireKV is a KeyValue: its key and its value's bytes.
type wireKV struct {
	key      []byte
	val      []byte
	hasValue bool
}

// frameWire appends the envelopes of the records of a protobuf request to
// dst. ok false: the fast path gave up (see above); c and dst are then as
// they were.
func (c *otlpConverter) frameWire(dst, body []byte) ([]byte, bool) {
	base := len(dst)
	saved := *c
	it := wireIter{b: body}
	ri := 0
	for {
		f, more := it.next()
		if !more {
			break
		}
		if f.num != fReqResourceLogs || f.typ != protowire.BytesType {
			it.bad = true
			break
		}
		var ok bool
		if dst, ok = c.resourceLogsWire(dst, f.b, ri); !ok {
			it.bad = true
			break
		}
		ri++
	}
	if it.bad {
		*c = saved
		c.lastPrefix = nil // its bytes may have been overwritten
		return dst[:base], false
	}
	return dst, true
}

// wireStatus is how writing a value from the wire went.
type wireStatus uint8

const (
	wireOK   wireStatus = iota
	wireDeep            // it nests deeper than MaxDepth: the record is refused
	wireBad             // not for the fast path
)

func (c *otlpConverter) resourceLogsWire(dst, b []byte, ri int) ([]byte, bool) {
	// First the resource, wherever it is: every record needs it.
	var res []byte
	var seen wireSeen
	it := wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		switch {
		case f.num == fRLResource && f.typ == protowire.BytesType && seen.once(f.num):
			res = f.b
		case f.num == fRLScopeLogs && f.typ == protowire.BytesType:
		case f.num == fRLSchemaURL && f.typ == protowire.BytesType && seen.once(f.num) && utf8.Valid(f.b):
		default:
			return dst, false
		}
	}
	if it.bad {
		return dst, false
	}
	var attrs []wireKV
	if res != nil {
		rit := wireIter{b: res}
		var rseen wireSeen
		for {
			f, more := rit.next()
			if !more {
				break
			}
			switch {
			case f.num == fResAttributes && f.typ == protowire.BytesType:
				kv, ok := wireKeyValue(f.b)
				if !ok {
					return dst, false
				}
				attrs = append(attrs, kv)
			case f.num == fResDropped && f.typ == protowire.VarintType && rseen.once(f.num):
			default:
				return dst, false // entity_refs and anything else: the reference path
			}
		}
		if rit.bad {
			return dst, false
		}
	}
	src := []byte(`"` + otlpDefaultSource + `"`)
	for _, kv := range attrs {
		if string(kv.key) == "service.name" {
			if s, ok := wireStringValue(kv.val); ok && len(s) > 0 {
				src = cjAppendEscaped(nil, s)
			}
		}
	}
	resJSON, st := appendKVsWire(nil, attrs, 3)
	if st == wireBad || st == wireDeep && !wireKVsValid(attrs) {
		return dst, false
	}

	si := 0
	it = wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		if f.num != fRLScopeLogs {
			continue
		}
		var ok bool
		if dst, ok = c.scopeLogsWire(dst, f.b, ri, si, src, resJSON, st == wireOK); !ok {
			return dst, false
		}
		si++
	}
	return dst, true
}

func (c *otlpConverter) scopeLogsWire(dst, b []byte, ri, si int, src, resJSON []byte, resOK bool) ([]byte, bool) {
	var scope []byte
	hasScope := false
	var seen wireSeen
	it := wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		switch {
		case f.num == fSLScope && f.typ == protowire.BytesType && seen.once(f.num):
			scope, hasScope = f.b, true
		case f.num == fSLLogRecords && f.typ == protowire.BytesType:
		case f.num == fSLSchemaURL && f.typ == protowire.BytesType && seen.once(f.num) && utf8.Valid(f.b):
		default:
			return dst, false
		}
	}
	if it.bad {
		return dst, false
	}
	var scopeJSON []byte
	scopeOK := true
	if hasScope {
		var name, version []byte
		var attrs []wireKV
		var sseen wireSeen
		sit := wireIter{b: scope}
		for {
			f, more := sit.next()
			if !more {
				break
			}
			switch {
			case f.num == fScopeName && f.typ == protowire.BytesType && sseen.once(f.num) && utf8.Valid(f.b):
				name = f.b
			case f.num == fScopeVersion && f.typ == protowire.BytesType && sseen.once(f.num) && utf8.Valid(f.b):
				version = f.b
			case f.num == fScopeAttributes && f.typ == protowire.BytesType:
				kv, ok := wireKeyValue(f.b)
				if !ok {
					return dst, false
				}
				attrs = append(attrs, kv)
			case f.num == fScopeDropped && f.typ == protowire.VarintType && sseen.once(f.num):
			default:
				return dst, false
			}
		}
		if sit.bad {
			return dst, false
		}
		scopeJSON = append(scopeJSON, `,"scope":{`...)
		sep := ""
		if len(name) > 0 {
			scopeJSON = cjAppendEscaped(append(scopeJSON, `"name":`...), name)
			sep = ","
		}
		if len(version) > 0 {
			scopeJSON = cjAppendEscaped(append(scopeJSON, sep+`"version":`...), version)
			sep = ","
		}
		if len(attrs) > 0 {
			var st wireStatus
			scopeJSON, st = appendKVsWire(append(scopeJSON, sep+`"attributes":`...), attrs, 4)
			if st == wireBad || st == wireDeep && !wireKVsValid(attrs) {
				return dst, false
			}
			scopeOK = st == wireOK
		}
		scopeJSON = append(scopeJSON, '}')
	}

	li := 0
	it = wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		if f.num != fSLLogRecords {
			continue
		}
		var rec wireRecord
		if !c.recordWire(&rec, f.b) {
			return dst, false
		}
		if !resOK || !scopeOK {
			if !rec.valid() {
				return dst, false
			}
			c.refuse("log record %d (resource %d, scope %d): the resource or scope attributes nest deeper than %d levels", li, ri, si, MaxDepth)
			li++
			continue
		}
		start := len(dst)
		var why string
		var ok bool
		if dst, why, ok = c.recordWireEmit(dst, &rec, src, resJSON, scopeJSON); !ok {
			return dst[:start], false
		}
		if why != "" {
			dst = dst[:start]
			c.refuse("log record %d (resource %d, scope %d): %s", li, ri, si, why)
		} else {
			c.accepted++
		}
		li++
	}
	return dst, true
}

// wireRecord is a LogRecord's fields.
type wireRecord struct {
	time, observed  uint64
	severity        int64
	severityText    []byte
	body            []byte
	hasBody         bool
	attrs           []wireKV
	flags           uint64
	traceID, spanID []byte
	eventName       []byte
}

// valid reports whether every value of the record is readable (a refused
// record is still read whole by protobuf, which would refuse the request
// for invalid UTF-8 in it).
func (r *wireRecord) valid() bool {
	return utf8.Valid(r.severityText) && utf8.Valid(r.eventName) &&
		(!r.hasBody || wireAnyValid(r.body, 0)) && wireKVsValid(r.attrs)
}

// recordWire reads a LogRecord's fields (values are checked as they are
// written); false: not for the fast path.
func (c *otlpConverter) recordWire(r *wireRecord, b []byte) bool {
	r.attrs = c.attrs[:0]
	var seen wireSeen
	it := wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		switch {
		case f.num == fLRAttributes && f.typ == protowire.BytesType:
			kv, ok := wireKeyValue(f.b)
			if !ok {
				return false
			}
			r.attrs = append(r.attrs, kv)
		case f.num == fLRTime && f.typ == protowire.Fixed64Type && seen.once(f.num):
			r.time = f.v
		case f.num == fLRObserved && f.typ == protowire.Fixed64Type && seen.once(f.num):
			r.observed = f.v
		case f.num == fLRSeverityNum && f.typ == protowire.VarintType && seen.once(f.num):
			r.severity = int64(int32(f.v))
		case f.num == fLRSeverityText && f.typ == protowire.BytesType && seen.once(f.num):
			r.severityText = f.b
		case f.num == fLRBody && f.typ == protowire.BytesType && seen.once(f.num):
			r.body, r.hasBody = f.b, true
		case f.num == fLRDropped && f.typ == protowire.VarintType && seen.once(f.num):
		case f.num == fLRFlags && f.typ == protowire.Fixed32Type && seen.once(f.num):
			r.flags = f.v
		case f.num == fLRTraceID && f.typ == protowire.BytesType && seen.once(f.num):
			r.traceID = f.b
		case f.num == fLRSpanID && f.typ == protowire.BytesType && seen.once(f.num):
			r.spanID = f.b
		case f.num == fLREventName && f.typ == protowire.BytesType && seen.once(f.num):
			r.eventName = f.b
		default:
			return false
		}
	}
	c.attrs = r.attrs
	return !it.bad
}

// recordWireEmit appends one envelope as appendRecord does: why says what
// is wrong with a record that cannot be stored; ok false: not for the fast
// path.
func (c *otlpConverter) recordWireEmit(dst []byte, r *wireRecord, src, resJSON, scopeJSON []byte) (_ []byte, why string, ok bool) {
	refuse := func(why string) ([]byte, string, bool) { return dst, why, r.valid() }
	ts := r.time
	if ts == 0 {
		ts = r.observed
	}
	dst = append(dst, `{"timestamp":`...)
	switch {
	case ts == 0:
		if c.nowJSON == nil {
			c.nowJSON = cjAppendTime(nil, c.now)
		}
		dst = append(dst, c.nowJSON...)
	case !otlpTimeOK(ts):
		return refuse("time_unix_nano is past the year 9999")
	default:
		dst = c.appendNanos(dst, ts)
	}
	dst = append(dst, `,"source":`...)
	dst = append(dst, src...)
	dst = append(dst, `,"event":{"body":`...)
	if r.hasBody {
		var st wireStatus
		switch dst, st = appendAnyWire(dst, r.body, 3); st {
		case wireBad:
			return dst, "", false
		case wireDeep:
			return refuse("the body nests deeper than " + strconv.Itoa(MaxDepth) + " levels")
		}
	} else {
		dst = append(dst, "null"...)
	}
	if len(r.severityText) > 0 {
		if dst, ok = cjAppendString(append(dst, `,"severity_text":`...), r.severityText); !ok {
			return dst, "", false
		}
	}
	dst = strconv.AppendInt(append(dst, `,"severity_number":`...), r.severity, 10)
	var st wireStatus
	switch dst, st = appendKVsWire(append(dst, `,"attributes":`...), r.attrs, 3); st {
	case wireBad:
		return dst, "", false
	case wireDeep:
		return refuse("the attributes nest deeper than " + strconv.Itoa(MaxDepth) + " levels")
	}
	if len(r.traceID) > 0 {
		dst = append(hex.AppendEncode(append(dst, `,"trace_id":"`...), r.traceID), '"')
	}
	if len(r.spanID) > 0 {
		dst = append(hex.AppendEncode(append(dst, `,"span_id":"`...), r.spanID), '"')
	}
	if r.flags != 0 {
		dst = strconv.AppendUint(append(dst, `,"flags":`...), r.flags, 10)
	}
	if len(r.eventName) > 0 {
		if dst, ok = cjAppendString(append(dst, `,"event_name":`...), r.eventName); !ok {
			return dst, "", false
		}
	}
	if o := r.observed; o != 0 && otlpTimeOK(o) {
		dst = c.appendNanos(append(dst, `,"observed_timestamp":`...), o)
	}
	dst = append(dst, `},"metadata":{"resource":`...)
	dst = append(dst, resJSON...)
	dst = append(dst, scopeJSON...)
	return append(dst, "}}\n"...), "", true
}

// wireKeyValue reads a KeyValue: its key and its value's bytes (checked
// when written, or by wireKVsValid).
func wireKeyValue(b []byte) (kv wireKV, ok bool) {
	// The usual encoding: key (field 1) then value (field 2), short.
	if len(b) >= 4 && b[0] == 0x0a && b[1] < 0x80 {
		if k := 2 + int(b[1]); k+2 <= len(b) && b[k] == 0x12 && b[k+1] < 0x80 && k+2+int(b[k+1]) == len(b) {
			return wireKV{key: b[2:k:k], val: b[k+2:], hasValue: true}, true
		}
	}
	var seen wireSeen
	it := wireIter{b: b}
	for {
		f, more := it.next()
		if !more {
			break
		}
		switch {
		case f.num == fKVKey && f.typ == protowire.BytesType && seen.once(f.num):
			kv.key = f.b
		case f.num == fKVValue && f.typ == protowire.BytesType && seen.once(f.num):
			kv.val, kv.hasValue = f.b, true
		case f.num == fKVStrindex && f.typ == protowire.VarintType && seen.once(f.num):
		default:
			return kv, false
		}
	}
	return kv, !it.bad
}

func wireKVsValid(kvs []wireKV) bool {
	for _, kv := range kvs {
		if !utf8.Valid(kv.key) || kv.hasValue && !wireAnyValid(kv.val, 0) {
			return false
		}
	}
	return true
}

// wireAnyValid reports whether an AnyValue is readable by the fast path,
// nested values included (at most a few hundred levels: deeper ones go to
// the reference path).
func wireAnyValid(b []byte, level int) bool {
	if level > 4*MaxDepth {
		return false
	}
	it := wireIter{b: b}
	f, more := it.next()
	if !more {
		return !it.bad
	}
	if _, again := it.next(); again || it.bad {
		return false // two members of the oneof (protobuf keeps the last)
	}
	switch {
	case f.num == fAVString && f.typ == protowire.BytesType:
		return utf8.Valid(f.b)
	case f.num == fAVBool && f.typ == protowire.VarintType,
		f.num == fAVInt && f.typ == protowire.VarintType,
		f.num == fAVDouble && f.typ == protowire.Fixed64Type,
		f.num == fAVBytes && f.typ == protowire.BytesType,
		f.num == fAVStrindex && f.typ == protowire.VarintType:
		return true
	case f.num == fAVArray && f.typ == protowire.BytesType:
		lit := wireIter{b: f.b}
		for {
			g, more := lit.next()
			if !more {
				return !lit.bad
			}
			if g.num != fListValues || g.typ != protowire.BytesType || !wireAnyValid(g.b, level+1) {
				return false
			}
		}
	case f.num == fAVKvlist && f.typ == protowire.BytesType:
		lit := wireIter{b: f.b}
		for {
			g, more := lit.next()
			if !more {
				return !lit.bad
			}
			if g.num != fListValues || g.typ != protowire.BytesType {
				return false
			}
			kv, ok := wireKeyValue(g.b)
			if !ok || !utf8.Valid(kv.key) || kv.hasValue && !wireAnyValid(kv.val, level+1) {
				return false
			}
		}
	}
	return false
}

// wireStringValue is the string of an AnyValue holding one.
func wireStringValue(b []byte) ([]byte, bool) {
	it := wireIter{b: b}
	f, more := it.next()
	if !more || f.num != fAVString || f.typ != protowire.BytesType {
		return nil, false
	}
	return f.b, true
}

// appendAnyWire appends an AnyValue as appendAny does, checking it as it
// goes: wireOK means it was read whole.
func appendAnyWire(dst, b []byte, depth int) ([]byte, wireStatus) {
	// The usual value: a short string and nothing else.
	if len(b) >= 2 && b[0] == 0x0a && b[1] < 0x80 && 2+int(b[1]) == len(b) {
		if dst, ok := cjAppendString(dst, b[2:]); ok {
			return dst, wireOK
		}
		return dst, wireBad
	}
	it := wireIter{b: b}
	f, more := it.next()
	if !more {
		if it.bad {
			return dst, wireBad
		}
		return append(dst, "null"...), wireOK
	}
	if len(it.b) > 0 {
		return dst, wireBad // two members of the oneof, or trailing garbage
	}
	switch {
	case f.num == fAVString && f.typ == protowire.BytesType:
		if dst, ok := cjAppendString(dst, f.b); ok {
			return dst, wireOK
		}
		return dst, wireBad
	case f.num == fAVBool && f.typ == protowire.VarintType:
		return strconv.AppendBool(dst, f.v != 0), wireOK
	case f.num == fAVInt && f.typ == protowire.VarintType:
		return strconv.AppendInt(dst, int64(f.v), 10), wireOK
	case f.num == fAVDouble && f.typ == protowire.Fixed64Type:
		x := math.Float64frombits(f.v)
		switch {
		case math.IsNaN(x):
			return append(dst, `"NaN"`...), wireOK
		case math.IsInf(x, 1):
			return append(dst, `"Infinity"`...), wireOK
		case math.IsInf(x, -1):
			return append(dst, `"-Infinity"`...), wireOK
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64), wireOK
	case f.num == fAVBytes && f.typ == protowire.BytesType:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, f.b)
		return append(dst, '"'), wireOK
	case f.num == fAVStrindex && f.typ == protowire.VarintType:
		return append(dst, "null"...), wireOK // a Profiling string-table reference
	case f.num == fAVArray && f.typ == protowire.BytesType:
		if depth > MaxDepth {
			return dst, wireDeep
		}
		dst = append(dst, '[')
		lit := wireIter{b: f.b}
		for first := true; ; first = false {
			g, more := lit.next()
			if !more {
				break
			}
			if g.num != fListValues || g.typ != protowire.BytesType {
				return dst, wireBad
			}
			if !first {
				dst = append(dst, ',')
			}
			var st wireStatus
			if dst, st = appendAnyWire(dst, g.b, depth+1); st != wireOK {
				return dst, st
			}
		}
		if lit.bad {
			return dst, wireBad
		}
		return append(dst, ']'), wireOK
	case f.num == fAVKvlist && f.typ == protowire.BytesType:
		var buf [8]wireKV
		kvs := buf[:0]
		lit := wireIter{b: f.b}
		for {
			g, more := lit.next()
			if !more {
				break
			}
			if g.num != fListValues || g.typ != protowire.BytesType {
				return dst, wireBad
			}
			kv, ok := wireKeyValue(g.b)
			if !ok {
				return dst, wireBad
			}
			kvs = append(kvs, kv)
		}
		if lit.bad {
			return dst, wireBad
		}
		return appendKVsWire(dst, kvs, depth)
	}
	return dst, wireBad
}

// appendKVsWire appends key-values as appendKVs does: an object at level
// depth, a repeated key keeping its last value. The values it skips are
// checked all the same.
func appendKVsWire(dst []byte, kvs []wireKV, depth int) ([]byte, wireStatus) {
	if depth > MaxDepth {
		return dst, wireDeep
	}
	var last map[string]int
	var repeated uint64 // bit i: kvs[i]'s key comes again later (up to 64 keys)
	if len(kvs) > 64 {
		last = make(map[string]int, len(kvs))
		for i, kv := range kvs {
			last[string(kv.key)] = i
		}
	} else {
		// Keys are compared only when a cheap signature of theirs (length,
		// first and last byte) was seen among the later keys.
		var sigs uint64
		for i := len(kvs) - 1; i >= 0; i-- {
			k := kvs[i].key
			sig := uint64(1) << (uint(len(k)) & 63)
			if len(k) > 0 {
				sig = uint64(1) << ((uint(len(k)) + uint(k[0])*7 + uint(k[len(k)-1])*13) & 63)
			}
			if sigs&sig != 0 && wireRepeated(kvs, i) {
				repeated |= 1 << uint(i)
			}
			sigs |= sig
		}
	}
	dst = append(dst, '{')
	first := true
	for i, kv := range kvs {
		if last != nil && last[string(kv.key)] != i || last == nil && repeated&(1<<uint(i)) != 0 {
			if !utf8.Valid(kv.key) || kv.hasValue && !wireAnyValid(kv.val, 0) {
				return dst, wireBad
			}
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		var ok bool
		if dst, ok = cjAppendString(dst, kv.key); !ok {
			return dst, wireBad
		}
		dst = append(dst, ':')
		if !kv.hasValue {
			dst = append(dst, "null"...)
			continue
		}
		var st wireStatus
		if dst, st = appendAnyWire(dst, kv.val, depth+1); st != wireOK {
			return dst, st
		}
	}
	return append(dst, '}'), wireOK
}

// wireRepeated reports whether kvs[i]'s key comes again later.
func wireRepeated(kvs []wireKV, i int) bool {
	for _, kv := range kvs[i+1:] {
		if string(kv.key) == string(kvs[i].key) {
			return true
		}
	}
	return false
}
