package azureblob

import (
	"bytes"
	"maps"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/runnel/runnel/internal/destination/destinationtest"
)

// TestConformance runs the destination conformance suite against Azurite,
// through a proxy that injects the Blob service's failures (ServerBusy
// 503, AuthorizationPermissionMismatch 403, a hanging request) and records
// the blobs written.
func TestConformance(t *testing.T) {
	ep := azurite(t)
	destinationtest.Run(t, destinationtest.Harness{
		Kind: Kind(),
		New: func(t *testing.T) *destinationtest.Target {
			c := newContainer(t, ep)
			p := newFaultProxy(t, ep, c)
			s := settings(t, p.URL, c)
			bad := maps.Clone(s)
			bad["blob_sas_token"] = containerSAS(t, c, sas.ContainerPermissions{Create: true, Write: true}, otherKey, time.Now().Add(time.Hour))
			dead := maps.Clone(s)
			dead["endpoint"] = "http://" + destinationtest.DeadAddr(t) + "/" + devAccount
			return &destinationtest.Target{
				Settings: s,
				Secrets:  []string{sigOf(t, s["blob_sas_token"].(string)), sigOf(t, bad["blob_sas_token"].(string))},
				Received: func(t testing.TB) [][]byte {
					var out [][]byte
					for _, name := range p.written() {
						body, _ := getBlob(t, ep, c, name)
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
			destinationtest.SubPartialFailure: "a blob is written whole or not at all: the Blob service has no per-record outcome",
		},
	})
}
