package processors

import (
	"math/bits"
	"net/netip"
	"strings"
)

// Detectors of sensitive substrings, hand-written (no regexp) because they
// run over every string of every event. Each appends the byte spans it
// finds to out; spans may overlap (mergeSpans sorts that out).
//
//   - email: local@domain.tld with local part [A-Za-z0-9._%+-]+ and a domain
//     of dot-separated labels ending in an alphabetic TLD of 2+ letters.
//   - card: 13 to 19 digits, optionally grouped by single spaces or dashes,
//     passing the Luhn check, not touching a letter or digit on either side.
//     In a grouped run the longest Luhn-valid sequence of whole groups is
//     taken, so "card 4111 1111 1111 1111 exp 12" masks only the number.
//   - ip: IPv4 and IPv6 addresses as net/netip parses them (no leading
//     zeros in IPv4, IPv4-mapped IPv6 included), not touching a letter,
//     digit or '_'; "10.0.0.1:8080" masks the address and keeps the port.
//   - token: the token after "Bearer " (any case), and JWT-like strings:
//     three base64url segments separated by dots, the first starting with
//     "eyJ".
//   - aws_key: AKIA or ASIA followed by 16 upper-case letters or digits.

func findSensitive(s string, det int, out []span) []span {
	var at, card bool
	if det&(detEmail|detCard) != 0 {
		at, card = screen(s)
	}
	return findScreened(s, det, at, card, out)
}

// findScreened is findSensitive given screen(s).
func findScreened(s string, det int, at, card bool, out []span) []span {
	if det&detEmail != 0 && at {
		out = findEmails(s, out)
	}
	if det&detCard != 0 && card {
		out = findCards(s, out)
	}
	if det&detIP != 0 {
		out = findIPs(s, out)
	}
	if det&detToken != 0 {
		out = findTokens(s, out)
	}
	if det&detAWS != 0 {
		out = findAWSKeys(s, out)
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// --- email ---

func isLocalChar(c byte) bool { return charClass[c]&cLocal != 0 }

func isDomainChar(c byte) bool { return charClass[c]&cDomain != 0 }

// Classes of ASCII bytes for the e-mail detector.
const (
	cLocal  = 1 << iota // [A-Za-z0-9._%+-]
	cDomain             // [A-Za-z0-9.-]
	cAlpha              // [A-Za-z]
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if isAlnum(b) || b == '.' || b == '_' || b == '%' || b == '+' || b == '-' {
			t[c] |= cLocal
		}
		if isAlnum(b) || b == '.' || b == '-' {
			t[c] |= cDomain
		}
		if isAlpha(b) {
			t[c] |= cAlpha
		}
	}
	return t
}()

func findEmails(s string, out []span) []span {
	off := 0
	for off < len(s) {
		k := strings.IndexByte(s[off:], '@')
		if k < 0 {
			break
		}
		at := off + k
		l := at
		for l > 0 && isLocalChar(s[l-1]) {
			l--
		}
		for l < at && s[l] == '.' {
			l++
		}
		r := at + 1
		for r < len(s) && isDomainChar(s[r]) {
			r++
		}
		for r > at+1 && (s[r-1] == '.' || s[r-1] == '-') {
			r--
		}
		if l < at && validDomain(s[at+1:r]) {
			out = append(out, span{l, r})
			off = r
		} else {
			off = at + 1
		}
	}
	return out
}

// validDomain reports whether d is two or more dot-separated labels, none
// empty or starting or ending with '-', the last (the TLD) of two or more
// letters.
func validDomain(d string) bool {
	labels, start, last := 0, 0, 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			continue
		}
		// d[start:i] is a label.
		if i == start || d[start] == '-' || d[i-1] == '-' {
			return false
		}
		labels++
		last, start = start, i+1
	}
	// the TLD: letters only, 2 or more
	tld := d[last:]
	if labels < 2 || len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if charClass[tld[i]]&cAlpha == 0 {
			return false
		}
	}
	return true
}

// --- card ---

