package elasticsearch_test

import (
	"testing"

	"github.com/runnel/runnel/internal/destination/destinationtest"
	"github.com/runnel/runnel/internal/destination/elasticsearch"
	"github.com/runnel/runnel/internal/destination/elasticsearch/estest"
)

const index = "logs-conformance"

func TestConformance(t *testing.T) {
	key := estest.EncodedKey("VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw")
	var cannot map[string]string
	if raceDetector {
		cannot = map[string]string{destinationtest.CanLargeLimits: "100 MB requests through the race detector take minutes; " +
			"the limits are exercised by the same test without -race"}
	}
	destinationtest.Run(t, destinationtest.Harness{
		Kind:         elasticsearch.Kind(),
		LargeBatches: !raceDetector, // 100 MB requests: http.max_content_length
		Cannot:       cannot,
		New: func(t *testing.T) *destinationtest.Target {
			srv := estest.New(t, key)
			settings := func(base, k string) map[string]any {
				return map[string]any{"url": base + "/" + index, "api_key": k}
			}
			return &destinationtest.Target{
				Settings: settings(srv.URL, key),
				Secrets:  []string{key, "ui2lp2axTNmsyakw9tvNnw"},
				Received: func(testing.TB) [][]byte { return srv.Docs(index) },
				FailNext: func(n int) {
					for range n {
						srv.FailNext(503)
					}
				},
				FailRecords: func(match func([]byte) bool) {
					srv.AddFault(match, estest.Fault{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of coordinating operation"})
				},
				Reject: func(match func([]byte) bool) string {
					srv.AddFault(match, estest.Fault{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [msg] of type [long]"})
					return "mapper_parsing_exception"
				},
				Hang: func() func() {
					srv.Hang()
					return srv.Release
				},
				DeadSettings:      settings("http://"+destinationtest.DeadAddr(t), key),
				BadSecretSettings: settings(srv.URL, estest.EncodedKey("VuaCfGcBCdbkQm-e5aOx", "wrong-key-0123456789")),
			}
		},
	})
}
