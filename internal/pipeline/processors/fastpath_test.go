package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/template"
)

// TestStringCompareMatchesInterpreter checks the condition fast path
// (stringCompare) against cel-go's interpreter on the same tree: same
// result, and the interpreter's error wherever the fast path declines.
func TestStringCompareMatchesInterpreter(t *testing.T) {
	exprs := []struct {
		src  string
		fast bool // recognized as a stringCompare
	}{
		{`event.parsed.status != "declined"`, true},
		{`event.parsed.status == "declined"`, true},
		{`"declined" != event.parsed.status`, true},
		{`"approved" == event.status`, true},
		{`source == "payments-app"`, true},
		{`event.parsed.status != 'dé\u00e9'`, true},
		{`event.parsed.status == ""`, true},
		{`event.parsed.amount != 1299`, false},
		{`has(event.parsed) && event.parsed.status != "x"`, false},
		{`event["parsed"].status != "declined"`, false},
		{`event.parsed.status != event.status`, false},
		{`"a" == "a"`, false},
	}
	events := []string{
		`{"event":{"parsed":{"status":"approved"}}}`,
		`{"event":{"parsed":{"status":"declined"}}}`,
		`{"event":{"parsed":{"status":""}}}`,
		`{"event":{"parsed":{"status":"dé\u00e9"}}}`,
		`{"event":{"parsed":{"status":"declined","status":"x"}}}`,
		`{"event":{"parsed":{"status":1}}}`,
		`{"event":{"parsed":{"status":null}}}`,
		`{"event":{"parsed":{"status":true}}}`,
		`{"event":{"parsed":{"status":{"a":1}}}}`,
		`{"event":{"parsed":{"status":["declined"]}}}`,
		`{"event":{"parsed":{}}}`,
		`{"event":{"parsed":null}}`,
		`{"event":{"parsed":[{"status":"x"}]}}`,
		`{"event":{"parsed":"declined"}}`,
		`{"event":{}}`,
		`{"event":"x"}`,
		`{"event":null}`,
		`{}`,
		`{"event":{"status":"approved","parsed":{"status":"approved"}}}`,
		`{"source":"payments-app","event":{"status":"x"}}`,
		`{"source":"payments-app"}`,
		`{"source":["payments-app"]}`,
		`{"source":1.5}`,
	}
	env, err := newCELEnv([]string{"event", "source"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A context that can be cancelled takes the interpreter's ContextEval.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, e := range exprs {
		p, err := env.compile(e.src, true)
		if err != nil {
			t.Fatalf("%s: %v", e.src, err)
		}
		if (p.cmp != nil) != e.fast {
			t.Errorf("%s: fast path %v, want %v", e.src, p.cmp != nil, e.fast)
		}
		slow := *p
		slow.cmp = nil
		for _, ev := range events {
			var a arena
			v, err := decodeJSON(ev, &a)
			if err != nil {
				t.Fatal(err)
			}
			act := &activation{root: v.obj(), vars: env.vars}
			got, gotErr := p.match(ctx, act)
			want, wantErr := slow.match(ctx, act)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s on %s: got %v, %v; interpreter %v, %v", e.src, ev, got, gotErr, want, wantErr)
			}
		}
	}
	// The benchmark's plan takes the fast path.
	c, errs := Compile(json.RawMessage(benchPlan), Options{})
	if errs != nil {
		t.Fatal(errs)
	}
	if c.procs[3].(*filterProc).prg.cmp == nil {
		t.Error("the plan's filter does not take the fast path")
	}
}

