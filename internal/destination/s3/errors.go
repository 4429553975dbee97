package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/runnel/runnel/internal/retry"
)

// maxMessage bounds the service message kept in an Error.
const maxMessage = 300

// Error is a request that S3 answered with an error. It never contains the
// secret key.
type Error struct {
	// Op is the S3 operation (PutObject, UploadPart, HeadBucket, …).
	Op string
	// Status is the HTTP status of the answer.
	Status int
	// Code is the S3 error code (AccessDenied, NoSuchBucket, SlowDown, …);
	// for answers without a body (HEAD) it is derived from the status.
	Code string
	// Message is the service's message, on one line, at most 300 bytes.
	Message string
	// Hint says what to check, for the common configuration mistakes.
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s3 %s: %s (status %d)", e.Op, e.Code, e.Status)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" — " + e.Hint)
	}
	return b.String()
}

// StatusCode is the HTTP status S3 answered (stream status, dead letters).
func (e *Error) StatusCode() int { return e.Status }

// Retryable reports whether retrying may succeed: throttling, timeouts,
// server errors and a few transient conditions.
func (e *Error) Retryable() bool {
	switch e.Code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
		"TooManyRequests", "RequestTimeout", "RequestTimeTooSkewed", "InternalError",
		"ServiceUnavailable", "OperationAborted":
		return true
	}
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// sendError is a failure without an answer (connection refused, reset,
// TLS, DNS). Its message names no URL; it unwraps to the cause.
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
	return fmt.Sprintf("s3 %s: request timed out after %s", e.op, e.d)
}
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// classify turns an SDK error into an error for the deliverer: *Error
// (wrapped in retry.Permanent unless retryable, in retry.After when S3 asks
// for a delay), a timeout, or a retryable send error. parent is the
// caller's context: once it is done the error wraps ctx.Err().
func (d *Destination) classify(parent context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := parent.Err(); cerr != nil {
		return fmt.Errorf("s3 %s aborted: %w", op, cerr)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil && re.Response.StatusCode > 0 {
		e := &Error{Op: op, Status: re.Response.StatusCode}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			e.Code = ae.ErrorCode()
			e.Message = d.cleanMessage(ae.ErrorMessage())
		}
		d.explain(e, re.Response.Header)
		if !e.Retryable() {
			return retry.Permanent(e)
		}
		if ra, ok := retryAfter(re.Response.Header.Get("Retry-After")); ok {
			return retry.After(ra, e)
		}
		return e
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err // url.Error's text holds the URL
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &timeoutError{op: op, d: d.timeout, err: inner}
	}
	return &sendError{msg: fmt.Sprintf("s3 %s: request failed: %s", op, d.redact(inner.Error())), err: inner}
}

// explain fills in Code for answers without a body and Hint for the
// mistakes a user can fix.
func (d *Destination) explain(e *Error, h http.Header) {
	if e.Code == "" || e.Code == http.StatusText(e.Status) || e.Code == strings.ReplaceAll(http.StatusText(e.Status), " ", "") {
		// HEAD answers have no body; the SDK names the code after the status.
		switch e.Status {
		case http.StatusNotFound:
			e.Code = "NoSuchBucket"
		case http.StatusForbidden:
			e.Code = "AccessDenied"
			if e.Op == opHeadBucket {
				e.Hint = fmt.Sprintf("the access key is unknown, the secret key is wrong, or the key may not s3:ListBucket on bucket %q", d.bucket)
				return
			}
		case http.StatusMovedPermanently:
			e.Code = "PermanentRedirect"
		case http.StatusBadRequest:
			if e.Op == opHeadBucket {
				e.Code = "BadRequest"
				e.Hint = fmt.Sprintf("the service refused the request: check region (%s) and host_url", d.region)
				return
			}
		case 0:
		default:
			if e.Code == "" {
				e.Code = strings.ReplaceAll(http.StatusText(e.Status), " ", "")
			}
		}
	}
	perm := "s3:PutObject"
	if e.Op == opHeadBucket {
		perm = "s3:ListBucket"
	}
	switch e.Code {
	case "AccessDenied":
		e.Hint = fmt.Sprintf("the access key may not %s on bucket %q: check the IAM policy, the bucket policy and, with SSE-KMS, the key policy", perm, d.bucket)
	case "InvalidAccessKeyId", "XAdminUserNotFound": // the latter: versitygw
		e.Hint = "the access key ID is unknown to this service: check access_key (and host_url)"
	case "SignatureDoesNotMatch":
		e.Hint = "the secret key does not match the access key: check secret_key"
	case "NoSuchBucket":
		e.Hint = fmt.Sprintf("bucket %q does not exist: create it or fix bucket_name", d.bucket)
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		if r := h.Get("X-Amz-Bucket-Region"); r != "" {
			e.Hint = fmt.Sprintf("bucket %q is in region %s, not %s: set region", d.bucket, r, d.region)
		} else {
			e.Hint = fmt.Sprintf("bucket %q is not in region %s: set region to the bucket's region", d.bucket, d.region)
		}
	case "InvalidBucketName":
		e.Hint = "check bucket_name"
	case "RequestTimeTooSkewed":
		e.Hint = "this machine's clock differs from the service's by more than 15 minutes"
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

func (d *Destination) redact(s string) string {
	if len(d.secret) < 4 {
		return s
	}
	return strings.ReplaceAll(s, d.secret, "[redacted]")
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
