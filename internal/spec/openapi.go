// Package spec generates the OpenAPI 3.1 document of the management API
// and the JSON Schema (2020-12) of a stream definition from the Go types
// the server decodes and validates with (package model and package
// api/view): one source of truth. Descriptions are the types' Go doc
// comments (embedded as comments.json, refreshed by the tests); what
// reflection cannot see — patterns of sizes and durations, enums,
// read-only fields — is in overrides.go.
//
// The endpoints are the list of Routes, which package api also registers
// from: a route cannot exist without being documented, nor the reverse.
//
// Why not github.com/invopop/jsonschema: it reads doc comments from the
// source tree at run time (the binary has none), names definitions for
// "#/$defs" only, and infers nothing we could not write in 200 lines; a
// small reflector keeps the output exactly under our control and adds no
// dependency.
package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
)

// Options tune the generated documents.
type Options struct {
	// Kinds, when set, adds each destination type's settings schema
	// (secrets marked writeOnly) and restricts destination.type to the
	// known type names and aliases. The golden document is made without.
	Kinds *destination.Registry
}

// The component schemas, reflected from these types.
var componentTypes = []reflect.Type{
	reflect.TypeFor[view.Stream](),
	reflect.TypeFor[view.StreamList](),
	reflect.TypeFor[view.StreamStatus](),
	reflect.TypeFor[view.DeadLetterPage](),
	reflect.TypeFor[view.ReplayRequest](),
	reflect.TypeFor[view.ReplayResult](),
	reflect.TypeFor[view.TestResult](),
	reflect.TypeFor[model.TokenRequest](),
	reflect.TypeFor[view.Token](),
	reflect.TypeFor[view.NewToken](),
	reflect.TypeFor[view.TokenList](),
	reflect.TypeFor[model.Workspace](),
	reflect.TypeFor[view.WorkspaceRequest](),
	reflect.TypeFor[view.WorkspaceList](),
	reflect.TypeFor[model.Activity](),
	reflect.TypeFor[view.ActivityPage](),
	reflect.TypeFor[catalog.DataSourceList](),
	reflect.TypeFor[catalog.TemplateList](),
	reflect.TypeFor[view.Health](),
	reflect.TypeFor[apierr.Body](),
}

// OpenAPI returns the OpenAPI 3.1 document of the management API.
func OpenAPI() ([]byte, error) { return OpenAPIWith(Options{}) }

// StreamSchema returns the JSON Schema (2020-12) of a stream definition,
// for `runnel streams apply` and editors. It accepts the resource as GET
// returns it (read-only fields included), like the server does.
func StreamSchema() ([]byte, error) { return StreamSchemaWith(Options{}) }

