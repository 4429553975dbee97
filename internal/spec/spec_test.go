package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
)

var update = flag.Bool("update", false, "rewrite comments.json and testdata/openapi.golden.json")

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		c, err := extractComments(commentPackages)
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile("comments.json", marshalSorted(c), 0o644); err != nil {
			panic(err)
		}
		comments = func() map[string]string { return c }
	}
	os.Exit(m.Run())
}

func marshalSorted(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return buf.Bytes()
}

// extractComments reads the doc comments of the types and struct fields
// of the packages in dirs: "pkg.Type" and "pkg.Type.Field" → text.
func extractComments(dirs []string) (map[string]string, error) {
	out := map[string]string{}
	fset := token.NewFileSet()
	clean := func(cg *ast.CommentGroup) string {
		if cg == nil {
			return ""
		}
		return strings.Join(strings.Fields(cg.Text()), " ")
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
			if err != nil {
				return nil, err
			}
			pkg := f.Name.Name
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					doc := clean(ts.Doc)
					if doc == "" && len(gd.Specs) == 1 {
						doc = clean(gd.Doc)
					}
					if doc != "" {
						out[pkg+"."+ts.Name.Name] = doc
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fld := range st.Fields.List {
						d := clean(fld.Doc)
						if d == "" {
							d = clean(fld.Comment)
						}
						if d == "" {
							continue
						}
						for _, n := range fld.Names {
							out[pkg+"."+ts.Name.Name+"."+n.Name] = d
						}
					}
				}
			}
		}
	}
	return out, nil
}

func TestCommentsUpToDate(t *testing.T) {
	c, err := extractComments(commentPackages)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshalSorted(c), commentsJSON) && !*update {
		t.Fatalf("comments.json is stale: run go test ./internal/spec -update")
	}
}

func TestOpenAPIGolden(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/openapi.golden.json"
	if *update {
		if err := os.WriteFile(golden, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, want) {
		t.Fatalf("the OpenAPI document changed; review and run go test ./internal/spec -update")
	}
	if !json.Valid(doc) {
		t.Fatal("invalid JSON")
	}
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEveryRouteDocumented(t *testing.T) {
	b, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeDoc(t, b)
	paths := doc["paths"].(map[string]any)
	ids := map[string]bool{}
	mux := http.NewServeMux()
	n := 0
	for _, r := range Routes() {
		if ids[r.ID] {
			t.Errorf("duplicate operation id %s", r.ID)
		}
		ids[r.ID] = true
		mux.HandleFunc(r.Pattern(), func(http.ResponseWriter, *http.Request) {}) // panics on a bad or conflicting pattern
		item, ok := paths[r.Path].(map[string]any)
		if !ok {
			t.Errorf("%s: path not documented", r.Pattern())
			continue
		}
		op, ok := item[strings.ToLower(r.Method)].(map[string]any)
		if !ok || op["operationId"] != r.ID {
			t.Errorf("%s: operation not documented", r.Pattern())
		}
		if r.Scope != "" && op["x-runnel-scope"] != r.Scope {
			t.Errorf("%s: scope not documented", r.Pattern())
		}
		if r.Tag == "" || r.Summary == "" || r.Status == 0 {
			t.Errorf("%s: tag, summary and status are required", r.ID)
		}
	}
	for _, item := range paths {
		n += len(item.(map[string]any))
	}
	if n != len(Routes()) {
		t.Errorf("document has %d operations, Routes %d", n, len(Routes()))
	}
}

// Every $ref of the documents resolves, and every property of the model
// components is described.
func TestRefsAndDescriptions(t *testing.T) {
	for _, o := range []Options{{}, {Kinds: testKinds()}} {
		b, err := OpenAPIWith(o)
		if err != nil {
			t.Fatal(err)
		}
		doc := decodeDoc(t, b)
		walkRefs(t, doc, doc)
		s, err := StreamSchemaWith(o)
		if err != nil {
			t.Fatal(err)
		}
		sd := decodeDoc(t, s)
		walkRefs(t, sd, sd)
	}
	b, _ := OpenAPI()
	doc := decodeDoc(t, b)
	for name, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		sm := s.(map[string]any)
		if sm["description"] == nil {
			t.Errorf("schema %s has no description", name)
		}
		props, _ := sm["properties"].(map[string]any)
		for p, v := range props {
			if v.(map[string]any)["description"] == nil {
				t.Errorf("property %s.%s has no description (add a Go doc comment, or an entry in descriptions)", name, p)
			}
		}
	}
	for key := range descriptions {
		if comments()[key] != "" {
			t.Errorf("descriptions[%q] is shadowed by its Go doc comment: remove it", key)
		}
	}
}

func walkRefs(t *testing.T, doc map[string]any, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["$ref"].(string); ok {
			s := &Schema{doc: doc}
			if _, err := s.resolve(r); err != nil {
				t.Errorf("unresolved $ref %s", r)
			}
		}
		for _, e := range x {
			walkRefs(t, doc, e)
		}
	case []any:
		for _, e := range x {
			walkRefs(t, doc, e)
		}
	}
}

