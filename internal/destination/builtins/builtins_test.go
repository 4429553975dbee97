package builtins

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
)

// minimal gives, per kind, the smallest valid settings: exactly the
// required ones. Every builtin kind must have an entry.
var minimal = map[string]map[string]any{
	"elasticsearch": {"url": "https://es.example.com:9200/logs"},
	"splunk":        {"url": "https://splunk.example.com:8088/services/collector/event", "api_key": "12345678-abcd-1234-abcd-1234abcd5678"},
	"datadog":       {"url": "https://http-intake.logs.datadoghq.com/api/v2/logs", "api_key": "0123456789abcdef0123456789abcdef"},
	"http":          {"url": "https://logs.example.com/in"},
	"kafka":         {"bootstrap_servers": "kafka-1.example.com:9092,kafka-2.example.com:9092", "kafka_topic": "events"},
	"s3":            {"bucket_name": "my-logs", "region": "eu-west-1", "access_key": "AKIAEXAMPLE", "secret_key": "example-secret"},
	"azure_blob":    {"storage_account": "myaccount", "container_name": "logs", "blob_sas_token": "sv=2025-05-05&sp=cw&sr=c&sig=ZXhhbXBsZQ%3D%3D"},
}

func TestBuiltinsWellFormed(t *testing.T) {
	kinds := Builtins()
	if len(kinds) == 0 {
		t.Fatal("no builtin kinds")
	}
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			if !model.ValidName(k.Name) || k.Name == "" {
				t.Errorf("bad name %q", k.Name)
			}
			if k.Config == nil || k.New == nil {
				t.Fatal("Config and New are required")
			}
			if b := k.Batch; b.MaxEvents < 1 || b.MaxEvents > 100_000 ||
				b.MaxAge.D() < 10*time.Millisecond || b.MaxAge.D() > time.Hour {
				t.Errorf("default batch %+v outside what stream validation accepts", b)
			}
			if l := k.Limits; l.MaxEvents < 0 || l.MaxBytes < 0 || l.MaxRecord < 0 ||
				(l.MaxEvents > 0 && k.Batch.MaxEvents > l.MaxEvents) {
				t.Errorf("limits %+v inconsistent with default batch %+v", l, k.Batch)
			}
			if c1, c2 := k.Config(), k.Config(); c1 == nil || c1 == c2 {
				t.Error("Config must return a fresh config each call")
			}
			if k.Secret != nil && (k.Secret("") || k.Secret("no_such_setting")) {
				t.Error("Secret must be false for unknown paths")
			}
		})
	}
}

// TestBuiltinsDefaultsValidate: the defaults alone report exactly the
// required settings; with them, the defaults are valid; and the defaults
// survive a JSON round trip (they are expressible as settings).
func TestBuiltinsDefaultsValidate(t *testing.T) {
	for _, k := range Builtins() {
		t.Run(k.Name, func(t *testing.T) {
			req, ok := minimal[k.Name]
			if !ok {
				t.Fatalf("no minimal settings for kind %q in this test", k.Name)
			}
			errs := k.Config().Validate()
			var paths []string
			for _, e := range errs {
				paths = append(paths, e.Path)
			}
			for key := range req {
				if !slices.Contains(paths, key) {
					t.Errorf("defaults: missing required %q not reported (errors: %v)", key, errs)
				}
			}
			for _, p := range paths {
				if _, ok := req[p]; !ok {
					t.Errorf("defaults: %q reported but is not required (errors: %v)", p, errs)
				}
			}
			// Decoding nothing gives the defaults and the same errors.
			_, errs2 := k.Decode(map[string]any{})
			if len(errs2) != len(errs) {
				t.Errorf("Decode({}) errors %v, Config().Validate() %v", errs2, errs)
			}
			// Required settings alone are valid.
			if _, errs := k.Decode(req); len(errs) > 0 {
				t.Errorf("minimal settings %v: %v", req, errs)
			}
			// Each required setting missing is reported by name.
			for key := range req {
				s := maps.Clone(req)
				delete(s, key)
				_, errs := k.Decode(s)
				if !hasPath(errs, key) {
					t.Errorf("without %q: errors %v do not name it", key, errs)
				}
			}
			// Defaults plus required settings round-trip through JSON.
			c, errs := k.Decode(req)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var settings map[string]any
			if err := json.Unmarshal(b, &settings); err != nil {
				t.Fatal(err)
			}
			c2, errs := k.Decode(settings)
			if len(errs) > 0 {
				t.Fatalf("re-decoding %s: %v", b, errs)
			}
			if b2, _ := json.Marshal(c2); string(b2) != string(b) {
				t.Errorf("round trip changed the config: %s != %s", b2, b)
			}
		})
	}
}

func TestBuiltinsBuild(t *testing.T) {
	for _, k := range Builtins() {
		t.Run(k.Name, func(t *testing.T) {
			c, errs := k.Decode(minimal[k.Name])
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			d, err := k.New(t.Context(), c, destination.Deps{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := d.Close(t.Context()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	r := Registry()
	seen := map[string]string{}
	for _, k := range Builtins() {
		for _, n := range append([]string{k.Name}, k.Aliases...) {
			if other, dup := seen[n]; dup {
				t.Errorf("%q names both %s and %s", n, other, k.Name)
			}
			seen[n] = k.Name
			got, ok := r.Kind(n)
			if !ok || got.Name != k.Name {
				t.Errorf("Kind(%q) = %v, %v; want %s", n, got, ok, k.Name)
			}
			if c, ok := r.Canonical(n); !ok || c != k.Name {
				t.Errorf("Canonical(%q) = %q, %v; want %s", n, c, ok, k.Name)
			}
			if b := r.DefaultBatch(n); b != k.Batch {
				t.Errorf("DefaultBatch(%q) = %+v, want %+v", n, b, k.Batch)
			}
			if errs := r.ValidateSettings(n, minimal[k.Name]); len(errs) > 0 {
				t.Errorf("ValidateSettings(%q, minimal): %v", n, errs)
			}
		}
	}
	if !slices.Equal(r.Names(), names(Builtins())) {
		t.Errorf("Names() = %v", r.Names())
	}
	if _, ok := r.Kind("nope"); ok {
		t.Error("unknown type resolved")
	}
	// The data stream API's names.
	for alias, want := range map[string]string{"standard": "http"} {
		if c, ok := r.Canonical(alias); !ok || c != want {
			t.Errorf("Canonical(%q) = %q, %v; want %s", alias, c, ok, want)
		}
	}
	if !r.IsSecret("standard", "headers.Authorization") || r.IsSecret("http", "url") {
		t.Error("IsSecret does not follow the http kind's rule")
	}
}

func names(ks []destination.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

func hasPath(errs model.FieldErrors, p string) bool {
	for _, e := range errs {
		if e.Path == p {
			return true
		}
	}
	return false
}
