package ingest

// The Events v2 decoder as it was before the streaming scanner
// (eventsv2.go): encoding/json tokens, a map per object, one string per
// field. It is the reference the differential tests below and
// FuzzEventsV2 hold the decoder (ev2Parser) to: same answers,
// byte-identical frames. Only the correlation ids are not its own:
// refParseEventsV2 takes them from ids, one per event in order, so that
// frames can be compared byte for byte.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
)

type refResult struct {
	correlationID string
	status        string
}

// refEvent is one decoded EventIngest.
type refEvent struct {
	eventType, title string
	startTime        *int64
	endTime          *int64
	timeout          *int64
	entitySelector   *string
	properties       []refProperty
	hasProperties    bool
}

type refProperty struct {
	key string
	raw []byte // a JSON string, number or boolean
}

// refParseEventsV2 decodes an Events v2 body (one EventIngest object or an
// array of them), appends the stored form of every event whose status is
// OK to dst (one per line), and returns one result per event and the
// number stored. A malformed body or event is a 400 for the whole request.
// ids gives the correlation id of each event, in order.
func refParseEventsV2(dst, body []byte, now time.Time, ids func() string) ([]byte, []refResult, int, *rejection) {
	b := collTrim(body)
	if len(b) == 0 {
		return dst, nil, 0, reject(apierr.InvalidFormat, "empty body: send one EventIngest object")
	}
	if err := decode.Valid(b, decode.Limits{MaxDepth: MaxDepth}); err != nil {
		return dst, nil, 0, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	var items [][]byte
	array := false
	switch b[0] {
	case '{':
		items = [][]byte{b}
	case '[':
		array = true
		for j := collSkipSpace(b, 1); b[j] != ']'; {
			end := collSkipValue(b, j)
			items = append(items, b[j:end])
			if j = collSkipSpace(b, end); b[j] == ',' {
				j = collSkipSpace(b, j+1)
			}
		}
		if len(items) == 0 {
			return dst, nil, 0, reject(apierr.InvalidFormat, "empty array: send at least one EventIngest object")
		}
	default:
		return dst, nil, 0, reject(apierr.InvalidFormat, "the body must be an EventIngest object, got %s", collKind(b[0]))
	}
	events := make([]refEvent, len(items))
	for i, it := range items {
		if err := refDecodeEventIngest(it, &events[i]); err != "" {
			if array {
				err = fmt.Sprintf("event %d: %s", i, err)
			}
			return dst, nil, 0, reject(apierr.InvalidFormat, "%s", err)
		}
	}
	results := make([]refResult, len(events))
	n := 0
	for i := range events {
		ev := &events[i]
		results[i].correlationID = ids()
		start, end, timeout, status := ev.check(now)
		results[i].status = status
		if status != EventOK {
			continue
		}
		if n > 0 {
			dst = append(dst, '\n')
		}
		dst = ev.appendStored(dst, start, end, timeout, results[i].correlationID)
		n++
	}
	return dst, results, n, nil
}

// refFields names the members of EventIngest, for error details.
const refFields = "eventType, title, startTime, endTime, timeout, entitySelector, properties"

// refDecodeEventIngest decodes one event (valid JSON) into ev. It returns
// why the event is malformed, "" when it is not.
func refDecodeEventIngest(raw []byte, ev *refEvent) string {
	if raw[0] != '{' {
		return "must be an EventIngest object, got " + collKind(raw[0])
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_, _ = dec.Token() // '{'
	seen := map[string]bool{}
	var hasType, hasTitle bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "malformed JSON"
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "malformed JSON"
		}
		if seen[key] {
			return fmt.Sprintf("%q appears twice", key)
		}
		seen[key] = true
		null := string(v) == "null"
		switch key {
		case "eventType":
			if null {
				continue
			}
			s, ok := refString(v)
			if !ok {
				return `"eventType" must be a string, one of ` + strings.Join(EventTypes, ", ")
			}
			if !refIsEventType(s) {
				return fmt.Sprintf(`"eventType" %s is not one of %s`, quoteClient(s), strings.Join(EventTypes, ", "))
			}
			ev.eventType, hasType = s, true
		case "title":
			if null {
				continue
			}
			s, ok := refString(v)
			if !ok {
				return `"title" must be a string`
			}
			if strings.TrimSpace(s) == "" {
				return `"title" must not be empty`
			}
			ev.title, hasTitle = s, true
		case "startTime", "endTime", "timeout":
			if null {
				continue
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				if key == "timeout" {
					return `"timeout" must be an integer number of minutes`
				}
				return fmt.Sprintf("%q must be an integer: UTC milliseconds since the epoch", key)
			}
			switch key {
			case "startTime":
				ev.startTime = &n
			case "endTime":
				ev.endTime = &n
			default:
				if n < 1 {
					return `"timeout" must be at least 1 minute`
				}
				ev.timeout = &n
			}
		case "entitySelector":
			if null {
				continue
			}
			s, ok := refString(v)
			if !ok {
				return `"entitySelector" must be a string such as type(HOST),entityName("web-1")`
			}
			if s != "" {
				ev.entitySelector = &s
			}
		case "properties":
			if null {
				continue
			}
			if msg := ev.decodeProperties(v); msg != "" {
				return msg
			}
		default:
			return fmt.Sprintf("unknown field %s (EventIngest has %s)", quoteClient(key), refFields)
		}
	}
	switch {
	case !hasType:
		return `"eventType" is required: one of ` + strings.Join(EventTypes, ", ")
	case !hasTitle:
		return `"title" is required`
	}
	return ""
}

