package accesslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/catalog"
)

// checkRecord verifies that out is one compact JSON object with unique
// keys, each a key the format announces, and that every catalog variable
// in it has the catalog's type.
func checkRecord(t testing.TB, f *Format, out []byte) {
	t.Helper()
	if bytes.ContainsAny(out, "\n\r") {
		t.Fatalf("record spans lines: %q", out)
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("record %q is not an object: %v", out, err)
	}
	seen := map[string]bool{}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("record %q: %v", out, err)
		}
		key := k.(string)
		if seen[key] {
			t.Fatalf("record %q: key %q twice", out, key)
		}
		seen[key] = true
		if !slices.Contains(f.keys, key) {
			t.Fatalf("record %q: key %q is not among the format's keys %v", out, key, f.keys)
		}
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("record %q: %v", out, err)
		}
		if cv, ok := catalog.Lookup(catalog.EdgeApplications, key); ok && !catalog.HasType(v, cv.Type) {
			t.Fatalf("record %q: %s = %v is not a %s", out, key, v, cv.Type)
		}
	}
	if _, err := d.Token(); err != nil {
		t.Fatalf("record %q: %v", out, err)
	}
	if d.More() || !json.Valid(out) {
		t.Fatalf("record %q: data after the object", out)
	}
}

func mustCompile(t testing.TB, lf string) *Format {
	t.Helper()
	f, err := Compile(lf)
	if err != nil {
		t.Fatalf("Compile(%q): %v", lf, err)
	}
	return f
}

const custom = `$remote_addr [$time_iso8601] "$request" $status ${request_time}s $upstream_addr $upstream_status $upstream_response_time "$http_x_forwarded_for" $upstream_cache_status`

