// Package destinationtest is the conformance suite every destination kind
// passes. A kind's test describes the kind and a way to get a fresh target
// (a real server, an emulator or a protocol-faithful fake) in a [Harness],
// and calls [Run]:
//
//	func TestConformance(t *testing.T) {
//		destinationtest.Run(t, destinationtest.Harness{
//			Kind: mykind.Kind(),
//			New: func(t *testing.T) *destinationtest.Target {
//				srv := myfake.New(t)
//				return &destinationtest.Target{
//					Settings:     map[string]any{"url": srv.URL, "api_key": "k-secret"},
//					Secrets:      []string{"k-secret"},
//					Received:     func(testing.TB) [][]byte { return srv.Docs() },
//					FailNext:     srv.FailNext,
//					…
//				}
//			},
//		})
//	}
//
// # What the suite checks
//
// Every sub-test gets a fresh target from Harness.New and builds the
// destination through Kind.Decode and Kind.New, as the registry does.
// Records are JSON objects, each with a unique "conformance_id" string
// field; the suite finds records in what the target received by that
// field. Sub-tests (their names are the Sub* constants):
//
//	Deliver             a batch arrives intact, each record once, in order.
//	Limits              a batch over Limits.MaxEvents or Limits.MaxBytes is
//	                    either delivered whole (the kind splits it into
//	                    requests within the limits: recommended) or rejected
//	                    with retry.Permanent naming the limit; never half sent.
//	                    Skipped, with a log line, when the kind has no limits.
//	TransientFailure    the target fails one request (503-like): Deliver
//	                    returns a retryable error (or a *BatchError with only
//	                    retryable items); delivering again (what the error
//	                    asks for) gets every record there at least once.
//	PartialFailure      the target fails some records transiently and rejects
//	                    one permanently in one request: Deliver returns a
//	                    *BatchError listing exactly those indexes, retryable
//	                    or permanent as the target said; the others arrived;
//	                    re-delivering the retryable ones succeeds.
//	PermanentRejection  the target rejects every record of a batch: Deliver
//	                    returns retry.Permanent, or a *BatchError whose every
//	                    item is permanent, with the target's reason.
//	OversizedRecord     one record of a batch is over Limits.MaxRecord:
//	                    Deliver returns a *BatchError with exactly that index,
//	                    permanent, naming the limit or the record's size; the
//	                    other records arrive. Skipped when MaxRecord is 0.
//	Cancel              a cancelled context, a context cancelled during a
//	                    request and a deadline during a request each make
//	                    Deliver return promptly with an error that is
//	                    errors.Is ctx.Err() and not permanent.
//	Secrets             errors against a dead address and with a wrong secret
//	                    never contain a secret; a wrong secret is permanent.
//	Check               Check succeeds against the target, fails with a
//	                    non-empty error against a dead address and with a
//	                    wrong secret.
//	Close               Close is idempotent, also before any Deliver.
//	Concurrent          concurrent Deliver and Check calls (run with -race).
//
// On top of the sub-tests' own assertions, every error any call returns is
// checked: it never contains a value of Target.Secrets, a *BatchError is
// returned unwrapped (never inside retry.Permanent), its indexes are in
// range and unique and each item has an error.
//
// # Skipping
//
// A sub-test (or part of one) that needs a hook the target cannot provide
// is skipped only when Harness.Cannot says why, keyed by the name in the
// Can* constants; the reason is logged. A nil hook without a reason fails
// the sub-test, so nothing is ever skipped silently.
package destinationtest

import (
	"net"
	"testing"

	"github.com/runnel/runnel/internal/destination"
)

// Sub-test names, also the keys of Harness.Cannot for a whole sub-test.
const (
	SubDeliver            = "Deliver"
	SubLimits             = "Limits"
	SubTransientFailure   = "TransientFailure"
	SubPartialFailure     = "PartialFailure"
	SubPermanentRejection = "PermanentRejection"
	SubOversizedRecord    = "OversizedRecord"
	SubCancel             = "Cancel"
	SubSecrets            = "Secrets"
	SubCheck              = "Check"
	SubClose              = "Close"
	SubConcurrent         = "Concurrent"
)

