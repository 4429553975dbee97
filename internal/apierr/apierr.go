// Package apierr is the one catalogue of API errors: a code, its HTTP
// status, and the JSON body every 4xx/5xx answer carries:
// {"error":"<code>","detail":"…"} (plus "fields" for invalid_config).
package apierr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Code is an API error code with its HTTP status.
type Code struct {
	Name   string
	Status int
}

// The catalogue.
var (
	InvalidFormat      = Code{"invalid_format", http.StatusBadRequest}
	PayloadTooLarge    = Code{"payload_too_large", http.StatusBadRequest}
	InvalidConfig      = Code{"invalid_config", http.StatusBadRequest}
	BadRequest         = Code{"bad_request", http.StatusBadRequest}
	Unauthorized       = Code{"unauthorized", http.StatusUnauthorized}
	Forbidden          = Code{"forbidden", http.StatusForbidden}
	NotFound           = Code{"not_found", http.StatusNotFound}
	StreamNotFound     = Code{"stream_not_found", http.StatusNotFound}
	MethodNotAllowed   = Code{"method_not_allowed", http.StatusMethodNotAllowed}
	Conflict           = Code{"conflict", http.StatusConflict}
	StreamInactive     = Code{"stream_inactive", http.StatusConflict}
	PreconditionFailed = Code{"precondition_failed", http.StatusPreconditionFailed}
	UnsupportedMedia   = Code{"unsupported_media_type", http.StatusUnsupportedMediaType}
	RateLimited        = Code{"rate_limited", http.StatusTooManyRequests}
	Internal           = Code{"internal", http.StatusInternalServerError}
	Unavailable        = Code{"unavailable", http.StatusServiceUnavailable}
)

// Body is the JSON error body.
type Body struct {
	Error  string             `json:"error"`
	Detail string             `json:"detail"`
	Fields []model.FieldError `json:"fields,omitempty"`
}

// Write answers with code and detail.
func Write(w http.ResponseWriter, c Code, detail string) {
	WriteBody(w, c.Status, Body{Error: c.Name, Detail: detail})
}

// WriteRetry answers with code, detail and a Retry-After header.
func WriteRetry(w http.ResponseWriter, c Code, detail string, after time.Duration) {
	secs := int((after + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	Write(w, c, detail)
}

// WriteFields answers 400 invalid_config naming every bad field.
func WriteFields(w http.ResponseWriter, errs model.FieldErrors) {
	detail := "invalid configuration"
	if len(errs) == 1 {
		detail = errs.Error()
	} else if len(errs) > 1 {
		detail = strconv.Itoa(len(errs)) + " invalid fields: " + errs.Error()
	}
	WriteBody(w, InvalidConfig.Status, Body{Error: InvalidConfig.Name, Detail: detail, Fields: errs})
}

// WriteError answers for err: field errors as invalid_config, anything
// else as internal (the detail does not expose internals).
func WriteError(w http.ResponseWriter, err error) {
	var fe model.FieldErrors
	if errors.As(err, &fe) {
		WriteFields(w, fe)
		return
	}
	Write(w, Internal, "internal error")
}

// WriteBody writes any JSON body with status.
func WriteBody(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