func TestParse(t *testing.T) {
	tests := []struct {
		name, format, line, want string
	}{
		{"combined", "combined",
			`203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] "GET /api/v1/items?id=7 HTTP/1.1" 200 1534 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
			`{"remote_addr":"203.0.113.9","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/api/v1/items?id=7","server_protocol":"HTTP/1.1","requestPath":"/api/v1/items","requestQuery":"id=7","status":200,"body_bytes_sent":1534,"http_referrer":"https://example.com/","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`},
		{"default is combined, CRLF ignored", "",
			"10.0.0.1 - alice [01/Mar/2024:00:00:00 -0730] \"HEAD / HTTP/1.0\" 304 0 \"-\" \"curl/8.5.0\"\r\n",
			`{"remote_addr":"10.0.0.1","remote_user":"alice","time":"2024-03-01T00:00:00-07:30","request_method":"HEAD","request_uri":"/","server_protocol":"HTTP/1.0","requestPath":"/","status":304,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"curl/8.5.0"}`},
		{"IPv6 client", "combined",
			`2001:db8:85a3::8a2e:370:7334 - - [29/Feb/2024:23:59:59 +0100] "POST /login HTTP/2.0" 302 0 "https://shop.example/cart" "Mozilla/5.0"`,
			`{"remote_addr":"2001:db8:85a3::8a2e:370:7334","remote_user":"-","time":"2024-02-29T23:59:59+01:00","request_method":"POST","request_uri":"/login","server_protocol":"HTTP/2.0","requestPath":"/login","status":302,"body_bytes_sent":0,"http_referrer":"https://shop.example/cart","http_user_agent":"Mozilla/5.0"}`},
		{"nginx-escaped quotes and UTF-8", "combined",
			`198.51.100.4 - - [12/Feb/2025:14:32:15 +0000] "GET /a?q=\x22x\x22 HTTP/1.1" 200 12 "-" "Bot \x22quoted\x22 caf\xC3\xA9 \x5Cpath"`,
			`{"remote_addr":"198.51.100.4","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/a?q=\"x\"","server_protocol":"HTTP/1.1","requestPath":"/a","requestQuery":"q=\"x\"","status":200,"body_bytes_sent":12,"http_referrer":"-","http_user_agent":"Bot \"quoted\" café \\path"}`},
		{"Apache-escaped quotes", "combined",
			`198.51.100.4 - - [12/Feb/2025:14:32:15 +0000] "GET / HTTP/1.1" 200 12 "-" "say \"hi\" \\o/"`,
			`{"remote_addr":"198.51.100.4","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/","server_protocol":"HTTP/1.1","requestPath":"/","status":200,"body_bytes_sent":12,"http_referrer":"-","http_user_agent":"say \"hi\" \\o/"}`},
		{"empty request", "combined",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "-" 400 0 "-" "-"`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","status":400,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"-"}`},
		{"400 with a TLS handshake as request", "combined",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","request":"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03","status":400,"body_bytes_sent":157,"http_referrer":"-","http_user_agent":"-"}`},
		{"400 with words as request", "combined",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "hello there friend" 400 157 "-" "-"`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","request":"hello there friend","status":400,"body_bytes_sent":157,"http_referrer":"-","http_user_agent":"-"}`},
		{"HTTP/0.9 request", "common",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "GET /index.html" 200 10`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/index.html","requestPath":"/index.html","status":200,"body_bytes_sent":10}`},
		{"absolute URI, empty query", "common",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "GET http://example.com:8080/p/q? HTTP/1.1" 200 10`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"http://example.com:8080/p/q?","server_protocol":"HTTP/1.1","requestPath":"/p/q","requestQuery":"","status":200,"body_bytes_sent":10}`},
		{"CONNECT", "common",
			`192.0.2.1 - - [12/Feb/2025:14:32:15 +0000] "CONNECT example.com:443 HTTP/1.1" 400 0`,
			`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"CONNECT","request_uri":"example.com:443","server_protocol":"HTTP/1.1","requestPath":"example.com:443","status":400,"body_bytes_sent":0}`},
		{"custom with upstream attempts", custom,
			`10.0.0.1 [2025-02-12T14:32:15.250+01:00] "POST /pay HTTP/1.1" 200 0.250s 10.0.0.2:80, 10.0.0.3:80 : 10.0.0.9:8080 502, 504 : 200 0.001, 0.002 : 0.120 "203.0.113.5, 10.0.0.1" MISS`,
			`{"remote_addr":"10.0.0.1","time":"2025-02-12T14:32:15.250+01:00","request_method":"POST","request_uri":"/pay","server_protocol":"HTTP/1.1","requestPath":"/pay","status":200,"request_time":0.250,` +
				`"upstream_addr":"10.0.0.2:80, 10.0.0.3:80 : 10.0.0.9:8080","upstream_addr_last":"10.0.0.9:8080","upstream_status":"502, 504 : 200","upstream_status_last":200,` +
				`"upstream_response_time":"0.001, 0.002 : 0.120","upstream_response_time_last":0.120,"http_x_forwarded_for":"203.0.113.5, 10.0.0.1","upstream_cache_status":"MISS","upstream_cache_status_last":"MISS"}`},
		{"custom served from cache", custom,
			`10.0.0.1 [2025-02-12T14:32:15Z] "GET /logo.png HTTP/2.0" 200 0.000s - - - "-" HIT`,
			`{"remote_addr":"10.0.0.1","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/logo.png","server_protocol":"HTTP/2.0","requestPath":"/logo.png","status":200,"request_time":0.000,` +
				`"upstream_addr":"-","upstream_status":"-","upstream_response_time":"-","http_x_forwarded_for":"-","upstream_cache_status":"HIT","upstream_cache_status_last":"HIT"}`},
		{"typed last values", `$upstream_status $upstream_connect_time|$upstream_bytes_received`,
			`502, 200 -, 0.004|0, 8304`,
			`{"upstream_status":"502, 200","upstream_status_last":200,"upstream_connect_time":"-, 0.004","upstream_connect_time_last":0.004,"upstream_bytes_received":"0, 8304","upstream_bytes_received_last":8304}`},
		{"last attempt without answer", `$upstream_status|$upstream_bytes_received`,
			`502, -|-`,
			`{"upstream_status":"502, -","upstream_bytes_received":"-"}`},
		{"time_local without brackets, msec, numbers to canonical", `$time_local $msec $request_length $bytes_sent $request_time|$remote_port`,
			`12/Feb/2025:14:32:15 +0000 1739370735.123 007 -0 .5|-`,
			`{"time":"2025-02-12T14:32:15Z","msec":"1739370735.123","request_length":7,"bytes_sent":0,"request_time":0.5}`},
		{"msec as the time", `$msec "$request_uri" $status`,
			`1739370735.100 "/x?y=1&z" 204`,
			`{"time":"2025-02-12T14:32:15.1Z","request_uri":"/x?y=1&z","requestPath":"/x","requestQuery":"y=1&z","status":204}`},
		{"request and request_uri both", `"$request" $request_uri $server_protocol`,
			`"GET /a?b HTTP/1.1" /a?b HTTP/1.1`,
			`{"request_method":"GET","request_uri":"/a?b","requestPath":"/a","requestQuery":"b","server_protocol":"HTTP/1.1"}`},
		{"catalog name wins over a rename", `$time_local|$time|$http_referer`,
			`12/Feb/2025:14:32:15 +0000|2025-02-12T14:32:16Z|-`,
			`{"time_local":"12/Feb/2025:14:32:15 +0000","time":"2025-02-12T14:32:16Z","http_referrer":"-"}`},
		{"unknown variables are strings", `$host $ssl_protocol/$ssl_cipher $http_x_request_id ${connection_requests}x $server_port`,
			`www.example.com TLSv1.3/TLS_AES_256_GCM_SHA384 abc-123 5x 443`,
			`{"host":"www.example.com","ssl_protocol":"TLSv1.3","ssl_cipher":"TLS_AES_256_GCM_SHA384","http_x_request_id":"abc-123","connection_requests":"5","server_port":443}`},
		{"escape=json value", `{"ua":"$http_user_agent","s":$status}`,
			`{"ua":"tab\there \"q\" \u00e9\u0001","s":200}`,
			`{"http_user_agent":"tab\there \"q\" é\u0001","status":200}`},
		{"raw invalid UTF-8", `$remote_addr "$http_user_agent"`,
			"1.2.3.4 \"bad \xff byte\"",
			`{"remote_addr":"1.2.3.4","http_user_agent":"bad \ufffd byte"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.format)
			dst := []byte("prefix")
			out, err := f.AppendJSON(dst, []byte(tt.line))
			if err != nil {
				t.Fatalf("%v", err)
			}
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("dst overwritten: %q", out)
			}
			got := out[len("prefix"):]
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			checkRecord(t, f, got)
			s, err := f.AppendJSONString(nil, tt.line)
			if err != nil || string(s) != tt.want {
				t.Fatalf("AppendJSONString: %s %v", s, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, format, line string
		col                int
		variable, detail   string
	}{
		{"not an access log", "combined", `garbage`, 1, "remote_addr", `expected " - " after $remote_addr`},
		{"empty line", "combined", "\n", 1, "", "empty line"},
		{"JSON instead", "combined", `{"status":200}`, 1, "remote_addr", `expected " - " after $remote_addr`},
		{"missing the user agent", "combined", `1.2.3.4 - - [12/Feb/2025:14:32:15 +0000] "GET / HTTP/1.1" 200 5 "-"`, 66, "http_referer", `expected "\" \"" after $http_referer`},
		{"status not a number", "combined", `1.2.3.4 - - [12/Feb/2025:14:32:15 +0000] "GET / HTTP/1.1" 2xx 5 "-" "-"`, 59, "status", `$status is "2xx", not an integer`},
		{"bad time", "combined", `1.2.3.4 - - [31/Feb/2025:14:32:15 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`, 14, "time_local", `$time_local is "31/Feb/2025:14:32:15 +0000", not a time (like`},
		{"month name", "combined", `1.2.3.4 - - [12/Fev/2025:14:32:15 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`, 14, "time_local", `not a time`},
		{"prefix", `[$time_local] $status`, `12/Feb/2025:14:32:15 +0000] 200`, 1, "time_local", `expected "[" at the start of the line, before $time_local; found "12/Feb`},
		{"missing closing text", `[$time_local] $status;`, `[12/Feb/2025:14:32:15 +0000] 200`, 30, "status", `expected ";" at the end of the line, after $status`},
		{"number", `$request_time`, `0.2.3`, 1, "request_time", `$request_time is "0.2.3", not a number`},
		{"huge integer", `$status`, `1234567890123456789`, 1, "status", `not an integer`},
		{"bad iso time", `$time_iso8601`, `2025-02-12 14:32:15`, 1, "time_iso8601", `not a time`},
		{"address with a space", `$remote_addr [$time_local]`, `1.2.3.4 - - [12/Feb/2025:14:32:15 +0000]`, 1, "remote_addr", `$remote_addr is "1.2.3.4 - -", which has a space`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.format)
			dst := []byte("keep")
			out, err := f.AppendJSON(dst, []byte(tt.line))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), out %s", err, err, out)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed on error: %q", out)
			}
			if pe.Column != tt.col || pe.Variable != tt.variable || !strings.Contains(pe.Detail, tt.detail) {
				t.Fatalf("got column %d variable %q detail %q\nwant column %d variable %q detail containing %q", pe.Column, pe.Variable, pe.Detail, tt.col, tt.variable, tt.detail)
			}
			if !strings.HasPrefix(err.Error(), "column ") {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestCompile(t *testing.T) {
	for _, lf := range []string{"", "combined", " combined "} {
		if f := mustCompile(t, lf); f.String() != Combined {
			t.Errorf("Compile(%q) = %q", lf, f.String())
		}
	}
	if f := mustCompile(t, "common"); f.String() != Common {
		t.Errorf("common = %q", f.String())
	}
	keys := mustCompile(t, "combined").Keys()
	want := []string{"remote_addr", "remote_user", "time", "request", "request_method", "request_uri", "server_protocol",
		"requestPath", "requestQuery", "status", "body_bytes_sent", "http_referrer", "http_user_agent"}
	if !slices.Equal(keys, want) {
		t.Errorf("combined keys %v\nwant %v", keys, want)
	}
	// Every key of the predefined formats but the raw request is a catalog variable.
	for _, k := range keys {
		if _, ok := catalog.Lookup(catalog.EdgeApplications, k); !ok && k != "request" {
			t.Errorf("combined key %q is not an edge_applications variable", k)
		}
	}
	keys = mustCompile(t, `$time_local $time_iso8601 $msec $upstream_status ${upstream_status_last}!`).Keys()
	want = []string{"time", "time_iso8601", "msec", "upstream_status", "upstream_status_last"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v\nwant %v", keys, want)
	}

	errs := []struct{ format, want string }{
		{"$remote_addr$status", `column 13: variables $remote_addr and $status are not separated by text`},
		{"$status - $status", "column 11: variable $status appears twice (first at column 1)"},
		{"x ${status", "column 3: unterminated ${"},
		{"x ${sta tus}", `column 3: invalid variable name "${sta tus}"`},
		{"x ${}", `column 3: invalid variable name "${}"`},
		{"100$ $status", `column 4: "$" is not followed by a variable name`},
		{"just text", "no variables"},
		{"$a\n$b", "column 3: a line break"},
		{`log_format main '$remote_addr';`, "not the log_format directive"},
	}
	for _, e := range errs {
		_, err := Compile(e.format)
		if err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("Compile(%q) = %v, want %q", e.format, err, e.want)
		}
	}
}

// Formatting a record allocates nothing once dst has room, escapes and
// time conversions included.
func TestAppendJSONAllocs(t *testing.T) {
	f := mustCompile(t, "combined")
	line := []byte(`198.51.100.4 - - [12/Feb/2025:14:32:15 +0100] "GET /a?q=\x22x\x22 HTTP/1.1" 200 12 "-" "Bot \x22quoted\x22 caf\xC3\xA9"`)
	g := mustCompile(t, `$msec $upstream_status`)
	line2 := []byte(`1739370735.123 502 : 200`)
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		out, err := f.AppendJSON(dst[:0], line)
		if err != nil || len(out) == 0 {
			t.Fatal(err)
		}
		if out, err = g.AppendJSON(out, line2); err != nil || len(out) == 0 {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per line", n)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	cases := []struct{ name, format, line string }{
		{"combined", "combined", `203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] "GET /api/v1/items?id=7&page=2 HTTP/1.1" 200 1534 "https://example.com/products/shoes" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"`},
		{"custom", custom, `10.0.0.1 [2025-02-12T14:32:15.250+01:00] "POST /pay HTTP/1.1" 200 0.250s 10.0.0.2:80, 10.0.0.3:80 : 10.0.0.9:8080 502, 504 : 200 0.001, 0.002 : 0.120 "203.0.113.5, 10.0.0.1" MISS`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := mustCompile(b, c.format)
			line := []byte(c.line)
			dst := make([]byte, 0, 4096)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = f.AppendJSON(dst[:0], line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
