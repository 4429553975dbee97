// Package s3 is the s3 destination: every batch, framed with the
// destination's payload options (and gzip-compressed with content_type
// application/gzip), becomes one object
// <object_key_prefix>/YYYY/MM/DD/hh/mm/<uuid> (UTC, the time the batch is
// sent) in an AWS S3 bucket or, with host_url, in an S3-compatible service
// (path-style addressing).
//
// The client is aws-sdk-go-v2's service/s3 alone, built from s3.Options:
// no shared config loading (credentials come from the settings only) and
// no transfer manager (the body is already in memory, so a multipart
// upload is a loop over slices, with an abort on failure). The SDK does
// not retry (aws.NopRetryer): the deliverer is the only place that does.
// Checksums are computed only where S3 requires them; the payload is
// signed (x-amz-content-sha256), which every S3-compatible service checks.
//
// Errors are classified once, in errors.go: *Error carries the S3 code
// and HTTP status (StatusCode) and a hint for the usual configuration
// mistakes; AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,
// NoSuchBucket, wrong-region answers and other 4xx are retry.Permanent;
// throttling, 5xx, 408/429, RequestTimeout, RequestTimeTooSkewed, network
// errors and timeouts (errors.Is context.DeadlineExceeded) are retryable.
// No message contains the secret key or a request URL.
//
// Check is HeadBucket (needs s3:ListBucket). User documentation, with the
// IAM policy: docs/destinations/s3.md.
//
// Tests run against versitygw (scripts/test.sh installs it), started once
// per package on a free port with a posix backend, and through a proxy
// that injects S3 failures for the conformance suite.
package s3
