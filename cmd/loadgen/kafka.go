package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const kafkaTopic = "loadgen"

// kafkaReceiver is an in-process Kafka cluster (franz-go's kfake, one
// broker) with one topic. Delivered events are the topic's high
// watermarks summed over its partitions: every record the broker has
// acknowledged. With blackhole the broker keeps no record bytes (offsets
// still advance), so a long run does not fill this process's memory.
type kafkaReceiver struct {
	cluster    *kfake.Cluster
	cl         *kgo.Client
	addrs      []string
	topic      string
	partitions int32
	blackhole  bool

	produces atomic.Int64 // produce requests the broker received

	mu   sync.Mutex
	n    int64
	last time.Time
}

func startKafka(ctx context.Context, partitions int, blackhole bool) (*kafkaReceiver, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), kafkaTopic)}
	if blackhole {
		opts = append(opts, kfake.BlackholeProduce())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	k := &kafkaReceiver{cluster: cluster, addrs: cluster.ListenAddrs(), topic: kafkaTopic, partitions: int32(partitions), blackhole: blackhole}
	// Observe produce requests without handling them (the cluster then
	// does): kept for every request since it never reports handled.
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.produces.Add(1)
		return nil, nil, false
	})
	k.cl, err = kgo.NewClient(kgo.SeedBrokers(k.addrs...))
	if err != nil {
		cluster.Close()
		return nil, err
	}
	// The topic is there once the first count succeeds.
	if _, err := k.offsets(ctx); err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

// offsets sums the high watermarks of the topic's partitions.
func (k *kafkaReceiver) offsets(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = k.topic
	for p := range k.partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest: the high watermark
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return 0, err
	}
	var sum int64
	seen := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("kafka list offsets %s/%d: %w", t.Topic, p.Partition, err)
			}
			sum += p.Offset
			seen++
		}
	}
	if seen != int(k.partitions) {
		return 0, fmt.Errorf("kafka list offsets: %d of %d partitions answered", seen, k.partitions)
	}
	return sum, nil
}

// count asks the broker for the high watermarks; a failed request
// returns the last known count.
func (k *kafkaReceiver) count() (int64, time.Time) {
	n, err := k.offsets(context.Background())
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil && n > k.n {
		k.n, k.last = n, time.Now()
	}
	return k.n, k.last
}

func (k *kafkaReceiver) requests() int64 { return k.produces.Load() }

func (k *kafkaReceiver) describe() string {
	store := "records stored"
	if k.blackhole {
		store = "records acknowledged, not stored (BlackholeProduce)"
	}
	return fmt.Sprintf("kfake in this process, 1 broker %v, topic %s with %d partitions, %s", k.addrs, k.topic, k.partitions, store)
}

func (k *kafkaReceiver) close() {
	k.cl.Close()
	k.cluster.Close()
}

// verify consumes the topic from the start and checks the event ids.
func (k *kafkaReceiver) verify(ctx context.Context, want int64) (*verifyResult, error) {
	if k.blackhole {
		return nil, errors.New("kafka: the records were not stored")
	}
	total, err := k.offsets(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.ConsumeTopics(k.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var ids idSet
	var read int64
	for read < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafka: read %d of %d records: %w", read, total, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return nil, fmt.Errorf("kafka: read %d of %d records: %w", read, total, errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			ids.addRecord(r.Value)
		})
	}
	return ids.result(read, want), nil
}
