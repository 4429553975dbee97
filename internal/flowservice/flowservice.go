// Package flowservice is the flow-service facade of the management API
// (SPEC §3): the connections / sourceConnections / targetConnections /
// flows resources of a Flow Service style API, mapped onto Runnel streams
// and destinations, so that a script written for such an API can set up
// ingestion without changes.
//
// # Mapping
//
//   - A base connection (POST /flowservice/connections) creates a stream,
//     inactive and without destinations, named after the connection, with
//     authentication_required from auth.params.authenticationRequired
//     (default true, as for streams). Its auth.params carry the stream's
//     inletId and inletUrl: the collection API address (SPEC §2.2).
//   - A source connection names a base connection (its stream) and the
//     data format, json.
//   - A target connection is a destination definition: connectionSpec.id
//     is the destination type (or an alias), params its settings, validated
//     like a stream's destination. data.format json; parquet maps onto the
//     data lake destination type ("datalake") when this build has it, and
//     is refused naming what is supported otherwise. Its secrets are sealed
//     at rest like a stream's.
//   - A flow binds source connections to target connections: every target
//     becomes a destination of every source's stream, and the stream is
//     activated. The streams are validated (and compiled) as a whole before
//     any is changed.
//
// Every stream and destination made here is a normal one in /v1 (and in
// the activity history); the facade objects themselves are kept in the
// configuration bucket (store.CreateObject, key prefix "obj.<ws>.<kind>.").
// The API authenticates every route (Bearer; streams.write to create,
// streams.read to read) and resolves the workspace like /v1, then calls
// the handlers from Extensions. Errors are the /v1 ones
// ({"error","detail"}, invalid_config naming each field). Request bodies
// are read like /v1's (1 MiB, valid UTF-8 JSON, 64 levels) but decoded
// leniently: members this facade does not use (flowSpec, transformations,
// data.schema, …) are accepted and ignored, as clients of such APIs send
// them.
package flowservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/store"
)

// Kinds of facade objects in the store (also the activity resource names).
const (
	kindConnection = "connection"
	kindSource     = "sourceConnection"
	kindTarget     = "targetConnection"
	kindFlow       = "flow"
)

// HTTPAPISpecID is the connection spec id of a streaming HTTP API base
// connection; it is the default connectionSpec of base and source connections.
const HTTPAPISpecID = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"

// DataLakeSpecID is the connection spec id clients use for a data lake
// target; it is taken as the "datalake" destination type.
const DataLakeSpecID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"

// DataLakeType is the destination type parquet targets map onto.
const DataLakeType = "datalake"

// MaxBody bounds request bodies, as for /v1.
const MaxBody = 1 << 20

// Deps are what the facade is built on.
type Deps struct {
	Store *store.Store
	Kinds *destination.Registry
	// Check runs the extra compile checks /v1 runs on a stream (may be nil).
	Check func(st *model.Stream) model.FieldErrors
	// PublicURL is the base of inlet URLs; "": scheme and Host of the request.
	PublicURL string
	Log       *slog.Logger
}

// Service serves the facade.
type Service struct {
	d   Deps
	log *slog.Logger
}

