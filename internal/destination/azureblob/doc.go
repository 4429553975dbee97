// Package azureblob is the azure_blob destination (alias
// azure_blob_storage): every batch, framed with the destination's payload
// options, becomes one block blob YYYY/MM/DD/hh/mm/<uuid>.json (UTC, the
// time the batch is sent) in a container, authorized by a SAS token that
// needs Create and Write.
//
// The client is the azblob SDK's blockblob package, one client per blob
// built from the container URL and the token (the container package is
// not used: since azblob 1.8.1 it drags Apache Arrow in for listings).
// Bodies up to 16 MiB are one Put Blob; larger ones are staged as 8 MiB
// blocks and committed with Put Block List. Every request carries
// Content-MD5. The SDK does not retry (MaxRetries -1): the deliverer is
// the only place that does.
//
// Errors are classified once, in errors.go: *Error carries the
// x-ms-error-code and HTTP status (StatusCode) and a hint;
// AuthorizationPermissionMismatch, AuthorizationFailure,
// AuthenticationFailed (with the token's expiry when it has passed),
// ContainerNotFound and other 4xx are retry.Permanent; ServerBusy, 5xx,
// 408/429, network errors and timeouts are retryable. No message contains
// the token, its signature or a request URL (which would hold the token).
//
// Check stages an uncommitted block on ".runnel-check": it needs exactly
// the Write right delivery needs and leaves no visible blob. User
// documentation: docs/destinations/azure_blob.md.
//
// Tests run against Azurite (scripts/test.sh installs it in .tools/),
// started once per package on a free port, and through a proxy that
// injects Blob service failures for the conformance suite.
package azureblob
