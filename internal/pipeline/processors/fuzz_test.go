package processors

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/accesslog"
)

// Each fuzz target checks the parser against an independent statement of
// what it should do (a round trip, a reference implementation, or
// invariants), not only that it does not panic. Interesting inputs found
// while fuzzing are kept in testdata/fuzz/<target>.

func membersMap(ms []member) map[string]string {
	m := map[string]string{}
	for _, x := range ms {
		m[x.key] = x.val.s
	}
	return m
}

// quoteKV writes a value so that parseKV reads it back.
func quoteKV(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return `"` + r.Replace(v) + `"`
}

func FuzzParseKV(f *testing.F) {
	f.Add("a=1 b=two c=\"x y\"", "key", "va lue")
	f.Add("level=info msg=\"hello \\\"world\\\"\" debug", "k", "\"quoted\"")
	f.Add("=x", "a", "")
	f.Add("a='unterminated", "é", "\\")
	f.Add("a=1\tb=2\r\nc=3", "x.y", "tab\there")
	f.Fuzz(func(t *testing.T, line, key, val string) {
		for _, o := range []kvOptions{{delim: "="}, {sep: "&", delim: ":"}, {sep: ", ", delim: "=>"}} {
			ms, err := parseKV(line, o, nil)
			if err != nil {
				continue
			}
			seen := map[string]bool{}
			for _, m := range ms {
				if m.key == "" || seen[m.key] {
					t.Fatalf("%q %+v: empty or repeated key in %+v", line, o, ms)
				}
				seen[m.key] = true
				if m.val.kind != kString {
					t.Fatalf("non-string value")
				}
			}
		}
		// Round trip: a key without separators, blanks, quotes or the
		// delimiter, and any value, quoted.
		if key == "" || strings.ContainsAny(key, " \t\r\n=\"'") {
			return
		}
		line2 := key + "=" + quoteKV(val) + " other=1"
		ms, err := parseKV(line2, kvOptions{delim: "="}, nil)
		if err != nil {
			t.Fatalf("parseKV(%q): %v", line2, err)
		}
		got := membersMap(ms)
		want := map[string]string{key: val, "other": "1"}
		if key == "other" {
			want = map[string]string{"other": "1"}
		}
		if len(got) != len(want) || got[key] != want[key] || got["other"] != "1" {
			t.Fatalf("parseKV(%q) = %q, want %q", line2, got, want)
		}
	})
}

var fuzzRegex = regexp.MustCompile(`^(?P<ip>\S+) (?:(?P<user>[a-z]+) )?\[(?P<time>[^\]]*)\] (?P<rest>.*)$`)

