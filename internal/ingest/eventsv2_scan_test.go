package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/ingest/decode"
)

// The helpers of eventsv2_scan.go against what they stand for.

// ev2StringCases are JSON string contents (no quotes), valid or not.
var ev2StringCases = []string{
	``, `a`, `abcdefgh`, `abcdefghi"`, `<`, `>`, `&`, `a<b>c&d`, `é`, `😀`, `\u00e9`, `\u2028`, `\ud800`, `\udc00`, `\ud83d\ude00`,
	`\ud83d\u0041`, `\ud83d`, `\ud83d\ud83d\ude00`, `\uDBFF\uDFFF`, `\u0000`, `\u001f`, `\"\\\/\b\f\n\r\t`, `x\u12`, `\x`, `\`, "\x00", "\x1f",
	"\x7f", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", strings.Repeat("abc<", 9), strings.Repeat(`\u00e9x`, 5) + "\x01",
	strings.Repeat("é", 17) + `\n`, "0123456789abcdef\"", "01234567\\", "0123456\\u",
}

func TestEV2StringHelpers(t *testing.T) {
	for _, c := range ev2StringCases {
		checkEV2String(t, c)
	}
}

// checkEV2String holds ev2Str, ev2Unescape, ev2RuneCount, ev2AppendString
// and ev2AppendText to decode.Valid, encoding/json and appendJSONString,
// on the string contents s.
func checkEV2String(t *testing.T, s string) {
	t.Helper()
	quoted := []byte(`"` + s + `"`)
	body := append(bytes.Clone(quoted), ` `...) // something after the string
	end, as := ev2Str(body, 1)
	valid := decode.Valid(quoted, decode.Limits{MaxDepth: 1}) == nil
	if qe, ok := ev2Quick(body, 1); ok && (qe != end || as != 0) {
		t.Fatalf("%q: ev2Quick ends at %d, ev2Str at %d with flags %b", s, qe, end, as)
	}
	if got := as&ev2Bad == 0 && end == len(quoted)-1; got != valid {
		t.Fatalf("%q: ev2Str says valid %v (end %d, flags %b), decode.Valid %v", s, got, end, as, valid)
	}
	if !valid {
		return
	}
	var want string
	if err := json.Unmarshal(quoted, &want); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	if got := ev2Unescape(nil, []byte(s)); string(got) != want {
		t.Fatalf("%q: ev2Unescape %q, encoding/json %q", s, got, want)
	}
	if got, n := ev2RuneCount([]byte(s)), utf8.RuneCountInString(want); got != n {
		t.Fatalf("%q: ev2RuneCount %d, want %d", s, got, n)
	}
	if esc := strings.Contains(s, `\`); esc != (as&ev2Esc != 0) || strings.ContainsAny(s, "<>&") != (as&ev2HTML != 0) {
		t.Fatalf("%q: flags %b", s, as)
	}
	ref := string(appendJSONString(nil, want))
	if got := ev2AppendString(nil, []byte(want)); string(got) != ref {
		t.Fatalf("%q: ev2AppendString %s, appendJSONString %s", s, got, ref)
	}
	dec := []byte(s)
	if as&ev2Esc != 0 {
		dec = ev2Unescape(nil, dec)
	}
	if got := ev2AppendText(nil, dec, as); string(got) != ref {
		t.Fatalf("%q: ev2AppendText %s, appendJSONString %s", s, got, ref)
	}
	if got := validEntitySelector([]byte(want)); got != refValidEntitySelector(want) {
		t.Fatalf("%q: validEntitySelector %v", want, got)
	}
	if got := allowedPropertyKey([]byte(want)); got != refAllowedPropertyKey(want) {
		t.Fatalf("%q: allowedPropertyKey %v", want, got)
	}
}

func FuzzEV2String(f *testing.F) {
	for _, c := range ev2StringCases {
		f.Add(c)
	}
	f.Add(`type(HOST),entityName("a~)b")`)
	f.Add(`DT.event.x`)
	f.Fuzz(checkEV2String)
}

func TestEV2Numbers(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "01", "-01", "00", "1.5", "1.", "1.e3", "1e", "1e+", "1e+5", "1E-5", "-", "--1", "+1", ".5",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "99999999999999999999", "123456789012345678901234",
		"1x", "true", `"1"`, "0.0", "-0.0e0", "10000000000000000000"} {
		b := []byte(s + ",")
		valid := decode.Valid([]byte(s), decode.Limits{MaxDepth: 1}) == nil && s[0] != 't' && s[0] != '"'
		if end := ev2NumEnd(b, 0); (end == len(s)) != valid {
			t.Errorf("%q: ev2NumEnd %d, valid %v", s, end, valid)
		}
		// ev2Int takes what ParseInt would of a valid number; what follows
		// it (the walk looks) is not a digit, '.', 'e' or 'E'.
		n, next, ok := ev2Int(b, 0)
		want, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			want = 0 // ParseInt's value on a range error is not the caller's
		}
		if valid && (ok != (err == nil) || n != want || ok && next != len(s)) {
			t.Errorf("%q: ev2Int %d %d %v, ParseInt %d %v", s, n, next, ok, want, err)
		}
		if ok && strings.ContainsAny(string(b[next]), "0123456789.eE") {
			t.Errorf("%q: ev2Int stops at %d", s, next)
		}
	}
}

func TestEV2AppendMillis(t *testing.T) {
	for _, ms := range []int64{0, 1, -1, 999, 1739370735123, -62135596800000, -62135596800001, 253402300799999, 253402300800000,
		-1 << 62, 1 << 62, -1 << 63, 1<<63 - 1, 951782400000, 4107542400000} {
		want := time.UnixMilli(ms).UTC().AppendFormat(nil, ev2TimeLayout)
		if got := ev2AppendMillis(nil, ms); !bytes.Equal(got, want) {
			t.Errorf("%d: %s, want %s", ms, got, want)
		}
		p := new(ev2Parser)
		for range 2 { // uncached, then cached
			if got := p.appendTimestamp(nil, ms); !bytes.Equal(got, want) {
				t.Errorf("%d: appendTimestamp %s, want %s", ms, got, want)
			}
		}
	}
}

// TestEventsV2ParseAllocs: no allocation per event once the pooled
// parser and the frame buffer have grown.
func TestEventsV2ParseAllocs(t *testing.T) {
	body := eventsV2Body(100)
	p := new(ev2Parser)
	dst := make([]byte, 0, 4*len(body))
	now := time.Now()
	allocs := testing.AllocsPerRun(20, func() {
		if _, res, n, rj := p.parse(dst, body, now); rj != nil || n != 100 || len(res) != 100 {
			t.Fatalf("%v %d", rj, n)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
}

// BenchmarkEventsV2Parse is the decoder alone on the array of 100 events
// of BenchmarkEventsV2, and the reference it replaced.
func BenchmarkEventsV2Parse(b *testing.B) {
	body := eventsV2Body(100)
	now := time.Now()
	b.Run("scanner", func(b *testing.B) {
		p := new(ev2Parser)
		dst := make([]byte, 0, 4*len(body))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			p.parse(dst, body, now)
		}
		reportEvents(b, 100)
	})
	b.Run("reference", func(b *testing.B) {
		dst := make([]byte, 0, 4*len(body))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			refParseEventsV2(dst, body, now, func() string { return "0123456789abcdef" })
		}
		reportEvents(b, 100)
	})
}

func TestEV2Member(t *testing.T) {
	for f, name := range ev2FieldNames {
		for _, key := range []string{name, name + "x", name[:len(name)-1], strings.ToUpper(name[:1]) + name[1:]} {
			b := []byte(`"` + key + `":1`)
			got, next := ev2Member(b, 0)
			if want := ev2Field([]byte(key)); got != want || want >= 0 && next != len(key)+2 || want != f && want >= 0 {
				t.Errorf("%q: member %d (next %d), want %d", key, got, next, want)
			}
		}
		if got, _ := ev2Member([]byte(`"`+name), 0); got != -1 {
			t.Errorf("%q without its closing quote: %d", name, got)
		}
	}
}
