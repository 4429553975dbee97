package activityfeed

import (
	"encoding/json"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Document is the event an activity record becomes: flat, the Activity
// History catalog's variables at the top level (internal/catalog,
// data source activity_history), the documented ones first, then
// Runnel's extras. Every field is always present (an empty string when
// unknown), so that a template finds each variable in every event.
//
// Nothing secret is in it: the store records names and ids only (a
// token's name, never its secret; a stream's name, never its settings).
type Document struct {
	Time        string `json:"time"` // RFC 3339, UTC
	Type        string `json:"type"` // CREATED, CHANGED or DELETED
	Title       string `json:"title"`
	AuthorName  string `json:"author_name"`
	AuthorEmail string `json:"author_email"`
	// Client is the account the activity belongs to: the workspace (as the
	// catalog documents it). GET /v1/activity's "client" is Origin here.
	Client  string `json:"client"`
	Comment string `json:"comment"`

	ActivityID   string `json:"activity_id"`
	AuthorID     string `json:"author_id"`
	Origin       string `json:"origin"`
	Resource     string `json:"resource"`
	ResourceID   string `json:"resource_id"`
	ResourceName string `json:"resource_name"`
}

// NewDocument is the event of an activity record of workspace ws.
func NewDocument(ws string, a *model.Activity) Document {
	return Document{
		Time:         a.Time.UTC().Format(time.RFC3339Nano),
		Type:         a.Type,
		Title:        a.Title,
		AuthorName:   a.AuthorName,
		AuthorEmail:  a.AuthorEmail,
		Client:       ws,
		Comment:      a.Comment,
		ActivityID:   a.ID,
		AuthorID:     a.AuthorID,
		Origin:       a.Client,
		Resource:     a.Resource,
		ResourceID:   a.ResourceID,
		ResourceName: a.ResourceName,
	}
}

// Event is the document as the stored event: compact JSON, one line.
func Event(ws string, a *model.Activity) []byte {
	b, _ := json.Marshal(NewDocument(ws, a)) // strings only: cannot fail
	return b
}
