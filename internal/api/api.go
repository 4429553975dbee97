// Package api is the management REST API (SPEC §3): streams, their status,
// dead letters and destination tests, tokens, workspaces, activity, health,
// metrics and the OpenAPI document.
//
// The endpoints are spec.Routes(): Register installs a handler for each
// one (and panics when one is missing), and package spec documents the
// same list, so a route cannot be served undocumented. Every handler runs
// behind the same gate: bearer token (401 when missing, unknown or
// expired), scope (403), workspace (the token's own; an admin token acts
// in the one named by X-Workspace, default "default" as SPEC §3 says,
// whatever workspace it was issued in; 404 when it does not exist), and for
// /v1/streams/{id}/… the stream itself, by id or name: 404 when it is not
// in the workspace (a stream of another workspace does not exist), 403 when
// the token is limited to other streams — the same answer ingest gives
// (SPEC §2.1), chosen over 404 because the token's workspace is the
// caller's own and hiding names there protects nothing.
//
// Bad input changes nothing: bodies are read whole (at most 1 MiB), must be
// valid UTF-8 JSON nested at most 64 deep, are decoded strictly (every
// unknown or mistyped field is named, with the validation errors, in one
// invalid_config answer) and validated before the store is touched.
//
// Nothing here logs a request body, a token or a setting; the error text of
// a destination test is scrubbed of the destination's secrets.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/auth"
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/spec"
	"github.com/runnel/runnel/internal/store"
	"github.com/runnel/runnel/internal/telemetry"
)

// Delivery is what the API needs from the delivery engine; the server
// wiring implements it.
type Delivery interface {
	// Status is the JSON-encodable per-destination status of a stream (st
	// is the masked stream). An object is merged with the stream's id,
	// name and status; anything else is answered as "destinations".
	Status(ctx context.Context, st *model.Stream) (any, error)
	// DeadLetters lists up to limit dead letters of a stream (of one
	// destination when dest is not ""), after the cursor after (0: from
	// the first); next is the cursor of the following page, 0 at the end.
	DeadLetters(ctx context.Context, streamID, dest string, after uint64, limit int) (items any, next uint64, err error)
	// Replay sends dead letters to their destination again (all when dest
	// is "" / ids is empty) and returns how many.
	Replay(ctx context.Context, streamID, dest string, ids []uint64) (int, error)
	// Test probes destination dest of st now; st has its secrets in clear.
	Test(ctx context.Context, st *model.Stream, dest string) error
}

// Call is the authenticated context of a request.
type Call struct {
	// Token that authenticated the request.
	Token *model.Token
	// Workspace the request acts in.
	Workspace string
	// Actor of the changes the request makes (activity history).
	Actor store.Actor
	// Stream and Rev: for routes under /v1/streams/{id}, the stream
	// (stored form, secrets sealed; shared: do not modify) and its
	// revision. Nil otherwise.
	Stream *model.Stream
	Rev    uint64
}

// Extension serves a route whose logic lives in another package (tail,
// data sources, templates); the API has authenticated it and resolved the
// workspace (and the stream) before.
type Extension func(w http.ResponseWriter, r *http.Request, c *Call)

// Deps are what the API is built on.
type Deps struct {
	Store    *store.Store
	Kinds    *destination.Registry
	Delivery Delivery
	Metrics  *telemetry.Metrics
	Log      *slog.Logger
	// Ready answers /readyz; nil: always ready.
	Ready func() bool
	// Check runs extra compile checks (template, …) on a stream that
	// passed Validate; may be nil.
	Check func(st *model.Stream) model.FieldErrors
	// PublicURL is the base of inlet_url; "": scheme and Host of the request.
	PublicURL string
	// Now is the clock (token expiry); nil: time.Now.
	Now func() time.Time
	// Extensions serve the routes of spec.Routes() marked Extension, by
	// route id ("tailStream", "listDataSources", "listTemplates"). A
	// route without one is not registered (404).
	Extensions map[string]Extension
}

// API is the management API.
type API struct {
	d        Deps
	log      *slog.Logger
	handlers map[string]handler
	openapi  func() ([]byte, error)
}

type handler func(w http.ResponseWriter, r *http.Request, c *Call)

