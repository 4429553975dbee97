package spec

import (
	"net/http"

	"github.com/runnel/runnel/internal/model"
)

// Param is a query parameter of a route.
type Param struct {
	Name        string
	Description string
	// Type is "string" or "integer".
	Type string
}

// Route is one endpoint of the management API. The list returned by Routes
// is the only list of endpoints: package api registers a handler for each
// (and refuses to start if one is missing) and OpenAPI documents each.
type Route struct {
	// Method and Path form the net/http.ServeMux pattern; path parameters
	// ({id}, {name}) have the same syntax in ServeMux and OpenAPI.
	Method, Path string
	// ID is the OpenAPI operationId and the key of the handler in package api.
	ID string
	// Scope the token must carry; "" for public endpoints (no token).
	Scope string
	// Summary and Tag document the operation.
	Summary, Tag string
	// Description, when set, is a longer explanation.
	Description string
	// Request names the component schema of the JSON body ("" = none);
	// Response names the schema of the success body ("" = none).
	Request, Response string
	// RequestOptional tells that the body may be empty.
	RequestOptional bool
	// Status is the success status code.
	Status int
	// Query parameters.
	Query []Param
	// ETag: the answer carries an ETag header and, for writes, If-Match is honoured (412).
	ETag bool
	// Conflict: the operation may answer 409.
	Conflict bool
	// Extension: the handler is supplied by another package through
	// api.Deps.Extensions (authentication, scope and workspace are still
	// checked by package api).
	Extension bool
	// ContentType of the success body when it is not JSON.
	ContentType string
}

// Pattern is the ServeMux pattern of the route ("GET /v1/streams/{id}").
func (r Route) Pattern() string { return r.Method + " " + r.Path }

var limitParam = Param{Name: "limit", Type: "integer", Description: "Page size: 1 to 1000 (default 100)."}