// TestScreen checks the detectors' pre-filter against its definition: an
// '@' anywhere; 13 digits or more and (strings up to 64 bytes) 13
// consecutive digits, spaces or dashes.
func TestScreen(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			w := le64(string(b), 0)
			for _, e := range []byte{' ', '-', '@', 0, 0x7f, 0x80, 0xff} {
				want := uint64(0)
				for i := range 8 {
					if b[i] == e {
						want |= 0x80 << (8 * i)
					}
				}
				if got := eqMask(w, e); got != want {
					t.Fatalf("eqMask(%q, %#x) = %#x, want %#x", b, e, got, want)
				}
			}
		}
	}
	ref := func(s string) (bool, bool) {
		if len(s) > 64 {
			return strings.Contains(s, "@"), countDigits(s) >= 13
		}
		run, best := 0, 0
		for i := 0; i < len(s); i++ {
			if c := s[i]; isDigit(c) || c == ' ' || c == '-' {
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
		return strings.Contains(s, "@"), best >= 13 && countDigits(s) >= 13
	}
	var strs []string
	for n := 0; n <= 70; n++ {
		for at := 0; at+13 <= n+1; at += 3 {
			for _, run := range []string{"4111111111111111", "4111 1111 1111 1", "411-111", "1234567890123", "123456789012", "-------------"} {
				s := []byte(strings.Repeat("x", n))
				copy(s[min(at, n):], run)
				strs = append(strs, string(s))
				s[n/2] = '@'
				strs = append(strs, string(s))
			}
		}
	}
	strs = append(strs, "", "@", "2025-02-12T14:32:15Z", "4111 1111 1111 1111", "jane@example.com", "\xff4111111111111\xff", "1-1-1-1-1-1-1-1-1-1-1-1-1", "1-1-1-1-1-1-1-1-1-1-1-1-")
	for _, s := range strs {
		at, card := screen(s)
		wat, wcard := ref(s)
		if at != wat || card != wcard {
			t.Fatalf("screen(%q) = %v, %v; want %v, %v", s, at, card, wat, wcard)
		}
	}
}

// TestRendererSharedPrefixes checks the renderer's shared prefix lookups
// (and the plain lookups past maxPrefixes) against template.Render.
func TestRendererSharedPrefixes(t *testing.T) {
	many := []string{"a.b.c"}
	for i := range maxPrefixes + 2 {
		many = append(many, fmt.Sprintf("p%d.x", i))
	}
	varsets := [][]string{
		benchVars8,
		{"event.parsed.user.email", "event.parsed", "event.parsed.user", "event", "event.parsed.user.email.x"},
		{"a.0.b", "a.0", "a.1.b", "a.0.b.0", "a\\.0.b"},
		many,
	}
	events := []string{
		benchEvent,
		`{"event":{"parsed":{"user":{"email":"a@b.co"}}}}`,
		`{"event":{"parsed":{"user":"x"}}}`,
		`{"event":{"parsed":[{"user":1}]}}`,
		`{"a":[{"b":[1]},{"b":2}],"a.0":{"b":3}}`,
		`{"a":{"0":{"b":"k"},"1":{"b":null}}}`,
		`{"a":{"b":{"c":1}},"p0":{"x":0},"p33":{"x":33}}`,
		`{}`,
	}
	plan := mustCompile(t, benchPlan, Options{})
	chains := []*Chain{plan, mustCompile(t, `[{'set':{'field':'zz','value':1}}]`, Options{})}
	for _, vars := range varsets {
		tpl, err := template.Compile(vars, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := NewRenderer(tpl)
		if !r.fast || (len(vars) > len(benchVars8)) != (r.leaves == nil) {
			t.Errorf("%v: fast %v, shared prefixes %v", vars, r.fast, r.leaves != nil)
		}
		for _, c := range chains {
			for _, ev := range events {
				checkRender(t, c, r, tpl, ev)
			}
		}
	}
}

// TestStrEscMatchesUnquote decodes long strings with escapes with an
// ephemeral arena (strEsc) and without one (str, then unquote), with
// every kind of escape, error and non-ASCII byte at every offset: same
// errors, same strings.
func TestStrEscMatchesUnquote(t *testing.T) {
	inserts := []string{`\"`, `\\`, `\/`, `\b\f\n\r\t`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `é`, "\xff", "\x01", `\x`, `"`, `\`, `\u12`, `\\\"`}
	fill := `{\"a\":\"bc\",\"d\":1}`
	for _, ins := range inserts {
		for off := 0; off < 150; off++ {
			body := strings.Repeat(fill, 10)
			if off > len(body) {
				break
			}
			body = `\"` + body[:off] + ins + body[off:]
			for _, doc := range []string{`"` + body + `"`, `"` + body + `"  ` + strings.Repeat(" ", 80), `{"k":"` + body + `","z":"` + strings.Repeat(`\"x`, 40) + `"}`} {
				var a arena
				v, err := decodeJSON(doc, &a)
				e := arena{ephemeral: true}
				ve, errE := decodeJSON(doc, &e)
				if fmt.Sprint(err) != fmt.Sprint(errE) {
					t.Fatalf("%q: err %v, ephemeral %v", doc, err, errE)
				}
				if err != nil {
					continue
				}
				if got, want := appendValue(nil, ve), appendValue(nil, v); string(got) != string(want) {
					t.Fatalf("%q: ephemeral %q, want %q", doc, got, want)
				}
			}
		}
	}
}

// validDomainRef is validDomain as first written (strings.Cut per label).
func validDomainRef(d string) bool {
	labels := 0
	for len(d) > 0 {
		label, rest, more := strings.Cut(d, ".")
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		if !more {
			if len(label) < 2 {
				return false
			}
			for i := 0; i < len(label); i++ {
				if !isAlpha(label[i]) {
					return false
				}
			}
			return labels >= 2
		}
		d = rest
	}
	return false
}

// TestValidDomain compares validDomain with validDomainRef on every
// string of up to 7 bytes over a small alphabet, and the character
// classes with their definitions.
func TestValidDomain(t *testing.T) {
	alphabet := []byte{'a', 'Z', '1', '-', '.', 0xc3}
	var gen func(prefix []byte)
	gen = func(prefix []byte) {
		if got, want := validDomain(string(prefix)), validDomainRef(string(prefix)); got != want {
			t.Fatalf("validDomain(%q) = %v, want %v", prefix, got, want)
		}
		if len(prefix) == 7 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c))
		}
	}
	gen(nil)
	for c := 0; c < 256; c++ {
		b := byte(c)
		local := isAlnum(b) || b == '.' || b == '_' || b == '%' || b == '+' || b == '-'
		domain := isAlnum(b) || b == '.' || b == '-'
		if isLocalChar(b) != local || isDomainChar(b) != domain || (charClass[b]&cAlpha != 0) != isAlpha(b) {
			t.Fatalf("byte %#x: classes %b", b, charClass[b])
		}
	}
}

// TestLuhn checks luhn against the textbook definition.
func TestLuhn(t *testing.T) {
	ref := func(s string) bool {
		sum, double := 0, false
		for i := len(s) - 1; i >= 0; i-- {
			if !isDigit(s[i]) {
				continue
			}
			d := int(s[i] - '0')
			if double {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
		return sum%10 == 0
	}
	for _, s := range []string{"", "0", "4111 1111 1111 1111", "4111-1111-1111-1112", "79927398713", "79927398710", "12\x00/:;9", "\xff4111111111111111"} {
		if luhn(s) != ref(s) {
			t.Errorf("luhn(%q) = %v", s, luhn(s))
		}
	}
	for n := range 100000 {
		s := fmt.Sprint(n*7919+n%13, " ", n)
		if luhn(s) != ref(s) {
			t.Fatalf("luhn(%q) = %v", s, luhn(s))
		}
	}
}