func FuzzParseRegex(f *testing.F) {
	f.Add("1.2.3.4 bob [now] GET /")
	f.Add("1.2.3.4 [now] ")
	f.Add("x [")
	f.Fuzz(func(t *testing.T, line string) {
		p := &parseProc{re: fuzzRegex}
		ms, err := p.parseRegex(line, nil)
		ref := fuzzRegex.FindStringSubmatch(line)
		if (err == nil) != (ref != nil) {
			t.Fatalf("%q: err %v, reference match %v", line, err, ref != nil)
		}
		if err != nil {
			return
		}
		got := membersMap(ms)
		idx := fuzzRegex.FindStringSubmatchIndex(line)
		for i, name := range fuzzRegex.SubexpNames() {
			if name == "" {
				continue
			}
			v, ok := got[name]
			if ok != (idx[2*i] >= 0) || (ok && v != ref[i]) {
				t.Fatalf("%q: group %s = %q (present %v), reference %q", line, name, v, ok, ref[i])
			}
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	f.Add(`a,b,c`)
	f.Add(`"x,y","say ""hi""",`)
	f.Add(`"a`)
	f.Add(`a"b`)
	f.Add(`"a"b`)
	f.Add(`,,`)
	f.Fuzz(func(t *testing.T, line string) {
		cols := []string{"a", "b", "c", "d", "e"}
		ms, err := parseCSVLine(line, ',', cols, nil)
		// Reference: encoding/csv on lines it reads the same way (no
		// newlines, no leading/trailing space trimming issues, valid UTF-8).
		if strings.ContainsAny(line, "\r\n") || line == "" || !utf8.ValidString(line) {
			return
		}
		r := csv.NewReader(strings.NewReader(line))
		r.FieldsPerRecord = -1
		rec, rerr := r.Read()
		if rerr != nil {
			if err == nil {
				t.Fatalf("%q: encoding/csv fails (%v), parseCSVLine gives %+v", line, rerr, ms)
			}
			return
		}
		if len(rec) > len(cols) {
			if err == nil {
				t.Fatalf("%q: %d fields accepted for %d columns", line, len(rec), len(cols))
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v; encoding/csv reads %q", line, err, rec)
		}
		if len(ms) != len(rec) {
			t.Fatalf("%q: %d fields, encoding/csv %d", line, len(ms), len(rec))
		}
		for i, m := range ms {
			if m.key != cols[i] || m.val.s != rec[i] {
				t.Fatalf("%q: field %d = %q, encoding/csv %q", line, i, m.val.s, rec[i])
			}
		}
	})
}

func FuzzParseNginx(f *testing.F) {
	f.Add(`203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] "GET /a HTTP/1.1" 200 1534 "-" "curl/8"`)
	f.Add(`1.2.3.4 - bob [t] "-" 400 0 "-" "-"`)
	f.Add(`x - y [z] "GET /a b HTTP/1.1" 1 2 "r" "u"` + "\n")
	f.Add(`garbage`)
	c := mustCompile(f, `[{'parse':{'field':'l','format':'nginx','target':'r'}}]`, Options{})
	nf, err := accesslog.Compile("combined")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		// The processor stores exactly the record package accesslog
		// writes (the reference), and fails exactly when it fails.
		line = strings.ToValidUTF8(line, "?")
		want, werr := nf.AppendJSONString(nil, line)
		ev, _ := json.Marshal(map[string]string{"l": line})
		out, _, err := c.ApplyJSON(context.Background(), nil, ev)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: processor error %v, accesslog %v", line, err, werr)
		}
		if err != nil {
			return
		}
		var got struct{ R json.RawMessage }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: output %s: %v", line, out, err)
		}
		decode := func(b []byte) any {
			d := json.NewDecoder(strings.NewReader(string(b)))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatalf("%q: %s: %v", line, b, err)
			}
			return v
		}
		if g, w := decode(got.R), decode(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("%q: processor stored %s, accesslog wrote %s", line, got.R, want)
		}
	})
}

