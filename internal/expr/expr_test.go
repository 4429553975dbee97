package expr

import (
	"encoding/json"
	"strings"
	"testing"
)

func fields(t *testing.T, s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	ev := fields(t, `{"timestamp":"2025-02-12T14:32:15Z","source":"pay","event":{"status":"declined","amount":12.5,"tags":["a","b"]}}`)
	for _, c := range []struct {
		src  string
		want bool
	}{
		{`event.status == "declined"`, true},
		{`event.status != "declined"`, false},
		{`event.amount > 10.0 && source == "pay"`, true},
		{`"b" in event.tags`, true},
		{`has(event.user)`, false},
		{`source.startsWith("pa")`, true},
	} {
		p, err := Compile(c.src, DefaultVars)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		got, err := p.Match(t.Context(), ev)
		if err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %v", c.src, got, err, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for src, want := range map[string]string{
		``:                               "empty",
		`event.status ==`:                "Syntax error",
		`nosuchvar == 1`:                 "undeclared reference",
		`1 + 2`:                          "true or false",
		strings.Repeat("a", MaxLength+1): "longer than",
	} {
		if _, err := Compile(src, DefaultVars); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%.20q) = %v, want error containing %q", src, err, want)
		}
	}
}

func TestRuntimeErrorsAndCostLimit(t *testing.T) {
	p, _ := Compile(`event.missing.deeper == 1`, DefaultVars)
	if _, err := p.Match(t.Context(), fields(t, `{"event":{}}`)); err == nil {
		t.Errorf("missing key did not error")
	}
	heavy, err := Compile(`event.items.all(x, event.items.all(y, event.items.all(z, x + y + z >= 0)))`, DefaultVars)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = float64(i)
	}
	if _, err := heavy.Match(t.Context(), map[string]any{"event": map[string]any{"items": items}}); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("cost limit not enforced: %v", err)
	}
}
