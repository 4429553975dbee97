package kafka_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/kafka"
	"github.com/runnel/runnel/internal/model"
)

const docPath = "../../../docs/destinations/kafka.md"

// TestDocsExamples: the stream examples of docs/destinations/kafka.md
// (the YAML file and the API request body) are valid stream definitions.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	yamlBlock := regexp.MustCompile("(?s)```yaml\n(name: .*?)```").FindSubmatch(doc)
	if yamlBlock == nil {
		t.Fatal("no YAML stream example")
	}
	fromYAML, err := yaml.YAMLToJSON(yamlBlock[1])
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?s)-d '(\{\n    "name".*?)'\n`).FindSubmatch(doc)
	if body == nil {
		t.Fatal("no API request example")
	}
	reg := destination.NewRegistry(kafka.Kind())
	for name, js := range map[string][]byte{"yaml": fromYAML, "api": body[1]} {
		t.Run(name, func(t *testing.T) {
			var s model.Stream
			dec := json.NewDecoder(strings.NewReader(string(js)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				t.Fatalf("decode: %v\n%s", err, js)
			}
			s.Normalize(reg)
			if errs := s.Validate(reg); len(errs) > 0 {
				t.Fatalf("invalid: %v", errs)
			}
			if d, ok := s.Destination("kafka"); !ok || d.Type != "kafka" {
				t.Fatal("no kafka destination")
			}
		})
	}
}

// TestDocsSettings: the settings table names every setting, with its
// default.
func TestDocsSettings(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := json.Marshal(kafka.NewConfig())
	var def map[string]any
	if err := json.Unmarshal(defaults, &def); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[kafka.Config]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| ([^|]*) \\|").FindSubmatch(doc)
		if row == nil {
			t.Errorf("setting %s is not in the settings table", name)
			continue
		}
		if v, ok := def[name]; ok && v != "" && v != false && v != float64(0) {
			want := strings.TrimSuffix(strings.TrimPrefix(string(mustJSON(v)), `"`), `"`)
			if !strings.Contains(string(row[1]), want) {
				t.Errorf("setting %s: documented default %q, the default is %s", name, row[1], want)
			}
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
