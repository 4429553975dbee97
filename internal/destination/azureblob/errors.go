package azureblob

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/runnel/runnel/internal/retry"
)

// maxMessage bounds the service message kept in an Error.
const maxMessage = 300

// Error is a request that the Blob service answered with an error. It
// never contains the SAS token.
type Error struct {
	// Op is the operation (PutBlob, PutBlock, PutBlockList).
	Op string
	// Status is the HTTP status of the answer.
	Status int
	// Code is the x-ms-error-code (AuthorizationPermissionMismatch,
	// ContainerNotFound, ServerBusy, …).
	Code string
	// Message is the first line of the service's message, at most 300
	// bytes.
	Message string
	// Hint says what to check, for the common configuration mistakes.
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "azure blob %s: %s (status %d)", e.Op, e.Code, e.Status)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" — " + e.Hint)
	}
	return b.String()
}

// StatusCode is the HTTP status the service answered.
func (e *Error) StatusCode() int { return e.Status }

// Retryable reports whether retrying may succeed: throttling, timeouts and
// server errors.
func (e *Error) Retryable() bool {
	switch e.Code {
	case "ServerBusy", "InternalError", "OperationTimedOut":
		return true
	}
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// sendError is a failure without an answer; its message names no URL
// (which would hold the SAS token).
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }

// timeoutError is a request that exceeded the per-request timeout; it is
// context.DeadlineExceeded for errors.Is (the deliverer shows 504).
type timeoutError struct {
	op  string
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("azure blob %s: request timed out after %s", e.op, e.d)
}
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// classify turns an SDK error into an error for the deliverer. parent is
// the caller's context: once it is done the error wraps ctx.Err().
func (d *Destination) classify(parent context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := parent.Err(); cerr != nil {
		return fmt.Errorf("azure blob %s aborted: %w", op, cerr)
	}
	if re, ok := errors.AsType[*azcore.ResponseError](err); ok && re.StatusCode > 0 {
		e := &Error{Op: op, Status: re.StatusCode, Code: re.ErrorCode}
		if re.RawResponse != nil {
			code, msg := d.readError(re.RawResponse)
			if e.Code == "" {
				e.Code = code
			}
			e.Message = msg
		}
		if e.Code == "" {
			e.Code = strings.ReplaceAll(http.StatusText(e.Status), " ", "")
		}
		d.explain(e)
		if !e.Retryable() {
			return retry.Permanent(e)
		}
		if re.RawResponse != nil {
			if ra, ok := retryAfter(re.RawResponse.Header.Get("Retry-After")); ok {
				return retry.After(ra, e)
			}
		}
		return e
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err // url.Error's text holds the URL, SAS included
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &timeoutError{op: op, d: d.timeout, err: inner}
	}
	return &sendError{msg: fmt.Sprintf("azure blob %s: request failed: %s", op, d.redact(inner.Error())), err: inner}
}

// readError reads the code and the first line of the message of an error
// answer (the SDK keeps the body readable).
func (d *Destination) readError(resp *http.Response) (code, msg string) {
	body, err := runtime.Payload(resp)
	if err != nil || len(body) == 0 {
		return "", ""
	}
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) != nil {
		return "", ""
	}
	msg, _, _ = strings.Cut(strings.TrimSpace(doc.Message), "\n")
	return doc.Code, d.cleanMessage(msg)
}

// explain adds a hint for the mistakes a user can fix.
func (d *Destination) explain(e *Error) {
	switch e.Code {
	case "AuthorizationPermissionMismatch":
		e.Hint = "the SAS token lacks a permission this needs: uploads need Create and Write (sp=cw)"
	case "AuthorizationFailure":
		e.Hint = "the SAS token is not accepted: check that it was copied whole, is signed with a current key of this account, was issued for this container, allows this machine's IP address and protocol, and that the account allows shared key (SAS) access"
	case "AuthenticationFailed":
		e.Hint = "the SAS token is not valid: check that it was copied whole, is signed with a current key of this account and its start time has passed"
		if exp, ok := sasExpiry(d.sas); ok && time.Now().After(exp) {
			e.Hint = fmt.Sprintf("the SAS token expired at %s: issue a new one", exp.UTC().Format(time.RFC3339))
		}
	case "AuthorizationResourceTypeMismatch":
		e.Hint = "the account SAS must allow the object resource type (srt includes o)"
	case "AuthorizationServiceMismatch":
		e.Hint = "the account SAS must allow the blob service (ss includes b)"
	case "AuthorizationProtocolMismatch":
		e.Hint = "the SAS token allows HTTPS only: use an https endpoint"
	case "AuthorizationSourceIPMismatch":
		e.Hint = "the SAS token does not allow this machine's IP address"
	case "ContainerNotFound":
		e.Hint = fmt.Sprintf("container %q does not exist in this storage account: create it or fix container_name", d.container)
	case "ResourceNotFound", "AccountIsDisabled", "InvalidUri":
		e.Hint = "check storage_account and endpoint"
	}
}

func (d *Destination) cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = d.redact(s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// redact removes the SAS token and its signature from s.
func (d *Destination) redact(s string) string {
	if d.redactor == nil {
		return s
	}
	return d.redactor.Replace(s)
}

// newRedactor replaces the token, its signature (raw and decoded) by
// "[redacted]".
func newRedactor(sas string) *strings.Replacer {
	olds := []string{sas}
	if q, err := url.ParseQuery(sas); err == nil {
		if sig := q.Get("sig"); sig != "" {
			olds = append(olds, sig, url.QueryEscape(sig))
		}
	}
	var args []string
	for _, o := range olds {
		if len(o) >= 4 {
			args = append(args, o, "[redacted]")
		}
	}
	if len(args) == 0 {
		return nil
	}
	return strings.NewReplacer(args...)
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(min(n, 3600)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
