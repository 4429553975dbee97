package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// The fast path for OTLP/JSON bodies. Decoding one with protojson into the
// official Go types costs about 150 allocations and 30 µs per log record,
// fifty times the native dialect's cost per event. frameJSON reads the
// JSON in one pass, member by member, and writes the envelopes straight
// from it, as frameWire does for protobuf.
//
// It takes only what it is sure to read as the reference path
// (decode.Valid, otlpJSONIDs, then protojson.Unmarshal with DiscardUnknown,
// then (*otlpConverter).frame) would: the members of the OTLP logs schema,
// under their lowerCamelCase or their proto names, each at most once per
// object (protojson refuses a repeated member, under either name), with
// the JSON types protojson takes for them; 64-bit integers as JSON
// numbers or strings of plain decimal digits; ids as hex (or base64, as
// otlpJSONIDs allows); strings with every escape JSON has, valid UTF-8 and
// no lone surrogate; nesting within otlpJSONDepth. Anything else — a
// member it does not know (protojson would discard it unread), a number
// in exponent form, a key with an escape, a resource after its scopeLogs
// or a key-value's value before its key, anything malformed — makes it give
// up without a verdict, and the request takes the reference path, which
// also words every 400. TestOTLPJSONPathMatchesReference and FuzzOTLP hold
// the two paths to the same bytes.

// ojScan is the fast path's state: the body, and scratch buffers reused
// from one request to the next.
type ojScan struct {
	b []byte
	c *otlpConverter

	kvs []ojKV // the entries of the key-value lists being written, innermost last
	tmp []byte

	res, src, scope     []byte // of the current resource and scope
	sName, sVer, sAttrs []byte
	body, attrs         []byte // of the current record
	sevText, eventName  []byte
	traceID, spanID     []byte // as hex
	hasBody             bool
	bodyDeep, attrsDeep bool
	time, observed      uint64
	severity            int64
	flags               uint64
}

var ojPool = sync.Pool{New: func() any { return new(ojScan) }}

// ojKV is one entry of a key-value list being written: where it starts
// (its key), where its value starts and ends, in the output.
type ojKV struct {
	start, val, end int
	str             bool // the value is a string value
	deep            bool // the value nests deeper than MaxDepth
}

// frameJSON appends the envelopes of the records of an OTLP/JSON request
// to dst. ok false: the fast path gave up (see above); c and dst are then
// as they were.
func (c *otlpConverter) frameJSON(dst, body []byte) ([]byte, bool) {
	base := len(dst)
	saved := *c
	s := ojPool.Get().(*ojScan)
	s.b, s.c = body, c
	out, ok := s.request(dst)
	s.b, s.c, s.kvs = nil, nil, s.kvs[:0]
	if cap(s.tmp) <= 1<<20 && cap(s.body) <= 1<<20 && cap(s.attrs) <= 1<<20 && cap(s.res) <= 1<<20 {
		ojPool.Put(s) // not the buffers of an outsized request
	}
	if !ok {
		*c = saved
		c.lastPrefix = nil // its bytes may have been overwritten
		return dst[:base], false
	}
	return out, true
}

// The members of each message, by field number, as bits of a set.
const (
	ojResourceLogs = 1 << iota
	ojResource
	ojScopeLogs
	ojSchemaURL
	ojAttributes
	ojDropped
	ojScope
	ojLogRecords
	ojName
	ojVersion
	ojKey
	ojValue
	ojValues
)

// LogRecord members.
const (
	ojTime = 1 << iota
	ojObserved
	ojSeverityNumber
	ojSeverityText
	ojBody
	ojRecAttributes
	ojRecDropped
	ojFlags
	ojTraceID
	ojSpanID
	ojEventName
)

// once marks member bit in seen; false when it was there already.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// open is at a '{' or '[' at b[i]: the index of its first member or
// element, more false when it is empty (the index is then after it).
func (s *ojScan) open(i int, closer byte) (int, bool) {
	i = cjWS(s.b, i+1)
	if i < len(s.b) && s.b[i] == closer {
		return i + 1, false
	}
	return i, true
}

// key reads a member's key (no escapes) and its colon at b[i]; vi is
// where its value starts, -1 when it is not for the fast path.
func (s *ojScan) key(i int) (key []byte, vi int) {
	b := s.b
	if i < 0 || i >= len(b) || b[i] != '"' {
		return nil, -1
	}
	// Keys are short: eight bytes at a time, as cjStrEnd, beats IndexByte.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	j := i + 1
	for j+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[j:])
		q, e := x^(ones*'"'), x^(ones*'\\')
		if m := ((q-ones)&^q | (e-ones)&^e) & highs; m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			break
		}
		j += 8
	}
	for j < len(b) && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if j >= len(b) || b[j] != '"' {
		return nil, -1
	}
	key = b[i+1 : j]
	k := j + 1
	if k < len(b) && b[k] == ':' { // the usual spelling: no space
		k++
		if k < len(b) && b[k] > ' ' {
			return key, k
		}
		return key, cjWS(b, k)
	}
	if k = cjWS(b, k); k >= len(b) || b[k] != ':' {
		return nil, -1
	}
	return key, cjWS(b, k+1)
}

