package accesslog

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzParse: any line, in any format that compiles, gives a valid record
// (one JSON object, unique keys among the format's, catalog types) or a
// *ParseError that leaves dst untouched; never a panic.
func FuzzParse(f *testing.F) {
	f.Add("combined", `203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] "GET /a?b=1 HTTP/1.1" 200 1534 "-" "curl/8"`)
	f.Add("combined", `2001:db8::1 - - [12/Feb/2025:14:32:15 +0000] "\x16\x03\x01\x00" 400 157 "-" "-"`)
	f.Add("combined", `1.2.3.4 - bob [12/Feb/2025:14:32:15 -0700] "-" 400 0 "-" "say \"hi\" \x22x\x22"`)
	f.Add("common", `1.2.3.4 - - [29/Feb/2024:23:59:59 +0000] "GET http://h/p?q HTTP/1.0" 200 1`+"\r\n")
	f.Add(custom, `10.0.0.1 [2025-02-12T14:32:15Z] "GET / HTTP/2.0" 200 0.1s 1.1.1.1:80, 2.2.2.2:80 : 3.3.3.3:80 502, 504 : 200 0.1, 0.2 : 0.3 "-" HIT`)
	f.Add(`$msec $request_uri $upstream_bytes_sent|$time_local`, `1739370735.123 /x?y 0, 12|12/Feb/2025:14:32:15 +0000`)
	f.Add(`{"ua":"$http_user_agent","s":$status}`, `{"ua":"a\u00e9\"","s":007}`)
	f.Add("combined", "garbage")
	f.Fuzz(func(t *testing.T, format, line string) {
		fm, err := Compile(format)
		if err != nil {
			return
		}
		dst := []byte("keep")
		out, err := fm.AppendJSON(dst, []byte(line))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Column < 1 || pe.Column > max(1, len(line)+1) {
				t.Fatalf("error %v (%T)", err, err)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed on error: %q", out)
			}
			return
		}
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("dst overwritten: %q", out)
		}
		checkRecord(t, fm, out[4:])
		s, err := fm.AppendJSONString(nil, line)
		if err != nil || !bytes.Equal(s, out[4:]) {
			t.Fatalf("AppendJSONString differs: %s %v", s, err)
		}
	})
}

// FuzzCompile: Compile never panics; a compiled format has keys, unique,
// and compiles again from its String to the same keys.
func FuzzCompile(f *testing.F) {
	f.Add("combined")
	f.Add("")
	f.Add(Combined)
	f.Add(custom)
	f.Add(`${a}b$c ${request} $request_uri "$time_local" $$`)
	f.Add(`log_format main '$remote_addr';`)
	f.Add("$a\n$b")
	f.Fuzz(func(t *testing.T, format string) {
		fm, err := Compile(format)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		keys := fm.Keys()
		if len(keys) == 0 {
			t.Fatalf("%q: no keys", format)
		}
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(keys) {
			t.Fatalf("%q: keys repeat: %v", format, keys)
		}
		if strings.TrimSpace(format) != "" && strings.TrimSpace(format) != "combined" && strings.TrimSpace(format) != "common" && fm.String() != format {
			t.Fatalf("String() = %q, want %q", fm.String(), format)
		}
		again, err := Compile(fm.String())
		if err != nil || !slices.Equal(again.Keys(), keys) {
			t.Fatalf("%q: recompiled: %v %v, want %v", format, err, again, keys)
		}
	})
}
