package pipeline

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/model"
)

func TestCompile(t *testing.T) {
	sep := ","
	st := &model.Stream{
		Template: model.Template{Variables: []string{"source", "event.status"}},
		Destinations: []model.Destination{
			{Name: "a", Payload: model.Payload{Format: "[$dataset]", LineSeparator: &sep, MaxSize: 1000}},
		},
	}
	p, errs := Compile(st, Options{})
	if errs != nil {
		t.Fatal(errs)
	}
	rec, err := p.Template.Render(nil, []byte(`{"source":"s","event":{"status":"ok"}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := p.Payloads["a"].Frame(nil, [][]byte{rec, rec})
	var arr []map[string]any
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 2 || arr[0]["event.status"] != "ok" {
		t.Fatalf("framed %s: %v", out, err)
	}
}

func TestCompileErrorsNameFields(t *testing.T) {
	st := &model.Stream{
		Template:     model.Template{Variables: []string{"ok", ""}},
		Destinations: []model.Destination{{Name: "a", Payload: model.Payload{Format: "no placeholder", MaxSize: 1000}}},
	}
	_, errs := Compile(st, Options{})
	if len(errs) != 2 || errs[0].Path != "template" || !strings.HasPrefix(errs[1].Path, "destinations[0].payload") {
		t.Fatalf("errors: %v", errs)
	}
}

func TestCompileChecksLogFormat(t *testing.T) {
	st := &model.Stream{DataSource: "edge_applications", LogFormat: "$remote_addr$status"}
	errs := Check(st, Options{})
	if len(errs) != 1 || errs[0].Path != "log_format" || !strings.Contains(errs[0].Message, "not separated") {
		t.Fatalf("errors %v, want log_format", errs)
	}
	st.LogFormat = `$remote_addr [$time_local] "$request" $status`
	if errs := Check(st, Options{}); errs != nil {
		t.Fatal(errs)
	}
}

func TestCompileChecksSchema(t *testing.T) {
	st := &model.Stream{Schema: json.RawMessage(`{"type":"objekt"}`)}
	errs := Check(st, Options{})
	if len(errs) != 1 || errs[0].Path != "schema" {
		t.Fatalf("errors %v, want schema", errs)
	}
	st.Schema = json.RawMessage(`{"$ref":"https://example.com/s.json"}`)
	if errs := Check(st, Options{}); len(errs) != 1 || errs[0].Path != "schema" {
		t.Fatalf("remote $ref: errors %v, want schema", errs)
	}
	st.Schema = json.RawMessage(`{"type":"object","required":["id"]}`)
	if errs := Check(st, Options{}); errs != nil {
		t.Fatal(errs)
	}
}
