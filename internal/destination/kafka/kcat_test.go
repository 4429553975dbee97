package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcatPath returns the kcat binary. Without it the test fails in CI
// (CI=true), where scripts/test.sh installs it, and is skipped elsewhere.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("kcat is not installed: CI runs scripts/test.sh, which installs it (apt-get install kcat); " +
			"the Kafka destination must be cross-checked with an independent client in CI")
	}
	t.Skip("kcat is not installed (bash scripts/test.sh installs it): skipping the cross-check with an independent client")
	return ""
}

// kcatConsume reads topic from the beginning to its end with kcat
// (librdkafka), printing each message with format.
func kcatConsume(t *testing.T, kcat, broker, topic, format string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", format)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestKcat produces through the destination and reads back with kcat, an
// independent client (librdkafka): every codec on a single partition
// (exact messages, in order), and keys from key_field on three partitions.
func TestKcat(t *testing.T) {
	kcat := kcatPath(t)
	c := shared(t)
	broker := c.ListenAddrs()[0]
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run("compression="+codec, func(t *testing.T) {
			topic := uniqueTopic(t, c, 1)
			cfg := config(c, topic)
			cfg.Compression = codec
			d := open(t, cfg)
			var want strings.Builder
			for b := range 3 {
				recs := make([][]byte, 100)
				for i := range recs {
					seq := b*100 + i
					recs[i] = fmt.Appendf(nil, `{"seq":%d,"msg":"héllo wörld ✓ \"%d\"","pad":"%s"}`, seq, seq, strings.Repeat("k", seq%50))
					want.Write(recs[i])
					want.WriteByte('\n')
				}
				if err := d.Deliver(t.Context(), batch(recs)); err != nil {
					t.Fatal(err)
				}
			}
			got := kcatConsume(t, kcat, broker, topic, `%s\n`)
			if got != want.String() {
				t.Fatalf("kcat read:\n%.500s\nwant:\n%.500s", got, want.String())
			}
		})
	}
	t.Run("keys", func(t *testing.T) {
		topic := uniqueTopic(t, c, 3)
		cfg := config(c, topic)
		cfg.KeyField = "user.id"
		d := open(t, cfg)
		const n, users = 300, 5
		recs := records(0, n, users)
		if err := d.Deliver(t.Context(), batch(recs)); err != nil {
			t.Fatal(err)
		}
		out := kcatConsume(t, kcat, broker, topic, `%p\t%k\t%s\n`)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("kcat read %d messages, want %d", len(lines), n)
		}
		seen := map[int]bool{}
		last := map[string]int{}
		for _, l := range lines {
			f := strings.SplitN(l, "\t", 3)
			if len(f) != 3 {
				t.Fatalf("kcat line %q", l)
			}
			seq := seqOf(t, []byte(f[2]))
			if f[2] != string(recs[seq]) || seen[seq] {
				t.Fatalf("kcat message %q (seq %d seen %v)", f[2], seq, seen[seq])
			}
			seen[seq] = true
			if want := fmt.Sprintf("u%d", seq%users); f[1] != want {
				t.Fatalf("seq %d: key %q, want %q", seq, f[1], want)
			}
			if l, ok := last[f[1]]; ok && seq < l {
				t.Fatalf("key %s: seq %d after %d", f[1], seq, l)
			}
			last[f[1]] = seq
		}
	})
}