// New builds the API. Store and Kinds are required.
func New(d Deps) *API {
	if d.Store == nil || d.Kinds == nil {
		panic("api: Deps.Store and Deps.Kinds are required")
	}
	a := &API{d: d, log: d.Log}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.d.Now == nil {
		a.d.Now = time.Now
	}
	a.openapi = sync.OnceValues(func() ([]byte, error) { return spec.OpenAPIWith(spec.Options{Kinds: d.Kinds}) })
	a.handlers = map[string]handler{
		"listStreams":       a.listStreams,
		"createStream":      a.createStream,
		"getStream":         a.getStream,
		"replaceStream":     a.replaceStream,
		"patchStream":       a.patchStream,
		"deleteStream":      a.deleteStream,
		"getStreamStatus":   a.streamStatus,
		"listDeadLetters":   a.listDeadLetters,
		"replayDeadLetters": a.replayDeadLetters,
		"testDestination":   a.testDestination,
		"listTokens":        a.listTokens,
		"createToken":       a.createToken,
		"deleteToken":       a.deleteToken,
		"listWorkspaces":    a.listWorkspaces,
		"createWorkspace":   a.createWorkspace,
		"listActivity":      a.listActivity,
		"getOpenAPI":        a.getOpenAPI,
		"healthz":           a.healthz,
		"readyz":            a.readyz,
		"metrics":           a.metrics(),
	}
	for id, e := range d.Extensions {
		if e != nil {
			a.handlers[id] = handler(e)
		}
	}
	return a
}

// Register installs every route of spec.Routes() on mux, a JSON 405 (with
// Allow) for the other methods of each path, and a JSON 404 for unknown
// /v1 paths.
//
// Every pattern carries a method, so that the ingest dialects can share
// the mux: they must register method patterns too ("POST /v1/streams/ingest",
// "POST /{index}/_bulk"); a pattern without a method that overlaps /v1/
// makes ServeMux panic at registration. A POST to an unknown two-segment
// /v1 path ("POST /v1/nope") is left to the rest of the mux, since
// "POST /{index}/_bulk" owns "POST /v1/_bulk".
func (a *API) Register(mux *http.ServeMux) {
	allow := map[string][]string{}
	var paths []string
	for _, rt := range spec.Routes() {
		h, ok := a.handlers[rt.ID]
		if !ok {
			if rt.Extension {
				continue
			}
			panic("api: no handler for route " + rt.ID)
		}
		mux.Handle(rt.Pattern(), a.wrap(rt, h))
		if _, seen := allow[rt.Path]; !seen {
			paths = append(paths, rt.Path)
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	for _, p := range paths {
		allowed := slices.Clone(allow[p])
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		slices.SortFunc(allowed, func(x, y string) int {
			return slices.Index(methodOrder, x) - slices.Index(methodOrder, y)
		})
		header := strings.Join(allowed, ", ")
		for _, m := range methods {
			if slices.Contains(allowed, m) {
				continue
			}
			mux.HandleFunc(m+" "+p, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", header)
				apierr.Write(w, apierr.MethodNotAllowed, fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, header))
			})
		}
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, apierr.NotFound, "no such endpoint; see /v1/openapi.json")
	}
	for _, p := range []string{"GET /v1/", "PUT /v1/", "PATCH /v1/", "DELETE /v1/", "POST /v1/{p}/{rest...}"} {
		mux.HandleFunc(p, notFound)
	}
}

var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// statusWriter records the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets extensions stream (Server-Sent Events).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (a *API) wrap(rt spec.Route, h handler) http.Handler {
	streamRoute := strings.HasPrefix(rt.Path, "/v1/streams/{id}")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The panic value is logged only when it is a runtime
				// error: any other value could carry request data.
				detail := fmt.Sprintf("%T", v)
				if re, ok := v.(runtime.Error); ok {
					detail = re.Error()
				}
				a.log.Error("api handler panic", "route", rt.ID, "panic", detail, "stack", string(debug.Stack()))
				if sw.status == 0 {
					apierr.Write(sw, apierr.Internal, "internal error")
				}
			}
			a.log.Debug("api request", "route", rt.ID, "method", r.Method, "status", sw.status, "duration", time.Since(start))
		}()
		if strings.HasPrefix(rt.Path, "/v1/") {
			sw.Header().Set("Cache-Control", "no-store")
		}
		var c *Call
		if rt.Scope != "" {
			var ok bool
			if c, ok = a.authorize(sw, r, rt.Scope); !ok {
				return
			}
			if streamRoute {
				st, rev, found := a.d.Store.Stream(c.Workspace, r.PathValue("id"))
				if !found {
					apierr.Write(sw, apierr.NotFound, fmt.Sprintf("stream %q not found", r.PathValue("id")))
					return
				}
				if !c.Token.AllowsStream(st.ID) {
					apierr.Write(sw, apierr.Forbidden, "this token is limited to other streams")
					return
				}
				c.Stream, c.Rev = st, rev
			}
		}
		h(sw, r, c)
	})
}

