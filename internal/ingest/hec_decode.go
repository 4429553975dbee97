package ingest

import (
	"bytes"
	"fmt"
	"math/bits"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// HEC bodies → frame bodies. Each HEC event becomes one envelope:
//
//	{"timestamp": <time as RFC 3339, else the request's received time>,
//	 "source":    <HEC source, else ?source=, else "splunk-hec">,
//	 "event":     {"event": <event as sent: string, number, object…>,
//	               "host", "sourcetype", "index": <as sent, else from the query>,
//	               "fields": <fields as sent>},
//	 "metadata":  {"hec_channel": <channel>}}   (only with a channel)
//
// Absent members are left out (no nulls). A raw body gives one event per
// non-blank line, its "event" the line as a string.

// hecDecodeError is a body HEC refuses: code, offending event (0-based; -1
// for the body as a whole) and a sentence for the client.
type hecDecodeError struct {
	code   int
	event  int
	detail string
}

func hecBad(code, event int, format string, args ...any) *hecDecodeError {
	return &hecDecodeError{code: code, event: event, detail: fmt.Sprintf(format, args...)}
}

// hecDefaults are what the request gives every event: HEC's query
// parameters (host, source, sourcetype, index; time for raw), the channel
// and the received time.
type hecDefaults struct {
	host, source, sourcetype, index []byte // JSON strings, nil when absent
	channel                         string
	now                             time.Time
	time                            []byte // ?time= (raw), as a JSON string
	timeErr                         bool
	nowJSON                         []byte

	// Of the event being decoded: it has a line break (as whitespace, so
	// its values are compacted), its "fields" has an object member.
	multiline, nestedFields bool
}

// appendValue appends a value of the current event, compacted when the
// event spans lines.
func (d *hecDefaults) appendValue(dst, v []byte) []byte {
	if d.multiline {
		return cjAppendValue(dst, v)
	}
	return append(dst, v...)
}

func (d *hecDefaults) fromQuery(q url.Values) {
	str := func(k string) []byte {
		if v := q.Get(k); v != "" {
			return cjAppendText(nil, v)
		}
		return nil
	}
	d.host, d.source, d.sourcetype, d.index = str("host"), str("source"), str("sourcetype"), str("index")
	if len(d.source) == 2 {
		d.source = nil
	}
	if v := q.Get("time"); v != "" {
		if t, ok := hecParseTime([]byte(v)); ok {
			d.time = cjAppendTime(nil, t)
		} else {
			d.timeErr = true
		}
	}
}

// received is the request's time as a JSON string, formatted once.
func (d *hecDefaults) received() []byte {
	if d.nowJSON == nil {
		d.nowJSON = cjAppendTime(make([]byte, 0, 40), d.now)
	}
	return d.nowJSON
}

// hecFrameHint sizes the frame buffer: the body plus the envelope of each
// event (raw: one per line).
func hecFrameHint(body []byte, raw bool) int {
	if raw {
		return len(body) + (bytes.Count(body, []byte{'\n'})+1)*160
	}
	return len(body) + len(body)/4 + 1024
}

// HEC fields of an event object.
const (
	hfTime = 1 << iota
	hfHost
	hfSource
	hfSourcetype
	hfIndex
	hfEvent
	hfFields
)

var hecFieldNames = [...]string{"time", "host", "source", "sourcetype", "index", "event", "fields"}

func hecField(key []byte) int {
	if bytes.IndexByte(key, '\\') >= 0 {
		s, ok := cjUnquote(key)
		if !ok {
			return 0
		}
		key = []byte(s)
	}
	switch string(key) {
	case "time":
		return hfTime
	case "host":
		return hfHost
	case "source":
		return hfSource
	case "sourcetype":
		return hfSourcetype
	case "index":
		return hfIndex
	case "event":
		return hfEvent
	case "fields":
		return hfFields
	}
	return 0
}

// hecEvents decodes /services/collector/event: JSON objects, one after
// another, separated by optional whitespace. It appends the frame body to
// dst and returns it with the number of events.
func hecEvents(dst, body []byte, d *hecDefaults) ([]byte, int, *hecDecodeError) {
	base := len(dst)
	i := cjWS(body, 0)
	if i == len(body) {
		return dst, 0, hecBad(hecNoData, -1, "the body is empty: send one or more JSON event objects")
	}
	// The event nests one level deeper in the envelope.
	sc := cjScan{b: body, maxDepth: MaxDepth - 1}
	var members [16]cjMember
	n := 0
	for i < len(body) {
		if body[i] != '{' {
			return dst[:base], 0, hecBad(hecInvalidFormat, n, "event %d: expected a JSON object, found %s at byte %d", n, compatKind(body[i]), i)
		}
		end, ms := sc.topObject(i, members[:0])
		if end < 0 {
			return dst[:base], 0, hecBad(hecInvalidFormat, n, "event %d: %s", n, sc.err)
		}
		var v [7][]byte // values by field bit position
		seen := 0
		d.multiline = bytes.IndexByte(body[i:end], '\n') >= 0 || bytes.IndexByte(body[i:end], '\r') >= 0
		d.nestedFields = false
		for _, m := range ms {
			f := hecField(m.key)
			if f == 0 {
				continue // unknown keys are ignored, as Splunk does
			}
			if seen&f != 0 {
				return dst[:base], 0, hecBad(hecInvalidFormat, n, "event %d: duplicate %q key", n, hecFieldNames[hecBit(f)])
			}
			seen |= f
			v[hecBit(f)] = m.val
			if f == hfFields {
				d.nestedFields = m.nested
			}
		}
		var err *hecDecodeError
		if dst, err = appendHECEvent(dst, &v, d, n); err != nil {
			return dst[:base], 0, err
		}
		n++
		i = cjWS(body, end)
	}
	return dst[:len(dst)-1], n, nil // no newline after the last event
}

// appendHECEvent checks one event's fields and appends its envelope.
func appendHECEvent(dst []byte, v *[7][]byte, d *hecDefaults, n int) ([]byte, *hecDecodeError) {
	ev := v[hecBit(hfEvent)]
	switch {
	case ev == nil || string(ev) == "null":
		return dst, hecBad(hecEventRequired, n, `event %d: the "event" field is required`, n)
	case string(ev) == `""`:
		return dst, hecBad(hecEventBlank, n, `event %d: the "event" field is empty`, n)
	}
	for _, f := range [...]int{hfHost, hfSource, hfSourcetype, hfIndex} {
		if s := v[hecBit(f)]; s != nil && s[0] != '"' {
			if string(s) == "null" {
				v[hecBit(f)] = nil
				continue
			}
			return dst, hecBad(hecInvalidFormat, n, "event %d: %q must be a string, got %s", n, hecFieldNames[hecBit(f)], compatKind(s[0]))
		}
	}
	fields := v[hecBit(hfFields)]
	if fields != nil {
		if string(fields) == "null" {
			fields = nil
		} else if fields[0] != '{' {
			return dst, hecBad(hecIndexedFields, n, `event %d: "fields" must be an object of key-value pairs, got %s`, n, compatKind(fields[0]))
		} else if d.nestedFields {
			it := cjNewObject(fields, 0)
			for {
				key, val, ok := it.Next()
				if !ok {
					break
				}
				if val[0] == '{' {
					k, _ := cjUnquote(key)
					return dst, hecBad(hecIndexedFields, n, `event %d: "fields" must be flat: the value of %s is an object`, n, quoteClient(k))
				}
			}
		}
	}

	dst = append(dst, `{"timestamp":`...)
	if t := v[hecBit(hfTime)]; t != nil && string(t) != "null" {
		ts, ok := hecParseTime(t)
		if !ok {
			return dst, hecBad(hecInvalidFormat, n, `event %d: "time" must be epoch seconds, such as 1433188255.500 (got %s)`, n, hecClip(t))
		}
		dst = cjAppendTime(dst, ts)
	} else {
		dst = append(dst, d.received()...)
	}
	dst = append(dst, `,"source":`...)
	switch src := v[hecBit(hfSource)]; {
	case len(src) > 2:
		dst = append(dst, src...)
	case d.source != nil:
		dst = append(dst, d.source...)
	default:
		dst = append(dst, `"`+hecDefaultSource+`"`...)
	}
	dst = append(dst, `,"event":{"event":`...)
	dst = d.appendValue(dst, ev)
	dst = appendHECMeta(dst, v[hecBit(hfHost)], v[hecBit(hfSourcetype)], v[hecBit(hfIndex)], d)
	if fields != nil {
		dst = append(dst, `,"fields":`...)
		dst = d.appendValue(dst, fields)
	}
	dst = append(dst, '}')
	return appendHECTail(dst, d), nil
}

// appendHECMeta appends the host, sourcetype and index members (as sent,
// else from the query).
func appendHECMeta(dst, host, sourcetype, index []byte, d *hecDefaults) []byte {
	for i, s := range [3][]byte{host, sourcetype, index} {
		if s == nil {
			s = [3][]byte{d.host, d.sourcetype, d.index}[i]
		}
		if s != nil {
			dst = append(dst, [3]string{`,"host":`, `,"sourcetype":`, `,"index":`}[i]...)
			dst = d.appendValue(dst, s)
		}
	}
	return dst
}

// appendHECTail closes the envelope, with the channel as metadata.
func appendHECTail(dst []byte, d *hecDefaults) []byte {
	if d.channel != "" {
		dst = append(dst, `,"metadata":{"hec_channel":`...)
		dst = appendJSONString(dst, d.channel) // a GUID: nothing to escape
		dst = append(dst, '}')
	}
	return append(dst, "}\n"...)
}

// hecRaw decodes /services/collector/raw: every non-blank line (LF or
// CRLF) is one event whose "event" is the line as a string.
func hecRaw(dst, body []byte, d *hecDefaults) ([]byte, int, *hecDecodeError) {
	base := len(dst)
	if d.timeErr {
		return dst, 0, hecBad(hecInvalidFormat, -1, "the time query parameter must be epoch seconds, such as 1433188255.500")
	}
	ts := d.time
	if ts == nil {
		ts = d.received()
	}
	n := 0
	for rest := body; len(rest) > 0; {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if hecBlank(line) {
			continue
		}
		if !utf8.Valid(line) {
			return dst[:base], 0, hecBad(hecInvalidFormat, n, "line %d is not valid UTF-8", n+1)
		}
		dst = append(dst, `{"timestamp":`...)
		dst = append(dst, ts...)
		dst = append(dst, `,"source":`...)
		if d.source != nil {
			dst = append(dst, d.source...)
		} else {
			dst = append(dst, `"`+hecDefaultSource+`"`...)
		}
		dst = append(dst, `,"event":{"event":`...)
		dst = cjAppendEscaped(dst, line)
		dst = appendHECMeta(dst, nil, nil, nil, d)
		dst = append(dst, '}')
		dst = appendHECTail(dst, d)
		n++
	}
	if n == 0 {
		return dst[:base], 0, hecBad(hecNoData, -1, "the body has no lines: send one event per line")
	}
	return dst[:len(dst)-1], n, nil // no newline after the last event
}

func hecBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// hecParseTime reads HEC's time: epoch seconds as a JSON number or a string
// holding one ("1433188255.500"), fractions down to nanoseconds, between
// 1970 and the end of year 9999.
func hecParseTime(raw []byte) (time.Time, bool) {
	if len(raw) >= 2 && raw[0] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 {
		return time.Time{}, false
	}
	var sec, nsec int64
	i := 0
	for ; i < len(raw) && '0' <= raw[i] && raw[i] <= '9'; i++ {
		if sec > (1<<62)/10 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(raw[i]-'0')
	}
	if i == 0 {
		return hecParseTimeFloat(raw)
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		digits := 0
		for ; i < len(raw) && '0' <= raw[i] && raw[i] <= '9'; i++ {
			if digits < 9 {
				nsec = nsec*10 + int64(raw[i]-'0')
				digits++
			}
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	if i != len(raw) {
		return hecParseTimeFloat(raw)
	}
	t := time.Unix(sec, nsec).UTC()
	if !t.Before(cjMaxTime) {
		return time.Time{}, false
	}
	return t, true
}

func hecParseTimeFloat(raw []byte) (time.Time, bool) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f >= float64(cjMaxTime.Unix()) || f != f {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
}

func hecBit(f int) int { return bits.TrailingZeros(uint(f)) }

// compatKind names what a value starting with c is, for error details.
func compatKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case c >= 0x20 && c < 0x7f:
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// hecClip quotes a client value for an error detail, cut to 64 bytes.
func hecClip(b []byte) string { return quoteClient(string(b)) }