// next is after a member or element: the index of the next one, or
// (more false) the index after the closer; -1: malformed.
func (s *ojScan) next(i int, closer byte) (int, bool) {
	if i < 0 {
		return -1, false
	}
	b := s.b
	i = cjWS(b, i)
	if i < len(b) {
		switch b[i] {
		case ',':
			return cjWS(b, i+1), true
		case closer:
			return i + 1, false
		}
	}
	return -1, false
}

// null returns the index after a null at b[i], else -1.
func (s *ojScan) null(i int) int {
	if i >= 0 && i+4 <= len(s.b) && string(s.b[i:i+4]) == "null" {
		return i + 4
	}
	return -1
}

func (s *ojScan) is(i int, c byte) bool { return i >= 0 && i < len(s.b) && s.b[i] == c }

// has reports whether lit is at b[i].
func (s *ojScan) has(i int, lit string) bool {
	return i >= 0 && len(s.b)-i >= len(lit) && string(s.b[i:i+len(lit)]) == lit
}

func (s *ojScan) request(dst []byte) ([]byte, bool) {
	b := s.b
	i := cjWS(b, 0)
	if !s.is(i, '{') {
		return dst, false
	}
	var seen uint32
	ri := 0
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		switch string(key) {
		case "resourceLogs", "resource_logs":
			if !once(&seen, ojResourceLogs) {
				return dst, false
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			if !s.is(vi, '[') {
				return dst, false
			}
			var mo bool
			for i, mo = s.open(vi, ']'); mo; i, mo = s.next(i, ']') {
				if i, dst = s.resourceLogs(i, dst, ri); i < 0 {
					return dst, false
				}
				ri++
			}
		default:
			return dst, false
		}
		if i, more = s.next(i, '}'); i < 0 {
			return dst, false
		}
	}
	return dst, cjWS(b, i) == len(b)
}