// Keys of Harness.Cannot for parts of sub-tests, each tied to a hook.
const (
	// CanHang: Target.Hang is nil; Cancel only checks an already
	// cancelled context.
	CanHang = "Cancel/InFlight"
	// CanBadSecret: Target.BadSecretSettings is nil (the kind has no
	// secret, or the target does not check it).
	CanBadSecret = "BadSecret"
	// CanLargeLimits: the kind's MaxBytes or MaxRecord is above 16 MiB and
	// the harness does not want the suite to send that much (see
	// Harness.LargeBatches).
	CanLargeLimits = "Limits/Large"
)

// Harness describes a kind under test and how to get a target for it.
type Harness struct {
	// Kind is the destination kind under test.
	Kind destination.Kind
	// New returns a fresh, empty target for one sub-test. It is called once
	// per sub-test (and per part where a sub-test needs two); it registers
	// its own cleanup with t.Cleanup.
	New func(t *testing.T) *Target
	// Deps are passed to Kind.New (zero Deps when unset).
	Deps destination.Deps
	// Framer is passed in every Batch (nil: the suite's, records joined
	// by "\n", as the default payload options do).
	Framer destination.Framer
	// Cannot lists what the target cannot do, by sub-test name (Sub*) or
	// part (Can*), with the reason; those are skipped and the reason logged.
	Cannot map[string]string
	// LargeBatches lets the suite exercise Limits.MaxBytes and
	// Limits.MaxRecord above 16 MiB (up to 256 MiB); without it, and
	// without Cannot[CanLargeLimits], such limits fail the sub-test.
	LargeBatches bool
}

// Target is one target instance: settings to reach it, a way to read what
// it accepted, and hooks to make it fail.
type Target struct {
	// Settings are valid settings (as a stream definition holds them) that
	// point the kind at this target.
	Settings map[string]any
	// Secrets are the secret values in Settings (and BadSecretSettings is
	// checked with its own values too): no error may contain any of them.
	// Values shorter than 4 bytes are ignored.
	Secrets []string
	// Received returns the records the target has accepted since New, in
	// the order it accepted them, each as the JSON object the suite sent
	// (bytes equal, or JSON-equal when the kind re-encodes). A kind that
	// adds fields (e.g. datadog's ddsource) has its harness strip them.
	// The suite checks the order of the records of one Deliver call, not
	// across calls (separate calls may land in separately listed objects).
	// It is called after Deliver returned: a target that shows writes late
	// (a consumer) waits for them itself.
	Received func(t testing.TB) [][]byte
	// FailNext makes the next n requests (API calls, produce requests,
	// uploads) fail as a whole with a transient error (HTTP 503-like),
	// accepting nothing. Nil: Cannot[SubTransientFailure] says why.
	FailNext func(n int)
	// FailRecords makes the target fail transiently (429/5xx-like) every
	// record for which match is true, in the same request as records it
	// accepts. match sees the record as the target sees it (it contains the
	// record's "conformance_id":"…" bytes). Nil: Cannot[SubPartialFailure].
	FailRecords func(match func(record []byte) bool)
	// Reject makes the target reject permanently every record for which
	// match is true. It returns a text the target's rejection contains (an
	// error type or message), which the returned error must contain.
	// A target that can only reject whole requests rejects every request
	// with a matching record. Nil: Cannot[SubPermanentRejection].
	Reject func(match func(record []byte) bool) (reason string)
	// Hang makes the target hold every request, without answering, until
	// release is called; release is idempotent. Nil: Cannot[CanHang].
	Hang func() (release func())
	// DeadSettings are Settings pointing at an address where nothing
	// listens (DeadAddr gives one). Required.
	DeadSettings map[string]any
	// BadSecretSettings are Settings with a wrong secret: the target is
	// reachable and rejects the credential. Nil: Cannot[CanBadSecret].
	BadSecretSettings map[string]any
}

// DeadAddr returns a "127.0.0.1:port" address where nothing listens (a
// listener was bound there and closed).
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
