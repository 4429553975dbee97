package model

import (
	"fmt"
	"strings"
)

// FieldError names one invalid field of a request or a configuration.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// FieldErrors is every invalid field found; it is an error.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, f := range fe {
		parts[i] = f.Path + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Add appends one field error.
func (fe *FieldErrors) Add(path, format string, args ...any) {
	*fe = append(*fe, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Merge appends errs, prefixing each path with prefix (joined by a dot).
func (fe *FieldErrors) Merge(prefix string, errs FieldErrors) {
	for _, e := range errs {
		p := e.Path
		switch {
		case prefix == "":
		case p == "":
			p = prefix
		default:
			p = prefix + "." + p
		}
		*fe = append(*fe, FieldError{Path: p, Message: e.Message})
	}
}

// Err returns nil when there are no errors, so callers can `return errs.Err()`.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}
