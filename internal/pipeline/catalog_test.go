package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/model"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the sample events")

func stream(ds string, tpl model.Template) *model.Stream {
	return &model.Stream{DataSource: ds, Template: tpl}
}

func TestCompileTemplateChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *model.Stream
		want []string // paths
		msgs []string // substrings of the messages, in order
	}{
		{"custom takes any path", stream("custom", model.Template{Variables: []string{"event.status", "items.0.sku", "x"}}), nil, nil},
		{"empty data source is custom", stream("", model.Template{Variables: []string{"anything"}}), nil, nil},
		{"custom dataset", stream("custom", model.Template{Dataset: json.RawMessage(`{"s":"$event.status"}`)}), nil, nil},
		{"no template", stream("edge_applications", model.Template{}), nil, nil},
		{"catalog variables", stream("edge_applications", model.Template{
			Variables: []string{"status", "requestPath", "upstream_status_last", "traceback"}}), nil, nil},
		{"catalog dataset", stream("waf_events", model.Template{
			Dataset: json.RawMessage(`{"score":"$waf_score","literal":"$$waf_score","n":1,"o":{"x":"$nope"},"when":"$time"}`)}), nil, nil},
		{"each preset", stream("edge_functions", model.Template{Preset: "edge_functions_collector"}), nil, nil},

		{"unknown data source", stream("http", model.Template{}), []string{"data_source"},
			[]string{`unknown data source "http" (want one of activity_history, custom, edge_applications, edge_functions, waf_events)`}},
		{"unknown variable named by index", stream("edge_applications", model.Template{
			Variables: []string{"status", "host", "time", "request_path", "log_level", "status.code"}}),
			[]string{"template.variables[3]", "template.variables[4]", "template.variables[5]"},
			[]string{
				`"request_path" is not a variable of data source edge_applications (did you mean "requestPath"?); see GET /v1/data-sources`,
				`"log_level" is not a variable of data source edge_applications; see`,
				`"status.code" is not a variable`,
			}},
		{"variable of another data source", stream("activity_history", model.Template{Variables: []string{"waf_score"}}),
			[]string{"template.variables[0]"}, []string{`"waf_score" is not a variable of data source activity_history`}},
		{"unknown dataset reference", stream("waf_events", model.Template{
			Dataset: json.RawMessage(`{"ok":"$waf_score","bad":"$waf_block","case":"$RequestPath","a.b":"$x"}`)}),
			[]string{`template.dataset."bad"`, `template.dataset."case"`, `template.dataset."a.b"`},
			[]string{`"$waf_block" is not a variable of data source waf_events;`, `(did you mean "$requestPath"?)`, `"$x"`}},
		{"preset of another data source", stream("edge_applications", model.Template{Preset: "waf_collector"}),
			[]string{"template.preset"}, []string{`preset "waf_collector" is a template of data source waf_events, not of edge_applications`}},
		{"unknown preset", stream("waf_events", model.Template{Preset: "waf"}),
			[]string{"template.preset"}, []string{`unknown preset "waf" (data source waf_events has waf_collector)`}},
		{"preset on custom", stream("custom", model.Template{Preset: "waf_collector"}),
			[]string{"template.preset"}, []string{"not of custom"}},
		{"preset with variables", stream("waf_events", model.Template{Preset: "waf_collector", Variables: []string{"waf_score"}}),
			[]string{"template"}, []string{"a preset's variables cannot be changed"}},
		{"preset with dataset", stream("waf_events", model.Template{Preset: "waf_collector", Dataset: json.RawMessage(`{"a":"$waf_score"}`)}),
			[]string{"template"}, nil},
		{"syntax before catalog", stream("edge_applications", model.Template{Variables: []string{"status", ""}}),
			[]string{"template"}, []string{"variables[1]: empty path"}},
		{"unknown data source and variables", stream("nope", model.Template{Variables: []string{"x"}}),
			[]string{"data_source"}, nil},
	} {
		_, errs := Compile(tc.st, Options{})
		var got []string
		for _, e := range errs {
			got = append(got, e.Path)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: paths %q, want %q\n%v", tc.name, got, tc.want, errs)
			continue
		}
		for i, m := range tc.msgs {
			if !strings.Contains(errs[i].Message, m) {
				t.Errorf("%s: message %q lacks %q", tc.name, errs[i].Message, m)
			}
		}
	}
}