// resourceLogs reads a ResourceLogs object (JSON level 3) at b[i].
func (s *ojScan) resourceLogs(i int, dst []byte, ri int) (int, []byte) {
	if !s.is(i, '{') {
		return -1, dst
	}
	s.res = append(s.res[:0], "{}"...)
	s.src = append(s.src[:0], `"`+otlpDefaultSource+`"`...)
	resOK := true
	var seen uint32
	si := 0
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		switch string(key) {
		case "resource":
			if !once(&seen, ojResource) {
				return -1, dst
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			if seen&ojScopeLogs != 0 {
				return -1, dst // records already written without it
			}
			i, resOK = s.resource(vi)
		case "scopeLogs", "scope_logs":
			if !once(&seen, ojScopeLogs) {
				return -1, dst
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			if !s.is(vi, '[') {
				return -1, dst
			}
			var mo bool
			for i, mo = s.open(vi, ']'); mo; i, mo = s.next(i, ']') {
				if i, dst = s.scopeLogs(i, dst, ri, si, resOK); i < 0 {
					return -1, dst
				}
				si++
			}
		case "schemaUrl", "schema_url":
			if !once(&seen, ojSchemaURL) {
				return -1, dst
			}
			i = s.skipString(vi)
		default:
			return -1, dst
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, dst
		}
	}
	return i, dst
}

// skipString checks a string (or null) at b[i] without keeping it.
func (s *ojScan) skipString(i int) int {
	if j := s.null(i); j >= 0 {
		return j
	}
	j, tmp := s.str(i, s.tmp[:0])
	s.tmp = tmp
	return j
}

// resource reads a Resource (level 4) into s.res and s.src. ok false: its
// attributes nest deeper than MaxDepth.
func (s *ojScan) resource(i int) (_ int, ok bool) {
	if !s.is(i, '{') {
		return -1, false
	}
	var seen uint32
	ok = true
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		switch string(key) {
		case "attributes":
			if !once(&seen, ojAttributes) {
				return -1, false
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			var deep bool
			s.res = s.res[:0]
			if i, s.res, deep, _ = s.kvList(vi, 5, 3, s.res, true); i < 0 {
				return -1, false
			}
			ok = !deep
		case "droppedAttributesCount", "dropped_attributes_count":
			if !once(&seen, ojDropped) {
				return -1, false
			}
			i = s.skipUint(vi, math.MaxUint32)
		default:
			return -1, false // entityRefs among them: the reference path
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, false
		}
	}
	return i, ok
}

// scopeLogs reads a ScopeLogs object (level 5) at b[i] and writes its
// records.
func (s *ojScan) scopeLogs(i int, dst []byte, ri, si int, resOK bool) (int, []byte) {
	if !s.is(i, '{') {
		return -1, dst
	}
	s.scope = s.scope[:0]
	scopeOK := true
	var seen uint32
	li := 0
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		switch string(key) {
		case "scope":
			if !once(&seen, ojScope) {
				return -1, dst
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			if seen&ojLogRecords != 0 {
				return -1, dst // records already written without it
			}
			i, scopeOK = s.instrumentationScope(vi)
		case "logRecords", "log_records":
			if !once(&seen, ojLogRecords) {
				return -1, dst
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			if !s.is(vi, '[') {
				return -1, dst
			}
			var mo bool
			for i, mo = s.open(vi, ']'); mo; i, mo = s.next(i, ']') {
				if i = s.record(i); i < 0 {
					return -1, dst
				}
				if !resOK || !scopeOK {
					s.c.refuse("log record %d (resource %d, scope %d): the resource or scope attributes nest deeper than %d levels", li, ri, si, MaxDepth)
				} else {
					dst = s.emit(dst, li, ri, si)
				}
				li++
			}
		case "schemaUrl", "schema_url":
			if !once(&seen, ojSchemaURL) {
				return -1, dst
			}
			i = s.skipString(vi)
		default:
			return -1, dst
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, dst
		}
	}
	return i, dst
}

// instrumentationScope reads an InstrumentationScope (level 6) into
// s.scope. ok false: its attributes nest deeper than MaxDepth.
func (s *ojScan) instrumentationScope(i int) (_ int, ok bool) {
	if !s.is(i, '{') {
		return -1, false
	}
	s.sName, s.sVer, s.sAttrs = s.sName[:0], s.sVer[:0], s.sAttrs[:0]
	ok = true
	n := 0
	var seen uint32
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		switch string(key) {
		case "name":
			if !once(&seen, ojName) {
				return -1, false
			}
			if i = s.null(vi); i < 0 {
				i, s.sName = s.str(vi, s.sName)
			}
		case "version":
			if !once(&seen, ojVersion) {
				return -1, false
			}
			if i = s.null(vi); i < 0 {
				i, s.sVer = s.str(vi, s.sVer)
			}
		case "attributes":
			if !once(&seen, ojAttributes) {
				return -1, false
			}
			if i = s.null(vi); i >= 0 {
				break
			}
			var deep bool
			if i, s.sAttrs, deep, n = s.kvList(vi, 7, 4, s.sAttrs, false); i < 0 {
				return -1, false
			}
			ok = !deep
		case "droppedAttributesCount", "dropped_attributes_count":
			if !once(&seen, ojDropped) {
				return -1, false
			}
			i = s.skipUint(vi, math.MaxUint32)
		default:
			return -1, false
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, false
		}
	}
	// As frame writes it: name and version when not empty, attributes
	// when there are any.
	sc := append(s.scope[:0], `,"scope":{`...)
	sep := ""
	if len(s.sName) > 2 {
		sc = append(append(sc, `"name":`...), s.sName...)
		sep = ","
	}
	if len(s.sVer) > 2 {
		sc = append(append(sc, sep+`"version":`...), s.sVer...)
		sep = ","
	}
	if n > 0 {
		sc = append(append(sc, sep+`"attributes":`...), s.sAttrs...)
	} else {
		ok = true
	}
	s.scope = append(sc, '}')
	return i, ok
}

// ojRecordMembers are the LogRecord members in the order protojson and
// the SDKs write them: record tries the one after the last it read before
// looking the key up.
var ojRecordMembers = [...]struct {
	lit string // `"name":`
	bit uint32
}{
	{`"timeUnixNano":`, ojTime}, {`"observedTimeUnixNano":`, ojObserved}, {`"severityNumber":`, ojSeverityNumber},
	{`"severityText":`, ojSeverityText}, {`"body":`, ojBody}, {`"attributes":`, ojRecAttributes},
	{`"droppedAttributesCount":`, ojRecDropped}, {`"flags":`, ojFlags}, {`"traceId":`, ojTraceID},
	{`"spanId":`, ojSpanID}, {`"eventName":`, ojEventName},
}

// ojRecordMember is the bit of a LogRecord member's name, 0 if unknown.
func ojRecordMember(key []byte) uint32 {
	switch string(key) {
	case "timeUnixNano", "time_unix_nano":
		return ojTime
	case "observedTimeUnixNano", "observed_time_unix_nano":
		return ojObserved
	case "severityNumber", "severity_number":
		return ojSeverityNumber
	case "severityText", "severity_text":
		return ojSeverityText
	case "body":
		return ojBody
	case "attributes":
		return ojRecAttributes
	case "droppedAttributesCount", "dropped_attributes_count":
		return ojRecDropped
	case "flags":
		return ojFlags
	case "traceId", "trace_id":
		return ojTraceID
	case "spanId", "span_id":
		return ojSpanID
	case "eventName", "event_name":
		return ojEventName
	}
	return 0
}

// record reads a LogRecord (level 7) at b[i] into s.
func (s *ojScan) record(i int) int {
	if !s.is(i, '{') {
		return -1
	}
	s.time, s.observed, s.severity, s.flags = 0, 0, 0, 0
	s.sevText, s.eventName, s.body, s.attrs = s.sevText[:0], s.eventName[:0], s.body[:0], s.attrs[:0]
	s.hasBody, s.bodyDeep, s.attrsDeep = false, false, false
	s.traceID, s.spanID = s.traceID[:0], s.spanID[:0]
	var seen uint32
	guess := 0
	i, more := s.open(i, '}')
	for ; more; i, more = s.next(i, '}') {
		var bit uint32
		var vi int
		for guess < len(ojRecordMembers) && !s.has(i, ojRecordMembers[guess].lit) {
			guess++
		}
		if guess < len(ojRecordMembers) {
			m := ojRecordMembers[guess]
			bit, vi = m.bit, cjWS(s.b, i+len(m.lit))
			guess++
		} else {
			var key []byte
			key, vi = s.key(i)
			bit = ojRecordMember(key)
			guess = len(ojRecordMembers)
		}
		if bit == 0 || !once(&seen, bit) {
			return -1
		}
		if s.is(vi, 'n') {
			// null: the member is as if absent (protojson still counts it
			// as seen).
			i = s.null(vi)
			continue
		}
		switch bit {
		case ojTime:
			s.time, i = s.uint(vi, math.MaxUint64)
		case ojObserved:
			s.observed, i = s.uint(vi, math.MaxUint64)
		case ojSeverityNumber:
			i = s.severityNumber(vi)
		case ojSeverityText:
			i, s.sevText = s.str(vi, s.sevText)
		case ojBody:
			s.hasBody = true
			i, s.body, _, s.bodyDeep = s.anyValue(vi, 8, 3, s.body)
		case ojRecAttributes:
			i, s.attrs, s.attrsDeep, _ = s.kvList(vi, 8, 3, s.attrs, false)
		case ojRecDropped:
			i = s.skipUint(vi, math.MaxUint32)
		case ojFlags:
			s.flags, i = s.uint(vi, math.MaxUint32)
		case ojTraceID:
			i, s.traceID = s.id(vi, 16, s.traceID)
		case ojSpanID:
			i, s.spanID = s.id(vi, 8, s.spanID)
		case ojEventName:
			i, s.eventName = s.str(vi, s.eventName)
		}
	}
	return i
}

// emit appends the record read by record as appendRecord does, or
// refuses it for the same reasons, in the same order.
func (s *ojScan) emit(dst []byte, li, ri, si int) []byte {
	c := s.c
	ts := s.time
	if ts == 0 {
		ts = s.observed
	}
	why := ""
	switch {
	case ts != 0 && !otlpTimeOK(ts):
		why = "time_unix_nano is past the year 9999"
	case s.bodyDeep:
		why = "the body nests deeper than " + strconv.Itoa(MaxDepth) + " levels"
	case s.attrsDeep:
		why = "the attributes nest deeper than " + strconv.Itoa(MaxDepth) + " levels"
	}
	if why != "" {
		c.refuse("log record %d (resource %d, scope %d): %s", li, ri, si, why)
		return dst
	}
	dst = append(dst, `{"timestamp":`...)
	if ts == 0 {
		if c.nowJSON == nil {
			c.nowJSON = cjAppendTime(nil, c.now)
		}
		dst = append(dst, c.nowJSON...)
	} else {
		dst = c.appendNanos(dst, ts)
	}
	dst = append(dst, `,"source":`...)
	dst = append(dst, s.src...)
	dst = append(dst, `,"event":{"body":`...)
	if s.hasBody && len(s.body) > 0 {
		dst = append(dst, s.body...)
	} else {
		dst = append(dst, "null"...)
	}
	if len(s.sevText) > 2 {
		dst = append(append(dst, `,"severity_text":`...), s.sevText...)
	}
	dst = strconv.AppendInt(append(dst, `,"severity_number":`...), s.severity, 10)
	dst = append(dst, `,"attributes":`...)
	if len(s.attrs) > 0 {
		dst = append(dst, s.attrs...)
	} else {
		dst = append(dst, "{}"...)
	}
	if len(s.traceID) > 0 {
		dst = append(append(append(dst, `,"trace_id":"`...), s.traceID...), '"')
	}
	if len(s.spanID) > 0 {
		dst = append(append(append(dst, `,"span_id":"`...), s.spanID...), '"')
	}
	if s.flags != 0 {
		dst = strconv.AppendUint(append(dst, `,"flags":`...), s.flags, 10)
	}
	if len(s.eventName) > 2 {
		dst = append(append(dst, `,"event_name":`...), s.eventName...)
	}
	if o := s.observed; o != 0 && otlpTimeOK(o) {
		dst = c.appendNanos(append(dst, `,"observed_timestamp":`...), o)
	}
	dst = append(dst, `},"metadata":{"resource":`...)
	dst = append(dst, s.res...)
	dst = append(dst, s.scope...)
	c.accepted++
	return append(dst, "}}\n"...)
}

// anyValue writes the AnyValue object at b[i] (JSON level lvl) as
// appendAny does at envelope depth depth: str reports a string value,
// deep a container deeper than MaxDepth.
func (s *ojScan) anyValue(i, lvl, depth int, out []byte) (_ int, _ []byte, str, deep bool) {
	if !s.is(i, '{') || lvl > otlpJSONDepth {
		return -1, out, false, false
	}
	start := len(out)
	set := false // a member of the oneof was written
	var seen uint32
	var more bool
	if s.has(i, `{"stringValue":"`) {
		// The usual value, spelled as protojson and the SDKs do: read
		// at once, then on as for any object.
		seen, set, str = 1, true, true
		i, out = s.str(i+15, out)
		if s.is(i, '}') {
			return i + 1, out, true, false
		}
		i, more = s.next(i, '}')
	} else {
		i, more = s.open(i, '}')
	}
	for ; more; i, more = s.next(i, '}') {
		key, vi := s.key(i)
		var bit uint32
		switch string(key) {
		case "stringValue", "string_value":
			bit = 1
		case "boolValue", "bool_value":
			bit = 2
		case "intValue", "int_value":
			bit = 4
		case "doubleValue", "double_value":
			bit = 8
		case "arrayValue", "array_value":
			bit = 16
		case "kvlistValue", "kvlist_value":
			bit = 32
		case "bytesValue", "bytes_value":
			bit = 64
		default:
			return -1, out, false, false // the strindex member among them
		}
		if !once(&seen, bit) {
			return -1, out, false, false
		}
		if i = s.null(vi); i < 0 {
			if set {
				return -1, out, false, false // protojson: the oneof is already set
			}
			set = true
			switch bit {
			case 1:
				i, out = s.str(vi, out)
				str = true
			case 2:
				switch {
				case vi+4 <= len(s.b) && string(s.b[vi:vi+4]) == "true":
					i, out = vi+4, append(out, "true"...)
				case vi+5 <= len(s.b) && string(s.b[vi:vi+5]) == "false":
					i, out = vi+5, append(out, "false"...)
				}
			case 4:
				var v int64
				if v, i = s.int(vi); i >= 0 {
					out = strconv.AppendInt(out, v, 10)
				}
			case 8:
				i, out = s.double(vi, out)
			case 16:
				i, out, deep = s.arrayValue(vi, lvl+1, depth, out)
			case 32:
				i, out, deep = s.kvlistValue(vi, lvl+1, depth, out)
			case 64:
				i, out = s.bytes(vi, out)
			}
		}
	}
	if i < 0 {
		return -1, out, false, false
	}
	if !set {
		out = append(out[:start], "null"...) // empty, as appendAny writes it
	}
	return i, out, str, deep
}

// arrayValue writes an ArrayValue object (level lvl) at b[i].
func (s *ojScan) arrayValue(i, lvl, depth int, out []byte) (_ int, _ []byte, deep bool) {
	if !s.is(i, '{') || lvl+1 > otlpJSONDepth {
		return -1, out, false
	}
	deep = depth > MaxDepth
	out = append(out, '[')
	var seen uint32
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		if string(key) != "values" || !once(&seen, ojValues) {
			return -1, out, false
		}
		if i = s.null(vi); i < 0 {
			if !s.is(vi, '[') {
				return -1, out, false
			}
			var mo bool
			n := 0
			for i, mo = s.open(vi, ']'); mo; i, mo = s.next(i, ']') {
				if n > 0 {
					out = append(out, ',')
				}
				n++
				var d bool
				if i, out, _, d = s.anyValue(i, lvl+2, depth+1, out); i < 0 {
					return -1, out, false
				}
				deep = deep || d
			}
			if i < 0 {
				return -1, out, false
			}
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, out, false
		}
	}
	return i, append(out, ']'), deep
}

