package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/pipeline"
)

// The -template plan stream compiles, and its plan turns every event of a
// plan body into the 8 variables with the e-mail address and card masked.
func TestPlanTemplate(t *testing.T) {
	raw, _ := json.Marshal(streamDef("plan", "", "plan"))
	var st model.Stream
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	plan, errs := pipeline.Compile(&st, pipeline.Options{})
	if errs != nil {
		t.Fatal(errs)
	}
	chain := plan.Chains[""]
	if chain == nil {
		// No destinations: compile one to get a chain.
		st.Destinations = []model.Destination{{Name: "d"}}
		st.Destinations[0].Payload.Format = "$dataset"
		st.Destinations[0].Payload.MaxSize = 1 << 20
		if plan, errs = pipeline.Compile(&st, pipeline.Options{}); errs != nil {
			t.Fatal(errs)
		}
		chain = plan.Chains["d"]
	}
	b := newPlanBody(3, 50, 300)
	lines := bytes.Split(bytes.TrimSpace(b.next()), []byte("\n"))
	if len(lines) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if d := len(l); d < 280 || d > 420 {
			t.Errorf("event of %d bytes", d)
		}
		out, res, err := chain.ApplyRender(context.Background(), nil, l, plan.Renderer)
		if err != nil || res.Action != 0 || !res.Routed(0) {
			t.Fatalf("%s: %v %+v", l, err, res)
		}
		var rec map[string]any
		if err := json.Unmarshal(out, &rec); err != nil || len(rec) != 8 {
			t.Fatalf("record %s: %v", out, err)
		}
		if rec["event.detail.email"] != "[REDACTED]" || rec["event.detail.card"] != "[REDACTED]" || strings.Contains(string(out), "@example.com") {
			t.Fatalf("not masked: %s", out)
		}
	}
}