func findCards(s string, out []span) []span {
	n := len(s)
	var gbuf [24]span
	for i := 0; i < n; {
		// Skip eight bytes without a digit at a time.
		for i+8 <= n && !hasDigit(le64(s, i)) {
			i += 8
		}
		if i >= n {
			break
		}
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A run of digit groups joined by single spaces or dashes.
		start, j, total := i, i, 0
		groups := gbuf[:0]
		for {
			gs := j
			for j < n && isDigit(s[j]) {
				j++
			}
			total += j - gs
			groups = append(groups, span{gs, j})
			if j+1 < n && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		i = j
		if total >= 13 {
			out = cardsInRun(s, start, j, groups, total, out)
		}
	}
	return out
}

// cardsInRun finds card numbers in the run s[start:end] of digit groups
// (total digits in all).
func cardsInRun(s string, start, end int, groups []span, total int, out []span) []span {
	// A group touching a letter or digit is not part of a number.
	if start > 0 && isAlnum(s[start-1]) {
		total -= groups[0].end - groups[0].start
		groups = groups[1:]
	}
	if end < len(s) && isAlpha(s[end]) && len(groups) > 0 {
		total -= groups[len(groups)-1].end - groups[len(groups)-1].start
		groups = groups[:len(groups)-1]
	}
	if total < 13 {
		return out
	}
	if len(groups) == 1 {
		if total <= 19 && luhn(s[groups[0].start:groups[0].end]) {
			out = append(out, groups[0])
		}
		return out
	}
	// The longest Luhn-valid sequence of whole groups from each start.
	for a := 0; a < len(groups); {
		best, digits := -1, 0
		for b := a; b < len(groups); b++ {
			digits += groups[b].end - groups[b].start
			if digits > 19 {
				break
			}
			if digits >= 13 && luhn(s[groups[a].start:groups[b].end]) {
				best = b
			}
		}
		if best < 0 {
			a++
			continue
		}
		out = append(out, span{groups[a].start, groups[best].end})
		a = best + 1
	}
	return out
}

// screen is the detectors' pre-filter: at reports whether s has an '@',
// and card is false when s cannot hold a card number, which needs 13
// digits or more joined by single separators: 13 digits, and (checked for
// strings up to 64 bytes) 13 consecutive bytes that are digits, spaces or
// dashes. Most strings have neither, and are then not scanned for e-mail
// addresses or card numbers at all; the second test keeps timestamps
// (2025-02-12T14:32:15Z has 14 digits) out of the card scan.
func screen(s string) (at, card bool) {
	at, digits := classify(s)
	if digits < 13 {
		return at, false
	}
	n := len(s)
	if n > 64 {
		return at, true
	}
	// Bit i of runs: byte i is a digit, a space or a dash. The last word
	// overlaps the one before it when n is not a multiple of 8.
	var runs uint64
	for i := 0; i < n; i += 8 {
		j := min(i, n-8)
		w := le64(s, j)
		m := digitMask(w) | eqMask(w, ' ') | eqMask(w, '-')
		runs |= (m >> 7) * 0x0102040810204080 >> 56 << j
	}
	// Bit i survives when bytes i..i+12 are all set.
	runs &= runs >> 1
	runs &= runs >> 2
	runs &= runs >> 4
	runs &= runs >> 5
	return at, runs != 0
}

// eqMask has the high bit set in exactly the bytes of w equal to c.
func eqMask(w uint64, c byte) uint64 {
	const (
		ones = 0x0101010101010101
		low7 = ones * 127
		high = ones * 128
	)
	x := w ^ (ones * uint64(c))
	return ^((x&low7 + low7) | x) & high
}

// classify reports whether s has an '@' and how many ASCII digits, eight
// bytes at a time: most strings have neither an '@' nor 13 digits, and
// are then not scanned for e-mail addresses or card numbers at all.
func classify(s string) (at bool, digits int) {
	const (
		ones = 0x0101010101010101
		high = ones * 128
	)
	var atm uint64
	n := len(s)
	if n < 8 {
		for i := 0; i < n; i++ {
			c := s[i]
			if isDigit(c) {
				digits++
			} else if c == '@' {
				atm = 1
			}
		}
		return atm != 0, digits
	}
	i := 0
	for ; i+8 <= n; i += 8 {
		w := le64(s, i)
		digits += bits.OnesCount64(digitMask(w))
		q := w ^ (ones * '@')
		atm |= (q - ones) &^ q & high
	}
	if i < n {
		// The last eight bytes; the low ones were counted already.
		w := le64(s, n-8)
		digits += bits.OnesCount64(digitMask(w) &^ (1<<(8*(8-(n-i))) - 1))
		q := w ^ (ones * '@')
		atm |= (q - ones) &^ q & high
	}
	return atm != 0, digits
}

// digitMask has the high bit set in exactly the bytes of w that are ASCII
// digits ("hasbetween" from Bit Twiddling Hacks for 0x2f < b < 0x3a; no
// carries cross bytes, so it is exact per byte).
func digitMask(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		low7 = ones * 127
		high = ones * 128
	)
	x := w & low7
	return (ones*(127+0x3a) - x) &^ w & (x + ones*(127-0x2f)) & high
}

// hasDigit reports whether any byte of w is an ASCII digit ("hasbetween"
// from Bit Twiddling Hacks, for 0x2f < b < 0x3a).
func hasDigit(w uint64) bool { return digitMask(w) != 0 }