// kvlistValue writes a KeyValueList object (level lvl) at b[i].
func (s *ojScan) kvlistValue(i, lvl, depth int, out []byte) (_ int, _ []byte, deep bool) {
	if !s.is(i, '{') || lvl > otlpJSONDepth {
		return -1, out, false
	}
	wrote := false
	var seen uint32
	i, more := s.open(i, '}')
	for more {
		key, vi := s.key(i)
		if string(key) != "values" || !once(&seen, ojValues) {
			return -1, out, false
		}
		if i = s.null(vi); i < 0 {
			if i, out, deep, _ = s.kvList(vi, lvl+1, depth, out, false); i < 0 {
				return -1, out, false
			}
			wrote = true
		}
		if i, more = s.next(i, '}'); i < 0 {
			return -1, out, false
		}
	}
	if !wrote {
		out = append(out, "{}"...)
		deep = depth > MaxDepth
	}
	return i, out, deep
}

// kvList writes the array of KeyValue objects (level lvl) at b[i] as
// appendKVs does at envelope depth depth: an object, a key that repeats
// keeping its last value. n is the number of entries, repeated keys
// included. With source set, s.src becomes the last non-empty string value
// of service.name, if any.
func (s *ojScan) kvList(i, lvl, depth int, out []byte, source bool) (_ int, _ []byte, deep bool, n int) {
	if !s.is(i, '[') || lvl+1 > otlpJSONDepth {
		return -1, out, false, 0
	}
	base := len(s.kvs)
	defer func() { s.kvs = s.kvs[:base] }()
	listStart := len(out)
	out = append(out, '{')
	var mo bool
	for i, mo = s.open(i, ']'); mo; i, mo = s.next(i, ']') {
		if len(s.kvs) > base {
			out = append(out, ',')
		}
		e := ojKV{start: len(out), val: -1}
		if !s.is(i, '{') {
			return -1, out, false, 0
		}
		var seen uint32
		var more bool
		if s.has(i, `{"key":"`) {
			// The usual spelling: the key, then the value, no spaces;
			// read at once, then on as for any object.
			seen = ojKey
			i, out = s.str(i+7, out)
			out = append(out, ':')
			e.val = len(out)
			if i >= 0 {
				if j := cjWS(s.b, i); s.is(j, ',') {
					if j = cjWS(s.b, j+1); s.has(j, `"value":`) {
						if j = cjWS(s.b, j+8); s.is(j, '{') {
							seen |= ojValue
							i, out, e.str, e.deep = s.anyValue(j, lvl+2, depth+1, out)
						}
					}
				}
			}
			i, more = s.next(i, '}')
		} else {
			i, more = s.open(i, '}')
		}
		for ; more; i, more = s.next(i, '}') {
			key, vi := s.key(i)
			switch string(key) {
			case "key":
				if !once(&seen, ojKey) {
					return -1, out, false, 0
				}
				if i = s.null(vi); i >= 0 {
					out = append(out, `""`...)
				} else {
					i, out = s.str(vi, out)
				}
				out = append(out, ':')
				e.val = len(out)
			case "value":
				if !once(&seen, ojValue) {
					return -1, out, false, 0
				}
				if i = s.null(vi); i < 0 {
					if e.val < 0 {
						return -1, out, false, 0 // a value before its key: the reference path
					}
					i, out, e.str, e.deep = s.anyValue(vi, lvl+2, depth+1, out)
				}
			default:
				return -1, out, false, 0 // keyStrindex among them
			}
			if i < 0 {
				return -1, out, false, 0
			}
		}
		if i < 0 {
			return -1, out, false, 0
		}
		if e.val < 0 {
			out = append(out, `"":`...)
			e.val = len(out)
		}
		if len(out) == e.val {
			out = append(out, "null"...)
		}
		e.end = len(out)
		s.kvs = append(s.kvs, e)
	}
	if i < 0 {
		return -1, out, false, 0
	}
	kvs := s.kvs[base:]
	n = len(kvs)
	if source {
		for _, e := range kvs {
			if e.str && e.end-e.val > 2 && string(out[e.start:e.val-1]) == `"service.name"` {
				s.src = append(s.src[:0], out[e.val:e.end]...)
			}
		}
	}
	// Which keys repeat later: a bit per entry, keys compared only when a
	// cheap signature of theirs was seen among the later ones.
	var rep uint64
	var last map[string]int
	if n > 64 {
		last = make(map[string]int, n)
		for k, e := range kvs {
			last[string(out[e.start:e.val])] = k
		}
	} else {
		var sigs uint64
		for k := n - 1; k >= 0; k-- {
			key := out[kvs[k].start : kvs[k].val-1]
			sig := uint64(1) << ((uint(len(key)) + uint(key[1])*7 + uint(key[len(key)-2])*13) & 63)
			if sigs&sig != 0 {
				for _, e := range kvs[k+1:] {
					if string(out[e.start:e.val]) == string(out[kvs[k].start:kvs[k].val]) {
						rep |= 1 << uint(k)
						break
					}
				}
			}
			sigs |= sig
		}
	}
	kept := func(k int) bool {
		if last != nil {
			return last[string(out[kvs[k].start:kvs[k].val])] == k
		}
		return rep&(1<<uint(k)) == 0
	}
	deep = depth > MaxDepth
	for k, e := range kvs {
		if e.deep && kept(k) {
			deep = true
		}
	}
	if rep == 0 && last == nil {
		return i, append(out, '}'), deep, n
	}
	// Keep the last of each key, in order.
	s.tmp = append(s.tmp[:0], out[listStart:]...)
	out = append(out[:listStart], '{')
	first := true
	for k, e := range kvs {
		if last != nil && last[string(s.tmp[e.start-listStart:e.val-listStart])] != k || last == nil && rep&(1<<uint(k)) != 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, s.tmp[e.start-listStart:e.end-listStart]...)
	}
	return i, append(out, '}'), deep, n
}

