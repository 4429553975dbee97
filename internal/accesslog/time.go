package accesslog

import (
	"time"
)

// appendTime appends v, a time as web servers log it, in RFC 3339:
//
//   - nginx's $time_local and Apache's %t: "10/Oct/2000:13:55:36 -0700",
//     written with its offset ("+0000" as Z);
//   - RFC 3339 ($time_iso8601: "2000-10-10T13:55:36-07:00"), copied;
//   - seconds since the epoch with an optional fraction ($msec:
//     "971211336.123"), written in UTC.
func appendTime(dst []byte, v string) ([]byte, bool) {
	switch {
	case len(v) == widthTimeLocal && v[2] == '/':
		return appendTimeLocal(dst, v)
	case len(v) >= 20 && v[4] == '-':
		if !validRFC3339(v) {
			return dst, false
		}
		return append(dst, v...), true
	}
	return appendEpoch(dst, v)
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendTimeLocal converts "10/Oct/2000:13:55:36 -0700".
func appendTimeLocal(dst []byte, v string) ([]byte, bool) {
	if v[2] != '/' || v[6] != '/' || v[11] != ':' || v[14] != ':' || v[17] != ':' || v[20] != ' ' || (v[21] != '+' && v[21] != '-') {
		return dst, false
	}
	month := 0
	for i, m := range months {
		if v[3:6] == m {
			month = i + 1
		}
	}
	day, ok1 := num(v[0:2])
	year, ok2 := num(v[7:11])
	hour, ok3 := num(v[12:14])
	minute, ok4 := num(v[15:17])
	sec, ok5 := num(v[18:20])
	oh, ok6 := num(v[22:24])
	om, ok7 := num(v[24:26])
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 || oh > 23 || om > 59 {
		return dst, false
	}
	dst = append(dst, v[7:11]...)
	dst = append(dst, '-', byte('0'+month/10), byte('0'+month%10), '-')
	dst = append(dst, v[0:2]...)
	dst = append(dst, 'T')
	dst = append(dst, v[12:20]...)
	if oh == 0 && om == 0 {
		return append(dst, 'Z'), true
	}
	return append(dst, v[21], v[22], v[23], ':', v[24], v[25]), true
}

// num parses a short string of decimal digits.
func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, s != ""
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

// validRFC3339 accepts 2006-01-02T15:04:05[.fraction](Z|±hh:mm), a
// fraction of 1 to 9 digits, as time.Parse(time.RFC3339Nano) does.
func validRFC3339(v string) bool {
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return false
	}
	year, ok1 := num(v[0:4])
	month, ok2 := num(v[5:7])
	day, ok3 := num(v[8:10])
	hour, ok4 := num(v[11:13])
	minute, ok5 := num(v[14:16])
	sec, ok6 := num(v[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	rest := v[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		return ok1 && ok2 && oh <= 23 && om <= 59
	}
	return false
}

// appendEpoch converts seconds since the epoch, with up to 9 fractional
// digits, to RFC 3339 in UTC.
func appendEpoch(dst []byte, v string) ([]byte, bool) {
	ip, fp, hasFrac := cutByte(v, '.')
	if ip == "" || len(ip) > 11 || !allDigits(ip) || hasFrac && (fp == "" || len(fp) > 9 || !allDigits(fp)) {
		return dst, false
	}
	sec, _ := num(ip)
	nsec, _ := num(fp)
	for i := len(fp); i < 9; i++ {
		nsec *= 10
	}
	return time.Unix(int64(sec), int64(nsec)).UTC().AppendFormat(dst, time.RFC3339Nano), true
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
