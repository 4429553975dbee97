package splunk_test

import (
	"testing"

	"github.com/runnel/runnel/internal/destination/destinationtest"
	"github.com/runnel/runnel/internal/destination/splunk"
	"github.com/runnel/runnel/internal/destination/splunk/splunktest"
)

func TestConformance(t *testing.T) {
	const token = "B5A79AAD-D822-46CC-80D1-819F80D7BFB0"
	destinationtest.Run(t, destinationtest.Harness{
		Kind: splunk.Kind(),
		Cannot: map[string]string{
			destinationtest.SubPartialFailure: "HEC answers for a request as a whole: it cannot fail single events transiently " +
				"(per-event permanent rejections, invalid-event-number, are covered by PermanentRejection and the kind's tests)",
		},
		New: func(t *testing.T) *destinationtest.Target {
			srv := splunktest.New(t, token)
			srv.SetMaxContentLength(1_000_000) // Splunk Cloud's limit, the kind's
			settings := func(base, tok string) map[string]any {
				return map[string]any{"url": base + "/services/collector/event?index=main", "api_key": tok}
			}
			return &destinationtest.Target{
				Settings: settings(srv.URL, token),
				Secrets:  []string{token},
				Received: func(testing.TB) [][]byte { return srv.Bodies() },
				FailNext: srv.Busy,
				Reject: func(match func([]byte) bool) string {
					srv.Reject(match)
					return "Invalid data format"
				},
				Hang: func() func() {
					srv.Hang()
					return srv.Release
				},
				DeadSettings:      settings("http://"+destinationtest.DeadAddr(t), token),
				BadSecretSettings: settings(srv.URL, "00000000-0000-0000-0000-000000000000"),
			}
		},
	})
}