func (ev *refEvent) decodeProperties(v json.RawMessage) string {
	if v[0] != '{' {
		return `"properties" must be an object of string values`
	}
	ev.hasProperties = true
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	_, _ = dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "malformed JSON in properties"
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "malformed JSON in properties"
		}
		if seen[key] {
			return fmt.Sprintf("property %s appears twice", quoteClient(key))
		}
		seen[key] = true
		switch raw[0] {
		case '{', '[', 'n':
			return fmt.Sprintf("property %s must be a string (or a number or boolean), got %s", quoteClient(key), collKind(raw[0]))
		}
		ev.properties = append(ev.properties, refProperty{key: key, raw: raw})
	}
	return ""
}

func refString(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func refIsEventType(s string) bool {
	for _, t := range EventTypes {
		if s == t {
			return true
		}
	}
	return false
}

// check computes start, end and timeout and the event's status.
func (ev *refEvent) check(now time.Time) (start, end, timeout int64, status string) {
	nowMs := now.UnixMilli()
	start = nowMs
	if ev.startTime != nil {
		start = *ev.startTime
	}
	timeout = ev2DefaultTimeout
	if ev.timeout != nil {
		timeout = min(*ev.timeout, ev2MaxTimeout)
	}
	if ev.endTime != nil {
		end = *ev.endTime
	} else {
		end = start + timeout*int64(time.Minute/time.Millisecond)
	}
	switch {
	case start < nowMs-ev2MaxPast.Milliseconds() || start > nowMs+ev2MaxFuture.Milliseconds() || end < start:
		return start, end, timeout, EventInvalidTimestamps
	case ev.entitySelector != nil && !refValidEntitySelector(*ev.entitySelector):
		return start, end, timeout, EventInvalidEntityType
	case !ev.validProperties():
		return start, end, timeout, EventInvalidMetadata
	}
	return start, end, timeout, EventOK
}

// validProperties applies the limits and the reserved dt.* namespace.
func (ev *refEvent) validProperties() bool {
	if len(ev.properties) > ev2MaxProperties {
		return false
	}
	for _, p := range ev.properties {
		if p.key == "" || utf8.RuneCountInString(p.key) > ev2MaxKey || !refAllowedPropertyKey(p.key) {
			return false
		}
		n := len(p.raw)
		if p.raw[0] == '"' {
			s, _ := refString(p.raw)
			n = utf8.RuneCountInString(s)
		}
		if n > ev2MaxValue {
			return false
		}
	}
	return true
}

// refAllowedPropertyKey: keys starting "dt." (any case) are reserved, except
// dt.event.*, dt.davis.* and dt.entity.* with a name after the prefix.
func refAllowedPropertyKey(k string) bool {
	if len(k) < 3 || !strings.EqualFold(k[:3], "dt.") {
		return true
	}
	for _, p := range []string{"dt.event.", "dt.davis.", "dt.entity."} {
		if len(k) > len(p) && strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// refValidEntitySelector checks the syntax of an entity selector: one or more
// comma-separated terms name(args), the first being type(…). A name is a
// letter followed by letters, digits, '_' and '.'; args are not empty and
// may hold nested terms, quoted strings and '~'-escaped characters.
func refValidEntitySelector(s string) bool {
	i := 0
	for term := 0; ; term++ {
		i = refSkipBlanks(s, i)
		start := i
		if i >= len(s) || !refIsLetter(s[i]) {
			return false
		}
		for i < len(s) && (refIsLetter(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '_' || s[i] == '.') {
			i++
		}
		name := s[start:i]
		if i = refSkipBlanks(s, i); i >= len(s) || s[i] != '(' {
			return false
		}
		i++
		argStart := i
		depth, quoted := 1, false
		for i < len(s) && depth > 0 {
			switch c := s[i]; {
			case c == '~':
				i++ // escapes the next character
			case quoted:
				quoted = c != '"'
			case c == '"':
				quoted = true
			case c == '(':
				depth++
			case c == ')':
				depth--
			}
			i++
		}
		if depth != 0 || strings.TrimSpace(s[argStart:i-1]) == "" {
			return false
		}
		if term == 0 && name != "type" {
			return false
		}
		if i = refSkipBlanks(s, i); i == len(s) {
			return true
		}
		if s[i] != ',' {
			return false
		}
		i++
	}
}

func refSkipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func refIsLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// appendStored appends the stored envelope of an event.
func (ev *refEvent) appendStored(dst []byte, start, end, timeout int64, correlationID string) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = time.UnixMilli(start).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","source":"`+dialectEventsV2+`","event":{"eventType":`...)
	dst = appendJSONString(dst, ev.eventType)
	dst = append(dst, `,"title":`...)
	dst = appendJSONString(dst, ev.title)
	dst = append(dst, `,"startTime":`...)
	dst = strconv.AppendInt(dst, start, 10)
	dst = append(dst, `,"endTime":`...)
	dst = strconv.AppendInt(dst, end, 10)
	dst = append(dst, `,"timeout":`...)
	dst = strconv.AppendInt(dst, timeout, 10)
	if ev.entitySelector != nil {
		dst = append(dst, `,"entitySelector":`...)
		dst = appendJSONString(dst, *ev.entitySelector)
	}
	if ev.hasProperties {
		dst = append(dst, `,"properties":{`...)
		for i, p := range ev.properties {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, p.key)
			dst = append(dst, ':')
			dst = append(dst, p.raw...) // a scalar: never spans lines
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"correlationId":"`...)
	dst = append(dst, correlationID...)
	return append(dst, `"}}`...)
}

// ---- differential tests: ev2Parser against the reference ----

// ev2Diff parses body with p, both ways (the strict walk first, and
// decode.Valid then the trusting walk), and with the reference at now, and
// returns how they differ ("" when they do not): the rejection (code,
// detail), the number stored, every result's status and the frame, byte
// for byte, the reference taking the correlation ids p gave.
func ev2Diff(p *ev2Parser, body []byte, now time.Time) string {
	for _, fast := range []bool{true, false} {
		if d := ev2DiffWith(p, body, now, fast); d != "" {
			return fmt.Sprintf("fast %v: %s", fast, d)
		}
	}
	return ""
}

func ev2DiffWith(p *ev2Parser, body []byte, now time.Time, fast bool) string {
	const prefix = "frame so far\n" // both append to dst and leave it be on a rejection
	got, res, n, rj := p.parseWith([]byte(prefix), body, now, fast)
	ids := make([]string, len(res))
	for i := range res {
		ids[i] = string(res[i].correlationID[:])
	}
	k := 0
	want, wantRes, wantN, wantRj := refParseEventsV2([]byte(prefix), body, now, func() string {
		id := "0000000000000000"
		if k < len(ids) {
			id = ids[k]
		}
		k++
		return id
	})
	switch {
	case (rj == nil) != (wantRj == nil):
		return fmt.Sprintf("rejection %+v, reference %+v", rj, wantRj)
	case rj != nil && !reflect.DeepEqual(*rj, *wantRj):
		return fmt.Sprintf("rejection %+v, reference %+v", *rj, *wantRj)
	case rj != nil && (res != nil || n != 0 || string(got) != prefix):
		return fmt.Sprintf("rejected, yet %d results, %d stored, frame %q", len(res), n, got)
	case n != wantN || len(res) != len(wantRes) || k != len(wantRes):
		return fmt.Sprintf("%d stored of %d results, reference %d of %d (%d ids taken)", n, len(res), wantN, len(wantRes), k)
	case !bytes.Equal(got, want):
		return fmt.Sprintf("frame\n%s\nreference\n%s", got, want)
	}
	for i := range res {
		if res[i].status != wantRes[i].status || !correlationRe.Match(res[i].correlationID[:]) {
			return fmt.Sprintf("result %d: %s %s, reference %s", i, res[i].correlationID, res[i].status, wantRes[i].status)
		}
	}
	return ""
}

// ev2DiffNow is the request time of the differential tests: the fuzz
// handler's (newDialectFake).
var ev2DiffNow = time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)

// ev2Corpus is the hand-written part of the differential corpus: every
// status, every 400, escapes in every place, limits on both sides.
func ev2Corpus() []string {
	ms := ev2DiffNow.UnixMilli()
	day := 24 * time.Hour.Milliseconds()
	ev := func(extra string) string { return `{"eventType":"CUSTOM_INFO","title":"t"` + extra + `}` }
	many := func(n int, key func(i int) string, val string) string {
		var b strings.Builder
		b.WriteString(`,"properties":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `%s:%s`, key(i), val)
		}
		b.WriteString("}")
		return b.String()
	}
	k := func(i int) string { return fmt.Sprintf(`"k%d"`, i) }
	out := []string{
		``, ` `, `null`, `1`, `"x"`, `true`, `[]`, ` [ ] `, `{}`, `[{}]`, `[1]`, `[null]`, `[[]]`, `{"eventType":`, `{"a":1}{}`,
		ev(""), " \n" + ev("") + "\r\n", `{ "eventType" : "CUSTOM_INFO" , "title" : "t" }`,
		`{"title":"t","eventType":"CUSTOM_INFO"}`, `{"eventType":"CUSTOM_INFO"}`, `{"title":"t"}`,
		`{"eventType":null,"title":"t"}`, `{"eventType":"CUSTOM_INFO","title":null}`,
		`{"eventType":"CUSTOM","title":"t"}`, `{"eventType":"custom_info","title":"t"}`, `{"eventType":1,"title":"t"}`,
		`{"eventType":"CUSTOM\u005fINFO","title":"t"}`, `{"event\u0054ype":"CUSTOM_INFO","title":"t"}`,
		`{"eventType":"CUSTOM_INFO","title":"t","t\u0069tle":"u"}`, `{"eventType":"CUSTOM_INFO","title":"t","title":"u"}`,
		`{"eventType":"CUSTOM_INFO","eventType":"ERROR_EVENT","title":"t"}`, `{"eventType":null,"eventType":null,"title":"t"}`,
		`{"eventType":"` + strings.Repeat("Q", 100) + `","title":"t"}`, `{"eventType":"\u00e9\"<>","title":"t"}`,
		ev(`,"keepOpen":true`), ev(`,"":1`), ev(`,"keep\u004fpen":{"a":[1,2]}`), `{"x":1,"x":2}`,
		`{"eventType":"CUSTOM_INFO","title":" "}`, `{"eventType":"CUSTOM_INFO","title":""}`, `{"eventType":"CUSTOM_INFO","title":"\u00a0\u2003\u0085"}`,
		`{"eventType":"CUSTOM_INFO","title":"\t\n"}`, `{"eventType":"CUSTOM_INFO","title":{}}`, `{"eventType":"CUSTOM_INFO","title":[]}`,
		`{"eventType":"CUSTOM_INFO","title":5}`, `{"eventType":"CUSTOM_INFO","title":"a\"b\\c\/d\b\f\n\r\t\u0000\u001f<>&\u2028\u00e9é😀"}`,
		`{"eventType":"CUSTOM_INFO","title":"\ud800"}`, `{"eventType":"CUSTOM_INFO","title":"\udc00\ud800x"}`, `{"eventType":"CUSTOM_INFO","title":"\ud83d\ude00\ud83d"}`,
		`{"eventType":"CUSTOM_INFO","title":"\ud83d\u0041"}`, `{"eventType":"CUSTOM_INFO","title":"\uD83D\uDE00\uFFFD"}`,
		ev(`,"startTime":"now"`), ev(`,"startTime":1.5`), ev(`,"startTime":1e3`), ev(`,"startTime":1E3`), ev(`,"startTime":-0`), ev(`,"startTime":true`),
		ev(`,"startTime":[1]`), ev(`,"startTime":{}`), ev(`,"endTime":"x"`), ev(`,"endTime":0.0`), ev(`,"timeout":"15"`), ev(`,"timeout":0`), ev(`,"timeout":-1`),
		ev(`,"timeout":1`), ev(`,"timeout":360`), ev(`,"timeout":361`), ev(`,"timeout":99999999999`), ev(`,"timeout":1.0`),
		ev(`,"startTime":9223372036854775807`), ev(`,"startTime":9223372036854775808`), ev(`,"startTime":-9223372036854775808`),
		ev(`,"startTime":-9223372036854775809`), ev(`,"startTime":12345678901234567890`), ev(`,"startTime":1234567890123456789`),
		ev(`,"endTime":9223372036854775807`), ev(`,"endTime":-9223372036854775808`), ev(`,"timeout":9223372036854775807`),
		ev(`,"startTime":0`), ev(`,"startTime":-1`), ev(`,"startTime":-62135596800001`), ev(`,"startTime":253402300800000`),
		ev(`,"startTime":null,"endTime":null,"timeout":null,"entitySelector":null,"properties":null`),
		ev(`,"startTime":1,"startTime":2`), ev(`,"timeout":null,"timeout":5`),
		ev(`,"entitySelector":""`), ev(`,"entitySelector":5`), ev(`,"entitySelector":{}`), ev(`,"entitySelector":"type(HOST)"`),
		ev(`,"entitySelector":"type(HOST),entityName.equals(\"web-1\")"`), ev(`,"entitySelector":"entityName(\"x\"),type(HOST)"`),
		ev(`,"entitySelector":"type(HOST"`), ev(`,"entitySelector":"type()"`), ev(`,"entitySelector":"type( )"`), ev(`,"entitySelector":"type(\u00a0)"`),
		ev(`,"entitySelector":"type(\u2003x)"`), ev(`,"entitySelector":"type(HOST) x"`), ev(`,"entitySelector":"type(HOST),"`),
		ev(`,"entitySelector":",type(HOST)"`), ev(`,"entitySelector":"HOST"`), ev(`,"entitySelector":"  "`), ev(`,"entitySelector":"type(\"HOST)"`),
		ev(`,"entitySelector":"type(~"`), ev(`,"entitySelector":"type(a~)"`), ev(`,"entitySelector":"type(a~))"`), ev(`,"entitySelector":"\ttype\n(\rx)\t,\tb_1.c(\"(\")"`),
		ev(`,"entitySelector":"type(PROCESS_GROUP_INSTANCE), fromRelationships.isProcessOf(type(HOST),tag(\"env:prod\")),entityName(\"a~)b\")"`),
		ev(`,"entitySelector":"t\u0079pe(<&>)"`), ev(`,"entitySelector":"type(x)\u0000"`), ev(`,"entitySelector":"1a(x)"`), ev(`,"entitySelector":"type(x),_a(y)"`),
		ev(`,"properties":[]`), ev(`,"properties":"x"`), ev(`,"properties":1`), ev(`,"properties":{}`), ev(`,"properties":{ }`),
		ev(`,"properties":{"a":{}}`), ev(`,"properties":{"a":[]}`), ev(`,"properties":{"a":null}`), ev(`,"properties":{"a":"1","a":"2"}`),
		ev(`,"properties":{"a":"1","\u0061":"2"}`), ev(`,"properties":{"a":"1","b":{},"a":2}`), ev(`,"properties":{"a":"1","a":{}}`),
		ev(`,"properties":{"a":{},"a":"1"}`), ev(`,"properties":{"a":1,"b":-1.5e3,"c":true,"d":false,"e":"x","f":0}`),
		ev(`,"properties":{"a":1}` + `,"properties":{"b":1}`), ev(`,"properties":null,"properties":{}`),
		ev(`,"properties":{"":"x"}`), ev(`,"properties":{"dt.foo":"x"}`), ev(`,"properties":{"DT.event.x":"x"}`), ev(`,"properties":{"Dt.event.x":"x"}`),
		ev(`,"properties":{"dt.event.":"x"}`), ev(`,"properties":{"dt.entity":"x"}`), ev(`,"properties":{"dt.":"x"}`), ev(`,"properties":{"dt":"x"}`),
		ev(`,"properties":{"d":"x","dx.a":"y","dt.event.a":"b","dt.davis.b":"c","dt.entity.host":"d"}`), ev(`,"properties":{"dt\u002efoo":"x"}`),
		ev(`,"properties":{"dt.Event.x":"x"}`), ev(`,"properties":{"\u0064t.x":"x"}`), ev(`,"properties":{"dt.event.x":"x"}`),
		ev(`,"properties":{"<k&>":"<v&>","q\"":"\u0000","\u00e9":"\ud800","\n":"\ud83d\ude00"}`),
		ev(many(100, k, `"v"`)), ev(many(101, k, `"v"`)), ev(many(13, k, `1`)), ev(many(12, k, `1`)), ev(many(16, k, `1`)), ev(many(17, k, `1`)),
		ev(many(40, func(i int) string { return fmt.Sprintf(`"k%d"`, i%39) }, `1`)),
		ev(many(40, func(i int) string {
			if i == 39 {
				return `"\u006b0"`
			}
			return fmt.Sprintf(`"k%d"`, i)
		}, `1`)),
		ev(many(40, func(i int) string {
			if i == 30 {
				return `"k3"`
			}
			return fmt.Sprintf(`"k%d"`, i)
		}, `{}`)),
		ev(many(40, k, `null`)), ev(many(500, k, `"v"`)),
		ev(`,"properties":{"abcdefgh_X_abcdefgh":1,"abcdefgh_Y_abcdefgh":2,"abcdefg":3,"abcdefh":4,"abcdefgh_X_abcdefgh":5}`),
		ev(`,"properties":{"abcdefgh":1,"abcdefgh\u0000":2,"abcdefg":3,"abcdefg\u0000":4,"":5,"\u0000":6}`),
		ev(`,"properties":{"` + strings.Repeat("k", 100) + `":"v"}`), ev(`,"properties":{"` + strings.Repeat("k", 101) + `":"v"}`),
		ev(`,"properties":{"` + strings.Repeat("é", 100) + `":"v"}`), ev(`,"properties":{"` + strings.Repeat("é", 101) + `":"v"}`),
		ev(`,"properties":{"` + strings.Repeat(`\u00e9`, 100) + `":"v"}`), ev(`,"properties":{"` + strings.Repeat(`\u00e9`, 101) + `":"v"}`),
		ev(`,"properties":{"` + strings.Repeat(`\ud83d\ude00`, 100) + `":"v"}`), ev(`,"properties":{"` + strings.Repeat(`\ud83d`, 101) + `":"v"}`),
		ev(`,"properties":{"v":"` + strings.Repeat("x", 4096) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat("x", 4097) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat("é", 4096) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat("é", 4097) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat(`\u00e9`, 4096) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat(`\u00e9`, 4097) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d\ude00`, 4096) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d\ude00`, 4097) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d`, 4096) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d`, 4097) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d\ud83d\ude00`, 2048) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat(`\ud83d\ud83d\ude00`, 2049) + `"}`),
		ev(`,"properties":{"v":"` + strings.Repeat(`\n`, 4097) + `"}`), ev(`,"properties":{"v":"` + strings.Repeat(`\\`, 4096) + `"}`),
		ev(`,"properties":{"v":` + strings.Repeat("1", 4096) + `}`), ev(`,"properties":{"v":` + strings.Repeat("1", 4097) + `}`),
		ev(`,"properties":{"v":-` + strings.Repeat("1", 4096) + `}`), ev(`,"properties":{"v":1.` + strings.Repeat("1", 4095) + `}`),
		fmt.Sprintf(`{"eventType":"CUSTOM_DEPLOYMENT","title":"v1","startTime":%d,"endTime":%d,"timeout":30,"entitySelector":"type(HOST),entityName(\"a~)b\")","properties":{"dt.event.deployment.version":"1","n":1,"b":true}}`, ms-day, ms),
		`[{"eventType":"ERROR_EVENT","title":"a"},{"eventType":"ERROR_EVENT","title":"b","endTime":0}]`,
		ev(fmt.Sprintf(`,"startTime":%d,"endTime":%d`, ms, ms-1)), ev(fmt.Sprintf(`,"startTime":%d`, ms-31*day)), ev(fmt.Sprintf(`,"startTime":%d`, ms+8*day)),
		ev(fmt.Sprintf(`,"startTime":%d`, ms-30*day)), ev(fmt.Sprintf(`,"startTime":%d`, ms-30*day-1)), ev(fmt.Sprintf(`,"startTime":%d`, ms+7*day)),
		ev(fmt.Sprintf(`,"startTime":%d`, ms+7*day+1)), ev(fmt.Sprintf(`,"endTime":%d`, ms-1000)), ev(fmt.Sprintf(`,"endTime":%d`, ms)),
		ev(fmt.Sprintf(`,"startTime":%d,"timeout":360`, ms+7*day)), ev(fmt.Sprintf(`,"startTime":%d,"endTime":%d`, ms+123, ms+123)),
		ev(fmt.Sprintf(`,"startTime":%d,"endTime":%d,"entitySelector":"x","properties":{"dt.x":1}`, ms, ms-1)),
		ev(`,"entitySelector":"x","properties":{"dt.x":1}`), ev(`,"properties":{"dt.x":1},"entitySelector":"x"`),
		"[" + ev("") + "," + ev(`,"properties":{"n":"0"}`) + "," + ev(fmt.Sprintf(`,"startTime":%d`, ms-40*day)) + "," + ev(`,"entitySelector":"x"`) + "]",
		"[" + ev("") + ",1]", "[" + ev("") + `,{"title":"t"}]`, "[" + ev("") + "," + ev(`,"properties":{"a":1,"a":1}`) + "]",
		"[ " + ev("") + " ,\n" + ev("") + "\t]", "[" + ev(fmt.Sprintf(`,"startTime":%d`, ms-40*day)) + "]",
		"[" + ev(`,"properties":{"dt.x":1}`) + "," + ev(`,"properties":{"ok":1}`) + "]",
		`{"eventType":"CUSTOM_INFO","title":"t","properties":{"a":1},"keepOpen":{"deep":[[[[{"x":"y"}]]]]}}`,
		`{"eventType":"CUSTOM_INFO","title":"t","properties":{"a":1,"b":[1,{"c":[]}]}}`,
	}
	for _, typ := range EventTypes {
		out = append(out, `{"eventType":"`+typ+`","title":"x"}`)
	}
	out = append(out, string(eventsV2Body(1)), string(eventsV2Body(100)))
	return out
}

// ev2FuzzCorpus reads the stored inputs of FuzzEventsV2.
func ev2FuzzCorpus(t testing.TB) [][]byte {
	dir := filepath.Join("testdata", "fuzz", "FuzzEventsV2")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, v, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// ev2Variants spells a body in other ways that must make no difference
// but to the bytes: indented, inside an array, repeated in one.
func ev2Variants(body []byte) [][]byte {
	out := [][]byte{body}
	var ind bytes.Buffer
	if json.Indent(&ind, body, " \r", "\t ") == nil {
		out = append(out, ind.Bytes())
	}
	if t := collTrim(body); len(t) > 0 && t[0] == '{' {
		out = append(out, []byte("["+string(t)+"]"), []byte("[ "+string(t)+" ,"+string(t)+","+string(t)+" ]"))
	}
	return out
}

func TestEventsV2MatchesReference(t *testing.T) {
	p := new(ev2Parser) // one parser for all: nothing may leak from one body to the next
	var bodies [][]byte
	for _, s := range ev2Corpus() {
		bodies = append(bodies, []byte(s))
	}
	bodies = append(bodies, ev2FuzzCorpus(t)...)
	for _, body := range bodies {
		for _, b := range ev2Variants(body) {
			if d := ev2Diff(p, b, ev2DiffNow); d != "" {
				t.Errorf("body %.300q:\n%s", b, d)
			}
		}
	}
}

// TestEventsV2MatchesReferenceRandom compares the two on events put
// together at random from the pieces the rules care about.
func TestEventsV2MatchesReferenceRandom(t *testing.T) {
	n := 8000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := new(ev2Parser)
	for range n {
		body := ev2RandomBody(rng)
		if d := ev2Diff(p, body, ev2DiffNow); d != "" {
			t.Fatalf("body %.500q:\n%s", body, d)
		}
		// And broken: a byte dropped, doubled or changed, the end cut.
		for range 3 {
			b := ev2Mutate(rng, body)
			if d := ev2Diff(p, b, ev2DiffNow); d != "" {
				t.Fatalf("body %.500q:\n%s", b, d)
			}
		}
	}
}

// ev2Mutate returns body with one random change of the kind that breaks
// JSON, or leaves it valid but different.
func ev2Mutate(rng *rand.Rand, body []byte) []byte {
	if len(body) == 0 {
		return body
	}
	i := rng.IntN(len(body))
	b := bytes.Clone(body)
	switch rng.IntN(5) {
	case 0:
		return append(b[:i:i], b[i+1:]...)
	case 1:
		return append(b[:i+1:i+1], b[i:]...)
	case 2:
		return b[:i]
	case 3:
		b[i] = "\"\\{}[]:,0-.eEtrufalsn \x00\x1f\x7f\xc3\xa9\xed\xff<&u"[rng.IntN(31)]
		return b
	}
	ins := []string{`\u`, `\ud800`, `\uDC00`, `\x`, "\xc3", "\xe2\x82", "\xf0\x9f\x98\x80", "00", "-", "1e", "1.", "nul", "tru", ",", `""`, "\t", "\n\r", "[", "{}"}[rng.IntN(19)]
	return append(b[:i:i], append([]byte(ins), b[i:]...)...)
}

// ev2RandomBody is one event or an array of a few, of members picked from
// pools of good and bad keys and values.
func ev2RandomBody(rng *rand.Rand) []byte {
	ms := ev2DiffNow.UnixMilli()
	day := 24 * time.Hour.Milliseconds()
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	ws := func() string { return pick([]string{"", "", "", " ", "\n\t", "\r\n "}) }
	strs := []string{`""`, `"x"`, `" "`, `"\u00a0"`, `"a\"b"`, `"<&>"`, `"\u0000\u001f"`, `"\ud800"`, `"\ud83d\ude00"`, `"é😀"`, `"\/\b\f\n\r\t"`, `"\u2028"`}
	other := []string{`null`, `1`, `-0`, `1.5`, `true`, `false`, `{}`, `[]`, `{"a":[1,{"b":null}]}`}
	times := []string{
		strconv.FormatInt(ms, 10), strconv.FormatInt(ms-day, 10), strconv.FormatInt(ms+day, 10), strconv.FormatInt(ms-31*day, 10),
		strconv.FormatInt(ms+8*day, 10), strconv.FormatInt(ms-30*day, 10), strconv.FormatInt(ms+7*day, 10), "0", "-1",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e3", "1.0", `"1"`,
	}
	selectors := []string{`"type(HOST)"`, `"type(HOST),entityName(\"a~)b\")"`, `"type(HOST"`, `"type()"`, `"x"`, `""`, `"type(\u00a0)"`,
		`" type ( a ( b ) ) , c.d_1 ( \"(\" ) "`, `"type(a),"`, `"t\u0079pe(<&>)"`, `"type(~"`}
	propKeys := []string{`"a"`, `"b"`, `"\u0061"`, `""`, `"dt.event.x"`, `"DT.event.x"`, `"dt.x"`, `"dt.davis."`, `"dt.entity.h"`, `"<&>"`,
		`"\ud800"`, `"é"`, `"` + strings.Repeat("é", 100) + `"`, `"` + strings.Repeat(`\u00e9`, 101) + `"`}
	propVals := []string{`"v"`, `1`, `-2.5e-3`, `true`, `false`, `"\u00e9"`, `"<&>"`, `null`, `{}`, `[]`,
		`"` + strings.Repeat("é", 4096) + `"`, `"` + strings.Repeat(`\u00e9`, 4097) + `"`, strings.Repeat("9", 4097)}
	member := func() string {
		switch rng.IntN(9) {
		case 0:
			return `"eventType"` + ws() + ":" + ws() + pick(append([]string{`"CUSTOM_INFO"`, `"ERROR_EVENT"`, `"CUSTOM\u005fALERT"`, `"custom_info"`}, other...))
		case 1:
			return `"title":` + pick(append(strs, other...))
		case 2:
			return pick([]string{`"startTime"`, `"endTime"`, `"st\u0061rtTime"`}) + ":" + pick(append(times, other...))
		case 3:
			return `"timeout":` + pick(append([]string{"0", "1", "15", "360", "361", "-1", "99999999999999999999"}, other...))
		case 4:
			return `"entitySelector":` + pick(append(selectors, other...))
		case 5:
			if rng.IntN(4) == 0 {
				return `"properties":` + pick(other)
			}
			var b strings.Builder
			b.WriteString(`"properties":{`)
			n := rng.IntN(6)
			switch rng.IntN(8) {
			case 0:
				n = 12 + rng.IntN(4)
			case 1:
				n = 95 + rng.IntN(10)
			}
			for i := range n {
				if i > 0 {
					b.WriteString("," + ws())
				}
				if rng.IntN(3) == 0 {
					b.WriteString(pick(propKeys))
				} else {
					fmt.Fprintf(&b, `"k%d"`, rng.IntN(max(n, 1)*4))
				}
				b.WriteString(":" + ws())
				if rng.IntN(12) == 0 {
					b.WriteString(pick(propVals))
				} else {
					b.WriteString(pick(propVals[:6]))
				}
			}
			b.WriteString(ws() + "}")
			return b.String()
		case 6:
			return pick([]string{`"keepOpen"`, `"Title"`, `""`, `"t\u0069tle"`}) + ":" + pick(other)
		}
		return pick([]string{`"eventType":"CUSTOM_DEPLOYMENT"`, `"title":"deploy"`, `"title":"t"`, `"eventType":"ERROR_EVENT"`})
	}
	event := func() string {
		if rng.IntN(30) == 0 {
			return pick(other)
		}
		var b strings.Builder
		b.WriteString("{" + ws())
		n := rng.IntN(8)
		if rng.IntN(2) == 0 {
			b.WriteString(`"eventType":"CUSTOM_INFO","title":"t"`)
			if n > 0 {
				b.WriteByte(',')
			}
		}
		for i := range n {
			if i > 0 {
				b.WriteString(ws() + "," + ws())
			}
			b.WriteString(member())
		}
		b.WriteString(ws() + "}")
		return b.String()
	}
	if rng.IntN(3) > 0 {
		return []byte(ws() + event() + ws())
	}
	var b strings.Builder
	b.WriteString("[" + ws())
	for i := range 1 + rng.IntN(4) {
		if i > 0 {
			b.WriteString("," + ws())
		}
		b.WriteString(event())
	}
	b.WriteString(ws() + "]")
	return []byte(b.String())
}

// TestEventsV2MatchesReferenceBroken breaks a few bodies that use every
// part of the syntax in every place (a byte dropped, doubled, replaced or
// inserted, the end cut): the strict walk must send each to decode.Valid
// or find the same fault as the reference.
func TestEventsV2MatchesReferenceBroken(t *testing.T) {
	ms := strconv.FormatInt(ev2DiffNow.UnixMilli(), 10)
	bodies := []string{
		`{"eventType":"CUSTOM_INFO","title":"t\u00e9<","startTime":` + ms + `,"endTime":-0,"timeout":10,"entitySelector":"type(x)","properties":{"a":"é\n","b":-1.5e+3,"c":true,"d":false,"e":0}}`,
		`[ {"eventType" : "ERROR_EVENT" , "title" : "x", "timeout":null, "properties":{}} , {"title":"y","eventType":"CUSTOM_INFO","endTime":1E2,"properties":{"k":10.0e-1}} ]`,
		`[{"eventType":"CUSTOM_INFO","title":"a","properties":{"\ud83d\ude00":"\"\\\/\b\f\n\r\t","n":null}}]`,
		`{"title":"t","eventType":"CUSTOM_ALERT","properties":{"x":{"y":[1,2,{"z":null}]}},"startTime":1}`,
		`[{"eventType":"ERROR_EVENT","title":"x","startTime":0} , {"eventType":"CUSTOM_INFO","title":"y","timeout":120,"properties":{"k":10.0e-1}},{"eventType":"CUSTOM_INFO","title":"z"}]`,
	}
	extra := []string{"x", "0", "-", ".", "e", "+", ",", ":", "]", "}", "[", "{", `"`, `\`, " ", "\t", "\x00", "\x1f", "\x7f", "\xff", "\xc3", "\xed\xa0\x80", "nul", "tru", `\u12`, `\ud800`, "é"}
	p := new(ev2Parser)
	check := func(b []byte) {
		t.Helper()
		if d := ev2Diff(p, b, ev2DiffNow); d != "" {
			t.Fatalf("body %q:\n%s", b, d)
		}
	}
	for _, body := range bodies {
		b := []byte(body)
		check(b)
		for i := range b {
			check(b[:i])
			check(append(b[:i:i], b[i+1:]...))
			check(append(b[:i+1:i+1], b[i:]...))
			for _, x := range extra {
				check(append(append(b[:i:i], x...), b[i+1:]...))
				check(append(append(b[:i:i], x...), b[i:]...))
			}
		}
	}
}