func TestPatterns(t *testing.T) {
	name := regexp.MustCompile(NamePattern)
	ws := regexp.MustCompile(WorkspaceNamePattern)
	for _, s := range []string{"payments", "a", "A-b_c.d", "x.", "-a", "", "a b", "é", strings.Repeat("a", 64), strings.Repeat("a", 65), "team-b", "Team"} {
		if name.MatchString(s) != model.ValidName(s) {
			t.Errorf("NamePattern disagrees with model.ValidName on %q", s)
		}
		if ws.MatchString(s) != model.ValidWorkspaceName(s) {
			t.Errorf("WorkspaceNamePattern disagrees with model.ValidWorkspaceName on %q", s)
		}
	}
	size := regexp.MustCompile(SizePattern)
	for _, s := range []string{"1", "1024", "256KiB", "1MiB", "10GiB", "1.5MB", " 2 GB ", "7B", "0.5TiB"} {
		if !size.MatchString(s) {
			t.Errorf("SizePattern rejects %q", s)
		}
		if _, err := model.ParseSize(s); err != nil {
			t.Errorf("SizePattern accepts %q, ParseSize does not: %v", s, err)
		}
	}
	for _, s := range []string{"", "MiB", "1 XB", "-1", "1MiBs", "ten"} {
		if size.MatchString(s) {
			t.Errorf("SizePattern accepts %q", s)
		}
	}
	dur := regexp.MustCompile(DurationPattern)
	for _, s := range []string{"0", "200ms", "60s", "168h", "1h30m", "1.5s", "10µs", "3us", "1ns"} {
		if !dur.MatchString(s) {
			t.Errorf("DurationPattern rejects %q", s)
		}
		if _, err := time.ParseDuration(s); err != nil {
			t.Errorf("DurationPattern accepts %q, time.ParseDuration does not", s)
		}
	}
	for _, s := range []string{"", "60", "1d", "s", "1 h", "-1s"} {
		if dur.MatchString(s) {
			t.Errorf("DurationPattern accepts %q", s)
		}
	}
}

// testKinds has one type, "http" (alias "standard"), whose api_key and
// headers.* are secret.
type httpSettings struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	APIKey  string            `json:"api_key,omitempty"`
	Timeout model.Duration    `json:"timeout"`
}

func (c *httpSettings) Validate() model.FieldErrors { return nil }

func testKinds() *destination.Registry {
	return destination.NewRegistry(destination.Kind{
		Name: "http", Aliases: []string{"standard"},
		Config: func() destination.Config { return &httpSettings{} },
		New: func(context.Context, destination.Config, destination.Deps) (destination.Destination, error) {
			return nil, nil
		},
		Batch:  model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)},
		Secret: func(p string) bool { return p == "api_key" || strings.HasPrefix(p, "headers.") },
	})
}

func sampleStream() view.Stream {
	st := model.Stream{Name: "payments", Destinations: []model.Destination{{
		Name: "hook", Type: "http", Settings: map[string]any{"url": "https://example.com", "api_key": "********"},
	}}}
	st.Normalize(testKinds())
	st.ID, st.Workspace, st.InletID = "str_1", "default", strings.Repeat("a", 64)
	st.CreatedAt, st.UpdatedAt = time.Now(), time.Now()
	return view.Stream{Stream: st, ETag: "3", InletURL: "http://localhost:8080/collection/" + st.InletID}
}

func TestStreamSchemaValidates(t *testing.T) {
	for _, o := range []Options{{}, {Kinds: testKinds()}} {
		b, err := StreamSchemaWith(o)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Compile(b, "")
		if err != nil {
			t.Fatal(err)
		}
		good, _ := json.Marshal(sampleStream())
		if errs := s.ValidateJSON(good); len(errs) > 0 {
			t.Fatalf("a normalized stream resource does not validate: %v", errs)
		}
		minimal := `{"name":"p","destinations":[{"name":"d","type":"http","settings":{"url":"https://x"},"batch":{"max_age":"60s","max_events":10},"payload":{"max_size":"1MiB"}}],"buffer":{"max_age":30}}`
		if errs := s.ValidateJSON([]byte(minimal)); len(errs) > 0 {
			t.Fatalf("a minimal definition does not validate: %v", errs)
		}
		bad := `{"name":"-bad","status":"paused","colour":1,"buffer":{"max_bytes":"lots","overflow":"x"},"destinations":[{"type":"http","settings":{"url":"u","nope":1},"batch":{"max_age":"1 day"}}]}`
		errs := s.ValidateJSON([]byte(bad))
		var paths []string
		for _, e := range errs {
			paths = append(paths, e.Path)
		}
		want := []string{"name", "status", "colour", "buffer.max_bytes", "buffer.overflow", "destinations[0].name", "destinations[0].batch.max_age"}
		if o.Kinds != nil {
			want = append(want, "destinations[0].settings.nope")
		}
		for _, w := range want {
			if !slices.Contains(paths, w) {
				t.Errorf("kinds=%v: no error for %s in %v", o.Kinds != nil, w, errs)
			}
		}
	}
}

func TestKindsSettings(t *testing.T) {
	b, err := OpenAPIWith(Options{Kinds: testKinds()})
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeDoc(t, b)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	set, ok := schemas["settings.http"].(map[string]any)
	if !ok {
		t.Fatal("no settings.http schema")
	}
	props := set["properties"].(map[string]any)
	if props["api_key"].(map[string]any)["writeOnly"] != true || props["url"].(map[string]any)["writeOnly"] != nil {
		t.Errorf("secrets not marked writeOnly: %v", props)
	}
	typ := schemas["Destination"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)
	if e, _ := json.Marshal(typ["enum"]); string(e) != `["http","standard"]` {
		t.Errorf("type enum: %s", e)
	}
}