// str writes the JSON string at b[i] as cjAppendText writes its decoded
// value: a copy when it has no escape.
func (s *ojScan) str(i int, out []byte) (int, []byte) {
	b := s.b
	if !s.is(i, '"') {
		return -1, out
	}
	start := i
	i++
	for {
		for ; i+8 <= len(b); i += 8 {
			if m := cjSpecial(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		for i < len(b) && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return -1, out
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, append(out, b[start:i+1]...)
		case c == '\\':
			return s.strEscaped(start, out)
		case c < 0x20:
			return -1, out
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1, out
			}
			i += size
		}
	}
}

// strEscaped is str for a string with escapes, decoding them as
// protojson does (a lone surrogate escape gives up).
func (s *ojScan) strEscaped(start int, out []byte) (int, []byte) {
	b := s.b
	out = append(out, '"')
	i := start + 1
	run := i
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, append(append(out, b[run:i]...), '"')
		case c < 0x20:
			return -1, out
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1, out
			}
			i += size
			continue
		case c != '\\':
			i++
			continue
		}
		out = append(out, b[run:i]...)
		if i+1 >= len(b) {
			return -1, out
		}
		switch e := b[i+1]; e {
		case '"', '\\':
			out = append(out, '\\', e)
		case '/':
			out = append(out, '/')
		case 'b':
			out = cjEscape(out, '\b')
		case 'f':
			out = cjEscape(out, '\f')
		case 'n':
			out = cjEscape(out, '\n')
		case 'r':
			out = cjEscape(out, '\r')
		case 't':
			out = cjEscape(out, '\t')
		case 'u':
			r, ok := ojHex4(b, i+2)
			if !ok {
				return -1, out
			}
			if utf16.IsSurrogate(r) {
				lo, ok := ojHex4(b, i+8)
				if !ok || b[i+6] != '\\' || b[i+7] != 'u' {
					return -1, out
				}
				if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
					return -1, out
				}
				i += 6
			}
			switch {
			case r < 0x20 || r == '"' || r == '\\':
				out = cjEscape(out, byte(r))
			default:
				out = utf8.AppendRune(out, r)
			}
			i += 4
		default:
			return -1, out
		}
		i += 2
		run = i
	}
	return -1, out
}

