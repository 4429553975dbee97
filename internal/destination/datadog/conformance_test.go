package datadog_test

import (
	"encoding/json"
	"testing"

	"github.com/runnel/runnel/internal/destination/datadog"
	"github.com/runnel/runnel/internal/destination/datadog/ddtest"
	"github.com/runnel/runnel/internal/destination/destinationtest"
)

// stripAdded removes the fields the destination adds, giving back the
// record the suite sent.
func stripAdded(t testing.TB, logs [][]byte) [][]byte {
	out := make([][]byte, len(logs))
	for i, l := range logs {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log %d is not an object: %v", i, err)
		}
		if string(m["ddsource"]) != `"runnel"` {
			t.Errorf("log %d: ddsource %s", i, m["ddsource"])
		}
		delete(m, "ddsource")
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func TestConformance(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	destinationtest.Run(t, destinationtest.Harness{
		Kind: datadog.Kind(),
		Cannot: map[string]string{
			destinationtest.SubPartialFailure: "the Datadog logs intake accepts or refuses a payload whole",
		},
		New: func(t *testing.T) *destinationtest.Target {
			srv := ddtest.New(t, key)
			t.Cleanup(func() {
				if n := srv.Truncated(); n > 0 {
					t.Errorf("%d logs over 1 MB reached the intake (Datadog truncates them)", n)
				}
			})
			settings := func(base, k string) map[string]any {
				return map[string]any{"url": base + "/api/v2/logs", "api_key": k}
			}
			return &destinationtest.Target{
				Settings: settings(srv.URL, key),
				Secrets:  []string{key},
				Received: func(t testing.TB) [][]byte { return stripAdded(t, srv.Logs()) },
				FailNext: func(n int) {
					for range n {
						srv.FailNext("", 503)
					}
				},
				Reject: func(match func([]byte) bool) string {
					srv.Reject(match)
					return "invalid attribute"
				},
				Hang: func() func() {
					srv.Hang()
					return srv.Release
				},
				DeadSettings:      settings("http://"+destinationtest.DeadAddr(t), key),
				BadSecretSettings: settings(srv.URL, "ffffffffffffffffffffffffffffffff"),
			}
		},
	})
}
