package processors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func sha(salt, v string) string {
	s := sha256.Sum256([]byte(salt + v))
	return hex.EncodeToString(s[:])
}

func TestMaskFields(t *testing.T) {
	opts := Options{Salt: []byte("s3cret")}
	runTable(t, opts, []behaviour{
		{"redact", `[{'mask':{'fields':['event.email','event.none'],'method':'redact'}}]`, `{"event":{"email":"jane@example.com","x":1}}`, `{"event":{"email":"[REDACTED]","x":1}}`, ""},
		{"default method is redact", `[{'mask':{'fields':['a']}}]`, `{"a":"x"}`, `{"a":"[REDACTED]"}`, ""},
		{"hash", `[{'mask':{'fields':['u'],'method':'hash'}}]`, `{"u":"jane@example.com"}`, `{"u":"` + sha("s3cret", "jane@example.com") + `"}`, ""},
		{"hash number by literal", `[{'mask':{'fields':['n'],'method':'hash'}}]`, `{"n":4111111111111111}`, `{"n":"` + sha("s3cret", "4111111111111111") + `"}`, ""},
		{"partial", `[{'mask':{'fields':['c'],'method':'partial'}}]`, `{"c":"4111111111111111"}`, `{"c":"************1111"}`, ""},
		{"partial email", `[{'mask':{'fields':['e'],'method':'partial'}}]`, `{"e":"jane.doe@example.com"}`, `{"e":"j***@example.com"}`, ""},
		{"partial short", `[{'mask':{'fields':['p'],'method':'partial'}}]`, `{"p":"1234"}`, `{"p":"****"}`, ""},
		{"partial unicode", `[{'mask':{'fields':['p'],'method':'partial'}}]`, `{"p":"Zoë Müller"}`, `{"p":"******ller"}`, ""},
		{"partial unicode email", `[{'mask':{'fields':['p'],'method':'partial'}}]`, `{"p":"élodie@example.fr"}`, `{"p":"é***@example.fr"}`, ""},
		{"container masks leaves", `[{'mask':{'fields':['user']}}]`, `{"user":{"email":"e","ids":[1,"x",null,true]}}`, `{"user":{"email":"[REDACTED]","ids":["[REDACTED]","[REDACTED]",null,"[REDACTED]"]}}`, ""},
		{"null untouched", `[{'mask':{'fields':['a']}}]`, `{"a":null}`, `{"a":null}`, ""},
		{"array element", `[{'mask':{'fields':['cards.1'],'method':'partial'}}]`, `{"cards":["4111111111111111","5500005555555559"]}`, `{"cards":["4111111111111111","************5559"]}`, ""},
	})
	c := mustCompile(t, `[{'mask':{'fields':['a','b','c']}}]`, Options{})
	_, res, _ := c.ApplyJSON(t.Context(), nil, []byte(`{"a":"1","b":"[REDACTED]","c":{"d":"x","e":"y"}}`))
	if res.Masked != 3 { // b already redacted: unchanged, not counted
		t.Errorf("masked = %d", res.Masked)
	}
	if st := c.Stats()[0]; st.Masked != 3 || st.Processed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaskDetectors(t *testing.T) {
	opts := Options{Salt: []byte("salt")}
	all := `[{'mask':{'detectors':['email','card','ip','token','aws_key']}}]`
	runTable(t, opts, []behaviour{
		{"scans every string", all,
			`{"a":"mail jane@example.com now","b":{"c":["card 4111 1111 1111 1111 exp 12/27"]},"n":4111111111111111,"k":"jane@example.com"}`,
			`{"a":"mail [REDACTED] now","b":{"c":["card [REDACTED] exp 12/27"]},"n":4111111111111111,"k":"[REDACTED]"}`, ""},
		{"ip v4 with port", all, `{"m":"from 10.0.0.1:8080 to 192.168.1.254."}`, `{"m":"from [REDACTED]:8080 to [REDACTED]."}`, ""},
		{"ip v6", all, `{"m":"client=2001:db8::1 peer [fe80::1ff:fe23:4567:890a]:443 mapped ::ffff:192.0.2.1"}`,
			`{"m":"client=[REDACTED] peer [[REDACTED]]:443 mapped [REDACTED]"}`, ""},
		{"bearer", all, `{"h":"Authorization: Bearer abc.DEF-123_~+/xyz== rest"}`, `{"h":"Authorization: Bearer [REDACTED] rest"}`, ""},
		{"jwt", all, `{"t":"token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl;"}`, `{"t":"token=[REDACTED];"}`, ""},
		{"aws", all, `{"k":"key AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A"}`, `{"k":"key [REDACTED] and [REDACTED]"}`, ""},
		{"keys are not scanned", all, `{"jane@example.com":"x"}`, `{"jane@example.com":"x"}`, ""},
		{"hash matches", `[{'mask':{'detectors':['email'],'method':'hash'}}]`, `{"m":"to jane@example.com"}`, `{"m":"to ` + sha("salt", "jane@example.com") + `"}`, ""},
		{"partial matches", `[{'mask':{'detectors':['email','card'],'method':'partial'}}]`, `{"m":"jane@example.com paid with 4111-1111-1111-1111"}`, `{"m":"j***@example.com paid with ***************1111"}`, ""},
		{"custom pattern", `[{'mask':{'patterns':['SSN-\\d{3}-\\d{2}-\\d{4}','secret\\w*']}}]`, `{"m":"SSN-123-45-6789 and secrets"}`, `{"m":"[REDACTED] and [REDACTED]"}`, ""},
		{"scoped to fields", `[{'mask':{'fields':['event'],'detectors':['email']}}]`, `{"event":{"m":"a@b.io"},"other":"c@d.io"}`, `{"event":{"m":"[REDACTED]"},"other":"c@d.io"}`, ""},
		{"overlapping matches merge", `[{'mask':{'detectors':['email'],'patterns':['example\\.com and']}}]`, `{"m":"x jane@example.com and y"}`, `{"m":"x [REDACTED] y"}`, ""},
		{"escaped strings", all, `{"m":"\"jane@example.com\"\n\u00e9"}`, `{"m":"\"[REDACTED]\"\né"}`, ""},
		{"nothing found: unchanged", all, `{"m":"nothing to see", "n": 1}`, `{"m":"nothing to see", "n": 1}`, ""},
	})
}

func TestDetectEmail(t *testing.T) {
	for s, want := range map[string]string{
		"jane@example.com":                    "jane@example.com",
		"x <john.o'neil@mail.co.uk>":          "neil@mail.co.uk", // ' is not taken as part of the local part
		"first.last+tag@sub.example.io, next": "first.last+tag@sub.example.io",
		"user=bob@example.org":                "bob@example.org",
		".dot@example.com.":                   "dot@example.com",
		"a@b":                                 "",
		"a@b.c":                               "",
		"@example.com":                        "",
		"a@-x.com":                            "",
		"a@x-.com":                            "",
		"a@x..com":                            "",
		"a@1.2.3.4":                           "",
		"foo@bar.c0m":                         "",
		"name@example.com@other.org":          "name@example.com",
	} {
		got := ""
		if sp := findEmails(s, nil); len(sp) > 0 {
			got = s[sp[0].start:sp[0].end]
		}
		if got != want {
			t.Errorf("findEmails(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestDetectCard checks Luhn-valid card numbers and the negatives.
func TestDetectCard(t *testing.T) {
	positives := map[string]string{
		"4111111111111111":                  "4111111111111111",    // Visa
		"4111 1111 1111 1111":               "4111 1111 1111 1111", // spaced
		"4111-1111-1111-1111":               "4111-1111-1111-1111",
		"card: 5500 0055 5555 5559.":        "5500 0055 5555 5559", // Mastercard
		"amex 378282246310005 ok":           "378282246310005",     // 15 digits
		"diners 30569309025904":             "30569309025904",      // 14 digits
		"visa13 4222222222222":              "4222222222222",       // 13 digits
		"19 digits 6011000990139424111 end": "",                    // Luhn fails (checked below as negative)
		"4111 1111 1111 1111 exp 12":        "4111 1111 1111 1111",
		"order 1234 4111111111111111":       "4111111111111111",
		"(4012888888881881)":                "4012888888881881",
	}
	for s, want := range positives {
		got := ""
		if sp := findCards(s, nil); len(sp) > 0 {
			got = s[sp[0].start:sp[0].end]
		}
		if got != want {
			t.Errorf("findCards(%q) = %q, want %q", s, got, want)
		}
	}
	negatives := []string{
		"4111111111111112",                     // Luhn fails
		"4111 1111 1111 1112",                  // Luhn fails
		"411111111111",                         // 12 digits
		"41111111111111111111",                 // 20 digits, no grouping
		"x4111111111111111",                    // touches a letter
		"4111111111111111abc",                  // touches a letter
		"2025-02-12T14:32:15Z",                 // a timestamp
		"+1 415-555-2671",                      // a phone number
		"123e4567-e89b-12d3-a456-426614174000", // a UUID
		"4111  1111 1111 1111",                 // double space splits the groups (each < 13)
		"192.168.100.200",                      // an address
		"1234567890123",                        // 13 digits, Luhn fails
	}
	for _, s := range negatives {
		if sp := findCards(s, nil); len(sp) > 0 {
			t.Errorf("findCards(%q) found %q", s, s[sp[0].start:sp[0].end])
		}
	}
	if !luhn("79927398713") || luhn("79927398710") {
		t.Error("luhn reference values")
	}
}

func TestDetectIP(t *testing.T) {
	for s, want := range map[string][]string{
		"1.2.3.4":                     {"1.2.3.4"},
		"src=10.0.0.1 dst=10.0.0.255": {"10.0.0.1", "10.0.0.255"},
		"10.0.0.1:8080":               {"10.0.0.1"},
		"2001:db8::1":                 {"2001:db8::1"},
		"2001:0db8:85a3:0000:0000:8a2e:0370:7334": {"2001:0db8:85a3:0000:0000:8a2e:0370:7334"},
		"[::1]:80":             {"::1"},
		"fe80::":               {"fe80::"},
		"::ffff:192.0.2.128 x": {"::ffff:192.0.2.128"},
		"at 12:30:45":          nil, // a time
		"version 1.2.3":        nil,
		"256.1.1.1":            nil,
		"01.02.03.04":          nil, // leading zeros are not IPv4
		"a1.2.3.4":             nil,
		"1.2.3.4.5":            nil,
		"dead:beef":            nil,
		"aa:bb:cc:dd:ee:ff":    nil,         // a MAC address
		"fe80::1%eth0":         {"fe80::1"}, // the zone stays
		"2001:db8::g":          nil,
	} {
		var got []string
		for _, sp := range findIPs(s, nil) {
			got = append(got, s[sp.start:sp.end])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("findIPs(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestDetectTokensAndKeys(t *testing.T) {
	for s, want := range map[string][]string{
		"Bearer abc123":                        {"abc123"},
		"authorization: bearer x.y.z":          {"x.y.z"},
		"BEARER   tok==":                       {"tok=="},
		"Bearer":                               nil,
		"Bearer ":                              nil,
		"Bearerabc":                            nil,
		"unbearer abc":                         nil,
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."},
		"eyJhbGciOiJub25lIn0":                  nil, // one segment
		"xeyJhbGciOiJub25lIn0.eyJz.abc":        nil, // touches a base64 char
		"eyJhb.eyJzdWIiOiIxIn0.abc":            nil, // first segment too short
	} {
		var got []string
		for _, sp := range findTokens(s, nil) {
			got = append(got, s[sp.start:sp.end])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("findTokens(%q) = %q, want %q", s, got, want)
		}
	}
	for s, want := range map[string][]string{
		"AKIAIOSFODNN7EXAMPLE":                       {"AKIAIOSFODNN7EXAMPLE"},
		"id=ASIAY34FZKBOKMUTVV7A;":                   {"ASIAY34FZKBOKMUTVV7A"},
		"AKIAIOSFODNN7EXAMPL":                        nil, // 15 after the prefix
		"AKIAIOSFODNN7EXAMPLEX":                      nil, // 17
		"XAKIAIOSFODNN7EXAMPLE":                      nil,
		"AKIAiosfodnn7example":                       nil,
		"AKIDIOSFODNN7EXAMPLE":                       nil,
		"AAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLF": {"AKIAIOSFODNN7EXAMPLF"},
	} {
		var got []string
		for _, sp := range findAWSKeys(s, nil) {
			got = append(got, s[sp.start:sp.end])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("findAWSKeys(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestMaskCounts(t *testing.T) {
	c := mustCompile(t, `[{'mask':{'detectors':['email']}},{'mask':{'fields':['id'],'method':'hash'}}]`, Options{})
	_, res, err := c.ApplyJSON(t.Context(), nil, []byte(`{"a":"x@y.io and z@w.io","b":["q@r.io"],"c":"none","id":7}`))
	if err != nil || res.Masked != 3 || !res.Modified {
		t.Fatalf("%+v %v", res, err)
	}
	st := c.Stats()
	if st[0].Masked != 2 || st[1].Masked != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMergeSpans(t *testing.T) {
	got := mergeSpans([]span{{5, 8}, {0, 2}, {1, 3}, {8, 9}, {20, 21}})
	if fmt.Sprint(got) != "[{0 3} {5 9} {20 21}]" {
		t.Errorf("got %v", got)
	}
	if !strings.Contains(string(appendPartial(nil, "ab@")), "*") {
		t.Error("partial of a value ending in @")
	}
}

func TestHasDigit(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			w := le64(string(b), 0)
			if got, want := hasDigit(w), c >= '0' && c <= '9'; got != want {
				t.Fatalf("byte %#x at %d: %v", c, pos, got)
			}
		}
	}
	if hasDigit(le64("\xff\xff\xff\xff/:;@", 0)) {
		t.Error("false positive")
	}
	// digitMask is exact per byte: classify counts every digit.
	for _, s := range []string{"", "1", "a1b2c3d4e5f6g7h8i9j0", "0000000000000000000", "\xff9\x80\x39/:0@", "x@y", "12345678@"} {
		want, wantAt := 0, strings.Contains(s, "@")
		for i := 0; i < len(s); i++ {
			if isDigit(s[i]) {
				want++
			}
		}
		if at, n := classify(s); n != want || at != wantAt {
			t.Errorf("classify(%q) = %v, %d; want %v, %d", s, at, n, wantAt, want)
		}
	}
}