// Routes lists every endpoint of the management API, in documentation order.
func Routes() []Route {
	const (
		streams = "streams"
		tokens  = "tokens"
		wss     = "workspaces"
		ops     = "operations"
		catalog = "catalog"
	)
	return []Route{
		{Method: http.MethodGet, Path: "/v1/streams", ID: "listStreams", Scope: model.ScopeStreamsRead, Tag: streams,
			Summary: "List the streams of the workspace", Response: "StreamList", Status: 200},
		{Method: http.MethodPost, Path: "/v1/streams", ID: "createStream", Scope: model.ScopeStreamsWrite, Tag: streams,
			Summary: "Create a stream", Request: "Stream", Response: "Stream", Status: 201, ETag: true, Conflict: true,
			Description: "Validates the definition (every invalid field is named in `fields`), assigns id and inlet, and answers the resource with `Location` and `ETag`."},
		{Method: http.MethodGet, Path: "/v1/streams/{id}", ID: "getStream", Scope: model.ScopeStreamsRead, Tag: streams,
			Summary: "Get a stream by id or name", Response: "Stream", Status: 200, ETag: true},
		{Method: http.MethodPut, Path: "/v1/streams/{id}", ID: "replaceStream", Scope: model.ScopeStreamsWrite, Tag: streams,
			Summary: "Replace a stream", Request: "Stream", Response: "Stream", Status: 200, ETag: true, Conflict: true,
			Description: "Replaces the definition. Secrets sent as \"********\" keep their stored value. Read-only fields are ignored."},
		{Method: http.MethodPatch, Path: "/v1/streams/{id}", ID: "patchStream", Scope: model.ScopeStreamsWrite, Tag: streams,
			Summary: "Change a stream with a JSON merge patch (RFC 7396)", Request: "MergePatch", Response: "Stream", Status: 200, ETag: true, Conflict: true,
			Description: "The patch is applied to the resource as GET shows it, then validated like PUT. `{\"status\":\"inactive\"}` disables the stream."},
		{Method: http.MethodDelete, Path: "/v1/streams/{id}", ID: "deleteStream", Scope: model.ScopeStreamsWrite, Tag: streams,
			Summary: "Delete a stream with its buffered events and dead letters", Status: 204, ETag: true},
		{Method: http.MethodGet, Path: "/v1/streams/{id}/status", ID: "getStreamStatus", Scope: model.ScopeStreamsRead, Tag: ops,
			Summary: "Delivery status of each destination", Response: "StreamStatus", Status: 200},
		{Method: http.MethodGet, Path: "/v1/streams/{id}/tail", ID: "tailStream", Scope: model.ScopeStreamsRead, Tag: ops,
			Summary: "Live events as they are delivered (Server-Sent Events)", Status: 200, Extension: true, ContentType: "text/event-stream",
			Query: []Param{{Name: "filter", Type: "string", Description: "Optional CEL condition over the event."}}},
		{Method: http.MethodGet, Path: "/v1/streams/{id}/dead-letters", ID: "listDeadLetters", Scope: model.ScopeStreamsRead, Tag: ops,
			Summary: "List dead letters", Response: "DeadLetterPage", Status: 200,
			Query: []Param{
				{Name: "destination", Type: "string", Description: "Only the dead letters of this destination."},
				{Name: "after", Type: "string", Description: "Cursor: the next value of the previous page."},
				limitParam,
			}},
		{Method: http.MethodPost, Path: "/v1/streams/{id}/dead-letters/replay", ID: "replayDeadLetters", Scope: model.ScopeStreamsWrite, Tag: ops,
			Summary: "Send dead letters to their destination again", Request: "ReplayRequest", RequestOptional: true, Response: "ReplayResult", Status: 200},
		{Method: http.MethodPost, Path: "/v1/streams/{id}/destinations/{name}/test", ID: "testDestination", Scope: model.ScopeStreamsWrite, Tag: ops,
			Summary: "Probe a destination now (test connection)", Response: "TestResult", Status: 200,
			Description: "Answers 200 with `ok` false and the error when the probe fails."},
		{Method: http.MethodGet, Path: "/v1/data-sources", ID: "listDataSources", Scope: model.ScopeStreamsRead, Tag: catalog,
			Summary: "Data sources with their variable catalogs", Response: "DataSourceList", Status: 200, Extension: true},
		{Method: http.MethodGet, Path: "/v1/templates", ID: "listTemplates", Scope: model.ScopeStreamsRead, Tag: catalog,
			Summary: "Preset templates and the custom template", Response: "TemplateList", Status: 200, Extension: true},
		{Method: http.MethodGet, Path: "/v1/tokens", ID: "listTokens", Scope: model.ScopeTokensWrite, Tag: tokens,
			Summary: "List the tokens of the workspace (never their secret)", Response: "TokenList", Status: 200},
		{Method: http.MethodPost, Path: "/v1/tokens", ID: "createToken", Scope: model.ScopeTokensWrite, Tag: tokens,
			Summary: "Issue a token; its secret is shown this once", Request: "TokenRequest", Response: "NewToken", Status: 201,
			Description: "Only an admin token grants `admin`; a token limited to streams only issues tokens limited to some of its streams."},
		{Method: http.MethodDelete, Path: "/v1/tokens/{id}", ID: "deleteToken", Scope: model.ScopeTokensWrite, Tag: tokens,
			Summary: "Revoke a token", Status: 204},
		{Method: http.MethodGet, Path: "/v1/workspaces", ID: "listWorkspaces", Scope: model.ScopeAdmin, Tag: wss,
			Summary: "List workspaces", Response: "WorkspaceList", Status: 200},
		{Method: http.MethodPost, Path: "/v1/workspaces", ID: "createWorkspace", Scope: model.ScopeAdmin, Tag: wss,
			Summary: "Create a workspace", Request: "WorkspaceRequest", Response: "Workspace", Status: 201, Conflict: true},
		{Method: http.MethodGet, Path: "/v1/activity", ID: "listActivity", Scope: model.ScopeStreamsRead, Tag: wss,
			Summary: "Activity history (who changed what, when), newest first", Response: "ActivityPage", Status: 200,
			Query: []Param{{Name: "before", Type: "string", Description: "Cursor: the next value of the previous page."}, limitParam}},
		// Flow-service facade (package flowservice): connections, source and
		// target connections and flows, mapped onto streams and destinations.
		{Method: http.MethodGet, Path: "/flowservice/connections", ID: "listFlowConnections", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: list base connections", Status: 200,
			Description: "Answers `{\"items\":[…]}`; each base connection carries `auth.params.inletId`, `auth.params.inletUrl` (the collection API address of its stream), `auth.params.authenticationRequired`, `streamId` and `etag`."},
		{Method: http.MethodPost, Path: "/flowservice/connections", ID: "createFlowConnection", Scope: model.ScopeStreamsWrite, Tag: streams, Extension: true,
			Summary: "Flow service: create a base connection (a new, inactive stream with its inlet)", Status: 201,
			Description: "Body: `{\"name\",\"description\"?,\"auth\":{\"params\":{\"authenticationRequired\":bool}},\"connectionSpec\":{\"id\",\"version\"}}`. Creates a stream named after the connection (inactive until a flow binds it to targets). Answers `{\"id\",\"etag\"}`."},
		{Method: http.MethodGet, Path: "/flowservice/connections/{id}", ID: "getFlowConnection", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: get a base connection (its inlet URL)", Status: 200,
			Description: "Answers `{\"items\":[…]}` with the one connection."},
		{Method: http.MethodGet, Path: "/flowservice/sourceConnections", ID: "listFlowSourceConnections", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: list source connections", Status: 200},
		{Method: http.MethodPost, Path: "/flowservice/sourceConnections", ID: "createFlowSourceConnection", Scope: model.ScopeStreamsWrite, Tag: streams, Extension: true,
			Summary: "Flow service: create a source connection on a base connection", Status: 201,
			Description: "Body: `{\"name\",\"baseConnectionId\",\"data\":{\"format\":\"json\"}}`. Answers `{\"id\",\"etag\"}`."},
		{Method: http.MethodGet, Path: "/flowservice/sourceConnections/{id}", ID: "getFlowSourceConnection", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: get a source connection", Status: 200},
		{Method: http.MethodGet, Path: "/flowservice/targetConnections", ID: "listFlowTargetConnections", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: list target connections (secrets shown as \"********\")", Status: 200},
		{Method: http.MethodPost, Path: "/flowservice/targetConnections", ID: "createFlowTargetConnection", Scope: model.ScopeStreamsWrite, Tag: streams, Extension: true,
			Summary: "Flow service: create a target connection (a destination definition)", Status: 201,
			Description: "Body: `{\"name\",\"connectionSpec\":{\"id\":\"<destination type or alias>\"},\"params\":{…destination settings…},\"data\":{\"format\":\"json\"}}`. The settings are validated like a stream destination's (`params.<setting>` names each invalid one). `parquet` needs the data lake destination type. Answers `{\"id\",\"etag\"}`."},
		{Method: http.MethodGet, Path: "/flowservice/targetConnections/{id}", ID: "getFlowTargetConnection", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: get a target connection", Status: 200},
		{Method: http.MethodGet, Path: "/flowservice/flows", ID: "listFlows", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: list flows", Status: 200},
		{Method: http.MethodPost, Path: "/flowservice/flows", ID: "createFlow", Scope: model.ScopeStreamsWrite, Tag: streams, Extension: true,
			Summary: "Flow service: create a flow (adds the targets as destinations of the sources' streams and activates them)", Status: 201,
			Description: "Body: `{\"name\",\"sourceConnectionIds\":[…],\"targetConnectionIds\":[…]}`. Every stream is validated before any is changed. Answers `{\"id\",\"etag\"}`."},
		{Method: http.MethodGet, Path: "/flowservice/flows/{id}", ID: "getFlow", Scope: model.ScopeStreamsRead, Tag: streams, Extension: true,
			Summary: "Flow service: get a flow", Status: 200},
		{Method: http.MethodGet, Path: "/v1/openapi.json", ID: "getOpenAPI", Tag: ops,
			Summary: "This document", Status: 200},
		{Method: http.MethodGet, Path: "/healthz", ID: "healthz", Tag: ops,
			Summary: "Liveness: 200 while the process runs", Response: "Health", Status: 200},
		{Method: http.MethodGet, Path: "/readyz", ID: "readyz", Tag: ops,
			Summary: "Readiness: 200 when the store is reachable, else 503", Response: "Health", Status: 200},
		{Method: http.MethodGet, Path: "/metrics", ID: "metrics", Tag: ops,
			Summary: "Prometheus metrics", Status: 200, ContentType: "text/plain"},
	}
}