// New builds the facade. Store and Kinds are required.
func New(d Deps) *Service {
	if d.Store == nil || d.Kinds == nil {
		panic("flowservice: Deps.Store and Deps.Kinds are required")
	}
	s := &Service{d: d, log: d.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Extensions returns the handlers of the facade's routes (spec.Routes,
// paths under /flowservice/), by route id, for api.Deps.Extensions.
func (s *Service) Extensions() map[string]api.Extension {
	return map[string]api.Extension{
		"listFlowConnections":        s.listConnections,
		"createFlowConnection":       s.createConnection,
		"getFlowConnection":          s.getConnection,
		"listFlowSourceConnections":  s.listSources,
		"createFlowSourceConnection": s.createSource,
		"getFlowSourceConnection":    s.getSource,
		"listFlowTargetConnections":  s.listTargets,
		"createFlowTargetConnection": s.createTarget,
		"getFlowTargetConnection":    s.getTarget,
		"listFlows":                  s.listFlows,
		"createFlow":                 s.createFlow,
		"getFlow":                    s.getFlow,
	}
}

// ---- stored objects ----

// Spec is a connection or flow spec reference.
type Spec struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

// Data is the data format of a source or target connection.
type Data struct {
	Format string `json:"format"`
}

// meta is common to every object.
type meta struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	CreatedAt   int64  `json:"createdAt"` // unix ms
	UpdatedAt   int64  `json:"updatedAt"`
	CreatedBy   string `json:"createdBy,omitempty"`
}

type connection struct {
	meta
	ConnectionSpec Spec   `json:"connectionSpec"`
	StreamID       string `json:"streamId"`
}

type sourceConnection struct {
	meta
	BaseConnectionID string `json:"baseConnectionId"`
	ConnectionSpec   Spec   `json:"connectionSpec"`
	Data             Data   `json:"data"`
	StreamID         string `json:"streamId"`
}

type targetConnection struct {
	meta
	ConnectionSpec Spec `json:"connectionSpec"`
	Data           Data `json:"data"`
	// Destination is the destination definition, secrets sealed.
	Destination model.Destination `json:"destination"`
}

// Binding is one destination a flow added to a stream.
type Binding struct {
	StreamID    string `json:"streamId"`
	Destination string `json:"destination"`
}

type flow struct {
	meta
	FlowSpec            *Spec     `json:"flowSpec,omitempty"`
	SourceConnectionIDs []string  `json:"sourceConnectionIds"`
	TargetConnectionIDs []string  `json:"targetConnectionIds"`
	Destinations        []Binding `json:"destinations"`
}

// ---- views ----

// Created is the answer of every POST: the new object's id and etag.
type Created struct {
	ID   string `json:"id"`
	ETag string `json:"etag"`
}

// ConnectionView is a base connection as GET shows it.
type ConnectionView struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	ConnectionSpec Spec           `json:"connectionSpec"`
	State          string         `json:"state"` // enabled: the stream is active
	Auth           ConnectionAuth `json:"auth"`
	StreamID       string         `json:"streamId"`
	CreatedAt      int64          `json:"createdAt"`
	UpdatedAt      int64          `json:"updatedAt"`
	CreatedBy      string         `json:"createdBy,omitempty"`
	ETag           string         `json:"etag"`
}

// ConnectionAuth is the auth member of a base connection.
type ConnectionAuth struct {
	SpecName string      `json:"specName"`
	Params   InletParams `json:"params"`
}

// InletParams are the ingestion address of a base connection.
type InletParams struct {
	SourceID               string `json:"sourceId"`
	Name                   string `json:"name"`
	DataType               string `json:"dataType"`
	InletID                string `json:"inletId"`
	InletURL               string `json:"inletUrl"`
	AuthenticationRequired bool   `json:"authenticationRequired"`
}

type sourceView struct {
	sourceConnection
	ETag string `json:"etag"`
}

type targetView struct {
	meta
	ConnectionSpec  Spec           `json:"connectionSpec"`
	Data            Data           `json:"data"`
	Params          map[string]any `json:"params"`
	DestinationType string         `json:"destinationType"`
	DestinationName string         `json:"destinationName"`
	ETag            string         `json:"etag"`
}

