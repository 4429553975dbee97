package ingest

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
)

// gzipBytes compresses b with compress/gzip.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzHEC posts arbitrary bodies to the HEC event and raw endpoints and
// checks that:
//   - the handler never panics and always answers HEC's JSON shape;
//   - 200 only for a body an oracle written with encoding/json accepts
//     (more lenient than the handler: no depth, duplicate or time rules),
//     with exactly one frame published that holds as many events as the
//     oracle counts, each a valid native envelope (decode.Envelope accepts
//     the frame), whose "event.event" is the event as sent;
//   - any other answer (400 or 413) published nothing.
func FuzzHEC(f *testing.F) {
	f.Add([]byte(`{"event":"hello"}`), false, false)
	f.Add([]byte(`{"time":1433188255.5,"host":"h","source":"s","sourcetype":"st","index":"i","event":{"a":[1,null]},"fields":{"k":"v","m":["a"]}}`), false, false)
	f.Add([]byte("{\"event\":1}\n{\n \"event\": \"two\"\n}{\"event\":[]}"), false, true)
	f.Add([]byte(`{"event":""}`), false, false)
	f.Add([]byte(`{"event":"x","fields":{"a":{}}}`), false, false)
	f.Add([]byte(`{"event":"x","time":"1433188255.123"}`), false, false)
	f.Add([]byte(`{"event":"x","ev\u0065nt":"y"}`), false, false)
	f.Add([]byte("line one\r\nline \"two\"\n\n\tlast"), true, false)
	f.Add([]byte("\xff\n"), true, false)
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"), false, false)

	h := newFake(nil, func(st *model.Stream) { st.Limits.MaxPayload = fuzzLimit })
	f.Fuzz(func(t *testing.T, body []byte, raw, compress bool) {
		sent := body
		path := "/services/collector/event"
		if raw {
			path = "/services/collector/raw"
		}
		r := httptest.NewRequest("POST", path, bytes.NewReader(sent))
		if compress {
			r = httptest.NewRequest("POST", path, bytes.NewReader(gzipBytes(body)))
			r.Header.Set("Content-Encoding", "gzip")
		}
		r.Header.Set("Authorization", "Splunk "+h.token)
		r.Header.Set("X-Stream-Id", h.st.ID)
		r.Header.Set("X-Splunk-Request-Channel", testChannel)
		before := h.pub.count()
		w := httptest.NewRecorder()
		h.h.serveHEC(w, r, raw)
		msgs := h.pub.msgs[before:]

		var ans struct {
			Text string `json:"text"`
			Code *int   `json:"code"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || ans.Code == nil || ans.Text == "" {
			t.Fatalf("answer %d is not HEC's: %q", w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			if len(msgs) != 0 {
				t.Fatalf("answer %d but %d frames published", w.Code, len(msgs))
			}
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("unexpected status %d: %s", w.Code, w.Body)
			}
			return
		}
		if *ans.Code != 0 || len(msgs) != 1 {
			t.Fatalf("200 %s with %d frames", w.Body, len(msgs))
		}
		if len(body) > fuzzLimit {
			t.Fatalf("200 for %d bytes, limit %d", len(body), fuzzLimit)
		}
		fr := event.Parse(msgs[0].header, msgs[0].data)
		got := frameEvents(t, fr)
		want, ok := hecOracle(body, raw)
		if !ok {
			t.Fatalf("200 for a body the oracle refuses: %q", body)
		}
		if len(got) != len(want) {
			t.Fatalf("%d events stored, oracle counts %d", len(got), len(want))
		}
		for i := range want {
			g, _ := json.Marshal(jpath(got[i], "event.event"))
			if !bytes.Equal(g, want[i]) {
				t.Fatalf("event %d: stored %s, sent %s", i, g, want[i])
			}
		}
	})
}

// hecOracle decodes a HEC body with encoding/json: the events' "event"
// values, re-marshalled, or false when the body is not valid HEC.
func hecOracle(body []byte, raw bool) ([][]byte, bool) {
	var out [][]byte
	if raw {
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(bytes.Trim(line, " \t\r")) == 0 {
				continue
			}
			b, _ := json.Marshal(string(line))
			out = append(out, b)
		}
		return out, len(out) > 0
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	for {
		var ev map[string]any
		err := d.Decode(&ev)
		if err == io.EOF {
			break
		}
		if err != nil || ev == nil || ev["event"] == nil || ev["event"] == "" {
			return nil, false
		}
		b, _ := json.Marshal(ev["event"])
		out = append(out, b)
	}
	return out, len(out) > 0
}

// FuzzCJScan holds the compatible inputs' one-pass validator to
// decode.Valid: the same verdict on every input and depth limit, and for
// an object, members that are exactly its top-level keys and values.
func FuzzCJScan(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9\n"}}`, `"\ud800"`, `-0.5e+10`, `01`, `1.`, `{"a" 1}`,
		"\"\xff\"", "\"a\x01\"", `[1,]`, `{"a":1}x`, `  [[[[]]]]  `, `"\x"`, `tru`, `{"k\"ey":"v\\"}`, "\"é€😀\"",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		d := int(depth%70) + 1
		want := decode.Valid(b, decode.Limits{MaxDepth: d}) == nil
		got, why := cjValid(b, d)
		if got != want {
			t.Fatalf("cjValid = %v (%s), decode.Valid = %v, depth %d: %q", got, why, want, d, b)
		}
		if !got && why == "" {
			t.Fatal("refused without a reason")
		}
		i := cjWS(b, 0)
		if !got || i >= len(b) || b[i] != '{' {
			return
		}
		sc := cjScan{b: b, maxDepth: d}
		end, ms := sc.topObject(i, nil)
		if end < 0 || cjWS(b, end) != len(b) {
			t.Fatalf("topObject end %d (%s) for a valid object %q", end, sc.err, b)
		}
		var ref []cjMember
		it := cjNewObject(b, i)
		for {
			k, v, ok := it.Next()
			if !ok {
				break
			}
			ref = append(ref, cjMember{key: k, val: v})
		}
		if len(ref) != len(ms) {
			t.Fatalf("%d members, want %d: %q", len(ms), len(ref), b)
		}
		for j := range ref {
			if !bytes.Equal(ref[j].key, ms[j].key) || !bytes.Equal(ref[j].val, ms[j].val) {
				t.Fatalf("member %d: %q=%q, want %q=%q", j, ms[j].key, ms[j].val, ref[j].key, ref[j].val)
			}
		}
	})
}

// cjAppendString writes what cjAppendEscaped writes, and refuses exactly
// the strings that are not valid UTF-8.
func FuzzCJAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text", "a\"b\\c\n\t\x01\x7f", "é€😀 mixed ascii and more than eight bytes", "\xff", "abcdefgh\xc3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		got, ok := cjAppendString(nil, s)
		if ok != utf8.Valid(s) {
			t.Fatalf("ok %v for %q", ok, s)
		}
		if !ok {
			return
		}
		if want := cjAppendEscaped(nil, s); string(got) != string(want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != string(s) {
			t.Fatalf("%q → %s → %q, %v", s, got, back, err)
		}
	})
}

// cjRFC3339 accepts only what time accepts, and the usual spellings.
func FuzzCJRFC3339(f *testing.F) {
	for _, s := range []string{"2025-02-12T14:32:15Z", "2025-02-12T14:32:15.123456789+01:00", "2024-02-29T00:00:00Z", "2025-02-29T00:00:00Z",
		"2025-13-01T00:00:00Z", "2025-02-12T24:00:00Z", "2025-02-12T14:32:60Z", "2025-02-12T14:32:15+24:00", "2025-02-12t14:32:15z", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var tm time.Time
		if cjRFC3339([]byte(s)) && tm.UnmarshalText([]byte(s)) != nil {
			t.Fatalf("cjRFC3339 accepts %q, time does not", s)
		}
	})
}

func TestCJRFC3339Usual(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		tm := time.Unix(r.Int64N(253402300800), r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(47)-23)*3600+r.IntN(2)*1800))
		for _, layout := range []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00"} {
			if s := tm.Format(layout); !cjRFC3339([]byte(s)) {
				t.Fatalf("cjRFC3339 refuses %q", s)
			}
		}
	}
}
