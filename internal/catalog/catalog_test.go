package catalog

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestDataSources(t *testing.T) {
	want := []string{"activity_history", "custom", "edge_applications", "edge_functions", "waf_events"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	all := All()
	if len(all) != len(want) {
		t.Fatalf("All() has %d data sources", len(all))
	}
	for i, ds := range all {
		if ds.Name != want[i] || ds.Title == "" || ds.Description == "" {
			t.Errorf("data source %d: %+v", i, ds)
		}
		if ds.Variables == nil || ds.Presets == nil {
			t.Errorf("%s: nil variables or presets (they marshal as null)", ds.Name)
		}
		got, ok := Get(ds.Name)
		if !ok || got.Name != ds.Name || len(got.Variables) != len(ds.Variables) {
			t.Errorf("Get(%q) = %v, %v", ds.Name, got.Name, ok)
		}
		if !Valid(ds.Name) {
			t.Errorf("Valid(%q) is false", ds.Name)
		}
	}
	for _, bad := range []string{"", "Custom", "http", "waf", "cells_console", "rtm_activity", "edge_application"} {
		if _, ok := Get(bad); ok || Valid(bad) {
			t.Errorf("%q is a data source", bad)
		}
	}
	if c, _ := Get(Custom); len(c.Variables) != 0 || len(c.Presets) != 0 {
		t.Errorf("custom has variables or presets: %+v", c)
	}
}

// The variables the issue and the seed documentation name, per data
// source: every one is in the catalog with a type, a description and an
// example of that type, and nothing else is (the extras aside).
func TestCatalogCompleteness(t *testing.T) {
	documented := map[string][]string{
		"activity_history": {"author_email", "author_name", "client", "comment", "time", "title", "type"},
		"edge_applications": {
			"asn", "bytes_sent", "client", "configuration", "country", "host", "http_referrer", "http_user_agent",
			"proxy_status", "remote_addr", "remote_port", "request_id", "request_length", "request_method",
			"request_time", "request_uri", "requestPath", "requestQuery", "scheme", "sent_http_content_type",
			"sent_http_x_original_image_size", "server_addr", "server_port", "server_protocol", "session_id",
			"ssl_cipher", "ssl_protocol", "ssl_server_name", "ssl_session_reused", "state", "status", "stream",
			"tcpinfo_rtt", "time", "traceback",
			"upstream_addr", "upstream_bytes_received", "upstream_bytes_sent", "upstream_cache_status",
			"upstream_connect_time", "upstream_header_time", "upstream_response_time", "upstream_status",
			"waf_attack_action", "waf_attack_family", "waf_block", "waf_headers", "waf_learning", "waf_match",
			"waf_score", "waf_total_blocked", "waf_total_processed",
		},
		"edge_functions": {"client", "edge_function_id", "global_id", "log_level", "log_message", "message_source", "request_id", "time"},
		"waf_events": {
			"blocked", "client", "configuration", "country", "headers", "host", "remote_addr", "requestPath",
			"requestQuery", "server_protocol", "time", "truncated_body", "version", "waf_args", "waf_attack_action",
			"waf_attack_family", "waf_learning", "waf_match", "waf_score", "waf_server", "waf_uri",
		},
	}
	extras := map[string][]string{
		"activity_history": {"activity_id", "author_id", "origin", "resource", "resource_id", "resource_name"},
		"edge_applications": {
			"body_bytes_sent", "remote_user",
			"upstream_addr_last", "upstream_bytes_received_last", "upstream_bytes_sent_last", "upstream_cache_status_last",
			"upstream_connect_time_last", "upstream_header_time_last", "upstream_response_time_last", "upstream_status_last",
		},
	}
	for ds, names := range documented {
		src, ok := Get(ds)
		if !ok {
			t.Fatalf("no data source %s", ds)
		}
		var gotDoc, gotExtra []string
		for _, v := range src.Variables {
			if v.Extra {
				gotExtra = append(gotExtra, v.Name)
			} else {
				gotDoc = append(gotDoc, v.Name)
			}
			if !slices.Contains(Types, v.Type) || strings.TrimSpace(v.Description) == "" || v.Example == nil || !HasType(v.Example, v.Type) {
				t.Errorf("%s.%s: type %q, description %q, example %v", ds, v.Name, v.Type, v.Description, v.Example)
			}
			if strings.Contains(strings.ToLower(v.Description), "azion") {
				t.Errorf("%s.%s: the description names the seed product", ds, v.Name)
			}
		}
		slices.Sort(gotDoc)
		want := slices.Clone(names)
		slices.Sort(want)
		if !slices.Equal(gotDoc, want) {
			t.Errorf("%s: documented variables\n got %v\nwant %v", ds, gotDoc, want)
		}
		if !slices.Equal(gotExtra, extras[ds]) {
			t.Errorf("%s: extras %v, want %v", ds, gotExtra, extras[ds])
		}
	}
	// Every extra is derived from a variable of its data source, or is a
	// field of nginx's combined log format (package accesslog).
	combined := []string{"body_bytes_sent", "remote_user"}
	for _, v := range mustGet(t, "edge_applications").Variables {
		if v.Extra && !slices.Contains(combined, v.Name) {
			base, ok := strings.CutSuffix(v.Name, "_last")
			if _, found := Lookup("edge_applications", base); !ok || !found {
				t.Errorf("extra %s has no base variable", v.Name)
			}
		}
	}
	// About fifty, as the issue says.
	if n := len(documented["edge_applications"]); n < 50 {
		t.Errorf("edge_applications documents %d variables", n)
	}
}

func TestPresets(t *testing.T) {
	want := map[string]string{
		"activity_history_collector":      "activity_history",
		"edge_applications_waf_collector": "edge_applications",
		"edge_functions_collector":        "edge_functions",
		"waf_collector":                   "waf_events",
	}
	ps := Presets()
	if len(ps) != len(want) {
		t.Fatalf("%d presets", len(ps))
	}
	for _, p := range ps {
		if want[p.Name] != p.DataSource || p.Editable || p.Title == "" || p.Description == "" {
			t.Errorf("preset %+v", p)
		}
		src := mustGet(t, p.DataSource)
		if !slices.Equal(src.Presets, []string{p.Name}) {
			t.Errorf("%s lists presets %v", src.Name, src.Presets)
		}
		seen := map[string]bool{}
		for _, v := range p.Variables {
			if _, ok := Lookup(p.DataSource, v); !ok || seen[v] {
				t.Errorf("preset %s: %q missing from %s or repeated", p.Name, v, p.DataSource)
			}
			seen[v] = true
		}
		// A preset sends every documented variable but the conditional
		// (traceback) and deprecated (truncated_body) ones, in catalog order.
		var all []string
		for _, v := range src.Variables {
			if !v.Extra && v.Name != "traceback" && v.Name != "truncated_body" {
				all = append(all, v.Name)
			}
		}
		if !slices.Equal(p.Variables, all) {
			t.Errorf("preset %s variables\n got %v\nwant %v", p.Name, p.Variables, all)
		}
		got, ok := Preset(p.Name)
		if !ok || got.Name != p.Name {
			t.Errorf("Preset(%q) = %v %v", p.Name, got, ok)
		}
	}
	if _, ok := Preset(Custom); ok {
		t.Error("custom is a preset")
	}
	tpls := Templates()
	last := tpls[len(tpls)-1]
	if len(tpls) != len(ps)+1 || last.Name != Custom || !last.Editable || last.DataSource != "" || last.Variables == nil {
		t.Errorf("templates end with %+v", last)
	}
	// The names the seed product's titles give.
	titles := map[string]string{}
	for _, p := range ps {
		titles[p.Name] = p.Title
	}
	if titles["edge_applications_waf_collector"] != "Edge Applications + WAF Event Collector" ||
		titles["waf_collector"] != "WAF Event Collector" ||
		titles["edge_functions_collector"] != "Edge Functions Event Collector" ||
		titles["activity_history_collector"] != "Activity History Collector" {
		t.Errorf("titles %v", titles)
	}
}

func TestCopies(t *testing.T) {
	ds, _ := Get("edge_applications")
	ds.Variables[0].Name = "changed"
	ds.Presets[0] = "changed"
	p, _ := Preset("waf_collector")
	p.Variables[0] = "changed"
	all := All()
	all[0].Variables[0].Description = "changed"
	if v, _ := Get("edge_applications"); v.Variables[0].Name == "changed" || v.Presets[0] == "changed" {
		t.Error("Get shares the catalog's slices")
	}
	if v, _ := Preset("waf_collector"); v.Variables[0] == "changed" {
		t.Error("Preset shares the catalog's slices")
	}
	if All()[0].Variables[0].Description == "changed" {
		t.Error("All shares the catalog's slices")
	}
}

func TestAllowsAndSuggest(t *testing.T) {
	for _, tc := range []struct {
		ds, path string
		want     bool
	}{
		{"custom", "anything.at.all", true},
		{"custom", "", true},
		{"edge_applications", "status", true},
		{"edge_applications", "upstream_status_last", true},
		{"edge_applications", "requestPath", true},
		{"edge_applications", "request_path", false},
		{"edge_applications", "status.code", false},
		{"edge_applications", "log_level", false},
		{"edge_functions", "log_level", true},
		{"waf_events", "waf_score", true},
		{"waf_events", "waf_block", false},
		{"activity_history", "author_name", true},
		{"nope", "status", false},
	} {
		if got := Allows(tc.ds, tc.path); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v", tc.ds, tc.path, got)
		}
	}
	for path, want := range map[string]string{
		"request_path": "requestPath", "RequestQuery": "requestQuery", "STATUS": "status", "statuscode": "", "": "",
	} {
		if got := Suggest("edge_applications", path); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", path, got, want)
		}
	}
	if Suggest("nope", "status") != "" {
		t.Error("suggestion for an unknown data source")
	}
}