// authorize authenticates the request and resolves its workspace.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, scope string) (*Call, bool) {
	sec, err := auth.FromHeader(r.Header.Get("Authorization"), "Bearer")
	var tok *model.Token
	if err == nil {
		tok, err = auth.Authenticate(a.d.Store, sec, a.d.Now())
	}
	if err != nil {
		detail := "missing token: send Authorization: Bearer <token>"
		switch {
		case errors.Is(err, auth.ErrExpired):
			detail = "token has expired"
		case errors.Is(err, auth.ErrUnknown):
			detail = "unknown token"
		case sec == "" && r.Header.Get("Authorization") != "":
			detail = "Authorization must be \"Bearer <token>\""
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="runnel"`)
		apierr.Write(w, apierr.Unauthorized, detail)
		return nil, false
	}
	if !tok.Has(scope) {
		apierr.Write(w, apierr.Forbidden, fmt.Sprintf("this token lacks the scope %q", scope))
		return nil, false
	}
	// SPEC §3: the token's own workspace; an admin token chooses one with
	// X-Workspace, default "default".
	ws := tok.Workspace
	x := strings.TrimSpace(r.Header.Get("X-Workspace"))
	switch {
	case tok.Has(model.ScopeAdmin) && x != "":
		ws = x
	case tok.Has(model.ScopeAdmin):
		ws = model.DefaultWorkspace
	case x != "" && x != ws:
		apierr.Write(w, apierr.Forbidden, "only an admin token may choose a workspace with X-Workspace")
		return nil, false
	}
	if _, ok := a.d.Store.Workspace(ws); !ok {
		apierr.Write(w, apierr.NotFound, fmt.Sprintf("workspace %q not found", ws))
		return nil, false
	}
	return &Call{Token: tok, Workspace: ws, Actor: actor(tok, r)}, true
}

// actor describes who makes a change: the token, and the client it came
// from (user agent and address).
func actor(t *model.Token, r *http.Request) store.Actor {
	ip := r.RemoteAddr
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	ua := r.UserAgent()
	if len(ua) > 200 {
		ua = ua[:200]
	}
	return store.Actor{TokenID: t.ID, Name: t.Name, Client: strings.TrimSpace(ua + " " + ip)}
}

// baseURL is the public base of inlet URLs.
func (a *API) baseURL(r *http.Request) string {
	if a.d.PublicURL != "" {
		return strings.TrimRight(a.d.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// writeJSON answers a success body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	apierr.WriteBody(w, status, v)
}

// storeError answers for an error of the store.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, err error, what string) {
	var fe model.FieldErrors
	switch {
	case errors.As(err, &fe):
		apierr.WriteFields(w, fe)
	case errors.Is(err, store.ErrConflict):
		apierr.Write(w, apierr.Conflict, what+" already exists")
	case errors.Is(err, store.ErrNotFound):
		apierr.Write(w, apierr.NotFound, what+" not found")
	case errors.Is(err, store.ErrPreconditionFailed):
		apierr.Write(w, apierr.PreconditionFailed, "If-Match does not match the current ETag: the resource has changed")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		apierr.Write(w, apierr.Unavailable, "request canceled")
	default:
		a.log.Error("api store error", "route", r.Pattern, "error", err)
		apierr.Write(w, apierr.Internal, "internal error")
	}
}

// visibleToken reports whether caller may see and revoke t: a token
// limited to streams sees only tokens limited to some of its streams.
func visibleToken(caller, t *model.Token) bool {
	if len(caller.Streams) == 0 {
		return true
	}
	if len(t.Streams) == 0 {
		return false
	}
	for _, id := range t.Streams {
		if !slices.Contains(caller.Streams, id) {
			return false
		}
	}
	return true
}
