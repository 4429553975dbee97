package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func mustPayload(t testing.TB, format string, sep *string, maxSize int, ascii bool) *Payload {
	t.Helper()
	p, err := NewPayload(format, sep, maxSize, ascii)
	if err != nil {
		t.Fatalf("NewPayload(%q, %v, %d, %v): %v", format, sep, maxSize, ascii, err)
	}
	return p
}

func TestPayloadDefaults(t *testing.T) {
	p := mustPayload(t, "", nil, 0, false)
	if p.Overhead() != 0 || p.SepLen() != 1 || p.MaxSize() != 0 || p.ASCIIOnly() {
		t.Errorf("defaults: overhead %d, sep %d, max %d, ascii %v", p.Overhead(), p.SepLen(), p.MaxSize(), p.ASCIIOnly())
	}
	got := p.Frame(nil, [][]byte{[]byte(`{"a":1}`), []byte(`{"b":"é"}`)})
	if want := "{\"a\":1}\n{\"b\":\"é\"}"; string(got) != want {
		t.Errorf("Frame = %q, want %q", got, want)
	}
	if got := p.Encode(nil, []byte(`{"b":"é"}`)); string(got) != `{"b":"é"}` {
		t.Errorf("Encode without ascii_only changed the record: %q", got)
	}
	if !p.Fits(1 << 40) {
		t.Error("no max_size: every record fits")
	}
	// An explicit empty separator is kept, not defaulted.
	if p := mustPayload(t, "$dataset", ptr(""), 0, false); p.SepLen() != 0 {
		t.Errorf("empty separator: SepLen = %d", p.SepLen())
	}
}

func TestNewPayloadErrors(t *testing.T) {
	tests := []struct {
		format string
		sep    *string
		max    int
		ascii  bool
		want   string
	}{
		{"[]", nil, 0, false, `payload: format must contain "$dataset" exactly once (found 0)`},
		{"$dataset,$dataset", nil, 0, false, `payload: format must contain "$dataset" exactly once (found 2)`},
		{"$data", nil, 0, false, "exactly once"},
		{"$dataset", nil, -1, false, "payload: max_size must not be negative (got -1)"},
		{"[$dataset]", nil, 2, false, "payload: max_size 2 leaves no room for records (the format takes 2 bytes)"},
		{"«$dataset»", nil, 0, true, "payload: ascii_only is set but format contains non-ASCII characters"},
		{"$dataset", ptr("·"), 0, true, "payload: ascii_only is set but line_separator contains non-ASCII characters"},
	}
	for _, tt := range tests {
		_, err := NewPayload(tt.format, tt.sep, tt.max, tt.ascii)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewPayload(%q, %v, %d, %v) error = %v, want %q", tt.format, tt.sep, tt.max, tt.ascii, err, tt.want)
		}
	}
	// The same non-ASCII options are fine without ascii_only.
	if _, err := NewPayload("«$dataset»", ptr("·"), 0, false); err != nil {
		t.Error(err)
	}
}

