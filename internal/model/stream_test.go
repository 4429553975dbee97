package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeKinds knows "http" (alias "standard"), which requires a url setting,
// and "kafka" (alias "apache_kafka"), with different default batches.
type fakeKinds struct{}

func (fakeKinds) Canonical(typ string) (string, bool) {
	switch typ {
	case "http", "standard":
		return "http", true
	case "kafka", "apache_kafka":
		return "kafka", true
	}
	return "", false
}

func (fakeKinds) Names() []string { return []string{"http", "kafka"} }

func (fakeKinds) ValidateSettings(typ string, settings map[string]any) FieldErrors {
	var errs FieldErrors
	if typ == "http" {
		if u, _ := settings["url"].(string); u == "" {
			errs.Add("url", "is required")
		}
	}
	return errs
}

func (fakeKinds) DefaultBatch(typ string) Batch {
	if typ == "kafka" {
		return Batch{MaxEvents: 500, MaxAge: Duration(10 * time.Second)}
	}
	return Batch{MaxEvents: 2000, MaxAge: Duration(60 * time.Second)}
}

func (fakeKinds) IsSecret(typ, path string) bool { return path == "api_key" }

var kinds Kinds = fakeKinds{}

func ptr[T any](v T) *T { return &v }

func TestNormalizeDefaults(t *testing.T) {
	s := Stream{
		Name: "payments",
		Destinations: []Destination{
			{Name: "hook", Type: "standard", Settings: map[string]any{"url": "https://h.example"}},
			{Name: "bus", Type: "apache_kafka"},
			{Name: "odd", Type: "carrier_pigeon"},
		},
	}
	s.Normalize(kinds)
	if s.Status != StatusActive || !s.Active() {
		t.Errorf("status = %q", s.Status)
	}
	if s.DataSource != "custom" {
		t.Errorf("data_source = %q", s.DataSource)
	}
	if s.AuthenticationRequired == nil || !*s.AuthenticationRequired || !s.AuthRequired() {
		t.Errorf("authentication_required = %v", s.AuthenticationRequired)
	}
	if want := (Buffer{MaxBytes: 10 << 30, MaxAge: Duration(168 * time.Hour), Overflow: OverflowReject}); s.Buffer != want {
		t.Errorf("buffer = %+v, want %+v", s.Buffer, want)
	}
	if want := (StreamLimits{MaxPayload: 1 << 20}); s.Limits != want {
		t.Errorf("limits = %+v, want %+v", s.Limits, want)
	}
	for i, d := range s.Destinations {
		if d.Payload.MaxSize != 1_000_000 || d.Payload.Format != "$dataset" || d.Payload.LineSeparator == nil || *d.Payload.LineSeparator != "\n" || d.Payload.ASCIIOnly {
			t.Errorf("destinations[%d].payload = %+v", i, d.Payload)
		}
		if d.Health.Interval != Duration(60*time.Second) {
			t.Errorf("destinations[%d].health = %v", i, d.Health.Interval.D())
		}
		if d.Settings == nil {
			t.Errorf("destinations[%d].settings is nil", i)
		}
	}
	// Aliases become canonical and the batch defaults are the type's.
	if d := s.Destinations[0]; d.Type != "http" || d.Batch != (Batch{2000, Duration(time.Minute)}) {
		t.Errorf("http destination: type %q batch %+v", d.Type, d.Batch)
	}
	if d := s.Destinations[1]; d.Type != "kafka" || d.Batch != (Batch{500, Duration(10 * time.Second)}) {
		t.Errorf("kafka destination: type %q batch %+v", d.Type, d.Batch)
	}
	// An unknown type is left for Validate to report, without batch defaults.
	if d := s.Destinations[2]; d.Type != "carrier_pigeon" || d.Batch != (Batch{}) {
		t.Errorf("unknown destination: type %q batch %+v", d.Type, d.Batch)
	}
	if d, ok := s.Destination("bus"); !ok || d != &s.Destinations[1] {
		t.Error("Destination(bus)")
	}
	if _, ok := s.Destination("nope"); ok {
		t.Error("Destination(nope) found")
	}

	// Normalize is idempotent.
	before, _ := json.Marshal(s)
	s.Normalize(kinds)
	after, _ := json.Marshal(s)
	if string(before) != string(after) {
		t.Errorf("second Normalize changed\n%s\nto\n%s", before, after)
	}
}