// ojHex4 reads four hex digits at b[i].
func ojHex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// digits reads -?(0|[1-9][0-9]*) at b[i], at most max in magnitude.
func (s *ojScan) digits(i int, max uint64) (v uint64, neg bool, end int) {
	b := s.b
	if s.is(i, '-') {
		neg = true
		i++
	}
	switch {
	case s.is(i, '0'):
		return 0, neg, i + 1
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
	default:
		return 0, false, -1
	}
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (max-d)/10 {
			return 0, false, -1
		}
		v = v*10 + d
	}
	return v, neg, i
}

// number reads an integer as protojson takes it for the fast path: a
// JSON number or a JSON string of one, without fraction or exponent.
func (s *ojScan) number(i int, max uint64) (v uint64, neg bool, end int) {
	if s.is(i, '"') {
		if v, neg, end = s.digits(i+1, max); end < 0 || !s.is(end, '"') {
			return 0, false, -1
		}
		return v, neg, end + 1
	}
	return s.digits(i, max)
}

// uint reads an unsigned integer of at most max.
func (s *ojScan) uint(i int, max uint64) (uint64, int) {
	v, neg, end := s.number(i, max)
	if neg {
		return 0, -1
	}
	return v, end
}

// skipUint checks an unsigned integer (or null) without keeping it.
func (s *ojScan) skipUint(i int, max uint64) int {
	if j := s.null(i); j >= 0 {
		return j
	}
	_, end := s.uint(i, max)
	return end
}

