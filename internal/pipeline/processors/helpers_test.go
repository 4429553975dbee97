package processors

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// js turns the tests' processor lists, JSON written with ' for ", into
// JSON.
func js(s string) json.RawMessage { return json.RawMessage(strings.ReplaceAll(s, "'", `"`)) }

func mustCompile(t testing.TB, procs string, opts Options) *Chain {
	t.Helper()
	c, errs := Compile(js(procs), opts)
	if errs != nil {
		t.Fatalf("Compile(%s): %v", procs, errs)
	}
	return c
}

// run applies c to event through ApplyJSON and, as a cross-check, through
// Apply on a decoded map; both must agree. It returns the output (""
// when dropped).
func run(t testing.TB, c *Chain, event string) (string, Result, error) {
	t.Helper()
	out, res, err := c.ApplyJSON(context.Background(), nil, []byte(event))
	// Cross-check Apply.
	dec := json.NewDecoder(strings.NewReader(event))
	dec.UseNumber()
	var m map[string]any
	if derr := dec.Decode(&m); derr == nil && !hasDupKeys(event) {
		res2, err2 := c.Apply(context.Background(), m)
		if (err == nil) != (err2 == nil) || res2.Action != res.Action || res2.Reason != res.Reason || res2.Masked != res.Masked {
			t.Errorf("Apply and ApplyJSON disagree on %s: %+v %v vs %+v %v", event, res2, err2, res, err)
		}
		if err == nil && res.Action == Keep {
			got, _ := json.Marshal(m)
			if !jsonEqual(t, got, out) {
				t.Errorf("Apply gave %s, ApplyJSON %s", got, out)
			}
		}
	}
	if res.Action == Drop || err != nil {
		if len(out) != 0 {
			t.Errorf("dropped event wrote %q", out)
		}
		return "", res, err
	}
	if !json.Valid(out) {
		t.Fatalf("invalid output %q", out)
	}
	return string(out), res, err
}

func hasDupKeys(event string) bool {
	var check func(dec *json.Decoder) bool
	check = func(dec *json.Decoder) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				if seen[k.(string)] {
					return true
				}
				seen[k.(string)] = true
				if check(dec) {
					return true
				}
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if check(dec) {
					return true
				}
			}
			dec.Token()
		}
		return false
	}
	return check(json.NewDecoder(strings.NewReader(event)))
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// wantErrs checks that Compile fails with exactly these paths, each message
// containing the given text.
func wantErrs(t *testing.T, procs string, opts Options, want map[string]string) {
	t.Helper()
	_, errs := Compile(js(procs), opts)
	if errs == nil {
		t.Fatalf("Compile(%s) succeeded, want errors %v", procs, want)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.Path] = e.Message
	}
	for p, msg := range want {
		m, ok := got[p]
		if !ok {
			t.Errorf("Compile(%s): no error at %s; got %v", procs, p, errs)
			continue
		}
		if !strings.Contains(m, msg) {
			t.Errorf("Compile(%s): error at %s = %q, want it to contain %q", procs, p, m, msg)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("Compile(%s): unexpected error %s: %s", procs, p, got[p])
		}
	}
}
