package s3

import (
	"bytes"
	"maps"
	"testing"

	"github.com/runnel/runnel/internal/destination/destinationtest"
)

// TestConformance runs the destination conformance suite against
// versitygw, through a proxy that injects S3's failures (SlowDown 503,
// AccessDenied 403, a hanging request) and records the objects written.
func TestConformance(t *testing.T) {
	gw := gateway(t)
	destinationtest.Run(t, destinationtest.Harness{
		Kind: Kind(),
		New: func(t *testing.T) *destinationtest.Target {
			bucket := newBucket(t, gw)
			p := newFaultProxy(t, gw, bucket)
			s := settings(p.URL, bucket)
			bad := maps.Clone(s)
			bad["secret_key"] = "not-the-gateway-secret-0000"
			dead := maps.Clone(s)
			dead["host_url"] = "http://" + destinationtest.DeadAddr(t)
			return &destinationtest.Target{
				Settings: s,
				Secrets:  []string{gwSecret},
				Received: func(t testing.TB) [][]byte {
					var out [][]byte
					for _, key := range p.writtenKeys() {
						body, _ := getObject(t, gw, bucket, key)
						out = append(out, bytes.Split(body, []byte("\n"))...)
					}
					return out
				},
				FailNext:          p.FailNext,
				Reject:            p.Reject,
				Hang:              p.Hang,
				DeadSettings:      dead,
				BadSecretSettings: bad,
			}
		},
		Cannot: map[string]string{
			destinationtest.SubPartialFailure: "an object is written whole or not at all: S3 has no per-record outcome",
		},
	})
}