func TestPayloadJSONArray(t *testing.T) {
	p := mustPayload(t, "[$dataset]", ptr(","), 0, false)
	if p.Overhead() != 2 || p.SepLen() != 1 {
		t.Fatalf("overhead %d, sep %d", p.Overhead(), p.SepLen())
	}
	tpl := mustCompile(t, []string{"source", "event.status", "n"}, "")
	var records [][]byte
	var want []map[string]any
	for i := range 5 {
		ev := fmt.Sprintf(`{"source":"app-%d","event":{"status":"s%d"},"n":%d}`, i, i, i)
		rec, err := tpl.Render(nil, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
		want = append(want, map[string]any{"source": fmt.Sprintf("app-%d", i), "event.status": fmt.Sprintf("s%d", i), "n": float64(i)})
	}
	out := p.Frame(nil, records)
	if !json.Valid(out) {
		t.Fatalf("not valid JSON: %s", out)
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}
	if p.Size(len(records), totalLen(records)) != len(out) {
		t.Errorf("Size = %d, framed %d", p.Size(len(records), totalLen(records)), len(out))
	}
	if got := p.Frame(nil, nil); string(got) != "[]" || p.Size(0, 0) != 2 {
		t.Errorf("empty frame %q, Size(0,0) = %d", got, p.Size(0, 0))
	}
}

func totalLen(records [][]byte) int {
	n := 0
	for _, r := range records {
		n += len(r)
	}
	return n
}

func TestPayloadSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		format := []string{"$dataset", "[$dataset]", `{"records":[$dataset]}`}[iter%3]
		sep := []string{"\n", ",", "", "\r\n"}[iter%4]
		p := mustPayload(t, format, &sep, 0, false)
		max := p.Overhead() + 1 + rng.IntN(200)
		if iter%10 == 0 {
			max = 0
		}
		p = mustPayload(t, format, &sep, max, false)

		records := make([][]byte, rng.IntN(40))
		for i := range records {
			records[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 1+rng.IntN(120))
		}
		groups, oversize := p.Split(records)

		// Every record is in exactly one place, in order.
		var seen [][]byte
		over := map[int]bool{}
		for _, i := range oversize {
			over[i] = true
			if p.Fits(len(records[i])) {
				t.Fatalf("record %d (%d bytes) reported oversize with max %d", i, len(records[i]), max)
			}
		}
		for i, r := range records {
			if !over[i] {
				seen = append(seen, r)
			}
		}
		var flat [][]byte
		for _, g := range groups {
			if len(g) == 0 {
				t.Fatal("empty group")
			}
			framed := p.Frame(nil, g)
			if max > 0 && len(framed) > max {
				t.Fatalf("group frames to %d > max %d", len(framed), max)
			}
			if p.Size(len(g), totalLen(g)) != len(framed) {
				t.Fatalf("Size(%d, %d) = %d, framed %d", len(g), totalLen(g), p.Size(len(g), totalLen(g)), len(framed))
			}
			flat = append(flat, g...)
		}
		if len(flat) != len(seen) {
			t.Fatalf("%d records in groups, want %d", len(flat), len(seen))
		}
		for i := range flat {
			if &flat[i][0] != &seen[i][0] {
				t.Fatalf("record order changed at %d", i)
			}
		}
		// Greedy: the next group's first record would not have fitted in
		// the previous group (unless an oversize record separated them).
		for i := 1; i < len(groups); i++ {
			prev, next := groups[i-1], groups[i]
			if max > 0 && p.Size(len(prev)+1, totalLen(prev)+len(next[0])) <= max && !separated(records, prev, next, over) {
				t.Fatalf("groups %d and %d could have been merged", i-1, i)
			}
		}
		if max == 0 && len(oversize) == 0 && len(records) > 0 && len(groups) != 1 {
			t.Fatalf("no max: %d groups", len(groups))
		}
	}
}

// separated reports whether an oversize record lies between two groups.
func separated(records, prev, next [][]byte, over map[int]bool) bool {
	last := indexOf(records, prev[len(prev)-1])
	return over[last+1] && indexOf(records, next[0]) > last+1
}

func indexOf(records [][]byte, r []byte) int {
	for i := range records {
		if &records[i][0] == &r[0] {
			return i
		}
	}
	return -1
}

func TestPayloadOversize(t *testing.T) {
	p := mustPayload(t, "[$dataset]", ptr(","), 12, false)
	if !p.Fits(10) || p.Fits(11) {
		t.Errorf("Fits: max 12, overhead 2: Fits(10)=%v Fits(11)=%v", p.Fits(10), p.Fits(11))
	}
	records := [][]byte{
		[]byte("aaaa"),        // 0
		[]byte("bbbb"),        // 1: [aaaa,bbbb] = 11
		[]byte("ccccccccccc"), // 2: oversize (13)
		[]byte("dd"),          // 3
		[]byte("eeeeeeeeee"),  // 4: exactly 12 alone
		[]byte("ffffffffffff"),
	}
	groups, oversize := p.Split(records)
	var got []string
	for _, g := range groups {
		got = append(got, string(p.Frame(nil, g)))
	}
	want := []string{"[aaaa,bbbb]", "[dd]", "[eeeeeeeeee]"}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(oversize, []int{2, 5}) {
		t.Errorf("Split = %q, oversize %v; want %q, [2 5]", got, oversize, want)
	}
	// Groups alias records but cannot overwrite them when appended to.
	g0 := append(groups[0], []byte("zz"))
	if string(records[2]) != "ccccccccccc" || len(g0) != 3 {
		t.Error("appending to a group overwrote records")
	}
	if g, o := p.Split(nil); g != nil || o != nil {
		t.Errorf("Split(nil) = %v, %v", g, o)
	}
}