// OpenAPIWith is OpenAPI with options.
func OpenAPIWith(o Options) ([]byte, error) {
	r := newReflector("#/components/schemas/")
	for _, t := range componentTypes {
		r.schema(t)
	}
	r.defs["MergePatch"] = map[string]any{
		"type":        "object",
		"description": "A JSON merge patch (RFC 7396) of the stream resource: members replace those of the resource, null removes one, objects merge recursively, arrays are replaced whole.",
	}
	if err := r.addKinds(o.Kinds); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	paths := map[string]any{}
	for _, rt := range Routes() {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = operation(rt)
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{
			"application/json": map[string]any{"schema": ref("Error")}}}
	}
	doc := map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": map[string]any{
			"title":   "Runnel management API",
			"version": "1.0.0",
			"description": "Manage streams, tokens and workspaces of a Runnel server. " +
				"Every request but the public ones carries `Authorization: Bearer <token>`; the token's workspace is the workspace of the request " +
				"(an admin token acts in the one named by `X-Workspace`, default `default`), and a resource of another workspace is answered 404. " +
				"A token limited to some streams is answered 403 for the others. " +
				"Every 4xx/5xx answer is `{\"error\",\"detail\"}` (plus `fields` for invalid_config) and changes nothing.",
		},
		"tags": []any{
			map[string]any{"name": "streams", "description": "Stream definitions."},
			map[string]any{"name": "operations", "description": "Delivery status, dead letters, tests, health."},
			map[string]any{"name": "catalog", "description": "Data sources and templates."},
			map[string]any{"name": "tokens", "description": "API tokens."},
			map[string]any{"name": "workspaces", "description": "Workspaces and their activity history."},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": r.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "A Runnel token (rnl_…)."},
			},
			"parameters": map[string]any{
				"workspace": map[string]any{"name": "X-Workspace", "in": "header", "required": false,
					"description": "The workspace to act in; admin tokens only (default: \"default\"). Other tokens act in their own workspace.",
					"schema":      map[string]any{"type": "string", "pattern": WorkspaceNamePattern}},
				"ifMatch": map[string]any{"name": "If-Match", "in": "header", "required": false,
					"description": "Act only if the stream's current ETag is this one (else 412).",
					"schema":      map[string]any{"type": "string"}},
			},
			"headers": map[string]any{
				"ETag":     map[string]any{"description": "The stream's revision, quoted.", "schema": map[string]any{"type": "string"}},
				"Location": map[string]any{"description": "Path of the new resource.", "schema": map[string]any{"type": "string"}},
			},
			"responses": map[string]any{
				"BadRequest":         errResp("Invalid request: malformed JSON (invalid_format), body over 1 MiB (payload_too_large), invalid fields (invalid_config, each named in fields), bad parameters (bad_request)."),
				"Unauthorized":       errResp("Missing, unknown or expired token."),
				"Forbidden":          errResp("The token lacks the scope, or is limited to other streams."),
				"NotFound":           errResp("No such resource in the workspace."),
				"Conflict":           errResp("The name is taken."),
				"PreconditionFailed": errResp("If-Match does not match the current ETag."),
				"UnsupportedMedia":   errResp("Unsupported Content-Type or Content-Encoding."),
				"Unavailable":        errResp("Not ready; retry after Retry-After."),
				"Internal":           errResp("Internal error."),
			},
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// StreamSchemaWith is StreamSchema with options.
func StreamSchemaWith(o Options) ([]byte, error) {
	r := newReflector("#/$defs/")
	r.schema(reflect.TypeFor[view.Stream]())
	if err := r.addKinds(o.Kinds); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	root := cloneMap(r.defs["Stream"])
	delete(r.defs, "Stream")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://runnel.dev/schemas/stream.json"
	root["title"] = "Runnel stream"
	root["$defs"] = r.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addKinds adds the settings schema of every destination kind.
func (r *reflector) addKinds(kinds *destination.Registry) error {
	if kinds == nil {
		return nil
	}
	dest := r.defs["Destination"]
	if dest == nil {
		return nil
	}
	props := dest["properties"].(map[string]any)
	var all []string
	var cond []any
	for _, name := range kinds.Names() {
		k, _ := kinds.Kind(name)
		names := append([]string{k.Name}, k.Aliases...)
		all = append(all, names...)
		if k.Config == nil {
			continue
		}
		t := reflect.TypeOf(k.Config())
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			continue
		}
		s := r.object(t)
		delete(s, "required") // settings decode onto defaults
		sp := s["properties"].(map[string]any)
		for key, v := range sp {
			if k.Secret != nil && k.Secret(key) {
				p := cloneMap(v.(map[string]any))
				p["writeOnly"] = true
				d, _ := p["description"].(string)
				p["description"] = strings.TrimSpace(d + " Secret: write-only, shown as \"********\".")
				sp[key] = p
			}
		}
		s["description"] = fmt.Sprintf("Settings of destination type %s.", k.Name)
		def := "settings." + k.Name
		r.defs[def] = s
		cond = append(cond, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"enum": names}}, "required": []string{"type"}},
			"then": map[string]any{"properties": map[string]any{"settings": map[string]any{"$ref": r.prefix + def}}},
		})
	}
	tp := cloneMap(props["type"].(map[string]any))
	tp["enum"] = all
	props["type"] = tp
	if len(cond) > 0 {
		dest["allOf"] = cond
	}
	return nil
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var pathParamRe = regexp.MustCompile(`\{([a-z]+)\}`)

