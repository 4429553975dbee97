package processors

import "testing"

func TestSmoke(t *testing.T) {
	c := mustCompile(t, `[{'parse':{'field':'event.raw','format':'json','target':'event.parsed'}},{'mask':{'detectors':['email','card'],'method':'redact'}},{'filter':{'if':'event.parsed.status != \'declined\''}}]`, Options{})
	out, res, err := run(t, c, `{"timestamp":"2025-02-12T14:32:15Z","event":{"raw":"{\"status\":\"ok\",\"email\":\"jane@example.com\",\"card\":\"4111 1111 1111 1111\",\"n\":12345678901234567890}"}}`)
	t.Logf("%s %+v %v", out, res, err)
}
