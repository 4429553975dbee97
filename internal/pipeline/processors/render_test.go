package processors

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/runnel/runnel/internal/template"
)

var renderTemplates = []struct {
	name      string
	variables []string
	dataset   string
	fast      bool
}{
	{"variables", []string{"timestamp", "event.status", "event.items.1.sku", "event.user", "missing.x", `http\.status`, "event.items"}, "", true},
	{"same-shape dataset", nil, `{"event.status":"$event.status","source":"$source"}`, true},
	{"renamed dataset", nil, `{"status":"$event.status","when":"$timestamp"}`, false},
	{"dataset with a literal", nil, `{"event.status":"$event.status","app":"runnel"}`, false},
	{"swapped dataset", nil, `{"a":"$b","b":"$a"}`, false},
	{"pass-through", nil, "", false},
}

var renderEvents = []string{
	`{"timestamp":"t","source":"s","event":{"status":"ok","items":[{"sku":"A"},{"sku":"B\u00e9\/"}],"user":{"email":"jane@example.com","n":1.50}},"http.status":200}`,
	`{"event":{"status":"x","status":"y","items":{"1":{"sku":"obj"}}}, "http.status" : [ 1 , 2 ]}`,
	`{"a":"4111 1111 1111 1111","b":{"c":null}}`,
	`{}`,
}

// TestApplyRenderMatchesTemplate checks ApplyRender against ApplyJSON
// followed by template.Render, byte for byte.
func TestApplyRenderMatchesTemplate(t *testing.T) {
	chains := map[string]*Chain{
		"modifying":     mustCompile(t, `[{'mask':{'detectors':['email','card']}},{'set':{'field':'z','value':1}}]`, Options{}),
		"non-modifying": mustCompile(t, `[{'filter':{'if':'true'}}]`, Options{}),
		"empty":         mustCompile(t, `[]`, Options{}),
		"dropping":      mustCompile(t, `[{'filter':{'if':'false'}}]`, Options{}),
	}
	for _, tt := range renderTemplates {
		tpl, err := template.Compile(tt.variables, json.RawMessage(tt.dataset))
		if err != nil {
			t.Fatal(err)
		}
		r := NewRenderer(tpl)
		if r.fast != tt.fast {
			t.Errorf("%s: fast = %v", tt.name, r.fast)
		}
		for cname, c := range chains {
			for _, ev := range renderEvents {
				checkRender(t, c, r, tpl, ev)
			}
			_ = cname
		}
	}
}

func checkRender(t *testing.T, c *Chain, r *Renderer, tpl *template.Template, ev string) {
	t.Helper()
	ctx := context.Background()
	got, res, err := c.ApplyRender(ctx, []byte("x"), []byte(ev), r)
	mid, res2, err2 := c.ApplyJSON(ctx, nil, []byte(ev))
	if (err == nil) != (err2 == nil) || res.Action != res2.Action {
		t.Fatalf("%s: ApplyRender %+v %v, ApplyJSON %+v %v", ev, res, err, res2, err2)
	}
	if err != nil || res.Action == Drop {
		if string(got) != "x" {
			t.Fatalf("%s: dropped event rendered %q", ev, got)
		}
		return
	}
	want, err := tpl.Render([]byte("x"), mid)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s:\n got %s\nwant %s", ev, got, want)
	}
}

func TestApplyRenderErrors(t *testing.T) {
	tpl, _ := template.Compile([]string{"a"}, nil)
	r := NewRenderer(tpl)
	for _, procs := range []string{`[]`, `[{'set':{'field':'b','value':1}}]`} {
		c := mustCompile(t, procs, Options{})
		out, res, err := c.ApplyRender(context.Background(), nil, []byte(`{"a":`), r)
		if !errors.Is(err, ErrInvalidEvent) || res.Action != Drop || len(out) != 0 {
			t.Errorf("%s: %q %+v %v", procs, out, res, err)
		}
	}
	var nilChain *Chain
	out, _, err := nilChain.ApplyRender(context.Background(), nil, []byte(`{"a":1}`), r)
	if err != nil || string(out) != `{"a":1}` {
		t.Errorf("nil chain: %s %v", out, err)
	}
}

func FuzzRender(f *testing.F) {
	for _, ev := range renderEvents {
		f.Add(ev)
	}
	c := mustCompile(f, `[{'mask':{'detectors':['email','card','ip']}},{'set':{'field':'zz','value':[1]}}]`, Options{})
	var rs []*Renderer
	var tpls []*template.Template
	for _, tt := range renderTemplates {
		tpl, err := template.Compile(tt.variables, json.RawMessage(tt.dataset))
		if err != nil {
			f.Fatal(err)
		}
		tpls = append(tpls, tpl)
		rs = append(rs, NewRenderer(tpl))
	}
	f.Fuzz(func(t *testing.T, ev string) {
		for i := range rs {
			checkRender(t, c, rs[i], tpls[i], ev)
		}
	})
}