func TestNormalizeNoDestinations(t *testing.T) {
	s := Stream{Name: "x"}
	s.Normalize(kinds)
	if s.Destinations == nil || len(s.Destinations) != 0 {
		t.Errorf("destinations = %#v", s.Destinations)
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"destinations":[]`) {
		t.Errorf("Marshal = %s", b)
	}
	if errs := s.Validate(kinds); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
}

func TestNormalizeKeepsValues(t *testing.T) {
	s := Stream{
		Name:                   "x",
		Status:                 StatusInactive,
		DataSource:             "waf_events",
		AuthenticationRequired: ptr(false),
		Buffer:                 Buffer{MaxBytes: 2 << 20, MaxAge: Duration(time.Hour), Overflow: OverflowDropOldest},
		Limits:                 StreamLimits{MaxPayload: 4096, EventsPerSecond: 5, Burst: 10},
		Destinations: []Destination{{
			Name:     "hook",
			Type:     "http",
			Settings: map[string]any{"url": "u"},
			Payload:  Payload{MaxSize: 500, LineSeparator: ptr(""), Format: "[$dataset]", ASCIIOnly: true},
			Batch:    Batch{MaxEvents: 7},
			Health:   Health{Interval: Duration(5 * time.Second)},
		}},
	}
	s.Normalize(kinds)
	if s.Status != StatusInactive || s.Active() || s.DataSource != "waf_events" || s.AuthRequired() {
		t.Errorf("stream fields changed: %+v", s)
	}
	if s.Buffer != (Buffer{2 << 20, Duration(time.Hour), OverflowDropOldest}) || s.Limits != (StreamLimits{4096, 5, 10}) {
		t.Errorf("buffer %+v limits %+v", s.Buffer, s.Limits)
	}
	d := s.Destinations[0]
	if d.Payload.MaxSize != 500 || *d.Payload.LineSeparator != "" || d.Payload.Format != "[$dataset]" || !d.Payload.ASCIIOnly {
		t.Errorf("payload = %+v", d.Payload)
	}
	// A partly set batch keeps its value and takes the other default.
	if d.Batch != (Batch{7, Duration(time.Minute)}) {
		t.Errorf("batch = %+v", d.Batch)
	}
	if d.Health.Interval != Duration(5*time.Second) {
		t.Errorf("health = %v", d.Health.Interval.D())
	}
}

// validStream is a normalized stream that passes Validate.
func validStream() Stream {
	s := Stream{
		Name:     "payments",
		Template: Template{Variables: []string{"timestamp", "event.status"}},
		Destinations: []Destination{
			{Name: "hook", Type: "http", Settings: map[string]any{"url": "https://h.example"}},
			{Name: "bus", Type: "kafka", Settings: map[string]any{"kafka_topic": "t"}},
		},
	}
	s.Normalize(kinds)
	return s
}

func dests(n int) []Destination {
	out := make([]Destination, n)
	for i := range out {
		out[i] = Destination{Name: fmt.Sprintf("d%d", i), Type: "kafka", Settings: map[string]any{}}
	}
	return out
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(s *Stream) // applied after Normalize
		want []string
		msgs []string // substrings of the messages, in order, where given
	}{
		{"valid", func(s *Stream) {}, nil, nil},
		{"valid limits", func(s *Stream) {
			s.Name = "A-b_c.d"
			s.Description = strings.Repeat("d", 1024)
			s.Status = StatusInactive
			s.Buffer = Buffer{MaxBytes: 1 << 20, MaxAge: Duration(time.Minute), Overflow: OverflowDropOldest}
			s.Limits = StreamLimits{MaxPayload: 1024, EventsPerSecond: 1, Burst: 1}
			s.Destinations[0].Name = strings.Repeat("X", 64)
			s.Destinations[0].Payload.MaxSize = 64
			s.Destinations[0].Payload.Format = "[$dataset]"
			s.Destinations[0].Batch = Batch{1, Duration(10 * time.Millisecond)}
			s.Destinations[0].Health.Interval = Duration(time.Second)
			s.Destinations[1].Payload.MaxSize = 256 << 20
			s.Destinations[1].Batch = Batch{100_000, Duration(time.Hour)}
		}, nil, nil},
		{"32 destinations", func(s *Stream) { s.Destinations = dests(32); s.Normalize(kinds) }, nil, nil},
		{"no template", func(s *Stream) { s.Template = Template{} }, nil, nil},
		{"dataset template", func(s *Stream) {
			s.Template = Template{Dataset: json.RawMessage(`{"status":"$event.status"}`)}
		}, nil, nil},
		{"every data source", func(s *Stream) {
			for _, ds := range []string{"custom", "activity_history", "edge_applications", "edge_functions", "waf_events"} {
				c := *s
				c.DataSource = ds
				if errs := c.Validate(kinds); errs != nil {
					s.Name = "" // fail below, naming the field
					s.Description = ds + ": " + errs.Error()
				}
			}
		}, nil, nil},
		{"each preset with its data source", func(s *Stream) {
			s.DataSource = "edge_applications"
			s.Template = Template{Preset: "edge_applications_waf_collector"}
		}, nil, nil},
		{"waf preset", func(s *Stream) { s.DataSource = "waf_events"; s.Template = Template{Preset: "waf_collector"} }, nil, nil},
		{"functions preset", func(s *Stream) {
			s.DataSource = "edge_functions"
			s.Template = Template{Preset: "edge_functions_collector"}
		}, nil, nil},
		{"activity preset", func(s *Stream) {
			s.DataSource = "activity_history"
			s.Template = Template{Preset: "activity_history_collector"}
		}, nil, nil},
		{"null is not set", func(s *Stream) {
			s.Processors = json.RawMessage(`null`)
			s.Schema = json.RawMessage(` null `)
			s.Template.Dataset = json.RawMessage(`null`)
		}, nil, nil},

		// Name.
		{"no name", func(s *Stream) { s.Name = "" }, []string{"name"}, []string{"is required"}},
		{"name with space", func(s *Stream) { s.Name = "my stream" }, []string{"name"}, []string{"letters, digits"}},
		{"name with slash", func(s *Stream) { s.Name = "a/b" }, []string{"name"}, nil},
		{"name leading dash", func(s *Stream) { s.Name = "-a" }, []string{"name"}, nil},
		{"name non-ASCII", func(s *Stream) { s.Name = "paiements-é" }, []string{"name"}, nil},
		{"name 65", func(s *Stream) { s.Name = strings.Repeat("a", 65) }, []string{"name"}, []string{"1-64"}},
		{"name str_", func(s *Stream) { s.Name = "str_0123" }, []string{"name"}, []string{`"str_"`}},
		{"name STR_ is fine", func(s *Stream) { s.Name = "STR_x" }, nil, nil},

		// Stream fields.
		{"description", func(s *Stream) { s.Description = strings.Repeat("d", 1025) }, []string{"description"}, []string{"1024"}},
		{"status", func(s *Stream) { s.Status = "paused" }, []string{"status"}, []string{`"active" or "inactive"`}},
		{"data source", func(s *Stream) { s.DataSource = "waf" }, []string{"data_source"},
			[]string{`unknown data source "waf" (want one of activity_history, custom, edge_applications, edge_functions, waf_events)`}},
		{"data source case", func(s *Stream) { s.DataSource = "Custom" }, []string{"data_source"}, nil},
		{"preset", func(s *Stream) { s.Template = Template{Preset: "default"} }, []string{"template.preset"},
			[]string{`unknown preset "default": data source "custom" has no presets (set variables or dataset)`}},
		{"custom is not a preset", func(s *Stream) { s.DataSource = "waf_events"; s.Template = Template{Preset: "custom"} },
			[]string{"template.preset"}, []string{`unknown preset "custom" (data source waf_events has waf_collector)`}},
		{"preset of another data source", func(s *Stream) {
			s.DataSource = "edge_functions"
			s.Template = Template{Preset: "waf_collector"}
		}, []string{"template.preset"}, []string{`preset "waf_collector" is a template of data source waf_events, not of edge_functions`}},
		{"preset with custom data source", func(s *Stream) { s.Template = Template{Preset: "waf_collector"} },
			[]string{"template.preset"}, []string{`preset "waf_collector" is a template of data source waf_events, not of custom`}},
		{"preset with unknown data source", func(s *Stream) { s.DataSource = "nope"; s.Template = Template{Preset: "waf_collector"} },
			[]string{"data_source"}, nil},
		{"unknown preset, unknown data source", func(s *Stream) { s.DataSource = "nope"; s.Template = Template{Preset: "x"} },
			[]string{"data_source", "template.preset"}, []string{"", `unknown preset "x"`}},
		{"preset and variables", func(s *Stream) {
			s.DataSource = "waf_events"
			s.Template = Template{Preset: "waf_collector", Variables: []string{"waf_score"}}
		}, []string{"template"}, []string{"set at most one of variables, dataset and preset (a preset's variables cannot be changed)"}},
		{"preset and dataset", func(s *Stream) {
			s.DataSource = "activity_history"
			s.Template = Template{Preset: "activity_history_collector", Dataset: json.RawMessage(`{"who":"$author_name"}`)}
		}, []string{"template"}, nil},
		{"variables and dataset", func(s *Stream) { s.Template.Dataset = json.RawMessage(`{"a":"$b"}`) },
			[]string{"template"}, []string{"at most one of variables, dataset and preset"}},
		{"variables and preset", func(s *Stream) { s.Template.Preset = "p" },
			[]string{"template.preset", "template"}, nil},
		// Processors and schema are compiled by package pipeline.
		{"processors", func(s *Stream) { s.Processors = json.RawMessage(`[{"set":{}}]`) }, nil, nil},
		{"schema", func(s *Stream) { s.Schema = json.RawMessage(`{"type":"object"}`) }, nil, nil},
		{"domains all", func(s *Stream) { s.Domains = &Domains{All: ptr(true), SamplingPercent: ptr(12.5)} }, nil, nil},
		{"domains list", func(s *Stream) { s.Domains = &Domains{List: []string{"a.example.com", "*.Example.org", "b:8080"}} },
			[]string{"domains.list[2]"}, []string{`"b:8080" is not a host name`}},
		{"domains all and list", func(s *Stream) { s.Domains = &Domains{All: ptr(true), List: []string{"a.example.com"}} },
			[]string{"domains"}, []string{"not both"}},
		{"domains none", func(s *Stream) { s.Domains = &Domains{All: ptr(false)} },
			[]string{"domains.list"}, []string{"required when all is false"}},
		{"domains duplicate", func(s *Stream) { s.Domains = &Domains{List: []string{"a.example.com", "A.example.com"}} },
			[]string{"domains.list[1]"}, []string{"duplicate"}},
		{"domains bad host", func(s *Stream) { s.Domains = &Domains{List: []string{"a..b", "-a.b", "*", "a b"}} },
			[]string{"domains.list[0]", "domains.list[1]", "domains.list[2]", "domains.list[3]"}, nil},
		{"domains of activity", func(s *Stream) {
			s.DataSource = "activity_history"
			s.Template = Template{}
			s.Domains = &Domains{List: []string{"a.example.com"}}
		}, []string{"domains.list"}, []string{"do not apply to data source activity_history"}},
		{"sampling zero", func(s *Stream) { s.Domains = &Domains{SamplingPercent: ptr(0.0)} },
			[]string{"domains.sampling_percent"}, []string{"more than 0 and at most 100"}},
		{"sampling over", func(s *Stream) { s.Domains = &Domains{SamplingPercent: ptr(100.5)} }, []string{"domains.sampling_percent"}, nil},
		{"sampling decimals", func(s *Stream) { s.Domains = &Domains{SamplingPercent: ptr(33.333)} },
			[]string{"domains.sampling_percent"}, []string{"two decimals"}},
		{"log format custom", func(s *Stream) { s.LogFormat = "$remote_addr" }, []string{"log_format"}, []string{"only streams of data source edge_applications"}},
		{"buffer too small", func(s *Stream) { s.Buffer.MaxBytes = 1<<20 - 1 }, []string{"buffer.max_bytes"}, []string{"1MiB"}},
		{"buffer negative", func(s *Stream) { s.Buffer.MaxBytes = -1 }, []string{"buffer.max_bytes"}, nil},
		{"buffer age", func(s *Stream) { s.Buffer.MaxAge = Duration(59 * time.Second) }, []string{"buffer.max_age"}, []string{"1m"}},
		{"overflow", func(s *Stream) { s.Buffer.Overflow = "block" }, []string{"buffer.overflow"}, []string{`"reject" or "drop_oldest"`}},
		{"max payload small", func(s *Stream) { s.Limits.MaxPayload = 1023 }, []string{"limits.max_payload"}, []string{"1KiB and 16MiB"}},
		{"max payload large", func(s *Stream) { s.Limits.MaxPayload = 16<<20 + 1 }, []string{"limits.max_payload"}, nil},
		{"rate negative", func(s *Stream) { s.Limits.EventsPerSecond = -1 }, []string{"limits.events_per_second"}, nil},
		{"burst negative", func(s *Stream) { s.Limits.Burst = -1 }, []string{"limits.burst"}, nil},
		{"33 destinations", func(s *Stream) { s.Destinations = dests(33); s.Normalize(kinds) }, []string{"destinations"}, []string{"at most 32"}},

		// Destinations.
		{"destination name dot", func(s *Stream) { s.Destinations[1].Name = "a.b" }, []string{"destinations[1].name"}, []string{"letters, digits"}},
		{"destination name empty", func(s *Stream) { s.Destinations[0].Name = "" }, []string{"destinations[0].name"}, nil},
		{"destination name 65", func(s *Stream) { s.Destinations[0].Name = strings.Repeat("x", 65) }, []string{"destinations[0].name"}, nil},
		{"destination name space", func(s *Stream) { s.Destinations[0].Name = "my hook" }, []string{"destinations[0].name"}, nil},
		{"duplicate destination", func(s *Stream) { s.Destinations[1].Name = "hook" },
			[]string{"destinations[1].name"}, []string{`duplicate destination name "hook"`}},
		{"duplicate twice", func(s *Stream) {
			s.Destinations = append(s.Destinations, s.Destinations[0], s.Destinations[0])
		}, []string{"destinations[2].name", "destinations[3].name"}, nil},
		{"duplicate empty names", func(s *Stream) { s.Destinations[0].Name = ""; s.Destinations[1].Name = "" },
			[]string{"destinations[0].name", "destinations[1].name", "destinations[1].name"},
			[]string{"letters", "duplicate", "letters"}},
		{"settings", func(s *Stream) { s.Destinations[0].Settings = map[string]any{} },
			[]string{"destinations[0].settings.url"}, []string{"is required"}},
		{"unknown type", func(s *Stream) {
			s.Destinations[1].Type = "carrier_pigeon"
			s.Destinations[1].Batch = Batch{} // what Normalize leaves for an unknown type
		}, []string{"destinations[1].type"}, []string{`unknown destination type "carrier_pigeon" (want one of http, kafka)`}},
		{"unknown type without normalize", func(s *Stream) {
			s.Destinations[1] = Destination{Name: "p", Type: "pigeon", Settings: map[string]any{"url": 1}}
			s.Normalize(kinds)
		}, []string{"destinations[1].type"}, nil},
		{"payload small", func(s *Stream) { s.Destinations[0].Payload.MaxSize = 63 }, []string{"destinations[0].payload.max_size"}, []string{"64 bytes and 256MiB"}},
		{"payload large", func(s *Stream) { s.Destinations[0].Payload.MaxSize = 256<<20 + 1 }, []string{"destinations[0].payload.max_size"}, nil},
		{"format without dataset", func(s *Stream) { s.Destinations[0].Payload.Format = "[]" },
			[]string{"destinations[0].payload.format"}, []string{`"$dataset" exactly once`}},
		{"format dataset twice", func(s *Stream) { s.Destinations[0].Payload.Format = "$dataset$dataset" },
			[]string{"destinations[0].payload.format"}, nil},
		{"batch events zero", func(s *Stream) { s.Destinations[0].Batch.MaxEvents = 0 },
			[]string{"destinations[0].batch.max_events"}, []string{"between 1 and 100000"}},
		{"batch events large", func(s *Stream) { s.Destinations[0].Batch.MaxEvents = 100_001 }, []string{"destinations[0].batch.max_events"}, nil},
		{"batch age small", func(s *Stream) { s.Destinations[1].Batch.MaxAge = Duration(9 * time.Millisecond) },
			[]string{"destinations[1].batch.max_age"}, []string{"between 10ms and 1h"}},
		{"batch age large", func(s *Stream) { s.Destinations[1].Batch.MaxAge = Duration(time.Hour + 1) }, []string{"destinations[1].batch.max_age"}, nil},
		{"health", func(s *Stream) { s.Destinations[0].Health.Interval = Duration(999 * time.Millisecond) },
			[]string{"destinations[0].health.interval"}, []string{"at least 1s"}},
		{"route", func(s *Stream) { s.Destinations[1].Route = `event.status == "declined"` }, nil, nil},
		{"route long", func(s *Stream) { s.Destinations[1].Route = strings.Repeat("x", 4097) },
			[]string{"destinations[1].route"}, []string{"at most 4096"}},

		// Several at once, in the order Validate checks them.
		{"everything", func(s *Stream) {
			s.Name = "str_x"
			s.Description = strings.Repeat("d", 2000)
			s.Status = "on"
			s.DataSource = "edge_function"
			s.Template = Template{Variables: []string{"a"}, Dataset: json.RawMessage(`{}`), Preset: "p"}
			s.Processors = json.RawMessage(`[]`)
			s.Schema = json.RawMessage(`{}`)
			s.Domains = &Domains{List: []string{"a..example.com"}}
			s.Buffer = Buffer{MaxBytes: 1, MaxAge: 1, Overflow: "x"}
			s.Limits = StreamLimits{MaxPayload: 1, EventsPerSecond: -1, Burst: -1}
			s.Destinations = []Destination{
				{Name: "a b", Type: "http", Settings: map[string]any{}, Payload: Payload{MaxSize: 1, Format: "x"},
					Batch: Batch{MaxEvents: -1, MaxAge: -1}, Health: Health{Interval: 1}, Route: strings.Repeat("x", 5000)},
				{Name: "a b", Type: "smoke_signal", Payload: Payload{MaxSize: 1 << 30, Format: "$dataset"},
					Batch: Batch{MaxEvents: -1, MaxAge: -1}, Health: Health{Interval: Duration(time.Second)}, Route: strings.Repeat("x", 5000)},
				{Name: "ok", Type: "kafka", Payload: Payload{MaxSize: 100, Format: "$dataset"}, Batch: Batch{1, Duration(time.Second)},
					Health: Health{Interval: Duration(time.Second)}},
			}
		}, []string{
			"name", "description", "status", "data_source",
			"template.preset", "template",
			"domains.list[0]",
			"buffer.max_bytes", "buffer.max_age", "buffer.overflow",
			"limits.max_payload", "limits.events_per_second", "limits.burst",
			"destinations[0].name", "destinations[0].settings.url", "destinations[0].payload.max_size",
			"destinations[0].payload.format", "destinations[0].batch.max_events", "destinations[0].batch.max_age",
			"destinations[0].health.interval", "destinations[0].route",
			// An unknown type: no settings or batch errors.
			"destinations[1].name", "destinations[1].name", "destinations[1].type", "destinations[1].payload.max_size",
			"destinations[1].route",
		}, nil},
	} {
		s := validStream()
		tc.mod(&s)
		got := s.Validate(kinds)
		if !samePaths(got, tc.want) {
			t.Errorf("%s: got paths %q, want %q\n%v", tc.name, paths(got), tc.want, got)
			continue
		}
		for i, m := range tc.msgs {
			if !strings.Contains(got[i].Message, m) {
				t.Errorf("%s: message %d %q does not contain %q", tc.name, i, got[i].Message, m)
			}
		}
		if len(got) > 0 && got.Err() == nil {
			t.Errorf("%s: Err() is nil", tc.name)
		}
	}
}

// A definition as the spec writes it (JSON), decoded, normalized, validated.
func TestStreamFromJSON(t *testing.T) {
	body := `{
		"name": "payments",
		"status": "active",
		"data_source": "custom",
		"template": {"variables": ["timestamp", "source", "event.status", "event.amount"]},
		"authentication_required": true,
		"buffer": {"max_bytes": "10GiB", "max_age": "168h", "overflow": "reject"},
		"limits": {"max_payload": "1MiB", "events_per_second": 0, "burst": 0},
		"destinations": [{
			"name": "lake",
			"type": "standard",
			"settings": {"url": "https://h.example"},
			"payload": {"max_size": 1000000, "line_separator": "\n", "format": "$dataset", "ascii_only": true},
			"batch": {"max_events": 2000, "max_age": "60s"},
			"health": {"interval": 30}
		}]
	}`
	var s Stream
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	s.Normalize(kinds)
	if errs := s.Validate(kinds); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	if s.Buffer.MaxBytes != 10<<30 || s.Limits.MaxPayload != 1<<20 || s.Destinations[0].Type != "http" ||
		s.Destinations[0].Health.Interval != Duration(30*time.Second) || !s.Destinations[0].Payload.ASCIIOnly {
		t.Errorf("decoded %+v", s)
	}

	// Explicit nulls for the unsupported parts are not "setting" them.
	var n Stream
	if err := json.Unmarshal([]byte(`{"name":"x","processors":null,"schema":null,"domains":null,"template":{"variables":["a"],"dataset":null}}`), &n); err != nil {
		t.Fatal(err)
	}
	n.Normalize(kinds)
	if errs := n.Validate(kinds); len(errs) != 0 {
		t.Errorf("nulls: %v", errs)
	}

	// Encoding leaves out what is unset and round-trips.
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"processors"`, `"schema"`, `"domains"`, `"route"`, `"id"`, `"inlet_id"`, `"created_at"`} {
		if strings.Contains(string(out), k) {
			t.Errorf("Marshal contains %s: %s", k, out)
		}
	}
	var back Stream
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip:\n%+v\n%+v", back, s)
	}
	s.Workspace = "default"
	if s.String() != "default/payments" {
		t.Errorf("String() = %q", s.String())
	}
}
