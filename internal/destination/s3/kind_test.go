package s3

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/runnel/runnel/internal/destination"
)

// TestKind: the defaults report exactly the required settings, the
// required settings alone are valid, the config survives a JSON round trip
// and the destination builds and closes without I/O (what the builtins
// test checks for every kind).
func TestKind(t *testing.T) {
	k := Kind()
	required := map[string]any{"bucket_name": "my-logs", "region": "eu-west-1", "access_key": "AKIAEXAMPLE", "secret_key": "example-secret"}
	if k.Name != "s3" || !slices.Equal(k.Aliases, []string{}) {
		t.Errorf("name %q, aliases %v", k.Name, k.Aliases)
	}
	if k.Batch.MaxEvents != 2000 || k.Batch.MaxAge.D().Seconds() != 60 {
		t.Errorf("default batch %+v, want 2000 / 60s", k.Batch)
	}
	var paths []string
	for _, e := range k.Config().Validate() {
		paths = append(paths, e.Path)
	}
	if got, want := slices.Sorted(slices.Values(paths)), slices.Sorted(maps.Keys(required)); !slices.Equal(got, want) {
		t.Errorf("defaults report %v, want exactly the required %v", got, want)
	}
	for key := range required {
		s := maps.Clone(required)
		delete(s, key)
		if _, errs := k.Decode(s); len(errs) != 1 || errs[0].Path != key {
			t.Errorf("without %s: %v", key, errs)
		}
	}
	if _, errs := k.Decode(map[string]any{"nope": 1}); len(errs) == 0 || errs[0].Path != "nope" {
		t.Errorf("unknown setting: %v", errs)
	}
	c, errs := k.Decode(required)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := json.Marshal(c)
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	c2, errs := k.Decode(s)
	if b2, _ := json.Marshal(c2); len(errs) > 0 || string(b2) != string(b) {
		t.Errorf("round trip: %s -> %s (%v)", b, b2, errs)
	}
	d, err := k.New(t.Context(), c, destination.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal("second Close:", err)
	}
}
