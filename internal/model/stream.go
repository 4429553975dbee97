package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/catalog"
)

// Stream is a named pipeline: its ingest settings, template and destinations.
// The fields are the definition a user writes (API JSON or YAML); the
// server-assigned ones (ID, InletID, Workspace, timestamps) are ignored on
// input.
type Stream struct {
	// ID is assigned by the server ("str_…").
	ID string `json:"id,omitempty"`
	// Workspace the stream belongs to; assigned by the server.
	Workspace string `json:"workspace,omitempty"`
	// Name, unique in its workspace: letters, digits, '_', '.', '-'.
	Name string `json:"name"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Status is active (ingest and delivery run) or inactive (ingest answers 409, nothing is delivered).
	Status string `json:"status,omitempty"`
	// DataSource is the kind of events the stream carries: custom (default), activity_history, edge_applications, edge_functions or waf_events (GET /v1/data-sources lists them with their variables).
	DataSource string `json:"data_source,omitempty"`
	// Template chooses what goes out for each event.
	Template Template `json:"template,omitzero"`
	// AuthenticationRequired makes the collection inlet demand a Bearer token (default true).
	AuthenticationRequired *bool `json:"authentication_required,omitempty"`
	// Buffer bounds what the stream holds while destinations catch up.
	Buffer Buffer `json:"buffer,omitzero"`
	// Limits bounds ingest into the stream.
	Limits StreamLimits `json:"limits,omitzero"`
	// Destinations receive the stream's events.
	Destinations []Destination `json:"destinations"`

	// Domains selects the hosts whose events are kept and the share of
	// events kept (sampling).
	Domains *Domains `json:"domains,omitempty"`
	// Processors are applied to each event in order before delivery (SPEC §5; compiled by package pipeline).
	Processors json.RawMessage `json:"processors,omitempty"`
	// Schema is a JSON Schema (2020-12) every event must match.
	Schema json.RawMessage `json:"schema,omitempty"`
	// LogFormat is the nginx log_format of text/plain access-log lines sent to an edge_applications stream (default: nginx's "combined").
	LogFormat string `json:"log_format,omitempty"`

	// InletID is the stream's 64-hex-character ingest address; assigned by the server.
	InletID   string    `json:"inlet_id,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Template selects the variables that go out, as a JSON object per event.
// At most one of Variables, Dataset and Preset is set; none sends the
// event as stored.
type Template struct {
	// Variables: output keys are the dotted paths as written.
	Variables []string `json:"variables,omitempty"`
	// Dataset: a JSON object whose keys are yours and whose values are "$path" references or literals.
	Dataset json.RawMessage `json:"dataset,omitempty"`
	// Preset names a preset template of the stream's data source (GET /v1/templates); its variables cannot be changed.
	Preset string `json:"preset,omitempty"`
}

// Buffer bounds the durable buffer of a stream.
type Buffer struct {
	// MaxBytes is the most the stream holds (default 10GiB).
	MaxBytes Size `json:"max_bytes,omitempty"`
	// MaxAge is how long an undelivered event is kept (default 168h).
	MaxAge Duration `json:"max_age,omitempty"`
	// Overflow: reject (ingest answers 503 when full, default) or drop_oldest.
	Overflow string `json:"overflow,omitempty"`
}

// StreamLimits bounds ingest into a stream.
type StreamLimits struct {
	// MaxPayload is the largest request body after decompression (default 1MiB, at most 16MiB).
	MaxPayload Size `json:"max_payload,omitempty"`
	// EventsPerSecond is a token-bucket rate limit; 0 means none.
	EventsPerSecond float64 `json:"events_per_second,omitempty"`
	// Burst is the bucket size in events.
	Burst int `json:"burst,omitempty"`
}

// Destination is one delivery target of a stream.
type Destination struct {
	// Name, unique within the stream.
	Name string `json:"name"`
	// Type is the destination kind (http, kafka, s3, …).
	Type string `json:"type"`
	// Settings are the kind's own settings; secrets are write-only.
	Settings map[string]any `json:"settings"`
	// Payload shapes the text that is sent.
	Payload Payload `json:"payload,omitzero"`
	// Batch decides when a batch is sent.
	Batch Batch `json:"batch,omitzero"`
	// Health configures the availability probe.
	Health Health `json:"health,omitzero"`
	// Route is a CEL condition selecting the events this destination receives (default: every event).
	Route string `json:"route,omitempty"`
}

// Payload options of text destinations.
type Payload struct {
	// MaxSize is the largest payload in bytes (default 1000000); a batch never exceeds it.
	MaxSize Size `json:"max_size,omitempty"`
	// LineSeparator joins records (default "\n").
	LineSeparator *string `json:"line_separator,omitempty"`
	// Format wraps the joined records; "$dataset" stands for them (default "$dataset").
	Format string `json:"format,omitempty"`
	// ASCIIOnly escapes every non-ASCII character.
	ASCIIOnly bool `json:"ascii_only,omitempty"`
}

// Batch decides when a batch is sent: at MaxEvents, at the payload's MaxSize, or MaxAge after its first event.
type Batch struct {
	MaxEvents int      `json:"max_events,omitempty"`
	MaxAge    Duration `json:"max_age,omitempty"`
}

// Health configures the destination's probe.
type Health struct {
	// Interval between probes (default 60s).
	Interval Duration `json:"interval,omitempty"`
}

// Kinds is what stream validation needs to know about destination types;
// the destination registry implements it.
type Kinds interface {
	// Canonical returns the canonical type name for a type name or alias.
	Canonical(typ string) (string, bool)
	// Names lists the canonical type names.
	Names() []string
	// ValidateSettings checks a destination's settings (paths relative to settings).
	ValidateSettings(typ string, settings map[string]any) FieldErrors
	// DefaultBatch is the type's default batch size and age.
	DefaultBatch(typ string) Batch
	// IsSecret reports whether the settings value at path ("key" or "key.sub") is a secret.
	IsSecret(typ, path string) bool
}

// Active reports whether the stream is active.
func (s *Stream) Active() bool { return s.Status != StatusInactive }

// AuthRequired reports whether the collection inlet demands a token.
func (s *Stream) AuthRequired() bool {
	return s.AuthenticationRequired == nil || *s.AuthenticationRequired
}

// Destination returns the destination with this name.
func (s *Stream) Destination(name string) (*Destination, bool) {
	for i := range s.Destinations {
		if s.Destinations[i].Name == name {
			return &s.Destinations[i], true
		}
	}
	return nil, false
}

// Normalize fills in defaults and canonical type names. It does not
// validate; call Validate afterwards.
func (s *Stream) Normalize(kinds Kinds) {
	if s.Status == "" {
		s.Status = StatusActive
	}
	if s.DataSource == "" {
		s.DataSource = "custom"
	}
	if s.AuthenticationRequired == nil {
		t := true
		s.AuthenticationRequired = &t
	}
	if s.Buffer.MaxBytes == 0 {
		s.Buffer.MaxBytes = DefaultBufferBytes
	}
	if s.Buffer.MaxAge == 0 {
		s.Buffer.MaxAge = DefaultBufferAge
	}
	if s.Buffer.Overflow == "" {
		s.Buffer.Overflow = OverflowReject
	}
	if s.Limits.MaxPayload == 0 {
		s.Limits.MaxPayload = DefaultMaxPayload
	}
	if s.Destinations == nil {
		s.Destinations = []Destination{}
	}
	for i := range s.Destinations {
		d := &s.Destinations[i]
		if c, ok := kinds.Canonical(d.Type); ok {
			d.Type = c
			def := kinds.DefaultBatch(c)
			if d.Batch.MaxEvents == 0 {
				d.Batch.MaxEvents = def.MaxEvents
			}
			if d.Batch.MaxAge == 0 {
				d.Batch.MaxAge = def.MaxAge
			}
		}
		if d.Settings == nil {
			d.Settings = map[string]any{}
		}
		if d.Payload.MaxSize == 0 {
			d.Payload.MaxSize = DefaultPayloadSize
		}
		if d.Payload.Format == "" {
			d.Payload.Format = "$dataset"
		}
		if d.Payload.LineSeparator == nil {
			nl := "\n"
			d.Payload.LineSeparator = &nl
		}
		if d.Health.Interval == 0 {
			d.Health.Interval = DefaultHealthPeriod
		}
	}
}

// Validate checks a normalized stream definition and returns every
// invalid field.
func (s *Stream) Validate(kinds Kinds) FieldErrors {
	var errs FieldErrors
	switch {
	case s.Name == "":
		errs.Add("name", "is required")
	case !ValidName(s.Name):
		errs.Add("name", "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	case strings.HasPrefix(s.Name, "str_"):
		errs.Add("name", "must not start with \"str_\" (reserved for stream ids)")
	}
	if len(s.Description) > 1024 {
		errs.Add("description", "must be at most 1024 characters")
	}
	if s.Status != StatusActive && s.Status != StatusInactive {
		errs.Add("status", "must be %q or %q", StatusActive, StatusInactive)
	}
	if !catalog.Valid(s.DataSource) {
		errs.Add("data_source", "unknown data source %q (want one of %s)", s.DataSource, strings.Join(catalog.Names(), ", "))
	}
	errs.Merge("template", s.Template.validate(s.DataSource))
	if s.Domains != nil {
		errs.Merge("domains", s.Domains.validate(s.DataSource))
	}
	if s.LogFormat != "" && s.DataSource != catalog.EdgeApplications {
		errs.Add("log_format", "only streams of data source %s take access-log lines", catalog.EdgeApplications)
	} else if len(s.LogFormat) > 4096 {
		errs.Add("log_format", "must be at most 4096 characters")
	}
	if s.Buffer.MaxBytes < 1<<20 {
		errs.Add("buffer.max_bytes", "must be at least 1MiB")
	}
	if s.Buffer.MaxAge < Duration(time.Minute) {
		errs.Add("buffer.max_age", "must be at least 1m")
	}
	if s.Buffer.Overflow != OverflowReject && s.Buffer.Overflow != OverflowDropOldest {
		errs.Add("buffer.overflow", "must be %q or %q", OverflowReject, OverflowDropOldest)
	}
	if s.Limits.MaxPayload < 1024 || s.Limits.MaxPayload > HardMaxPayload {
		errs.Add("limits.max_payload", "must be between 1KiB and 16MiB")
	}
	errs.Merge("limits", RateLimit{EventsPerSecond: s.Limits.EventsPerSecond, Burst: s.Limits.Burst}.Validate())
	if len(s.Destinations) > MaxDestinations {
		errs.Add("destinations", "at most %d destinations", MaxDestinations)
	}
	seen := map[string]bool{}
	for i := range s.Destinations {
		d := &s.Destinations[i]
		p := indexPath("destinations", i)
		if seen[d.Name] {
			errs.Add(p+".name", "duplicate destination name %q", d.Name)
		}
		seen[d.Name] = true
		errs.Merge(p, d.validate(kinds))
	}
	return errs
}

// validate checks the template's form and its preset against the
// stream's data source. Whether the variables and dataset references
// belong to the data source is checked when the template is compiled
// (package pipeline), where its paths are parsed.
func (t Template) validate(dataSource string) FieldErrors {
	var errs FieldErrors
	n := 0
	if len(t.Variables) > 0 {
		n++
	}
	if isSet(t.Dataset) {
		n++
	}
	if t.Preset != "" {
		n++
		errs.Merge("preset", PresetErrors(t.Preset, dataSource))
	}
	if n > 1 {
		errs.Add("", "set at most one of variables, dataset and preset (a preset's variables cannot be changed)")
	}
	return errs
}

// PresetErrors checks that preset names a preset template of the data
// source (paths relative to template.preset).
func PresetErrors(preset, dataSource string) FieldErrors {
	var errs FieldErrors
	p, ok := catalog.Preset(preset)
	switch {
	case !ok && dataSource == catalog.Custom:
		errs.Add("", "unknown preset %q: data source %q has no presets (set variables or dataset)", preset, dataSource)
	case !ok:
		var names []string
		if ds, found := catalog.Get(dataSource); found {
			names = ds.Presets
		}
		if len(names) == 0 {
			errs.Add("", "unknown preset %q", preset)
		} else {
			errs.Add("", "unknown preset %q (data source %s has %s)", preset, dataSource, strings.Join(names, ", "))
		}
	case p.DataSource != dataSource && catalog.Valid(dataSource):
		errs.Add("", "preset %q is a template of data source %s, not of %s", preset, p.DataSource, dataSource)
	}
	return errs
}

func (d *Destination) validate(kinds Kinds) FieldErrors {
	var errs FieldErrors
	if !destNameRe.MatchString(d.Name) {
		errs.Add("name", "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit")
	}
	typ, ok := kinds.Canonical(d.Type)
	if !ok {
		errs.Add("type", "unknown destination type %q (want one of %s)", d.Type, strings.Join(kinds.Names(), ", "))
	} else {
		errs.Merge("settings", kinds.ValidateSettings(typ, d.Settings))
	}
	if d.Payload.MaxSize < 64 || d.Payload.MaxSize > 256<<20 {
		errs.Add("payload.max_size", "must be between 64 bytes and 256MiB")
	}
	if strings.Count(d.Payload.Format, "$dataset") != 1 {
		errs.Add("payload.format", "must contain \"$dataset\" exactly once")
	}
	if ok && (d.Batch.MaxEvents < 1 || d.Batch.MaxEvents > 100_000) {
		errs.Add("batch.max_events", "must be between 1 and 100000")
	}
	if ok && (d.Batch.MaxAge < Duration(10*time.Millisecond) || d.Batch.MaxAge > Duration(time.Hour)) {
		errs.Add("batch.max_age", "must be between 10ms and 1h")
	}
	if d.Health.Interval < Duration(time.Second) {
		errs.Add("health.interval", "must be at least 1s")
	}
	if len(d.Route) > 4096 {
		errs.Add("route", "must be at most 4096 characters")
	}
	return errs
}

// isSet reports whether a raw JSON value is present: absent, empty or null
// is unset (as for template.Compile), so "processors: null" is not rejected.
func isSet(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

// String names the stream for logs.
func (s *Stream) String() string { return fmt.Sprintf("%s/%s", s.Workspace, s.Name) }
