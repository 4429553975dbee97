package httpdest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrorBody is the length of the response body kept in a StatusError.
const maxErrorBody = 512

// StatusError is a response whose status is not 2xx. It never contains the
// destination's URL.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Body is the start of the response body (at most 512 bytes, valid
	// UTF-8, on one line, secrets redacted).
	Body string
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d", e.Code)
	if t := http.StatusText(e.Code); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code >= 300 && e.Code < 400 {
		b.WriteString(" (redirects are not followed: set url to the final address)")
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Retryable reports whether the status is worth retrying: 408, 429, 5xx.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// sendError is an error with a message cleaned of secrets; it unwraps to
// the original error (never a *url.Error, whose text holds the URL).
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }

// timeoutError is a request that exceeded the configured timeout; it is
// context.DeadlineExceeded for errors.Is (the deliverer shows 504).
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("request timed out after %s", e.d) }
func (e *timeoutError) Unwrap() error { return e.err }
func (e *timeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// ParseRetryAfter parses a Retry-After header value: a number of seconds
// or an HTTP date (a date in the past gives 0). ok is false when v is empty
// or malformed.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		const maxSecs = 7 * 24 * 3600 // keep the product in range
		return time.Duration(min(n, maxSecs)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// cleanBody makes a response body fit for an error message: valid UTF-8,
// secrets redacted (before cutting, so no partial secret survives), on one
// line, at most maxErrorBody bytes.
func cleanBody(b []byte, redact func(string) string) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = redact(s)
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorBody {
		cut := maxErrorBody
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// StatusCode is the destination's HTTP status (shown in stream status and
// dead letters).
func (e *StatusError) StatusCode() int { return e.Code }
