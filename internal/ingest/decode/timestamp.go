package decode

import (
	"bytes"
	"time"
)

// validTimestamp reports whether raw, the contents of a JSON string, is a
// timestamp time.Parse(time.RFC3339Nano, …) accepts.
//
// The common spelling is settled by canonicalRFC3339, which only accepts what
// time's own RFC 3339 parser accepts but costs a fraction of it (it builds no
// time.Time); anything else, escaped strings included, goes to the time
// package. time.Time.UnmarshalText is time.Parse with the RFC 3339 layout
// (the layouts with and without fractional seconds parse alike) and takes the
// bytes as they are, so nothing is converted to a string.
func validTimestamp(raw []byte) bool {
	if canonicalRFC3339(raw) {
		return true
	}
	ts := raw
	if bytes.IndexByte(raw, '\\') >= 0 {
		var buf [64]byte
		ts = unescape(buf[:0], raw)
	}
	var t time.Time
	return t.UnmarshalText(ts) == nil
}

// canonicalRFC3339 reports whether s is YYYY-MM-DDTHH:MM:SS[.fraction] then
// Z or ±HH:MM, with every field in range: the shape time's RFC 3339 fast path
// accepts. False means "not certainly", not "invalid".
func canonicalRFC3339(s []byte) bool {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	century, year := num2(s[0], s[1]), num2(s[2], s[3])
	if century < 0 || year < 0 {
		return false
	}
	year += century * 100
	month, day := num2(s[5], s[6]), num2(s[8], s[9])
	hour, min, sec := num2(s[11], s[12]), num2(s[14], s[15]), num2(s[17], s[18])
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 59 {
		return false
	}
	s = s[19:]
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		n := 2
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		s = s[n:]
	}
	if len(s) == 1 {
		return s[0] == 'Z'
	}
	if len(s) != len("+07:00") || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return false
	}
	zh, zm := num2(s[1], s[2]), num2(s[4], s[5])
	return zh >= 0 && zh <= 23 && zm >= 0 && zm <= 59
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// num2 returns the value of two decimal digits, or -1.
func num2(a, b byte) int {
	if !isDigit(a) || !isDigit(b) {
		return -1
	}
	return int(a-'0')*10 + int(b-'0')
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
