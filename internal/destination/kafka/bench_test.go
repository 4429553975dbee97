package kafka

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkDeliver measures Deliver of batches of 2000 records of about
// 500 bytes to kfake (3 brokers, 3 partitions, records not stored), per
// codec; it reports events/s and MB/s of record bytes.
func BenchmarkDeliver(b *testing.B) {
	c := newCluster(b, kfake.BlackholeProduce(), kfake.SeedTopics(3, "bench"))
	recs := make([][]byte, 2000)
	size := 0
	for i := range recs {
		recs[i] = fmt.Appendf(nil, `{"seq":%d,"user":{"id":"u%d"},"host":"web-%d","msg":"GET /api/v1/items/%d 200 %s"}`,
			i, i%97, i%13, i, strings.Repeat("x", 400))
		size += len(recs[i])
	}
	for _, codec := range []string{"none", "lz4", "zstd"} {
		for _, key := range []string{"", "user.id"} {
			b.Run(fmt.Sprintf("compression=%s/key=%s", codec, key), func(b *testing.B) {
				cfg := config(c, "bench")
				cfg.Compression = codec
				cfg.KeyField = key
				d := open(b, cfg)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := d.Deliver(b.Context(), batch(recs)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