// A preset compiles to its variables, in order.
func TestPresetResolves(t *testing.T) {
	for _, p := range catalog.Presets() {
		plan, errs := Compile(stream(p.DataSource, model.Template{Preset: p.Name}), Options{})
		if errs != nil {
			t.Fatalf("%s: %v", p.Name, errs)
		}
		if got := plan.Template.Paths(); !slices.Equal(got, p.Variables) {
			t.Errorf("%s: paths %v, want %v", p.Name, got, p.Variables)
		}
	}
}

// Golden: for each data source with a preset, sample events (testdata/events)
// rendered under the preset and framed as `[$dataset]` with separator ","
// give exactly testdata/golden/<data source>.json. Regenerate with -update.
func TestGoldenPresets(t *testing.T) {
	sep := ","
	for _, ds := range catalog.All() {
		if len(ds.Presets) == 0 {
			continue
		}
		t.Run(ds.Name, func(t *testing.T) {
			preset, _ := catalog.Preset(ds.Presets[0])
			st := &model.Stream{DataSource: ds.Name, Template: model.Template{Preset: preset.Name}, Destinations: []model.Destination{
				{Name: "json", Payload: model.Payload{Format: "[$dataset]", LineSeparator: &sep, MaxSize: 1 << 20}},
				{Name: "ascii", Payload: model.Payload{Format: "[$dataset]", LineSeparator: &sep, MaxSize: 1 << 20, ASCIIOnly: true}},
			}}
			plan, errs := Compile(st, Options{})
			if errs != nil {
				t.Fatal(errs)
			}
			events := readLines(t, filepath.Join("testdata", "events", ds.Name+".ndjson"))
			for _, ev := range events { // the samples hold values of the catalog's types
				var m map[string]any
				if err := json.Unmarshal(ev, &m); err != nil {
					t.Fatal(err)
				}
				for k, v := range m {
					if cv, ok := catalog.Lookup(ds.Name, k); ok && !catalog.HasType(v, cv.Type) {
						t.Errorf("sample %s = %v is not a %s", k, v, cv.Type)
					}
				}
			}
			var recs, ascii [][]byte
			for _, ev := range events {
				rec, err := plan.Template.Render(nil, ev)
				if err != nil {
					t.Fatalf("render %s: %v", ev, err)
				}
				recs = append(recs, rec)
				ascii = append(ascii, plan.Payloads["ascii"].Encode(nil, rec))
			}
			out := plan.Payloads["json"].Frame(nil, recs)
			golden := filepath.Join("testdata", "golden", ds.Name+".json")
			if *update {
				if err := os.WriteFile(golden, append(bytes.Clone(out), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/pipeline -update)", err)
			}
			if !bytes.Equal(append(bytes.Clone(out), '\n'), want) {
				t.Fatalf("payload differs from %s (run with -update and review):\n got %s\nwant %s", golden, out, want)
			}

			// The payload is a JSON array of one object per event, with the
			// preset's variables as keys in order and the event's values
			// (null where the event lacks one).
			var arr []json.RawMessage
			if err := json.Unmarshal(out, &arr); err != nil || len(arr) != len(events) {
				t.Fatalf("payload is not a JSON array of %d records: %v", len(events), err)
			}
			for i, rec := range arr {
				if keys := objectKeys(t, rec); !slices.Equal(keys, preset.Variables) {
					t.Errorf("record %d keys %v", i, keys)
				}
				var got, ev map[string]any
				_ = json.Unmarshal(rec, &got)
				_ = json.Unmarshal(events[i], &ev)
				for _, k := range preset.Variables {
					if g, w := mustJSON(got[k]), mustJSON(ev[k]); g != w {
						t.Errorf("record %d %s = %s, event has %s", i, k, g, w)
					}
				}
			}

			// ascii_only: pure ASCII, and it decodes to the same records.
			aout := plan.Payloads["ascii"].Frame(nil, ascii)
			for _, c := range aout {
				if c >= 0x80 {
					t.Fatalf("ascii_only payload has byte %#x: %s", c, aout)
				}
			}
			var a1, a2 any
			if json.Unmarshal(aout, &a1) != nil || json.Unmarshal(out, &a2) != nil || mustJSON(a1) != mustJSON(a2) {
				t.Errorf("ascii_only payload decodes differently:\n%s\n%s", aout, out)
			}
		})
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("%s: %v, %d events", path, err, len(out))
	}
	return out
}

func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
