// Package httpdest is the http destination (alias "standard"): every batch
// is framed with the destination's payload options and sent as the body of
// one request to a URL.
//
// # Settings
//
//	url          required; http or https with a host. Userinfo (sent as Basic
//	             auth) and query parameters are allowed; since either may hold a
//	             credential, the URL is never part of an error message.
//	headers      map of header name to value, sent with every request. Names
//	             must be HTTP tokens, values free of CR, LF and other control
//	             characters. Host, Content-Length, Content-Encoding (see
//	             compression) and Transfer-Encoding cannot be set.
//	method       POST (default), PUT or PATCH; case-insensitive.
//	timeout      per request, response included: 20s by default, 1s to 5m.
//	compression  "none" (default) or "gzip": the body is gzipped and sent with
//	             Content-Encoding: gzip.
//
// An empty method or compression means the default.
//
// Content-Type is application/json unless the headers set it. The
// destination does not know the payload format: with the default format
// ("$dataset" joined by "\n") the body is NDJSON, so a receiver that cares
// should be given "Content-Type: application/x-ndjson" in headers.
//
// # Secrets
//
// A header value is a secret (write-only, encrypted at rest, never returned)
// when the header is Authorization, Proxy-Authorization or Cookie, or when
// its name contains "token", "key", "secret", "password", "auth",
// "signature" or "credential", all compared case-insensitively. Secret
// reports this for the settings path "headers.<name>"; no other setting is
// secret. Independently of that rule, error messages never contain the URL,
// and secret header values, the URL's userinfo and its query values (4
// characters or longer) are replaced by "[redacted]" in response bodies
// quoted in errors.
//
// # Errors
//
// Deliver classifies every failure for the deliverer:
//
//	2xx                     nil: the whole batch is accepted
//	408, 429, 5xx           retryable *StatusError; retry.After(d, …) when a
//	                        Retry-After header gives seconds or an HTTP date
//	3xx                     permanent: redirects are not followed, so a
//	                        custom credential header never goes to another host
//	other 4xx               retry.Permanent(*StatusError)
//	network error           retryable
//	timeout                 retryable; errors.Is(err, context.DeadlineExceeded)
//	ctx canceled            retryable, wrapping ctx.Err()
//
// errors.As(err, new(*StatusError)) sees through the retry wrappers. A
// StatusError's Body is the start of the response (at most 512 bytes).
//
// Check sends HEAD to the URL with the headers: any response means the
// target is reachable, except 401 and 403 ("authentication rejected") and
// 502, 503 and 504 ("target unavailable").
//
// # Buffers and connections
//
// Payloads are framed (and gzipped) into pooled buffers. A buffer goes back
// to the pool only once the transport has closed every request body made
// from it, so a transport that still writes after RoundTrip returned can
// never see a reused buffer. Response bodies are read to a bound (64 KiB)
// and closed, so connections are reused. The client uses Deps.HTTPClient's
// Transport when there is one (shared, never closed by this package), else
// its own transport with keep-alives and 16 idle connections per host.
package httpdest
