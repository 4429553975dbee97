package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/catalog"
)

// catalogAPI answers the catalog routes as the server does.
func catalogAPI(t *testing.T) *fakeAPI {
	return newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/data-sources":
			writeJSONResp(w, 200, catalog.DataSourceList{Items: catalog.All()})
		case r.Method == "GET" && r.URL.Path == "/v1/templates":
			writeJSONResp(w, 200, catalog.TemplateList{Items: catalog.Templates()})
		default:
			apiErr(w, 404, "not_found", r.URL.Path)
		}
	})
}

func TestSourcesList(t *testing.T) {
	f := catalogAPI(t)
	res := f.run("sources")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	want := [][]string{
		{"NAME", "TITLE", "VARIABLES", "PRESETS"},
		{"activity_history", "Activity", "History", "13", "activity_history_collector"},
		{"custom", "Custom", "any", "path", "-"},
		{"edge_applications", "Edge", "Applications", "62", "edge_applications_waf_collector"},
		{"edge_functions", "Edge", "Functions", "8", "edge_functions_collector"},
		{"waf_events", "WAF", "Events", "21", "waf_collector"},
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", res.stdout)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}
	if r := f.requests()[0]; r.Path != "/v1/data-sources" || r.Header.Get("Authorization") != "Bearer tok-secret" {
		t.Errorf("request %+v", r)
	}

	res = f.run("data-sources", "-o", "json")
	var list catalog.DataSourceList
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &list) != nil || len(list.Items) != 5 {
		t.Errorf("-o json: %v %.200q", res.err, res.stdout)
	}
	res = f.run("sources", "-o", "yaml")
	if res.err != nil || !strings.Contains(res.stdout, "- name: edge_applications\n") ||
		!strings.Contains(res.stdout, " example: 191\n") {
		t.Errorf("-o yaml: %v\n%.600s", res.err, res.stdout)
	}
}

func TestSourcesGet(t *testing.T) {
	f := catalogAPI(t)
	res := f.run("sources", "get", "edge_applications")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if lines[0] != "edge_applications (Edge Applications)" || !strings.HasPrefix(lines[1], "HTTP requests served by") ||
		lines[2] != "preset: edge_applications_waf_collector" || lines[3] != "" {
		t.Fatalf("head:\n%s", strings.Join(lines[:4], "\n"))
	}
	if h := strings.Fields(lines[4]); strings.Join(h, " ") != "VARIABLE TYPE EXAMPLE DESCRIPTION" {
		t.Errorf("header %q", h)
	}
	rows := map[string]string{}
	for _, l := range lines[5:] {
		rows[strings.Fields(l)[0]] = l
	}
	if len(rows) != 62 {
		t.Errorf("%d variable rows", len(rows))
	}
	for name, want := range map[string][]string{
		"status":               {"integer", "200", "HTTP status code"},
		"asn":                  {"string", `"AS52580"`},
		"request_time":         {"number", "0.234"},
		"time":                 {"timestamp", `"2022-10-31T19:30:41Z"`},
		"upstream_status":      {"string", `"502 : 200"`},
		"upstream_status_last": {"integer", "200", "(extra) Last value of upstream_status"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[name], w) {
				t.Errorf("row %s = %q lacks %q", name, rows[name], w)
			}
		}
	}

	res = f.run("sources", "get", "custom")
	if res.err != nil || !strings.HasSuffix(res.stdout, "variables: any path of the event\n") || strings.Contains(res.stdout, "\npreset:") {
		t.Errorf("custom: %v %q", res.err, res.stdout)
	}

	res = f.run("sources", "get", "waf_events", "-o", "json")
	var ds catalog.DataSource
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &ds) != nil || ds.Name != "waf_events" || len(ds.Variables) != 21 {
		t.Errorf("-o json: %v %.200q", res.err, res.stdout)
	}

	res = f.run("sources", "get", "syslog")
	if res.err == nil || res.stderr != "error: unknown data source \"syslog\" (want one of activity_history, custom, edge_applications, edge_functions, waf_events)\n" {
		t.Errorf("unknown: %v %q", res.err, res.stderr)
	}
	res = f.run("sources", "get")
	if res.err == nil {
		t.Error("get without a name succeeded")
	}
}

func TestTemplates(t *testing.T) {
	f := catalogAPI(t)
	res := f.run("templates")
	if res.err != nil {
		t.Fatalf("%v %s", res.err, res.stderr)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	want := []string{
		"NAME DATA SOURCE TITLE VARIABLES EDITABLE",
		"activity_history_collector activity_history Activity History Collector 7 false",
		"edge_applications_waf_collector edge_applications Edge Applications + WAF Event Collector 51 false",
		"edge_functions_collector edge_functions Edge Functions Event Collector 8 false",
		"waf_collector waf_events WAF Event Collector 20 false",
		"custom all Custom Template any true",
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", res.stdout)
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != w {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}

	res = f.run("templates", "--data-source", "waf_events", "-o", "json")
	var list catalog.TemplateList
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &list) != nil || len(list.Items) != 2 ||
		list.Items[0].Name != "waf_collector" || list.Items[1].Name != "custom" {
		t.Errorf("--data-source: %v %s", res.err, res.stdout)
	}
	res = f.run("templates", "-o", "xml")
	if res.err == nil || !strings.Contains(res.stderr, `--output "xml"`) {
		t.Errorf("-o xml: %v %q", res.err, res.stderr)
	}
}
