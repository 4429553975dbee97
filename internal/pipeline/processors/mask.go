package processors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a value (or a detected part of one) with method redact.
const Redacted = "[REDACTED]"

// Detector names for mask {detectors: [...]}.
var detectorNames = []string{"email", "card", "ip", "token", "aws_key"}

type maskMethod uint8

const (
	methodRedact maskMethod = iota
	methodHash
	methodPartial
)

const (
	detEmail = 1 << iota
	detCard
	detIP
	detToken
	detAWS
)

// mask {fields, method} masks whole values; mask {detectors, patterns,
// method} masks the parts of every string that match (within fields when
// both are given).
type maskProc struct {
	fields    []path
	detectors int
	patterns  []*regexp.Regexp
	method    maskMethod
	salt      []byte
}

func buildMask(cc *compiler, s *settings) processor {
	s.check("fields", "detectors", "patterns", "method")
	p := &maskProc{salt: cc.opts.Salt}
	m, _ := s.enum("method", false, "redact", "redact", "hash", "partial")
	switch m {
	case "hash":
		p.method = methodHash
	case "partial":
		p.method = methodPartial
	}
	if s.has("fields") {
		p.fields, _ = s.pathList("fields", true)
	}
	if s.has("detectors") {
		names, ok := s.strList("detectors", true)
		if ok {
			for i, n := range names {
				j := slices.Index(detectorNames, n)
				if j < 0 {
					s.errs.Add(fmt.Sprintf("%s[%d]", s.path("detectors"), i), "unknown detector %q (one of %s)", n, strings.Join(detectorNames, ", "))
					continue
				}
				p.detectors |= 1 << j
			}
		}
	}
	if s.has("patterns") {
		srcs, ok := s.strList("patterns", true)
		if ok {
			for i, src := range srcs {
				re, err := regexp.Compile(src)
				at := fmt.Sprintf("%s[%d]", s.path("patterns"), i)
				switch {
				case err != nil:
					s.errs.Add(at, "%v", err)
				case re.MatchString(""):
					s.errs.Add(at, "matches the empty string")
				default:
					p.patterns = append(p.patterns, re)
				}
			}
		}
	}
	if !s.has("fields") && !s.has("detectors") && !s.has("patterns") {
		s.fail("", "needs fields, detectors or patterns")
	}
	return p
}

func (p *maskProc) apply(st *state) (outcome, error) {
	scan := p.detectors != 0 || len(p.patterns) > 0
	n := 0
	if len(p.fields) == 0 {
		n = p.scanObject(st, st.root)
	}
	for _, f := range p.fields {
		v := lookup(st.root, f)
		if v == nil {
			continue
		}
		if scan {
			n += p.scanValue(st, v)
		} else {
			n += p.maskWhole(st, v)
		}
	}
	st.countMasked(n)
	return pass, nil
}

// maskWhole masks every scalar in v (null stays null) and returns how
// many changed.
func (p *maskProc) maskWhole(st *state, v *value) int {
	switch v.kind {
	case kNull:
		return 0
	case kObject:
		n := 0
		for i := range v.obj().m {
			n += p.maskWhole(st, &v.obj().m[i].val)
		}
		return n
	case kArray:
		n := 0
		for i := range v.arr().v {
			n += p.maskWhole(st, &v.arr().v[i])
		}
		return n
	}
	old := v.text()
	st.buf = p.appendMasked(st.buf[:0], old)
	if v.kind == kString && string(st.buf) == old {
		return 0
	}
	*v = strValue(st.arena.newString(st.buf))
	return 1
}

func (p *maskProc) scanObject(st *state, o *object) int {
	n := 0
	screened := p.screened()
	for i := range o.m {
		v := &o.m[i].val
		switch {
		case v.kind == kString:
			// The common short string without an '@' is skipped here,
			// without a call (see scanStr).
			if screened && len(v.s) < 13 && strings.IndexByte(v.s, '@') < 0 {
				continue
			}
			n += p.scanStr(st, v)
		case v.kind >= kObject:
			n += p.scanValue(st, v)
		}
	}
	return n
}

// screened reports whether only the e-mail and card detectors run, whose
// pre-filter (screen) scanStr applies first.
func (p *maskProc) screened() bool {
	return p.detectors&^(detEmail|detCard) == 0 && len(p.patterns) == 0
}

func (p *maskProc) scanValue(st *state, v *value) int {
	switch v.kind {
	case kString:
		return p.scanStr(st, v)
	case kObject:
		return p.scanObject(st, v.obj())
	case kArray:
		n := 0
		for i := range v.arr().v {
			n += p.scanValue(st, &v.arr().v[i])
		}
		return n
	}
	return 0
}