// luhn checks the digits of s (other bytes are skipped).
func luhn(s string) bool {
	sum, double := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		d := s[i] - '0'
		if d > 9 {
			continue
		}
		sum += int(luhnDigit[double][d])
		double ^= 1
	}
	return sum%10 == 0
}

// luhnDigit is a digit's share of the Luhn sum, as is and doubled.
var luhnDigit = [2][10]uint8{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{0, 2, 4, 6, 8, 1, 3, 5, 7, 9},
}

// --- ip ---

func isIPChar(c byte) bool {
	return isDigit(c) || c == '.' || c == ':' || (c|0x20) >= 'a' && (c|0x20) <= 'f'
}

func isWordChar(c byte) bool { return isAlnum(c) || c == '_' }

func findIPs(s string, out []span) []span {
	n := len(s)
	for i := 0; i < n; {
		if !isIPChar(s[i]) {
			i++
			continue
		}
		start := i
		dots, colons, digits := 0, 0, 0
		for i < n && isIPChar(s[i]) {
			switch c := s[i]; c {
			case '.':
				dots++
			case ':':
				colons++
			default:
				digits++
			}
			i++
		}
		end := i
		// "::" alone (the unspecified address) is not worth masking.
		if (dots < 3 && colons < 2) || digits == 0 || (start > 0 && isWordChar(s[start-1])) || (end < n && isWordChar(s[end])) {
			continue
		}
		// Sentence punctuation around an address.
		for start < end && s[start] == '.' {
			start++
		}
		for end > start && s[end-1] == '.' {
			end--
		}
		if a, err := netip.ParseAddr(s[start:end]); err == nil && a.Zone() == "" {
			out = append(out, span{start, end})
			continue
		}
		if dots < 3 {
			continue
		}
		// An IPv4 address with a port or inside other colon-separated text.
		for p := start; p < end; {
			q := strings.IndexByte(s[p:end], ':')
			if q < 0 {
				q = end
			} else {
				q += p
			}
			if a, err := netip.ParseAddr(s[p:q]); err == nil && a.Is4() {
				out = append(out, span{p, q})
			}
			p = q + 1
		}
	}
	return out
}

// --- token ---

func isTokenChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func findTokens(s string, out []span) []span {
	n := len(s)
	// Bearer <token>
	for off := 0; off+7 < n; {
		k := strings.IndexAny(s[off:], "bB")
		if k < 0 {
			break
		}
		i := off + k
		off = i + 1
		if i+7 >= n || !strings.EqualFold(s[i:i+6], "bearer") || (i > 0 && isAlnum(s[i-1])) || s[i+6] != ' ' {
			continue
		}
		j := i + 6
		for j < n && s[j] == ' ' {
			j++
		}
		t := j
		for j < n && isTokenChar(s[j]) {
			j++
		}
		for j < n && s[j] == '=' {
			j++
		}
		if j > t {
			out = append(out, span{t, j})
			off = j
		}
	}
	// JWT-like: eyJ....xxx.yyy
	for off := 0; off < n; {
		k := strings.Index(s[off:], "eyJ")
		if k < 0 {
			break
		}
		i := off + k
		off = i + 3
		if i > 0 && isB64URL(s[i-1]) {
			continue
		}
		j := i
		for j < n && isB64URL(s[j]) {
			j++
		}
		if j-i < 10 || j >= n || s[j] != '.' {
			continue
		}
		j++
		p2 := j
		for j < n && isB64URL(s[j]) {
			j++
		}
		if j-p2 < 2 || j >= n || s[j] != '.' {
			continue
		}
		j++
		for j < n && isB64URL(s[j]) {
			j++
		}
		out = append(out, span{i, j})
		off = j
	}
	return out
}

// --- aws_key ---

func findAWSKeys(s string, out []span) []span {
	n := len(s)
	for off := 0; off+20 <= n; {
		k := strings.IndexByte(s[off:], 'A')
		if k < 0 {
			break
		}
		i := off + k
		off = i + 1
		if i+20 > n {
			break
		}
		if p := s[i : i+4]; p != "AKIA" && p != "ASIA" {
			continue
		}
		if i > 0 && isAlnum(s[i-1]) {
			continue
		}
		ok := true
		for j := i + 4; j < i+20; j++ {
			if c := s[j]; !(c >= 'A' && c <= 'Z' || isDigit(c)) {
				ok = false
				break
			}
		}
		if !ok || (i+20 < n && isAlnum(s[i+20])) {
			continue
		}
		out = append(out, span{i, i + 20})
		off = i + 20
	}
	return out
}