var pathParamDesc = map[string]string{
	"id":   "Id or name of the resource (a stream's name is unique in its workspace).",
	"name": "Name of the destination in the stream.",
}

func operation(rt Route) map[string]any {
	op := map[string]any{"operationId": rt.ID, "summary": rt.Summary, "tags": []string{rt.Tag}}
	desc := rt.Description
	var params []any
	for _, m := range pathParamRe.FindAllStringSubmatch(rt.Path, -1) {
		d := pathParamDesc[m[1]]
		if m[1] == "id" && !strings.HasPrefix(rt.Path, "/v1/streams/") {
			d = "Id of the resource."
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": d, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.Query {
		s := map[string]any{"type": q.Type}
		if q.Name == "limit" {
			s["minimum"], s["maximum"], s["default"] = 1, 1000, 100
		}
		params = append(params, map[string]any{"name": q.Name, "in": "query", "required": false,
			"description": q.Description, "schema": s})
	}
	write := rt.Method != http.MethodGet && rt.Method != http.MethodPost
	if rt.ETag && write {
		params = append(params, map[string]any{"$ref": "#/components/parameters/ifMatch"})
	}
	if rt.Scope != "" {
		params = append(params, map[string]any{"$ref": "#/components/parameters/workspace"})
		op["x-runnel-scope"] = rt.Scope
		op["security"] = []any{map[string]any{"bearer": []any{}}}
		desc = strings.TrimSpace(desc + fmt.Sprintf("\n\nScope: `%s`.", rt.Scope))
	} else {
		op["security"] = []any{}
	}
	if desc != "" {
		op["description"] = desc
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.Request != "" {
		content := map[string]any{"application/json": map[string]any{"schema": ref(rt.Request)}}
		if rt.Method == http.MethodPatch {
			content["application/merge-patch+json"] = map[string]any{"schema": ref(rt.Request)}
		}
		op["requestBody"] = map[string]any{"required": !rt.RequestOptional, "content": content}
	}
	ok := map[string]any{"description": rt.Summary}
	switch {
	case rt.Response != "":
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.Response)}}
	case rt.ContentType == "text/event-stream":
		ok["content"] = map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}
	case rt.ContentType != "":
		ok["content"] = map[string]any{rt.ContentType: map[string]any{"schema": map[string]any{"type": "string"}}}
	case rt.Status != http.StatusNoContent:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	headers := map[string]any{}
	if rt.ETag && rt.Status != http.StatusNoContent {
		headers["ETag"] = map[string]any{"$ref": "#/components/headers/ETag"}
	}
	if rt.Status == http.StatusCreated {
		headers["Location"] = map[string]any{"$ref": "#/components/headers/Location"}
	}
	if len(headers) > 0 {
		ok["headers"] = headers
	}
	resp := map[string]any{fmt.Sprint(rt.Status): ok}
	errRef := func(code int, name string) {
		resp[fmt.Sprint(code)] = map[string]any{"$ref": "#/components/responses/" + name}
	}
	if rt.Request != "" || len(rt.Query) > 0 {
		errRef(400, "BadRequest")
	}
	if rt.Request != "" {
		errRef(415, "UnsupportedMedia")
	}
	if rt.Scope != "" {
		errRef(401, "Unauthorized")
		errRef(403, "Forbidden")
		errRef(500, "Internal")
	}
	if strings.Contains(rt.Path, "{") || rt.Scope != "" {
		errRef(404, "NotFound")
	}
	if rt.Conflict {
		errRef(409, "Conflict")
	}
	if rt.ETag && write {
		errRef(412, "PreconditionFailed")
	}
	if rt.ID == "readyz" || slices.Contains([]string{"getStreamStatus", "testDestination", "listDeadLetters", "replayDeadLetters"}, rt.ID) {
		errRef(503, "Unavailable")
	}
	op["responses"] = resp
	return op
}
