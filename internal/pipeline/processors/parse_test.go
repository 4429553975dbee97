package processors

import (
	"errors"
	"strings"
	"testing"
)

type behaviour struct {
	name   string
	procs  string // JSON with ' for "
	event  string // real JSON
	want   string // expected output (exact bytes); "" = dropped
	errHas string // expected error text, if any
}

func runTable(t *testing.T, opts Options, cases []behaviour) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := mustCompile(t, c.procs, opts)
			out, res, err := run(t, ch, c.event)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err = %v, want it to contain %q (out %s)", err, c.errHas, out)
				}
				var pe *Error
				if !errors.As(err, &pe) || res.Processor != pe.Index {
					t.Errorf("error %v is not an *Error for processor %d", err, res.Processor)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if out != c.want {
				t.Errorf("got  %s\nwant %s", out, c.want)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	runTable(t, Options{}, []behaviour{
		{"into target", `[{'parse':{'field':'event.raw','format':'json','target':'event.parsed'}}]`,
			`{"event":{"raw":"{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"x\"}}"}}`,
			`{"event":{"raw":"{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"x\"}}","parsed":{"a":1,"b":[true,null],"c":{"d":"x"}}}}`, ""},
		{"in place (no target)", `[{'parse':{'field':'event.raw','format':'json'}}]`,
			`{"event":{"raw":"{\"a\":1.50,\"big\":12345678901234567890}"},"z":0}`,
			`{"event":{"raw":{"a":1.50,"big":12345678901234567890}},"z":0}`, ""},
		{"merge into top level", `[{'parse':{'field':'msg','format':'json','target':'.'}}]`,
			`{"msg":"{\"status\":500,\"msg\":\"boom\"}","status":1}`,
			`{"msg":"boom","status":500}`, ""},
		{"scalar json", `[{'parse':{'field':'n','format':'json','target':'m'}}]`,
			`{"n":" 42 "}`, `{"n":" 42 ","m":42}`, ""},
		{"new nested target", `[{'parse':{'field':'raw','format':'json','target':'a.b.c'}}]`,
			`{"raw":"[1,2]"}`, `{"raw":"[1,2]","a":{"b":{"c":[1,2]}}}`, ""},
		{"unicode escapes", `[{'parse':{'field':'raw','format':'json','target':'p'}}]`,
			`{"raw":"{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"}"}`, `{"raw":"{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"}","p":{"s":"café 😀 \"q\""}}`, ""},
		{"invalid json fails", `[{'parse':{'field':'raw','format':'json','target':'p'}}]`,
			`{"raw":"{\"a\":"}`, "", "invalid JSON"},
		{"invalid json skipped", `[{'parse':{'field':'raw','format':'json','target':'p','on_error':'skip'}}]`,
			`{"raw":"nope"}`, `{"raw":"nope"}`, ""},
		{"missing field fails", `[{'parse':{'field':'raw','format':'json'}}]`,
			`{"other":1}`, "", "field raw is missing"},
		{"non-string field fails", `[{'parse':{'field':'raw','format':'json'}}]`,
			`{"raw":{"a":1}}`, "", "field raw is an object, not a string"},
		{"merge of non-object fails", `[{'parse':{'field':'raw','format':'json','target':'.'}}]`,
			`{"raw":"[1]"}`, "", "cannot be merged"},
		{"target through a scalar fails", `[{'parse':{'field':'raw','format':'json','target':'raw.x'}}]`,
			`{"raw":"{}"}`, "", "cannot set raw.x: raw is a string"},
	})
}

func TestParseJSONCounts(t *testing.T) {
	c := mustCompile(t, `[{'parse':{'field':'raw','format':'json','on_error':'skip'}},{'parse':{'field':'raw2','format':'json'}}]`, Options{})
	_, res, err := c.ApplyJSON(t.Context(), nil, []byte(`{"raw":"x","raw2":"{}"}`))
	if err != nil || res.ParseErrors != 1 || res.Action != Keep {
		t.Fatalf("%+v %v", res, err)
	}
	_, res, err = c.ApplyJSON(t.Context(), nil, []byte(`{"raw":"x","raw2":"y"}`))
	if err == nil || res.ParseErrors != 2 || res.Action != Drop || res.Processor != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	st := c.Stats()
	if st[0].ParseErrors != 2 || st[0].Errors != 0 || st[1].ParseErrors != 1 || st[1].Errors != 1 || st[1].Processed != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestParseKV(t *testing.T) {
	p := func(extra string) string {
		return `[{'parse':{'field':'m','format':'kv','target':'kv'` + extra + `}}]`
	}
	runTable(t, Options{}, []behaviour{
		{"basic", p(""), `{"m":"a=1 b=two  c=3"}`, `{"m":"a=1 b=two  c=3","kv":{"a":"1","b":"two","c":"3"}}`, ""},
		{"quoted", p(""), `{"m":"msg=\"hello world\" q='it''s' e=\"a \\\"b\\\" \\\\ c\""}`, "", "unexpected text after the quoted value"},
		{"quoted ok", p(""), `{"m":"msg=\"hello world\" e=\"a \\\"b\\\" \\\\ c\" s='x y'"}`,
			`{"m":"msg=\"hello world\" e=\"a \\\"b\\\" \\\\ c\" s='x y'","kv":{"msg":"hello world","e":"a \"b\" \\ c","s":"x y"}}`, ""},
		{"bare key and empty value", p(""), `{"m":"debug a= b=1"}`, `{"m":"debug a= b=1","kv":{"debug":"","a":"","b":"1"}}`, ""},
		{"last wins", p(""), `{"m":"a=1 a=2"}`, `{"m":"a=1 a=2","kv":{"a":"2"}}`, ""},
		{"value with delimiter", p(""), `{"m":"url=/x?a=b"}`, `{"m":"url=/x?a=b","kv":{"url":"/x?a=b"}}`, ""},
		{"tabs and newlines", p(""), `{"m":"a=1\tb=2\nc=3\r\n"}`, `{"m":"a=1\tb=2\nc=3\r\n","kv":{"a":"1","b":"2","c":"3"}}`, ""},
		{"custom separator and delimiter", p(`,'separator':'&','delimiter':':'`), `{"m":"a:1&b: x y &&c:\"q&r\""}`,
			`{"m":"a:1&b: x y &&c:\"q&r\"","kv":{"a":"1","b":"x y","c":"q&r"}}`, ""},
		{"multi-char separator", p(`,'separator':', '`), `{"m":"a=1, b=2"}`, `{"m":"a=1, b=2","kv":{"a":"1","b":"2"}}`, ""},
		{"empty input", p(""), `{"m":"  "}`, `{"m":"  ","kv":{}}`, ""},
		{"empty key fails", p(""), `{"m":"=1"}`, "", "empty key at offset 0"},
		{"unterminated quote fails", p(""), `{"m":"a=\"x"}`, "", `unterminated quoted value of "a"`},
		{"unterminated quote skipped", p(`,'on_error':'skip'`), `{"m":"a=\"x"}`, `{"m":"a=\"x"}`, ""},
	})
}

func TestParseRegex(t *testing.T) {
	p := `[{'parse':{'field':'line','format':'regex','target':'r','pattern':'^(?P<level>[A-Z]+) (?:(?P<code>\\d+) )?(?P<msg>.*)$'}}]`
	runTable(t, Options{}, []behaviour{
		{"all groups", p, `{"line":"ERROR 503 upstream down"}`, `{"line":"ERROR 503 upstream down","r":{"level":"ERROR","code":"503","msg":"upstream down"}}`, ""},
		{"optional group absent", p, `{"line":"INFO started"}`, `{"line":"INFO started","r":{"level":"INFO","msg":"started"}}`, ""},
		{"empty match kept", p, `{"line":"WARN "}`, `{"line":"WARN ","r":{"level":"WARN","msg":""}}`, ""},
		{"no match fails", p, `{"line":"lowercase"}`, "", "does not match the pattern"},
		{"unanchored finds first", `[{'parse':{'field':'l','format':'regex','pattern':'id=(?P<id>\\w+)','target':'.'}}]`,
			`{"l":"x id=7 id=8"}`, `{"l":"x id=7 id=8","id":"7"}`, ""},
	})
}

func TestParseCSV(t *testing.T) {
	p := func(extra string) string {
		return `[{'parse':{'field':'l','format':'csv','columns':['a','b','c'],'target':'r'` + extra + `}}]`
	}
	runTable(t, Options{}, []behaviour{
		{"plain", p(""), `{"l":"1,two,3"}`, `{"l":"1,two,3","r":{"a":"1","b":"two","c":"3"}}`, ""},
		{"quoted", p(""), `{"l":"\"x,y\",\"say \"\"hi\"\"\",\"\"\n"}`, `{"l":"\"x,y\",\"say \"\"hi\"\"\",\"\"\n","r":{"a":"x,y","b":"say \"hi\"","c":""}}`, ""},
		{"newline inside quotes", p(""), `{"l":"\"a\nb\",2"}`, `{"l":"\"a\nb\",2","r":{"a":"a\nb","b":"2"}}`, ""},
		{"fewer fields", p(""), `{"l":"1"}`, `{"l":"1","r":{"a":"1"}}`, ""},
		{"trailing empty field", p(""), `{"l":"1,2,"}`, `{"l":"1,2,","r":{"a":"1","b":"2","c":""}}`, ""},
		{"delimiter", p(`,'delimiter':';'`), `{"l":"1;2,5;3"}`, `{"l":"1;2,5;3","r":{"a":"1","b":"2,5","c":"3"}}`, ""},
		{"tab delimiter", p(`,'delimiter':'\t'`), `{"l":"1\t2\t3"}`, `{"l":"1\t2\t3","r":{"a":"1","b":"2","c":"3"}}`, ""},
		{"too many fields", p(""), `{"l":"1,2,3,4"}`, "", "more than 3 fields"},
		{"bare quote", p(""), `{"l":"1,a\"b,3"}`, "", `bare " in a non-quoted field`},
		{"unterminated", p(""), `{"l":"\"abc"}`, "", "unterminated quoted field"},
		{"text after quote", p(""), `{"l":"\"a\"b,2"}`, "", "unexpected text after a quoted field"},
	})
}

func TestParseNginx(t *testing.T) {
	// The parser is package accesslog's (tested there); these cases check
	// the processor around it: catalog names and types, targets, errors.
	combined := `[{'parse':{'field':'line','format':'nginx','target':'.'}}]`
	line := `203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] \"GET /api/v1/items?id=7 HTTP/1.1\" 200 1534 \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\"`
	custom := `[{'parse':{'field':'line','format':'nginx','target':'n','log_format':'$remote_addr [$time_local] \"$request\" $status ${request_time}s $upstream_addr'}}]`
	runTable(t, Options{}, []behaviour{
		{"combined", combined, `{"line":"` + line + `"}`,
			`{"line":"` + line + `","remote_addr":"203.0.113.9","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/api/v1/items?id=7","server_protocol":"HTTP/1.1","requestPath":"/api/v1/items","requestQuery":"id=7","status":200,"body_bytes_sent":1534,"http_referrer":"https://example.com/","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`, ""},
		{"combined with newline, empty request", `[{'parse':{'field':'line','format':'nginx','log_format':'combined','target':'n'}}]`,
			`{"line":"1.2.3.4 - bob [12/Feb/2025:14:32:15 -0700] \"-\" 400 0 \"-\" \"a \\x22b\\x22\"\n"}`,
			`{"line":"1.2.3.4 - bob [12/Feb/2025:14:32:15 -0700] \"-\" 400 0 \"-\" \"a \\x22b\\x22\"\n","n":{"remote_addr":"1.2.3.4","remote_user":"bob","time":"2025-02-12T14:32:15-07:00","status":400,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"a \"b\""}}`, ""},
		{"custom format", custom, `{"line":"10.0.0.1 [12/Feb/2025:14:32:15 +0000] \"POST /x HTTP/2.0\" 502 0.250s 10.0.0.2:80, 10.0.0.3:80"}`,
			`{"line":"10.0.0.1 [12/Feb/2025:14:32:15 +0000] \"POST /x HTTP/2.0\" 502 0.250s 10.0.0.2:80, 10.0.0.3:80","n":{"remote_addr":"10.0.0.1","time":"2025-02-12T14:32:15Z","request_method":"POST","request_uri":"/x","server_protocol":"HTTP/2.0","requestPath":"/x","status":502,"request_time":0.250,"upstream_addr":"10.0.0.2:80, 10.0.0.3:80","upstream_addr_last":"10.0.0.3:80"}}`, ""},
		{"in place", `[{'parse':{'field':'l','format':'nginx','log_format':'$status $x'}}]`, `{"l":"200 y","z":1}`, `{"l":{"status":200,"x":"y"},"z":1}`, ""},
		{"mismatch", combined, `{"line":"garbage"}`, "", `field line: column 1: expected " - " after $remote_addr`},
		{"mismatch skipped", `[{'parse':{'field':'line','format':'nginx','on_error':'skip'}}]`, `{"line":"garbage"}`, `{"line":"garbage"}`, ""},
		{"trailing text", `[{'parse':{'field':'line','format':'nginx','log_format':'$a [$b]'}}]`, `{"line":"x [y] z"}`, "", `column 4: expected "]" at the end of the line, after $b`},
		{"wrong literal", `[{'parse':{'field':'line','format':'nginx','log_format':'[$a] $b'}}]`, `{"line":"x"}`, "", `column 1: expected "[" at the start of the line`},
		{"wrong type", `[{'parse':{'field':'line','format':'nginx','log_format':'$remote_addr $status'}}]`, `{"line":"x OK"}`, "", `column 3: $status is "OK", not an integer`},
	})
}
