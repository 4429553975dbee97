package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Error is a failed produce or probe, classified. Its text never contains
// the SASL password. errors.Is sees the underlying error (a *kerr.Error
// such as kerr.MessageTooLarge, a context error, a network error).
type Error struct {
	msg     string
	status  int
	err     error
	timeout bool
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// Is makes a record timeout context.DeadlineExceeded for errors.Is.
func (e *Error) Is(target error) bool {
	return e.timeout && target == context.DeadlineExceeded
}

// StatusCode is an HTTP-like status shown in stream status and dead
// letters: 401 authentication failed, 403 not authorized, 404 unknown
// topic, 413 message too large, 400 other rejected records; 0 (the
// deliverer's default: 504 timeout, 502 otherwise) for the rest.
func (e *Error) StatusCode() int { return e.status }

// timeoutError is a delivery attempt that exceeded the timeout setting; it
// is context.DeadlineExceeded for errors.Is (the deliverer shows 504).
type timeoutError struct {
	d time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no acknowledgement from Kafka within %s (timeout)", e.d)
}
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// errTooLarge is the kind's own size check, before producing.
var errTooLarge = kerr.MessageTooLarge

// class is how a failure is handled.
type class struct {
	permanent bool
	// record is set when the failure belongs to the record itself (its
	// size or content), not to the target as a whole.
	record bool
	status int
	hint   string
	// timeout: the record was not acknowledged in time (the deliverer
	// shows 504).
	timeout bool
}

// classify decides what a produce or request error means. A Kafka error
// code anywhere in the chain decides (franz-go wraps the last one in its
// record timeout); otherwise timeouts, cancellations, network errors and a
// closed client are all retryable.
func classify(err error) class {
	ke, ok := errors.AsType[*kerr.Error](err)
	if !ok {
		if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return class{timeout: true}
		}
		return class{}
	}
	switch ke {
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		return class{permanent: true, record: true, status: http.StatusRequestEntityTooLarge,
			hint: "larger than the topic accepts (max_message_bytes, the topic's max.message.bytes)"}
	case kerr.InvalidRecord, kerr.InvalidTimestamp, kerr.CorruptMessage:
		return class{permanent: true, record: true, status: http.StatusBadRequest, hint: "rejected by the broker"}
	case kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState:
		return class{permanent: true, status: http.StatusUnauthorized,
			hint: "SASL authentication failed (check sasl_mechanism, sasl_username and sasl_password)"}
	case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed:
		return class{permanent: true, status: http.StatusForbidden,
			hint: "not authorized (the user needs WRITE and DESCRIBE on the topic, and IDEMPOTENT_WRITE on the cluster before Kafka 2.8)"}
	case kerr.InvalidTopicException, kerr.PolicyViolation, kerr.UnsupportedCompressionType,
		kerr.InvalidRequiredAcks, kerr.UnsupportedForMessageFormat:
		return class{permanent: true, status: http.StatusBadRequest, hint: "rejected by the broker"}
	case kerr.UnknownTopicOrPartition:
		return class{status: http.StatusNotFound, hint: "the topic does not exist (Runnel never creates topics)"}
	}
	// Retriable per Kafka, or unknown: retry rather than dead-letter.
	return class{timeout: errors.Is(err, kgo.ErrRecordTimeout)}
}

// wrapError builds the classified *Error for err: text prefixed with the
// topic and a hint, the password redacted.
func (d *Destination) wrapError(err error) (*Error, class) {
	c := classify(err)
	var b strings.Builder
	fmt.Fprintf(&b, "kafka topic %s: ", d.topic)
	if c.hint != "" {
		b.WriteString(c.hint)
		b.WriteString(": ")
	}
	b.WriteString(err.Error())
	return &Error{msg: d.redact(b.String()), status: c.status, err: err, timeout: c.timeout}, c
}

// redact removes the password from a message (defence in depth: neither
// franz-go nor the brokers put it in errors).
func (d *Destination) redact(s string) string {
	if len(d.password) < minSecretLen {
		return s
	}
	return strings.ReplaceAll(s, d.password, "[redacted]")
}

// minSecretLen is the shortest password redacted from messages; shorter
// ones would garble them.
const minSecretLen = 4
