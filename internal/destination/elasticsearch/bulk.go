package elasticsearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// BulkResponse is the part of a _bulk response the destination reads.
type BulkResponse struct {
	Took   int64      `json:"took"`
	Errors bool       `json:"errors"`
	Items  []BulkItem `json:"items"`
}

// BulkItem is one entry of a _bulk response's items: an object with one
// key, the action ("create", "index", …).
type BulkItem struct {
	Action string
	Result BulkItemResult
}

// BulkItemResult is the outcome of one action.
type BulkItemResult struct {
	Index  string     `json:"_index"`
	ID     string     `json:"_id"`
	Status int        `json:"status"`
	Result string     `json:"result,omitempty"`
	Error  *ItemCause `json:"error,omitempty"`
}

// ItemCause is an Elasticsearch error object (type, reason, caused_by).
type ItemCause struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *ItemCause `json:"caused_by,omitempty"`
}

// UnmarshalJSON decodes {"<action>": {…}}.
func (it *BulkItem) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) != 1 {
		return fmt.Errorf("bulk item has %d keys, want 1", len(m))
	}
	for k, v := range m {
		it.Action = k
		if err := json.Unmarshal(v, &it.Result); err != nil {
			return fmt.Errorf("bulk item %q: %w", k, err)
		}
	}
	return nil
}

// MarshalJSON encodes {"<action>": {…}}.
func (it BulkItem) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]BulkItemResult{it.Action: it.Result})
}

// DecodeBulkResponse decodes a _bulk response body for a request of n
// actions. It fails unless the body has exactly n items (or none, when
// errors is false: filter_path may drop them), each with a status.
func DecodeBulkResponse(b []byte, n int) (*BulkResponse, error) {
	var r BulkResponse
	if err := json.Unmarshal(b, &r); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("bulk response is not valid JSON (offset %d)", se.Offset)
		}
		return nil, fmt.Errorf("bulk response: %v", err)
	}
	if len(r.Items) == 0 && !r.Errors {
		return &r, nil
	}
	if len(r.Items) != n {
		return nil, fmt.Errorf("bulk response has %d items for %d documents", len(r.Items), n)
	}
	for i, it := range r.Items {
		if it.Result.Status < 100 || it.Result.Status > 599 {
			return nil, fmt.Errorf("bulk response item %d has no valid status (%d)", i, it.Result.Status)
		}
	}
	return &r, nil
}

// ItemError is the rejection of one document by Elasticsearch.
type ItemError struct {
	// Status is the item's HTTP status.
	Status int
	// Type and Reason are the item's error (type and reason of the root
	// cause appended when they differ).
	Type, Reason string
}

func (e *ItemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document rejected: status %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Type != "" {
		b.WriteString(": " + e.Type)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

// StatusCode is the item's status.
func (e *ItemError) StatusCode() int { return e.Status }

// Retryable reports whether retrying the document can help: 408, 429, 5xx.
func (e *ItemError) Retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// maxReason bounds the reason kept in an ItemError.
const maxReason = 512

func newItemError(r BulkItemResult) *ItemError {
	e := &ItemError{Status: r.Status}
	if c := r.Error; c != nil {
		e.Type = c.Type
		e.Reason = c.Reason
		root := c
		for depth := 0; root.CausedBy != nil && depth < 8; depth++ {
			root = root.CausedBy
		}
		if root != c && root.Reason != "" {
			e.Reason += " (caused by " + root.Type + ": " + root.Reason + ")"
		}
		e.Reason = oneLine(e.Reason, maxReason)
		e.Type = oneLine(e.Type, 128)
	}
	return e
}