type flowView struct {
	flow
	State string `json:"state"`
	ETag  string `json:"etag"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

// ---- base connections ----

type connectionRequest struct {
	Name           string `json:"name"`
	Description    string `json:"description"`
	ConnectionSpec *Spec  `json:"connectionSpec"`
	Auth           *struct {
		Params *struct {
			AuthenticationRequired *bool `json:"authenticationRequired"`
		} `json:"params"`
	} `json:"auth"`
}

func (s *Service) createConnection(w http.ResponseWriter, r *http.Request, c *api.Call) {
	if len(c.Token.Streams) > 0 {
		apierr.Write(w, apierr.Forbidden, "a token limited to streams cannot create base connections (they create streams)")
		return
	}
	var req connectionRequest
	if !readJSON(w, r, &req) {
		return
	}
	var errs model.FieldErrors
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		errs.Add("name", "is required")
	} else if len(req.Name) > 256 {
		errs.Add("name", "must be at most 256 characters")
	}
	if len(req.Description) > 1024 {
		errs.Add("description", "must be at most 1024 characters")
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	authRequired := true // the stream default: an inlet demands a token unless told otherwise
	if req.Auth != nil && req.Auth.Params != nil && req.Auth.Params.AuthenticationRequired != nil {
		authRequired = *req.Auth.Params.AuthenticationRequired
	}
	cs := Spec{ID: HTTPAPISpecID, Version: "1.0"}
	if req.ConnectionSpec != nil && req.ConnectionSpec.ID != "" {
		cs = *req.ConnectionSpec
	}
	id := newUUID()
	st := &model.Stream{
		Name:                   streamName(req.Name),
		Description:            req.Description,
		Status:                 model.StatusInactive,
		AuthenticationRequired: &authRequired,
	}
	if st.Description == "" {
		st.Description = "Base connection " + req.Name
	}
	st.Normalize(s.d.Kinds)
	if errs := s.check(st); len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	created, _, err := s.d.Store.CreateStream(r.Context(), c.Workspace, st, c.Actor)
	if errors.Is(err, store.ErrConflict) {
		// The name is taken: the connection's own id makes it unique.
		st.Name = suffixed(st.Name, id[:8])
		created, _, err = s.d.Store.CreateStream(r.Context(), c.Workspace, st, c.Actor)
	}
	if err != nil {
		s.storeError(w, r, err, fmt.Sprintf("a stream named %q", st.Name))
		return
	}
	now := time.Now().UnixMilli()
	obj := connection{
		meta:           meta{ID: id, Name: req.Name, Description: req.Description, CreatedAt: now, UpdatedAt: now, CreatedBy: c.Actor.Name},
		ConnectionSpec: cs, StreamID: created.ID,
	}
	rev, err := s.d.Store.CreateObject(r.Context(), c.Workspace, kindConnection, id, req.Name, obj, c.Actor)
	if err != nil {
		// Without its connection the stream would be an orphan of a failed request.
		if derr := s.d.Store.DeleteStream(context.WithoutCancel(r.Context()), c.Workspace, created.ID, 0, c.Actor); derr != nil {
			s.log.Warn("flowservice: remove the stream of a failed base connection", "stream", created.ID, "error", derr)
		}
		s.storeError(w, r, err, "base connection")
		return
	}
	writeCreated(w, "/flowservice/connections/", id, rev)
}

func (s *Service) connectionView(r *http.Request, c *api.Call, o *store.Object) (ConnectionView, bool) {
	var conn connection
	if json.Unmarshal(o.Value, &conn) != nil {
		return ConnectionView{}, false
	}
	st, _, ok := s.d.Store.Stream(c.Workspace, conn.StreamID)
	if !ok {
		return ConnectionView{}, false // its stream was deleted in /v1: so is the connection
	}
	state := "enabled"
	if !st.Active() {
		state = "disabled"
	}
	return ConnectionView{
		ID: conn.ID, Name: conn.Name, Description: conn.Description, ConnectionSpec: conn.ConnectionSpec,
		State: state, StreamID: st.ID,
		Auth: ConnectionAuth{SpecName: "Streaming Connection", Params: InletParams{
			SourceID: conn.Name, Name: conn.Name, DataType: "json",
			InletID: st.InletID, InletURL: s.baseURL(r) + "/collection/" + st.InletID,
			AuthenticationRequired: st.AuthRequired(),
		}},
		CreatedAt: conn.CreatedAt, UpdatedAt: conn.UpdatedAt, CreatedBy: conn.CreatedBy, ETag: store.ETag(o.Rev),
	}, true
}

func (s *Service) listConnections(w http.ResponseWriter, r *http.Request, c *api.Call) {
	objs, ok := s.objects(w, r, c, kindConnection)
	if !ok {
		return
	}
	out := list[ConnectionView]{Items: []ConnectionView{}}
	for i := range objs {
		if v, ok := s.connectionView(r, c, &objs[i]); ok && c.Token.AllowsStream(v.StreamID) {
			out.Items = append(out.Items, v)
		}
	}
	sortByCreation(out.Items, func(v ConnectionView) (int64, string) { return v.CreatedAt, v.ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getConnection(w http.ResponseWriter, r *http.Request, c *api.Call) {
	o, ok := s.object(w, r, c, kindConnection, "base connection")
	if !ok {
		return
	}
	v, ok := s.connectionView(r, c, o)
	if !ok {
		apierr.Write(w, apierr.NotFound, fmt.Sprintf("base connection %q not found (its stream was deleted)", o.ID))
		return
	}
	if !c.Token.AllowsStream(v.StreamID) {
		apierr.Write(w, apierr.Forbidden, "this token is limited to other streams")
		return
	}
	setETag(w, o.Rev)
	writeJSON(w, http.StatusOK, list[ConnectionView]{Items: []ConnectionView{v}})
}

// ---- source connections ----

type sourceRequest struct {
	Name             string `json:"name"`
	Description      string `json:"description"`
	BaseConnectionID string `json:"baseConnectionId"`
	ConnectionSpec   *Spec  `json:"connectionSpec"`
	Data             *Data  `json:"data"`
}

func (s *Service) createSource(w http.ResponseWriter, r *http.Request, c *api.Call) {
	var req sourceRequest
	if !readJSON(w, r, &req) {
		return
	}
	var errs model.FieldErrors
	req.Name = strings.TrimSpace(req.Name)
	checkName(&errs, req.Name, req.Description)
	format := "json"
	if req.Data != nil && req.Data.Format != "" {
		format = strings.ToLower(req.Data.Format)
	}
	if format != "json" {
		errs.Add("data.format", "unsupported format %q; supported: json", req.Data.Format)
	}
	var base connection
	switch {
	case req.BaseConnectionID == "":
		errs.Add("baseConnectionId", "is required: the id of a base connection (POST /flowservice/connections)")
	default:
		if _, err := s.d.Store.GetObject(r.Context(), c.Workspace, kindConnection, req.BaseConnectionID, &base); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.storeError(w, r, err, "base connection")
				return
			}
			errs.Add("baseConnectionId", "no base connection %q in this workspace", req.BaseConnectionID)
		} else if _, _, ok := s.d.Store.Stream(c.Workspace, base.StreamID); !ok {
			errs.Add("baseConnectionId", "the stream of base connection %q was deleted", req.BaseConnectionID)
		}
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	if !c.Token.AllowsStream(base.StreamID) {
		apierr.Write(w, apierr.Forbidden, "this token is limited to other streams")
		return
	}
	cs := base.ConnectionSpec
	if req.ConnectionSpec != nil && req.ConnectionSpec.ID != "" {
		cs = *req.ConnectionSpec
	}
	id := newUUID()
	now := time.Now().UnixMilli()
	obj := sourceConnection{
		meta:             meta{ID: id, Name: req.Name, Description: req.Description, CreatedAt: now, UpdatedAt: now, CreatedBy: c.Actor.Name},
		BaseConnectionID: req.BaseConnectionID, ConnectionSpec: cs, Data: Data{Format: format}, StreamID: base.StreamID,
	}
	rev, err := s.d.Store.CreateObject(r.Context(), c.Workspace, kindSource, id, req.Name, obj, c.Actor)
	if err != nil {
		s.storeError(w, r, err, "source connection")
		return
	}
	writeCreated(w, "/flowservice/sourceConnections/", id, rev)
}

func (s *Service) listSources(w http.ResponseWriter, r *http.Request, c *api.Call) {
	objs, ok := s.objects(w, r, c, kindSource)
	if !ok {
		return
	}
	out := list[sourceView]{Items: []sourceView{}}
	for _, o := range objs {
		var v sourceView
		if json.Unmarshal(o.Value, &v.sourceConnection) != nil || !c.Token.AllowsStream(v.StreamID) {
			continue
		}
		v.ETag = store.ETag(o.Rev)
		out.Items = append(out.Items, v)
	}
	sortByCreation(out.Items, func(v sourceView) (int64, string) { return v.CreatedAt, v.ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getSource(w http.ResponseWriter, r *http.Request, c *api.Call) {
	o, ok := s.object(w, r, c, kindSource, "source connection")
	if !ok {
		return
	}
	var v sourceView
	if err := json.Unmarshal(o.Value, &v.sourceConnection); err != nil {
		s.storeError(w, r, err, "source connection")
		return
	}
	if !c.Token.AllowsStream(v.StreamID) {
		apierr.Write(w, apierr.Forbidden, "this token is limited to other streams")
		return
	}
	v.ETag = store.ETag(o.Rev)
	setETag(w, o.Rev)
	writeJSON(w, http.StatusOK, list[sourceView]{Items: []sourceView{v}})
}

// ---- target connections ----

type targetRequest struct {
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	ConnectionSpec *Spec          `json:"connectionSpec"`
	Params         map[string]any `json:"params"`
	Data           *Data          `json:"data"`
}

// targetType decides the destination type of a target connection from
// its connectionSpec.id and data.format.
func (s *Service) targetType(req *targetRequest, errs *model.FieldErrors) string {
	format := "json"
	if req.Data != nil && req.Data.Format != "" {
		format = strings.ToLower(req.Data.Format)
	}
	specID := ""
	if req.ConnectionSpec != nil {
		specID = strings.TrimSpace(req.ConnectionSpec.ID)
	}
	lake := specID == DataLakeSpecID || strings.EqualFold(specID, DataLakeType)
	switch {
	case format == "parquet" || format == "parquet_xdm" || lake:
		if format != "json" && format != "parquet" && format != "parquet_xdm" {
			errs.Add("data.format", "unsupported format %q; supported: json, parquet", req.Data.Format)
			return ""
		}
		t, ok := s.d.Kinds.Canonical(DataLakeType)
		if !ok {
			errs.Add("data.format", "data lake destination not available yet; supported: json")
			return ""
		}
		if specID != "" && !lake {
			if c, _ := s.d.Kinds.Canonical(specID); c != t {
				errs.Add("connectionSpec.id", "parquet data goes to the %s destination type, not %q", t, specID)
				return ""
			}
		}
		return t
	case format != "json":
		errs.Add("data.format", "unsupported format %q; supported: json", req.Data.Format)
		return ""
	case specID == "":
		errs.Add("connectionSpec.id", "is required: the destination type (one of %s)", strings.Join(s.d.Kinds.Names(), ", "))
		return ""
	}
	t, ok := s.d.Kinds.Canonical(specID)
	if !ok {
		errs.Add("connectionSpec.id", "unknown destination type %q (want one of %s)", specID, strings.Join(s.d.Kinds.Names(), ", "))
		return ""
	}
	return t
}

func (s *Service) createTarget(w http.ResponseWriter, r *http.Request, c *api.Call) {
	var req targetRequest
	if !readJSON(w, r, &req) {
		return
	}
	var errs model.FieldErrors
	req.Name = strings.TrimSpace(req.Name)
	checkName(&errs, req.Name, req.Description)
	typ := s.targetType(&req, &errs)
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	if req.Params == nil {
		req.Params = map[string]any{}
	}
	format := "json"
	if typ == DataLakeType {
		format = "parquet"
	}
	// The destination is validated as it will be in a stream, by the model.
	probe := &model.Stream{Name: "probe", Destinations: []model.Destination{{Name: destinationName(req.Name), Type: typ, Settings: req.Params}}}
	probe.Normalize(s.d.Kinds)
	for _, e := range probe.Validate(s.d.Kinds) {
		if p, ok := strings.CutPrefix(e.Path, "destinations[0]"); ok {
			p = strings.TrimPrefix(p, ".")
			if rest, ok := strings.CutPrefix(p, "settings"); ok {
				p = "params" + rest
			}
			e.Path = p
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	sealed, err := s.d.Store.SealDestination(&probe.Destinations[0])
	if fe := (model.FieldErrors{}); errors.As(err, &fe) {
		for i := range fe {
			if rest, ok := strings.CutPrefix(fe[i].Path, "settings"); ok {
				fe[i].Path = "params" + rest
			}
		}
		apierr.WriteFields(w, fe)
		return
	}
	if err != nil {
		s.storeError(w, r, err, "target connection")
		return
	}
	cs := Spec{ID: typ}
	if req.ConnectionSpec != nil && req.ConnectionSpec.ID != "" {
		cs = *req.ConnectionSpec
	}
	id := newUUID()
	now := time.Now().UnixMilli()
	obj := targetConnection{
		meta:           meta{ID: id, Name: req.Name, Description: req.Description, CreatedAt: now, UpdatedAt: now, CreatedBy: c.Actor.Name},
		ConnectionSpec: cs, Data: Data{Format: format}, Destination: *sealed,
	}
	rev, err := s.d.Store.CreateObject(r.Context(), c.Workspace, kindTarget, id, req.Name, obj, c.Actor)
	if err != nil {
		s.storeError(w, r, err, "target connection")
		return
	}
	writeCreated(w, "/flowservice/targetConnections/", id, rev)
}

func (s *Service) targetView(o *store.Object) (targetView, bool) {
	var t targetConnection
	if json.Unmarshal(o.Value, &t) != nil {
		return targetView{}, false
	}
	d := s.d.Store.MaskDestination(&t.Destination)
	return targetView{
		meta: t.meta, ConnectionSpec: t.ConnectionSpec, Data: t.Data, Params: d.Settings,
		DestinationType: d.Type, DestinationName: d.Name, ETag: store.ETag(o.Rev),
	}, true
}

func (s *Service) listTargets(w http.ResponseWriter, r *http.Request, c *api.Call) {
	objs, ok := s.objects(w, r, c, kindTarget)
	if !ok {
		return
	}
	out := list[targetView]{Items: []targetView{}}
	for i := range objs {
		if v, ok := s.targetView(&objs[i]); ok {
			out.Items = append(out.Items, v)
		}
	}
	sortByCreation(out.Items, func(v targetView) (int64, string) { return v.CreatedAt, v.ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getTarget(w http.ResponseWriter, r *http.Request, c *api.Call) {
	o, ok := s.object(w, r, c, kindTarget, "target connection")
	if !ok {
		return
	}
	v, ok := s.targetView(o)
	if !ok {
		s.storeError(w, r, errors.New("undecodable target connection"), "target connection")
		return
	}
	setETag(w, o.Rev)
	writeJSON(w, http.StatusOK, list[targetView]{Items: []targetView{v}})
}

// ---- flows ----

type flowRequest struct {
	Name                string   `json:"name"`
	Description         string   `json:"description"`
	FlowSpec            *Spec    `json:"flowSpec"`
	SourceConnectionIDs []string `json:"sourceConnectionIds"`
	TargetConnectionIDs []string `json:"targetConnectionIds"`
}

func (s *Service) createFlow(w http.ResponseWriter, r *http.Request, c *api.Call) {
	var req flowRequest
	if !readJSON(w, r, &req) {
		return
	}
	var errs model.FieldErrors
	req.Name = strings.TrimSpace(req.Name)
	checkName(&errs, req.Name, req.Description)
	if len(req.SourceConnectionIDs) == 0 {
		errs.Add("sourceConnectionIds", "at least one source connection id is required")
	}
	if len(req.TargetConnectionIDs) == 0 {
		errs.Add("targetConnectionIds", "at least one target connection id is required")
	}
	ctx := r.Context()
	var streamIDs []string
	for i, id := range req.SourceConnectionIDs {
		var src sourceConnection
		if _, err := s.d.Store.GetObject(ctx, c.Workspace, kindSource, id, &src); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.storeError(w, r, err, "source connection")
				return
			}
			errs.Add(fmt.Sprintf("sourceConnectionIds[%d]", i), "no source connection %q in this workspace", id)
			continue
		}
		if _, _, ok := s.d.Store.Stream(c.Workspace, src.StreamID); !ok {
			errs.Add(fmt.Sprintf("sourceConnectionIds[%d]", i), "the stream of source connection %q was deleted", id)
			continue
		}
		if !slices.Contains(streamIDs, src.StreamID) {
			streamIDs = append(streamIDs, src.StreamID)
		}
	}
	var dests []model.Destination
	for i, id := range req.TargetConnectionIDs {
		var t targetConnection
		if _, err := s.d.Store.GetObject(ctx, c.Workspace, kindTarget, id, &t); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.storeError(w, r, err, "target connection")
				return
			}
			errs.Add(fmt.Sprintf("targetConnectionIds[%d]", i), "no target connection %q in this workspace", id)
			continue
		}
		d, err := s.d.Store.OpenDestination(&t.Destination)
		if err != nil {
			s.storeError(w, r, err, "target connection")
			return
		}
		dests = append(dests, *d)
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	for _, id := range streamIDs {
		if !c.Token.AllowsStream(id) {
			apierr.Write(w, apierr.Forbidden, "this token is limited to other streams")
			return
		}
	}

	// Every stream's new definition is checked before any is written.
	type change struct {
		st    *model.Stream
		rev   uint64
		added []string
	}
	var changes []change
	for _, id := range streamIDs {
		cur, rev, _ := s.d.Store.Stream(c.Workspace, id)
		next := s.d.Store.Masked(cur) // masked secrets keep their stored values
		var added []string
		for _, d := range dests {
			d.Name = freeName(next, d.Name)
			next.Destinations = append(next.Destinations, d)
			added = append(added, d.Name)
		}
		next.Status = model.StatusActive
		next.Normalize(s.d.Kinds)
		if fe := s.check(next); len(fe) > 0 {
			for i := range fe {
				fe[i].Path = "stream " + next.Name + ": " + fe[i].Path
			}
			apierr.WriteFields(w, fe)
			return
		}
		changes = append(changes, change{next, rev, added})
	}
	var bindings []Binding
	for _, ch := range changes {
		if _, _, err := s.d.Store.UpdateStream(ctx, c.Workspace, ch.st.ID, ch.st, ch.rev, c.Actor); err != nil {
			if errors.Is(err, store.ErrPreconditionFailed) {
				apierr.Write(w, apierr.Conflict, fmt.Sprintf("stream %q changed while the flow was being created; retry", ch.st.Name))
				return
			}
			s.storeError(w, r, err, "stream")
			return
		}
		for _, name := range ch.added {
			bindings = append(bindings, Binding{StreamID: ch.st.ID, Destination: name})
		}
	}
	id := newUUID()
	now := time.Now().UnixMilli()
	obj := flow{
		meta:     meta{ID: id, Name: req.Name, Description: req.Description, CreatedAt: now, UpdatedAt: now, CreatedBy: c.Actor.Name},
		FlowSpec: req.FlowSpec, SourceConnectionIDs: req.SourceConnectionIDs, TargetConnectionIDs: req.TargetConnectionIDs,
		Destinations: bindings,
	}
	rev, err := s.d.Store.CreateObject(ctx, c.Workspace, kindFlow, id, req.Name, obj, c.Actor)
	if err != nil {
		s.storeError(w, r, err, "flow")
		return
	}
	writeCreated(w, "/flowservice/flows/", id, rev)
}

func (s *Service) flowView(c *api.Call, o *store.Object) (flowView, bool) {
	var v flowView
	if json.Unmarshal(o.Value, &v.flow) != nil {
		return v, false
	}
	v.State = "enabled"
	for _, b := range v.Destinations {
		if !c.Token.AllowsStream(b.StreamID) {
			return v, false
		}
		if st, _, ok := s.d.Store.Stream(c.Workspace, b.StreamID); !ok || !st.Active() {
			v.State = "disabled"
		} else if _, ok := st.Destination(b.Destination); !ok {
			v.State = "disabled"
		}
	}
	v.ETag = store.ETag(o.Rev)
	return v, true
}

func (s *Service) listFlows(w http.ResponseWriter, r *http.Request, c *api.Call) {
	objs, ok := s.objects(w, r, c, kindFlow)
	if !ok {
		return
	}
	out := list[flowView]{Items: []flowView{}}
	for i := range objs {
		if v, ok := s.flowView(c, &objs[i]); ok {
			out.Items = append(out.Items, v)
		}
	}
	sortByCreation(out.Items, func(v flowView) (int64, string) { return v.CreatedAt, v.ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getFlow(w http.ResponseWriter, r *http.Request, c *api.Call) {
	o, ok := s.object(w, r, c, kindFlow, "flow")
	if !ok {
		return
	}
	v, ok := s.flowView(c, o)
	if !ok {
		apierr.Write(w, apierr.Forbidden, "this token is limited to other streams")
		return
	}
	setETag(w, o.Rev)
	writeJSON(w, http.StatusOK, list[flowView]{Items: []flowView{v}})
}

// ---- helpers ----

// check validates a normalized stream like /v1 does.
func (s *Service) check(st *model.Stream) model.FieldErrors {
	errs := st.Validate(s.d.Kinds)
	if len(errs) == 0 && s.d.Check != nil {
		errs = s.d.Check(st)
	}
	return errs
}

func checkName(errs *model.FieldErrors, name, desc string) {
	if name == "" {
		errs.Add("name", "is required")
	} else if len(name) > 256 {
		errs.Add("name", "must be at most 256 characters")
	}
	if len(desc) > 1024 {
		errs.Add("description", "must be at most 1024 characters")
	}
}

func (s *Service) objects(w http.ResponseWriter, r *http.Request, c *api.Call, kind string) ([]store.Object, bool) {
	objs, err := s.d.Store.Objects(r.Context(), c.Workspace, kind)
	if err != nil {
		s.storeError(w, r, err, kind)
		return nil, false
	}
	return objs, true
}

func (s *Service) object(w http.ResponseWriter, r *http.Request, c *api.Call, kind, what string) (*store.Object, bool) {
	id := r.PathValue("id")
	var raw json.RawMessage
	rev, err := s.d.Store.GetObject(r.Context(), c.Workspace, kind, id, &raw)
	if errors.Is(err, store.ErrNotFound) {
		apierr.Write(w, apierr.NotFound, fmt.Sprintf("%s %q not found", what, id))
		return nil, false
	}
	if err != nil {
		s.storeError(w, r, err, what)
		return nil, false
	}
	return &store.Object{ID: id, Value: raw, Rev: rev}, true
}

func (s *Service) storeError(w http.ResponseWriter, r *http.Request, err error, what string) {
	var fe model.FieldErrors
	switch {
	case errors.As(err, &fe):
		apierr.WriteFields(w, fe)
	case errors.Is(err, store.ErrConflict):
		apierr.Write(w, apierr.Conflict, what+" already exists")
	case errors.Is(err, store.ErrNotFound):
		apierr.Write(w, apierr.NotFound, what+" not found")
	case errors.Is(err, store.ErrPreconditionFailed):
		apierr.Write(w, apierr.Conflict, what+" changed meanwhile; retry")
	default:
		s.log.Error("flowservice store error", "route", r.Pattern, "error", err)
		apierr.Write(w, apierr.Internal, "internal error")
	}
}

// baseURL is the public base of inlet URLs.
func (s *Service) baseURL(r *http.Request) string {
	if s.d.PublicURL != "" {
		return strings.TrimRight(s.d.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// readJSON reads a request body (at most MaxBody bytes, valid UTF-8 JSON
// nested at most 64 levels, an object) and decodes it into v, ignoring
// members v does not have. It answers the error itself.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		apierr.Write(w, apierr.UnsupportedMedia, "Content-Encoding is not supported here; send the body uncompressed")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			apierr.Write(w, apierr.PayloadTooLarge, fmt.Sprintf("request body exceeds %d bytes (1 MiB)", MaxBody))
			return false
		}
		apierr.Write(w, apierr.InvalidFormat, "could not read the request body")
		return false
	}
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 {
		apierr.Write(w, apierr.InvalidFormat, "empty body: want a JSON object")
		return false
	}
	if err := decode.Valid(body, decode.Limits{MaxDepth: 64}); err != nil {
		apierr.Write(w, apierr.InvalidFormat, err.Error())
		return false
	}
	if body[0] != '{' {
		apierr.Write(w, apierr.InvalidFormat, "the body must be a JSON object")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			apierr.WriteFields(w, model.FieldErrors{{Path: te.Field, Message: "must be of type " + jsonType(te.Type.String())}})
			return false
		}
		apierr.Write(w, apierr.InvalidFormat, "malformed JSON")
		return false
	}
	return true
}

func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "string"
	case goType == "bool" || goType == "*bool":
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "struct") || strings.Contains(goType, "."):
		return "object"
	}
	return goType
}

func writeJSON(w http.ResponseWriter, status int, v any) { apierr.WriteBody(w, status, v) }

func setETag(w http.ResponseWriter, rev uint64) { w.Header().Set("ETag", `"`+store.ETag(rev)+`"`) }

func writeCreated(w http.ResponseWriter, base, id string, rev uint64) {
	w.Header().Set("Location", base+id)
	setETag(w, rev)
	writeJSON(w, http.StatusCreated, Created{ID: id, ETag: store.ETag(rev)})
}

func sortByCreation[T any](items []T, key func(T) (int64, string)) {
	slices.SortStableFunc(items, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		switch {
		case ta != tb:
			if ta < tb {
				return -1
			}
			return 1
		}
		return strings.Compare(ia, ib)
	})
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var (
	notStreamChar = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
	notDestChar   = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// streamName turns a connection name into a valid stream name: other
// characters become '-', at most 64 characters, starting with a letter or
// digit, never "str_…".
func streamName(name string) string {
	return sanitize(notStreamChar.ReplaceAllString(name, "-"), "connection")
}

// destinationName turns a target connection name into a destination name.
func destinationName(name string) string {
	return sanitize(notDestChar.ReplaceAllString(name, "-"), "target")
}

func sanitize(s, fallback string) string {
	s = strings.TrimLeft(s, "-_.")
	if len(s) > 64 {
		s = s[:64]
	}
	s = strings.TrimRight(s, "-")
	if s == "" {
		s = fallback
	}
	if strings.HasPrefix(s, "str_") {
		s = "s-" + s
		if len(s) > 64 {
			s = s[:64]
		}
	}
	return s
}

// suffixed appends "-suffix" to name, keeping it at most 64 characters.
func suffixed(name, suffix string) string {
	if len(name)+1+len(suffix) > 64 {
		name = strings.TrimRight(name[:64-1-len(suffix)], "-_.")
	}
	return name + "-" + suffix
}

// freeName returns name, or name-2, name-3, … when st already has a
// destination by that name.
func freeName(st *model.Stream, name string) string {
	if _, taken := st.Destination(name); !taken {
		return name
	}
	for i := 2; ; i++ {
		n := suffixed(name, fmt.Sprint(i))
		if _, taken := st.Destination(n); !taken {
			return n
		}
	}
}