// int reads an int64.
func (s *ojScan) int(i int) (int64, int) {
	v, neg, end := s.number(i, 1<<63)
	switch {
	case end < 0:
		return 0, -1
	case neg:
		return int64(-v), end // -1<<63 included
	case v > math.MaxInt64:
		return 0, -1
	}
	return int64(v), end
}

// severityNumber reads the enum: an int32 number or a value's name (an
// unknown name leaves it 0: protojson discards it).
func (s *ojScan) severityNumber(i int) int {
	if s.is(i, '"') {
		var end int
		end, s.tmp = s.str(i, s.tmp[:0])
		if end < 0 {
			return -1
		}
		s.severity = int64(logspb.SeverityNumber_value[string(s.tmp[1:len(s.tmp)-1])])
		return end
	}
	v, neg, end := s.digits(i, 1<<31)
	switch {
	case end < 0:
		return -1
	case neg:
		s.severity = -int64(v)
	case v > math.MaxInt32:
		return -1
	default:
		s.severity = int64(v)
	}
	return end
}

// double writes a double as appendAny does: a JSON number, or one of the
// strings protojson takes for NaN and the infinities.
func (s *ojScan) double(i int, out []byte) (int, []byte) {
	b := s.b
	if s.is(i, '"') {
		for _, w := range [...]string{`"NaN"`, `"Infinity"`, `"-Infinity"`} {
			if len(b)-i >= len(w) && string(b[i:i+len(w)]) == w {
				return i + len(w), append(out, w...)
			}
		}
		return -1, out
	}
	j := i
	if s.is(j, '-') {
		j++
	}
	switch {
	case s.is(j, '0'):
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		for j++; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
	default:
		return -1, out
	}
	if s.is(j, '.') {
		j++
		k := j
		for ; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
		if j == k {
			return -1, out
		}
	}
	if s.is(j, 'e') || s.is(j, 'E') {
		j++
		if s.is(j, '+') || s.is(j, '-') {
			j++
		}
		k := j
		for ; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
		if j == k {
			return -1, out
		}
	}
	if ojShortest(b[i:j]) {
		return j, append(out, b[i:j]...)
	}
	f, err := strconv.ParseFloat(string(b[i:j]), 64)
	if err != nil {
		return -1, out // out of range: protojson refuses it
	}
	return j, strconv.AppendFloat(out, f, 'g', -1, 64)
}

