package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/runnel/runnel/internal/model"
)

// readOnlyFields are assigned by the server; they are dropped from an
// applied definition (a `streams get` output can be applied back).
var readOnlyFields = []string{"id", "workspace", "etag", "inlet_id", "inlet_url", "created_at", "updated_at"}

// streamDoc is one stream definition of an apply input.
type streamDoc struct {
	name string
	// body is the definition as JSON, without read-only fields.
	body []byte
}

// parseStreamDocs reads stream definitions: YAML or JSON, one document or
// several ("---"), each a stream or a list of streams.
func parseStreamDocs(source string, data []byte) ([]streamDoc, error) {
	if source == "-" {
		source = "standard input"
	}
	var out []streamDoc
	docs := splitYAMLDocs(data)
	for i, doc := range docs {
		where := source
		if len(docs) > 1 {
			where = fmt.Sprintf("%s: document %d", source, i+1)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		j = bytes.TrimSpace(j)
		if len(j) == 0 || string(j) == "null" {
			continue
		}
		var objs []json.RawMessage
		if j[0] == '[' {
			if err := json.Unmarshal(j, &objs); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		} else {
			objs = []json.RawMessage{j}
		}
		for k, o := range objs {
			at := where
			if j[0] == '[' {
				at = fmt.Sprintf("%s: item %d", where, k+1)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(o, &m); err != nil {
				return nil, fmt.Errorf("%s: a stream definition must be an object", at)
			}
			var name string
			if err := json.Unmarshal(m["name"], &name); err != nil || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("%s: name is required", at)
			}
			for _, f := range readOnlyFields {
				delete(m, f)
			}
			body, err := json.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at, err)
			}
			out = append(out, streamDoc{name: name, body: body})
		}
	}
	return out, nil
}

// splitYAMLDocs splits a YAML stream on "---" document separator lines.
func splitYAMLDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), len(data)+1)
	for sc.Scan() {
		line := sc.Bytes()
		if isDocSeparator(line) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			// "--- {inline: doc}" keeps the content after the marker.
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				cur.Write(rest)
				cur.WriteByte('\n')
			}
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

func isDocSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r'
}

type applyResult struct {
	action string // created, configured, unchanged
	id     string
}

// applyStream creates the stream d names, or replaces it when its
// definition differs.
func applyStream(ctx context.Context, c *client, d streamDoc) (applyResult, error) {
	cur, err := c.get(ctx, streamPath(d.name))
	if isNotFound(err) {
		resp, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/streams", body: d.body})
		if err != nil {
			return applyResult{}, err
		}
		return applyResult{action: "created", id: idOf(resp.body)}, nil
	}
	if err != nil {
		return applyResult{}, err
	}
	id := idOf(cur.body)
	if id == "" {
		id = d.name
	}
	if sameDefinition(d.body, cur.body) {
		return applyResult{action: "unchanged", id: id}, nil
	}
	etag := cur.header.Get("ETag")
	if etag == "" {
		var v struct {
			ETag string `json:"etag"`
		}
		_ = json.Unmarshal(cur.body, &v)
		if v.ETag != "" {
			etag = `"` + v.ETag + `"`
		}
	}
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	resp, err := c.send(ctx, request{method: http.MethodPut, path: streamPath(id), body: d.body, header: h})
	if err != nil {
		return applyResult{}, err
	}
	if nid := idOf(resp.body); nid != "" {
		id = nid
	}
	return applyResult{action: "configured", id: id}, nil
}

// sameDefinition reports whether applying want to a stream whose resource
// is have would change nothing. Both are decoded as model.Stream (sizes and
// durations in any spelling compare equal), stripped of server fields and
// given the model's defaults; a destination's batch left out of want takes
// the current one (the default depends on the destination type, which the
// server knows). Anything want holds that the model does not know counts
// as a change, so the server gets to judge it. A secret cannot compare
// equal unless want holds the mask: the server never returns it.
func sameDefinition(want, have []byte) bool {
	var w, h model.Stream
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return false
	}
	if err := json.Unmarshal(have, &h); err != nil {
		return false
	}
	for _, s := range []*model.Stream{&w, &h} {
		s.ID, s.Workspace, s.InletID = "", "", ""
		s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
		s.Normalize(looseKinds{})
	}
	for i := range w.Destinations {
		wd := &w.Destinations[i]
		if hd, ok := h.Destination(wd.Name); ok {
			if wd.Batch.MaxEvents == 0 {
				wd.Batch.MaxEvents = hd.Batch.MaxEvents
			}
			if wd.Batch.MaxAge == 0 {
				wd.Batch.MaxAge = hd.Batch.MaxAge
			}
		}
	}
	return jsonEqual(&w, &h)
}

func jsonEqual(a, b any) bool {
	var va, vb any
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// looseKinds lets model.Normalize fill the type-independent defaults on
// the client, which does not know the server's destination kinds.
type looseKinds struct{}

func (looseKinds) Canonical(typ string) (string, bool)                       { return typ, true }
func (looseKinds) Names() []string                                           { return nil }
func (looseKinds) ValidateSettings(string, map[string]any) model.FieldErrors { return nil }
func (looseKinds) DefaultBatch(string) model.Batch                           { return model.Batch{} }
func (looseKinds) IsSecret(string, string) bool                              { return false }