// scanStr masks the string v and reports whether it changed (1 or 0).
func (p *maskProc) scanStr(st *state, v *value) int {
	var spans []span
	if p.screened() {
		// Most strings fail the e-mail and card pre-filter: skip them
		// here, without entering the scan.
		var at, card bool
		if len(v.s) < 13 {
			// Too short for a card number.
			at = strings.IndexByte(v.s, '@') >= 0
		} else {
			at, card = screen(v.s)
		}
		if !(at && p.detectors&detEmail != 0) && !(card && p.detectors&detCard != 0) {
			return 0
		}
		spans = findScreened(v.s, p.detectors, at, card, st.matches[:0])
	} else {
		spans = p.find(st, v.s)
	}
	if s, ok := p.maskSpans(st, v.s, spans); ok {
		// Masking keeps whole characters of the original and adds only
		// [REDACTED], hex digits and '*': a string that needed no escaping
		// still needs none.
		v.s = s
		return 1
	}
	return 0
}

// scanString masks what the detectors and patterns find in s.
func (p *maskProc) scanString(st *state, s string) (string, bool) {
	return p.maskSpans(st, s, p.find(st, s))
}

// find returns what the detectors and patterns find in s (in st.matches).
func (p *maskProc) find(st *state, s string) []span {
	spans := findSensitive(s, p.detectors, st.matches[:0])
	for _, re := range p.patterns {
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[1] > m[0] {
				spans = append(spans, span{m[0], m[1]})
			}
		}
	}
	return spans
}

// maskSpans masks the spans p.find found in s (and what a second look
// between them finds).
func (p *maskProc) maskSpans(st *state, s string, spans []span) (string, bool) {
	if len(spans) == 0 {
		st.matches = spans
		return "", false
	}
	spans = mergeSpans(spans)
	// A match ends where a neighbouring one starts: what lies between two
	// matches is scanned again on its own, since a detector may only have
	// missed it because it touched the other match (an address glued to an
	// e-mail address). Masking the output again then finds nothing more.
	for round := 0; round < 3 && p.detectors != 0; round++ {
		n := len(spans)
		prev := 0
		for i := 0; i <= n; i++ {
			end := len(s)
			if i < n {
				end = spans[i].start
			}
			if end > prev && (prev > 0 || end < len(s)) {
				k := len(spans)
				spans = findSensitive(s[prev:end], p.detectors, spans)
				for j := k; j < len(spans); j++ {
					spans[j].start += prev
					spans[j].end += prev
				}
			}
			if i < n {
				prev = spans[i].end
			}
		}
		if len(spans) == n {
			break
		}
		spans = mergeSpans(spans)
	}
	st.matches = spans
	b := st.buf[:0]
	last := 0
	for _, sp := range spans {
		b = append(b, s[last:sp.start]...)
		b = p.appendMasked(b, s[sp.start:sp.end])
		last = sp.end
	}
	b = append(b, s[last:]...)
	st.buf = b
	if string(b) == s {
		return "", false
	}
	return st.arena.newString(b), true
}

// appendMasked appends the masked form of t.
func (p *maskProc) appendMasked(dst []byte, t string) []byte {
	switch p.method {
	case methodHash:
		return appendHash(dst, p.salt, t)
	case methodPartial:
		return appendPartial(dst, t)
	}
	return append(dst, Redacted...)
}

// appendHash appends hex(sha256(salt ‖ t)).
func appendHash(dst, salt []byte, t string) []byte {
	var sum [sha256.Size]byte
	if len(salt)+len(t) <= 256 {
		var tmp [256]byte
		sum = sha256.Sum256(append(append(tmp[:0], salt...), t...))
	} else {
		h := sha256.New()
		h.Write(salt)
		h.Write([]byte(t))
		h.Sum(sum[:0])
	}
	return hex.AppendEncode(dst, sum[:])
}

// appendPartial keeps the first character and the domain of an e-mail
// address (j***@example.com) and the last 4 characters of anything else,
// replacing the rest with '*' (values of 4 characters or less become all
// '*').
func appendPartial(dst []byte, t string) []byte {
	if at := strings.LastIndexByte(t, '@'); at > 0 && at < len(t)-1 {
		_, size := utf8.DecodeRuneInString(t)
		dst = append(dst, t[:size]...)
		dst = append(dst, "***"...)
		return append(dst, t[at:]...)
	}
	n := utf8.RuneCountInString(t)
	if n <= 4 {
		for range n {
			dst = append(dst, '*')
		}
		return dst
	}
	i := 0
	for k := 0; k < n-4; k++ {
		_, size := utf8.DecodeRuneInString(t[i:])
		i += size
		dst = append(dst, '*')
	}
	return append(dst, t[i:]...)
}

// span is a byte range [start, end) of a string.
type span struct{ start, end int }

// mergeSpans sorts spans and merges overlapping or touching ones.
func mergeSpans(sp []span) []span {
	if len(sp) < 2 {
		return sp
	}
	slices.SortFunc(sp, func(a, b span) int { return a.start - b.start })
	w := 0
	for _, s := range sp[1:] {
		if s.start <= sp[w].end {
			sp[w].end = max(sp[w].end, s.end)
			continue
		}
		w++
		sp[w] = s
	}
	return sp[:w+1]
}