// ojShortest reports whether AppendFloat(ParseFloat(n), 'g', -1) is n
// itself, for a JSON number n: no exponent, a fraction without trailing
// zeros, at most 15 significant digits (a double tells those apart, so n
// is the shortest decimal that reads back as its double) and a decimal
// exponent in [-4, 6) (where 'g' writes no exponent).
func ojShortest(n []byte) bool {
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	intLen, sig, lead := len(n), 0, 0
	if k := bytes.IndexByte(n, '.'); k >= 0 {
		intLen = k
		if n[len(n)-1] == '0' {
			return false
		}
	}
	for _, c := range n {
		switch {
		case c == '.':
		case c < '0' || c > '9':
			return false
		case c == '0' && sig == 0:
			lead++
		default:
			sig++
		}
	}
	if intLen > 6 || sig > 15 {
		return false
	}
	// 0.000ddd: the exponent is -(zeros after the point + 1).
	return intLen != 1 || n[0] != '0' || sig == 0 || lead-1 <= 3
}

// bytes writes a bytesValue (base64, as protojson reads it) as appendAny
// does: standard base64.
func (s *ojScan) bytes(i int, out []byte) (int, []byte) {
	raw, end := s.plain(i)
	if end < 0 {
		return -1, out
	}
	enc := base64.StdEncoding
	if bytes.ContainsAny(raw, "-_") {
		enc = base64.URLEncoding
	}
	if len(raw)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	tmp := s.tmp[:0]
	if n := enc.DecodedLen(len(raw)); cap(tmp) < n {
		tmp = make([]byte, 0, n)
	}
	n, err := enc.Decode(tmp[:cap(tmp)], raw)
	s.tmp = tmp
	if err != nil {
		return -1, out
	}
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, tmp[:n])
	return end, append(out, '"')
}

// plain reads a JSON string of printable ASCII without escapes at b[i].
func (s *ojScan) plain(i int) ([]byte, int) {
	b := s.b
	if !s.is(i, '"') {
		return nil, -1
	}
	j := i + 1
	for j < len(b) && b[j] >= 0x20 && b[j] < 0x80 && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if !s.is(j, '"') {
		return nil, -1
	}
	return b[i+1 : j], j + 1
}

// id writes a trace or span id of size bytes as lowercase hex, reading it
// as otlpJSONIDs and protojson do: hex, or base64 of the right size; ""
// (nothing written) is no id.
func (s *ojScan) id(i, size int, out []byte) (int, []byte) {
	raw, end := s.plain(i)
	switch {
	case end < 0:
		return -1, out
	case len(raw) == 0:
		return end, out
	case len(raw) == 2*size:
		lower := true
		for _, c := range raw {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				lower = false
				break
			}
		}
		if lower { // as it is written
			return end, append(out, raw...)
		}
		var buf [16]byte
		if _, err := hex.Decode(buf[:size], raw); err == nil {
			return end, hex.AppendEncode(out, buf[:size])
		}
	}
	if len(raw) <= 24 {
		var buf [18]byte
		if n, err := base64.StdEncoding.Decode(buf[:], raw); err == nil && n == size {
			return end, hex.AppendEncode(out, buf[:n])
		}
	}
	return -1, out // the reference path words the error
}