func TestHasType(t *testing.T) {
	for _, tc := range []struct {
		v    any
		typ  string
		want bool
	}{
		{"x", TypeString, true},
		{1.0, TypeString, false},
		{"2022-10-31T19:30:41Z", TypeTimestamp, true},
		{"2022-10-31T19:30:41.123-03:00", TypeTimestamp, true},
		{"Oct. 31st, 2022 - 19:30:41", TypeTimestamp, false},
		{1.0, TypeTimestamp, false},
		{true, TypeBoolean, true},
		{"true", TypeBoolean, false},
		{1.5, TypeNumber, true},
		{json.Number("2"), TypeNumber, true},
		{"1.5", TypeNumber, false},
		{2.0, TypeInteger, true},
		{2.5, TypeInteger, false},
		{json.Number("12"), TypeInteger, true},
		{json.Number("1.2"), TypeInteger, false},
		{int64(3), TypeInteger, true},
		{"3", TypeInteger, false},
		{"x", "uuid", false},
	} {
		if got := HasType(tc.v, tc.typ); got != tc.want {
			t.Errorf("HasType(%#v, %q) = %v", tc.v, tc.typ, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	ds := func(name, vars string) string {
		return `{"name":"` + name + `","title":"T","description":"D","variables":[` + vars + `]}`
	}
	v := func(name, typ, ex string) string {
		return `{"name":"` + name + `","type":"` + typ + `","description":"d","example":` + ex + `}`
	}
	custom := ds("custom", "")
	good := ds("s", v("a", "string", `"x"`)+","+v("b", "integer", "1"))
	preset := func(name, src, vars string) string {
		return `{"name":"` + name + `","data_source":"` + src + `","title":"T","description":"D","variables":[` + vars + `]}`
	}
	doc := func(sources []string, presets ...string) string {
		return `{"data_sources":[` + strings.Join(sources, ",") + `],"presets":[` + strings.Join(presets, ",") + `]}`
	}
	if _, err := parse([]byte(doc([]string{custom, good}, preset("p", "s", `"a","b"`)))); err != nil {
		t.Fatalf("good document: %v", err)
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field":      {`{"data_sources":[],"presets":[],"x":1}`, "unknown field"},
		"no custom":          {doc([]string{good}), "custom is missing"},
		"duplicate source":   {doc([]string{custom, good, good}), `"s": listed twice`},
		"no title":           {doc([]string{custom, `{"name":"s","description":"D","variables":[]}`}), "title"},
		"duplicate variable": {doc([]string{custom, ds("s", v("a", "string", `"x"`)+","+v("a", "string", `"y"`))}), `"a" listed twice`},
		"bad type":           {doc([]string{custom, ds("s", v("a", "uuid", `"x"`))}), `type "uuid"`},
		"bad example":        {doc([]string{custom, ds("s", v("a", "integer", `"x"`))}), "not a integer"},
		"bad timestamp":      {doc([]string{custom, ds("s", v("a", "timestamp", `"yesterday"`))}), "not a timestamp"},
		"no example":         {doc([]string{custom, ds("s", `{"name":"a","type":"string","description":"d"}`)}), "no example"},
		"no description":     {doc([]string{custom, ds("s", `{"name":"a","type":"string","description":" ","example":"x"}`)}), "no description"},
		"dotted name":        {doc([]string{custom, ds("s", v("a.b", "string", `"x"`))}), "invalid name"},
		"dollar name":        {doc([]string{custom, ds("s", v("$a", "string", `"x"`))}), "invalid name"},
		"custom variables":   {doc([]string{ds("custom", v("a", "string", `"x"`))}), "has no variables"},
		"preset of unknown":  {doc([]string{custom, good}, preset("p", "nope", `"a"`)), `unknown data source "nope"`},
		"preset of custom":   {doc([]string{custom, good}, preset("p", "custom", `"a"`)), "has no presets"},
		"preset named custom": {doc([]string{custom, good}, preset("custom", "s", `"a"`)),
			"custom template"},
		"preset unknown var": {doc([]string{custom, good}, preset("p", "s", `"a","c"`)), `"c" is not a variable of s`},
		"preset repeats var": {doc([]string{custom, good}, preset("p", "s", `"a","a"`)), `"a" listed twice`},
		"preset no vars":     {doc([]string{custom, good}, preset("p", "s", "")), "no variables"},
		"duplicate preset":   {doc([]string{custom, good}, preset("p", "s", `"a"`), preset("p", "s", `"b"`)), `"p": listed twice`},
		"editable preset": {doc([]string{custom, good},
			`{"name":"p","data_source":"s","title":"T","description":"D","variables":["a"],"editable":true}`), "not editable"},
	} {
		_, err := parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

// The JSON shapes of the API answers: names as the brief fixes them, no
// nulls for empty lists.
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(DataSourceList{Items: All()})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, it := range got.Items {
		for _, k := range []string{"name", "title", "description", "variables", "presets"} {
			if it[k] == nil {
				t.Errorf("%v: %s is null or missing", it["name"], k)
			}
		}
	}
	s := string(b)
	for _, want := range []string{
		`{"name":"bytes_sent","type":"integer","description":"Bytes sent to the client, headers and body.","example":191}`,
		`"example":0.234`,
		`{"name":"upstream_status_last","type":"integer",`,
		`"extra":true}`,
		`"presets":["edge_applications_waf_collector"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("data sources JSON lacks %s", want)
		}
	}
	b, _ = json.Marshal(TemplateList{Items: Templates()})
	if !strings.Contains(string(b), `{"name":"waf_collector","data_source":"waf_events","title":"WAF Event Collector",`) ||
		!strings.Contains(string(b), `"variables":[],"editable":true}`) {
		t.Errorf("templates JSON %s", b)
	}
}

func mustGet(t *testing.T, name string) DataSource {
	t.Helper()
	ds, ok := Get(name)
	if !ok {
		t.Fatalf("no data source %s", name)
	}
	return ds
}