func TestEncodeASCII(t *testing.T) {
	p := mustPayload(t, "", nil, 0, true)
	tests := []struct{ in, want string }{
		{`{"a":"plain"}`, `{"a":"plain"}`},
		{`{"a":"café"}`, `{"a":"caf\u00e9"}`},
		{`{"a":"日本語"}`, `{"a":"\u65e5\u672c\u8a9e"}`},
		{`{"a":"😀"}`, `{"a":"\ud83d\ude00"}`},
		{"{\"a\":\"x\u2028y\u2029\"}", `{"a":"x\u2028y\u2029"}`},
		{`{"é":"\u00e9\n"}`, `{"\u00e9":"\u00e9\n"}`},
		{"{\"a\":\"\xff\"}", `{"a":"\ufffd"}`},
		{"{\"a\":\"\xed\xa0\x80\"}", `{"a":"\ufffd\ufffd\ufffd"}`}, // UTF-8 encoded surrogate is invalid
		{"{\"a\":\"\U0010FFFF\"}", `{"a":"\udbff\udfff"}`},
	}
	for _, tt := range tests {
		got := p.Encode([]byte("x"), []byte(tt.in))
		if string(got) != "x"+tt.want {
			t.Errorf("Encode(%q) = %q, want %q", tt.in, got[1:], tt.want)
		}
		assertASCIIRoundTrip(t, []byte(tt.in), got[1:])
	}
}

func TestEncodeASCIIRecords(t *testing.T) {
	p := mustPayload(t, "[$dataset]", ptr(","), 0, true)
	tpl := mustCompile(t, []string{"event.msg", "event.user"}, "")
	events := []string{
		`{"event":{"msg":"emoji 😀🎉 and flags 🇫🇷","user":{"name":"Zoë"}}}`,
		`{"event":{"msg":"CJK 中文 日本語 한국어","user":["Ångström","naïve"]}}`,
		`{"event":{"msg":"accents àéîõü ÀÉÎÕÜ ç ß","user":null}}`,
		"{\"event\":{\"msg\":\"separators \u2028 and \u2029, nbsp \u00a0\",\"user\":\"\\u2028\"}}",
	}
	var records [][]byte
	for _, ev := range events {
		rec, err := tpl.Render(nil, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		enc := p.Encode(nil, rec)
		assertASCIIRoundTrip(t, rec, enc)
		records = append(records, enc)
	}
	out := p.Frame(nil, records)
	if !isASCII(out) || !json.Valid(out) {
		t.Fatalf("payload not ASCII JSON: %s", out)
	}
}

func assertASCIIRoundTrip(t testing.TB, orig, enc []byte) {
	t.Helper()
	for i, c := range enc {
		if c >= 0x80 {
			t.Fatalf("byte %d of %q is not ASCII", i, enc)
		}
	}
	if !json.Valid(orig) {
		return
	}
	a, errA := decodeAny(orig)
	b, errB := decodeAny(enc)
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("escaped record decodes differently:\n orig %q -> %v (%v)\n  enc %q -> %v (%v)", orig, a, errA, enc, b, errB)
	}
}

func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func TestEncodeAllocs(t *testing.T) {
	p := mustPayload(t, "", nil, 0, true)
	rec := []byte(`{"a":"café 😀 日本","b":"plain ascii text that is long enough for the word loop"}`)
	dst := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { p.Encode(dst[:0], rec) }); n != 0 {
		t.Errorf("Encode allocates %.1f times", n)
	}
}
