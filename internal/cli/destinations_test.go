package cli

import (
	"net/http"
	"strings"
	"testing"
)

func TestDestinationsTest(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/streams/payments/destinations/web/test":
			writeJSONResp(w, 200, map[string]any{"ok": true})
		case r.Method == "POST" && r.URL.Path == "/v1/streams/payments/destinations/lake/test":
			writeJSONResp(w, 200, map[string]any{"ok": false, "error": "HeadBucket: NoSuchBucket"})
		default:
			apiErr(w, 404, "not_found", "no destination")
		}
	})
	res := f.run("destinations", "test", "payments", "web")
	if res.err != nil || !strings.Contains(res.stdout, "ok: destination web of stream payments is reachable") {
		t.Fatalf("ok case: %v %q %q", res.err, res.stdout, res.stderr)
	}
	res = f.run("destinations", "test", "payments", "lake")
	if res.err == nil || !strings.Contains(res.stderr, "NoSuchBucket") {
		t.Fatalf("failing probe must exit non-zero with the error: %v %q", res.err, res.stderr)
	}
	res = f.run("destinations", "test", "payments", "nope")
	if res.err == nil || !strings.Contains(res.stderr, "not_found") {
		t.Fatalf("unknown destination: %v %q", res.err, res.stderr)
	}
}
