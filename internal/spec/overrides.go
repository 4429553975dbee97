package spec

import (
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/model"
)

// What reflection cannot know: patterns of the custom scalar types,
// read-only fields, enums, and descriptions of fields whose Go doc comment
// is missing. Keys are "pkg.Type.Field" (Go names).

// SizePattern is the string form of model.Size (see model.ParseSize).
const SizePattern = `^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(KiB|MiB|GiB|TiB|KB|MB|GB|TB|B)?\s*$`

// DurationPattern is the string form of model.Duration (a Go duration).
const DurationPattern = `^\s*(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`

// Names of the components whose Go type name would be ambiguous.
var schemaNames = map[string]string{
	"apierr.Body":  "Error",
	"model.Health": "HealthProbe",
	// A template of GET /v1/templates; "Template" is a stream's.
	"catalog.Template": "CatalogTemplate",
}

// Fields the server assigns: ignored on input.
var readOnly = map[string]bool{
	"model.Stream.ID":        true,
	"model.Stream.Workspace": true,
	"model.Stream.InletID":   true,
	"model.Stream.CreatedAt": true,
	"model.Stream.UpdatedAt": true,
	"view.Stream.ETag":       true,
	"view.Stream.InletURL":   true,
}

// Fields without omitempty that may still be left out: Normalize fills them.
var notRequired = map[string]bool{
	"model.Stream.Destinations":  true,
	"model.Destination.Settings": true,
}

// Descriptions of fields that have no Go doc comment.
var descriptions = map[string]string{
	"model.Stream.CreatedAt":      "When the stream was created; assigned by the server.",
	"model.Stream.UpdatedAt":      "When the stream was last changed; assigned by the server.",
	"model.Batch.MaxEvents":       "Most events in one batch (default per destination type, 1 to 100000).",
	"model.Batch.MaxAge":          "Longest a batch waits after its first event before it is sent (10ms to 1h; default per destination type).",
	"model.Workspace.CreatedAt":   "When the workspace was created.",
	"model.Activity.ID":           "Sequence number of the record; also the cursor of pages.",
	"model.Activity.Workspace":    "Workspace of the change.",
	"model.Activity.Time":         "When the change was made.",
	"model.Activity.Resource":     "Kind of resource changed: stream, token or workspace.",
	"model.Activity.ResourceID":   "Id of the resource changed.",
	"model.Activity.ResourceName": "Name of the resource changed.",
	"model.Activity.Title":        "Human-readable summary (\"Stream payments was created\").",
	"model.Activity.AuthorID":     "Id of the token that made the change.",
	"model.Activity.AuthorName":   "Name of the token that made the change.",
	"model.Activity.AuthorEmail":  "E-mail of the author, when known.",
	"model.Activity.Client":       "Client of the change: user agent and address.",
	"model.Activity.Comment":      "Free comment.",
	"apierr.Body.Error":           "Error code: invalid_format, payload_too_large, invalid_config, bad_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, precondition_failed, unsupported_media_type, rate_limited, internal, unavailable.",
	"apierr.Body.Detail":          "What was wrong, for humans.",
	"apierr.Body.Fields":          "Every invalid field (invalid_config).",
	"model.FieldError.Path":       "Path of the field (\"destinations[0].settings.url\").",
	"model.FieldError.Message":    "What is wrong with it.",
}

// Further keywords of some fields.
var fieldOverrides = map[string]func(map[string]any){
	"model.Stream.Status": func(p map[string]any) {
		p["enum"] = []string{model.StatusActive, model.StatusInactive}
		p["default"] = model.StatusActive
	},
	"model.Stream.Name": func(p map[string]any) {
		p["pattern"] = NamePattern
	},
	"model.Stream.DataSource": func(p map[string]any) {
		p["enum"] = catalog.Names()
		p["default"] = catalog.Custom
	},
	"model.Template.Preset": func(p map[string]any) {
		var names []string
		for _, t := range catalog.Presets() {
			names = append(names, t.Name)
		}
		p["enum"] = names
	},
	"model.Stream.AuthenticationRequired": func(p map[string]any) {
		p["default"] = true
	},
	"model.Stream.InletID": func(p map[string]any) { p["pattern"] = "^[0-9a-f]{64}$" },
	"model.Stream.Processors": func(p map[string]any) {
		p["type"] = "array"
		p["items"] = map[string]any{"type": "object"}
	},
	"model.Stream.Schema": func(p map[string]any) { p["type"] = "object" },
	"model.Template.Dataset": func(p map[string]any) {
		p["type"] = "object"
	},
	"model.Buffer.Overflow": func(p map[string]any) {
		p["enum"] = []string{model.OverflowReject, model.OverflowDropOldest}
		p["default"] = model.OverflowReject
	},
	"model.Destination.Name": func(p map[string]any) {
		p["pattern"] = DestinationNamePattern
	},
	"model.Payload.LineSeparator": func(p map[string]any) { p["default"] = "\n" },
	"model.Payload.Format":        func(p map[string]any) { p["default"] = "$dataset" },
	"model.TokenRequest.Scopes": func(p map[string]any) {
		p["items"] = map[string]any{"type": "string", "enum": model.AllScopes}
		p["minItems"] = 1
	},
	"view.Token.Scopes": func(p map[string]any) {
		p["items"] = map[string]any{"type": "string", "enum": model.AllScopes}
	},
	"model.TokenRequest.Streams": func(p map[string]any) { p["maxItems"] = 1000 },
	"model.Activity.Type": func(p map[string]any) {
		p["enum"] = []string{model.ActivityCreated, model.ActivityChanged, model.ActivityDeleted}
	},
	"view.WorkspaceRequest.Name": func(p map[string]any) { p["pattern"] = WorkspaceNamePattern },
	"view.Stream.InletURL":       func(p map[string]any) { p["format"] = "uri" },
	"view.DeadLetterPage.Items": func(p map[string]any) {
		p["items"] = map[string]any{"type": "object"}
	},
	"view.StreamStatus.Destinations": func(p map[string]any) {
		p["items"] = map[string]any{"type": "object"}
	},
}

// Name patterns; tests check them against model.ValidName and friends.
const (
	NamePattern            = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`
	DestinationNamePattern = `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`
	WorkspaceNamePattern   = `^[a-z0-9][a-z0-9_-]{0,63}$`
)
