package ingest

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/model"
)

// Access-log lines of nginx's combined format and the records they are
// stored as: an IPv6 client, nginx-escaped quotes and UTF-8, an empty
// request, and a 400 whose request is the bytes of a TLS handshake.
var (
	combinedLines = []string{
		`203.0.113.9 - - [12/Feb/2025:14:32:15 +0000] "GET /api/v1/items?id=7 HTTP/1.1" 200 1534 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
		`2001:db8::7 - alice [12/Feb/2025:14:32:16 -0300] "POST /carrinho?item=ma\xC3\xA7\xC3\xA3 HTTP/2.0" 403 0 "-" "Bot \x22quoted\x22"`,
		`192.0.2.1 - - [12/Feb/2025:14:32:17 +0000] "-" 400 0 "-" "-"`,
		`192.0.2.1 - - [12/Feb/2025:14:32:18 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
	}
	combinedRecords = []string{
		`{"remote_addr":"203.0.113.9","remote_user":"-","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/api/v1/items?id=7","server_protocol":"HTTP/1.1","requestPath":"/api/v1/items","requestQuery":"id=7","status":200,"body_bytes_sent":1534,"http_referrer":"https://example.com/","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`,
		`{"remote_addr":"2001:db8::7","remote_user":"alice","time":"2025-02-12T14:32:16-03:00","request_method":"POST","request_uri":"/carrinho?item=maçã","server_protocol":"HTTP/2.0","requestPath":"/carrinho","requestQuery":"item=maçã","status":403,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"Bot \"quoted\""}`,
		`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:17Z","status":400,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"-"}`,
		`{"remote_addr":"192.0.2.1","remote_user":"-","time":"2025-02-12T14:32:18Z","request":"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03","status":400,"body_bytes_sent":0,"http_referrer":"-","http_user_agent":"-"}`,
	}
)

func init() {
	// The TLS line's bytes sent are 157, not 0.
	combinedRecords[3] = strings.Replace(combinedRecords[3], `"body_bytes_sent":0`, `"body_bytes_sent":157`, 1)
}

const upstreamFormat = `$remote_addr [$time_local] "$request" $status $request_time $upstream_addr $upstream_status $upstream_response_time "$http_user_agent"`

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func TestNativeRecords(t *testing.T) {
	e := newEnv(t)
	edge := e.newStream(model.DefaultWorkspace, "edge", func(s *model.Stream) { s.DataSource = catalog.EdgeApplications })
	upstream := e.newStream(model.DefaultWorkspace, "edge-upstream", func(s *model.Stream) {
		s.DataSource, s.LogFormat = catalog.EdgeApplications, upstreamFormat
	})
	functions := e.newStream(model.DefaultWorkspace, "functions", func(s *model.Stream) { s.DataSource = catalog.EdgeFunctions })
	waf := e.newStream(model.DefaultWorkspace, "waf", func(s *model.Stream) { s.DataSource = catalog.WAFEvents })

	fn := []string{
		`{"client":"4529r","edge_function_id":"1321","global_id":"8712","log_level":"ERROR","log_message":"payment declined: card expired","message_source":"CONSOLE","request_id":"5f222ae5938482c32a822dbf15e19f0f","time":"2025-03-04T10:15:02Z"}`,
		`{"log_level":"INFO","log_message":"no envelope, no time: stored as sent","nested":{"k":[1,2]}}`,
		`{}`,
	}
	wafRec := `{"blocked":1,"client":"4529r","host":"www.example.com","remote_addr":"203.0.113.7","waf_score":8,"waf_match":"1009:union select","time":"2022-10-31T19:30:41Z"}`
	upLine := `10.0.0.1 [12/Feb/2025:14:32:15 +0000] "GET /pay?x=1 HTTP/1.1" 200 0.250 10.0.0.2:80, 10.0.0.3:80 : 10.0.0.9:8080 502, 504 : 200 0.001, 0.002 : 0.120 "curl/8.5.0"`
	upRec := `{"remote_addr":"10.0.0.1","time":"2025-02-12T14:32:15Z","request_method":"GET","request_uri":"/pay?x=1","server_protocol":"HTTP/1.1","requestPath":"/pay","requestQuery":"x=1","status":200,"request_time":0.250,` +
		`"upstream_addr":"10.0.0.2:80, 10.0.0.3:80 : 10.0.0.9:8080","upstream_addr_last":"10.0.0.9:8080","upstream_status":"502, 504 : 200","upstream_status_last":200,` +
		`"upstream_response_time":"0.001, 0.002 : 0.120","upstream_response_time_last":0.120,"http_user_agent":"curl/8.5.0"}`
	mixed := []byte(combinedLines[0] + "\r\n\r\n   \n" + `  {"status": 499, "host": "a.example"}  ` + "\r\n" + combinedLines[2])

	tests := []struct {
		name   string
		st     *model.Stream
		r      req
		plain  []byte // decompressed body, when r.body is compressed
		events []string
	}{
		{"text/plain combined", edge, req{ctype: "text/plain", body: lines(combinedLines...)}, nil, combinedRecords},
		{"text/plain with charset, no final newline", edge, req{ctype: "text/plain; charset=utf-8", body: []byte(combinedLines[0])}, nil, combinedRecords[:1]},
		{"text/plain blank lines, CRLF and a JSON record", edge, req{ctype: "text/plain", body: mixed}, nil,
			[]string{combinedRecords[0], `{"status":499,"host":"a.example"}`, combinedRecords[2]}},
		{"text/plain gzip", edge, req{ctype: "text/plain", encoding: "gzip", body: gz(t, lines(combinedLines...))}, lines(combinedLines...), combinedRecords},
		{"text/plain custom log_format", upstream, req{ctype: "Text/Plain", body: lines(upLine, upLine)}, nil, []string{upRec, upRec}},
		{"edge_applications JSON records", edge, req{body: []byte("[" + combinedRecords[0] + "," + combinedRecords[1] + "]")}, nil, combinedRecords[:2]},
		{"edge_functions one record", functions, req{body: []byte(fn[0])}, nil, fn[:1]},
		{"edge_functions array", functions, req{body: array(fn...)}, nil, fn},
		{"edge_functions NDJSON", functions, req{ctype: "application/x-ndjson", body: ndjson(fn...)}, nil, fn},
		{"edge_functions gzip NDJSON", functions, req{ctype: "application/x-ndjson", encoding: "gzip", body: gz(t, ndjson(fn...))}, ndjson(fn...), fn},
		{"waf_events pretty record", waf, req{body: []byte("{\n  \"blocked\": 1,\n  \"waf_score\": 8\n}")}, nil, []string{`{"blocked":1,"waf_score":8}`}},
		{"waf_events NDJSON", waf, req{ctype: "application/x-ndjson", body: ndjson(wafRec, wafRec)}, nil, []string{wafRec, wafRec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.stream = tt.st.Name
			before := e.msgs(tt.st.ID)
			res := e.post(r)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			plain := tt.plain
			if plain == nil {
				plain = r.body
			}
			if res.ok.Events != len(tt.events) || res.ok.IngestedBytes != len(plain) || res.ok.StreamID != tt.st.ID {
				t.Fatalf("answer %s; want %d events, %d bytes", res.raw, len(tt.events), len(plain))
			}
			if got := e.msgs(tt.st.ID); got != before+1 {
				t.Fatalf("stream holds %d messages, want %d", got, before+1)
			}
			e.checkStored(tt.st, tt.events)
		})
	}
}

func TestNativeRecordsRejects(t *testing.T) {
	e := newEnv(t)
	edge := e.newStream(model.DefaultWorkspace, "edge", func(s *model.Stream) { s.DataSource = catalog.EdgeApplications })
	upstream := e.newStream(model.DefaultWorkspace, "edge-upstream", func(s *model.Stream) {
		s.DataSource, s.LogFormat = catalog.EdgeApplications, upstreamFormat
	})
	expand := e.newStream(model.DefaultWorkspace, "edge-expand", func(s *model.Stream) {
		s.DataSource, s.LogFormat = catalog.EdgeApplications, "${upstream_response_time}"
		s.Limits.MaxPayload = 4 << 20
	})
	functions := e.newStream(model.DefaultWorkspace, "functions", func(s *model.Stream) { s.DataSource = catalog.EdgeFunctions })
	activity := e.newStream(model.DefaultWorkspace, "audit", func(s *model.Stream) { s.DataSource = catalog.ActivityHistory })
	custom := e.newStream(model.DefaultWorkspace, "payments", nil)

	deep := `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	// Short lines whose records are about eight times longer: 3.5 MiB
	// of them make more records than one bus message holds.
	short := strings.Repeat("0.1, 0.2\n", 3<<20/9+1<<19/9)

	tests := []struct {
		name   string
		st     *model.Stream
		r      req
		status int
		code   string
		detail string
	}{
		{"bad line names its number", edge, req{ctype: "text/plain", body: lines(combinedLines[0], "", "garbage", combinedLines[1])}, 400, "invalid_format",
			`line 3: column 1: expected " - " after $remote_addr (the stream's log_format is combined)`},
		{"wrong type names the column", edge, req{ctype: "text/plain", body: lines(strings.Replace(combinedLines[0], " 200 ", " OK ", 1))}, 400, "invalid_format",
			`line 1: column 80: $status is "OK", not an integer`},
		{"bad time", edge, req{ctype: "text/plain", body: lines(strings.Replace(combinedLines[0], "12/Feb", "32/Feb", 1))}, 400, "invalid_format",
			`line 1: column 18: $time_local is "32/Feb/2025:14:32:15 +0000", not a time`},
		{"combined line in a custom log_format", upstream, req{ctype: "text/plain", body: lines(combinedLines[0])}, 400, "invalid_format",
			`line 1: column 1: $remote_addr is "203.0.113.9 - -", which has a space: the line does not match the log_format (the stream's log_format is "$remote_addr [$time_local]`},
		{"bad JSON line", edge, req{ctype: "text/plain", body: lines(combinedLines[0], `{"status":`)}, 400, "invalid_format",
			"line 2: a JSON record, but invalid JSON"},
		{"blank body", edge, req{ctype: "text/plain", body: []byte("\n \r\n\t\n")}, 400, "invalid_format", "no events"},
		{"gzip of a bad line", edge, req{ctype: "text/plain", encoding: "gzip", body: gz(t, lines("nope"))}, 400, "invalid_format", "line 1: column 1"},
		{"records past the bus limit", expand, req{ctype: "text/plain", body: []byte(short)}, 400, "payload_too_large", "send fewer lines per request"},
		{"text/plain into a custom stream", custom, req{ctype: "text/plain", body: lines(combinedLines[0])}, 400, "invalid_format",
			`accepted only by streams of data source edge_applications; stream "payments" is of data source custom: send application/json`},
		{"text/plain into edge_functions", functions, req{ctype: "text/plain", body: lines(combinedLines[0])}, 400, "invalid_format",
			"stream \"functions\" is of data source edge_functions"},
		{"activity_history JSON", activity, req{body: []byte(`{"title":"x"}`)}, 400, "invalid_format",
			"data source activity_history: it receives the workspace's own management activity and takes no ingest"},
		{"activity_history envelope", activity, req{body: []byte(ev(0))}, 400, "invalid_format", "takes no ingest"},
		{"record not an object", functions, req{body: []byte(`[{"log_level":"INFO"},"x"]`)}, 400, "invalid_format", "record 1: must be a JSON object, got a string"},
		{"NDJSON record not an object", functions, req{ctype: "application/x-ndjson", body: ndjson(`{}`, `[1]`)}, 400, "invalid_format", "record 1 (line 2)"},
		{"record too deep", functions, req{body: []byte(deep)}, 400, "invalid_format", "record 0: JSON nested deeper than 64"},
		{"record invalid JSON", functions, req{body: []byte(`{"a":}`)}, 400, "invalid_format", "record 0: invalid JSON"},
		{"no records", functions, req{body: []byte(`[]`)}, 400, "invalid_format", "no records"},
		{"custom still needs the envelope", custom, req{body: []byte(`{"log_level":"INFO"}`)}, 400, "invalid_format", "event 0: missing required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.stream = tt.st.ID
			before := e.counts()
			res := e.post(r)
			if res.status != tt.status || res.err.Error != tt.code || !strings.Contains(res.err.Detail, tt.detail) {
				t.Fatalf("got %d %s\nwant %d %s with detail containing %q", res.status, res.raw, tt.status, tt.code, tt.detail)
			}
			if after := e.counts(); !maps.Equal(before, after) {
				t.Fatalf("a rejected request stored something: %v → %v", before, after)
			}
		})
	}
}

// A stream whose log_format does not compile (it was valid when the
// stream was stored, say, and the parser became stricter) answers 400
// saying so, instead of failing each line.
func TestNativeRecordsBadLogFormat(t *testing.T) {
	f := newFake(discard{}, func(st *model.Stream) {
		st.DataSource, st.LogFormat = catalog.EdgeApplications, "$a$b"
	})
	r, rd, w := benchRequest(f.token, f.st.ID, benchCase{ctype: "text/plain", body: []byte("x\n")})
	rd.Reset([]byte("x\n"))
	f.h.serveNative(w, r)
	if w.code != http.StatusBadRequest {
		t.Fatalf("status %d", w.code)
	}
}
