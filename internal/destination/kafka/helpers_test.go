package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel/runnel/internal/destination"
)

// Topics seeded in the shared cluster.
const (
	topic3  = "events"  // 3 partitions
	topic1  = "ordered" // 1 partition
	topicCk = "checked" // 2 partitions, for Check
	numPart = int32(3)
)

var (
	sharedOnce    sync.Once
	sharedCluster *kfake.Cluster
	sharedErr     error
)

// shared returns the package's plain cluster: 3 brokers on 127.0.0.1,
// random ports, seeded topics. It lives as long as the test binary.
func shared(t testing.TB) *kfake.Cluster {
	t.Helper()
	sharedOnce.Do(func() {
		sharedCluster, sharedErr = kfake.NewCluster(
			kfake.NumBrokers(3),
			kfake.SeedTopics(numPart, topic3),
			kfake.SeedTopics(1, topic1),
			kfake.SeedTopics(2, topicCk),
		)
	})
	if sharedErr != nil {
		t.Fatalf("kfake: %v", sharedErr)
	}
	return sharedCluster
}

// newCluster starts a cluster of 3 brokers for one test.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// uniqueTopic creates a fresh topic in c, so tests sharing a cluster do not
// see each other's messages.
var topicSeq struct {
	sync.Mutex
	n int
}

func uniqueTopic(t testing.TB, c *kfake.Cluster, partitions int32) string {
	t.Helper()
	topicSeq.Lock()
	topicSeq.n++
	name := fmt.Sprintf("t%d-%s", topicSeq.n, topicChars(t.Name()))
	topicSeq.Unlock()
	if len(name) > maxTopicLen {
		name = name[:maxTopicLen]
	}
	cl := adminClient(t, c)
	req := kmsgCreateTopic(name, partitions)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create topic %s: error code %d", name, code)
	}
	return name
}

func adminClient(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// config returns valid settings for cluster c and topic.
func config(c *kfake.Cluster, topic string) *Config {
	cfg := NewConfig()
	cfg.BootstrapServers = strings.Join(c.ListenAddrs(), ",")
	cfg.Topic = topic
	return cfg
}

// open builds a destination and closes it at the end of the test.
func open(t testing.TB, cfg *Config, o ...options) *Destination {
	t.Helper()
	var opt options
	if len(o) > 0 {
		opt = o[0]
	}
	d, err := newDestination(cfg, destination.Deps{}, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// consumed is a message read back.
type consumed struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// consume reads n messages from topic, from the start, with an independent
// franz-go consumer; it fails the test if they do not come within 20 s.
func consume(t testing.TB, c *kfake.Cluster, topic string, n int, opts ...kgo.Opt) []consumed {
	t.Helper()
	cl := adminClient(t, c, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []consumed
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d messages before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, consumed{r.Partition, r.Offset, r.Key, r.Value})
		})
	}
	if len(out) != n {
		t.Fatalf("consumed %d messages, want %d", len(out), n)
	}
	return out
}

// records makes n JSON records {"seq":i,"user":{"id":"u<i%users>"},"pad":…}.
func records(from, n, users int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		seq := from + i
		out[i] = fmt.Appendf(nil, `{"seq":%d,"user":{"id":"u%d"},"msg":"event %d"}`, seq, seq%users, seq)
	}
	return out
}

func seqOf(t testing.TB, v []byte) int {
	t.Helper()
	var r struct{ Seq int }
	if err := json.Unmarshal(v, &r); err != nil {
		t.Fatalf("consumed %q: %v", v, err)
	}
	return r.Seq
}

func batch(recs [][]byte) destination.Batch { return destination.Batch{Records: recs} }

func kmsgCreateTopic(name string, partitions int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 3
	req.Topics = append(req.Topics, rt)
	return req
}

// topicChars replaces what a topic name cannot hold by '-'.
func topicChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
}