func FuzzMask(f *testing.F) {
	f.Add("mail jane@example.com card 4111 1111 1111 1111 from 10.0.0.1:80 and 2001:db8::1")
	f.Add("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln key AKIAIOSFODNN7EXAMPLE")
	f.Add("a@b.co@c.io 4111-1111-1111-1111-1")
	f.Add("::ffff:1.2.3.4:5 [fe80::1%eth0]")
	f.Add("\xff@\xfe.com é@é.fr")
	all := detEmail | detCard | detIP | detToken | detAWS
	procs := map[string]*maskProc{
		"redact":  {detectors: all, method: methodRedact},
		"hash":    {detectors: all, method: methodHash, salt: []byte("s")},
		"partial": {detectors: all, method: methodPartial},
	}
	chain := mustCompile(f, `[{'mask':{'detectors':['email','card','ip','token','aws_key'],'method':'partial'}}]`, Options{})
	f.Fuzz(func(t *testing.T, s string) {
		if at, n := classify(s); at != strings.Contains(s, "@") || n != countDigits(s) {
			t.Fatalf("classify(%q) = %v, %d", s, at, n)
		}
		// The pre-filter never hides an address or a card number.
		if at, card := screen(s); at != strings.Contains(s, "@") || !card && len(findCards(s, nil)) > 0 {
			t.Fatalf("screen(%q) = %v, %v; cards %v", s, at, card, findCards(s, nil))
		}
		spans := mergeSpans(findSensitive(s, all, nil))
		for i, sp := range spans {
			if sp.start < 0 || sp.end > len(s) || sp.start >= sp.end || (i > 0 && sp.start <= spans[i-1].end) {
				t.Fatalf("%q: bad spans %v", s, spans)
			}
		}
		for name, p := range procs {
			out, changed := p.scanString(&state{}, s)
			if !changed {
				if len(spans) > 0 && name == "redact" {
					t.Fatalf("%q: spans %v but nothing masked", s, spans)
				}
				continue
			}
			if utf8.ValidString(s) && !utf8.ValidString(out) {
				t.Fatalf("%s %q: invalid UTF-8 out %q", name, s, out)
			}
			if name == "redact" {
				// Idempotent: what is left has nothing more to find.
				if again, ch := p.scanString(&state{}, out); ch {
					t.Fatalf("%q: masked %q, masked again %q", s, out, again)
				}
				if n := strings.Count(out, Redacted) - strings.Count(s, Redacted); n < len(spans) {
					t.Fatalf("%q: %d redactions for %d spans", s, n, len(spans))
				}
			}
		}
		// Through the chain: any string in an event gives valid JSON out.
		ev, _ := json.Marshal(map[string]any{"m": s, "l": []string{s}})
		out, _, err := chain.ApplyJSON(context.Background(), nil, ev)
		if err != nil || !json.Valid(out) {
			t.Fatalf("%q: %v %q", s, err, out)
		}
	})
}

// FuzzDecode checks the event decoder against encoding/json.
func FuzzDecode(f *testing.F) {
	f.Add(`{"a":[1,2.5e3,{"b":null}],"c":"x\"y\u00e9"}`)
	f.Add(`{"a":1,"a":2}`)
	f.Add(`{"s":"\ud800"}`)
	f.Add(`[1,2]`)
	f.Add(`{"a":-0.0e+1}`)
	f.Add(`{"r":"{\"a\":\"b\\u00e9\"}\ud83d\ude00x\u00e9\/\b\f\n\r\tabcdefghijé\ud800","s":"\ud83d\ud83d\ude00\\"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var a arena
		v, err := decodeJSON(doc, &a)
		valid := json.Valid([]byte(doc))
		if (err == nil) != valid {
			t.Fatalf("%q: decode err %v, json.Valid %v", doc, err, valid)
		}
		// An ephemeral arena (ApplyJSON's) decodes strings with escapes on
		// another path: same errors, same tree.
		e := arena{ephemeral: true}
		ve, errE := decodeJSON(doc, &e)
		if fmt.Sprint(err) != fmt.Sprint(errE) {
			t.Fatalf("%q: decode err %v, ephemeral %v", doc, err, errE)
		}
		if err != nil {
			return
		}
		out := appendValue(nil, v)
		if outE := appendValue(nil, ve); !slices.Equal(out, outE) {
			t.Fatalf("%q: decoded %q, ephemeral %q", doc, out, outE)
		}
		if !json.Valid(out) {
			t.Fatalf("%q: invalid output %q", doc, out)
		}
		if hasDupKeys(doc) {
			return // first wins here, last in encoding/json
		}
		var x, y any
		d1 := json.NewDecoder(strings.NewReader(doc))
		d1.UseNumber()
		d2 := json.NewDecoder(strings.NewReader(string(out)))
		d2.UseNumber()
		if d1.Decode(&x) != nil || d2.Decode(&y) != nil {
			t.Fatalf("%q: reference decode failed", doc)
		}
		bx, _ := json.Marshal(x)
		by, _ := json.Marshal(y)
		if !slices.Equal(bx, by) {
			t.Fatalf("%q: decoded %s, encoding/json %s", doc, by, bx)
		}
	})
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}
