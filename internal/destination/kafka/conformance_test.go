package kafka

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel/runnel/internal/destination/destinationtest"
)

// conformanceMaxMessageBytes is the max_message_bytes the conformance
// targets use; the harness declares the record limit it gives.
const conformanceMaxMessageBytes = 64 << 10

// TestConformance runs the destination suite against kfake: 3 brokers with
// SASL/PLAIN (answering a wrong password as Kafka does), a fresh
// single-partition topic per target (so that what the topic holds is in
// delivery order), and a produce interceptor for the failure hooks.
func TestConformance(t *testing.T) {
	const user, pass, wrong = "runnel", "conformance-Secret-42", "wrong-Secret-0000"
	fb := newFaultyBroker(t, kfake.EnableSASL(), kfake.Superuser(MechanismPlain, user, pass))
	rejectSASL(fb.c, wrong)
	admin := adminClient(t, fb.c, kgo.SASL(saslMech(MechanismPlain, user, pass)))

	k := Kind()
	// The kind's record limit follows max_message_bytes (Kind.Limits has
	// none): declare the one these settings give, so that OversizedRecord
	// runs against Deliver's own check.
	k.Limits.MaxRecord = conformanceMaxMessageBytes - recordOverhead

	destinationtest.Run(t, destinationtest.Harness{
		Kind: k,
		Cannot: map[string]string{
			destinationtest.SubPartialFailure: "Kafka accepts or rejects a partition's record batch whole " +
				"(franz-go fails every record of a failed batch), so one record of a request cannot fail alone " +
				"on a single-partition topic; per-partition partial failures are TestPartialFailure's",
		},
		New: func(t *testing.T) *destinationtest.Target {
			topic, st := fb.topic(t, admin)
			settings := func(servers, password, timeout string) map[string]any {
				return map[string]any{
					"bootstrap_servers": servers,
					"kafka_topic":       topic,
					"sasl_mechanism":    MechanismPlain,
					"sasl_username":     user,
					"sasl_password":     password,
					"max_message_bytes": conformanceMaxMessageBytes,
					"timeout":           timeout,
				}
			}
			servers := strings.Join(fb.c.ListenAddrs(), ",")
			return &destinationtest.Target{
				Settings: settings(servers, pass, "10s"),
				Secrets:  []string{pass, wrong},
				Received: func(t testing.TB) [][]byte {
					var out [][]byte
					for _, m := range readAll(t, admin, topic) {
						out = append(out, m.Value)
					}
					return out
				},
				FailNext: st.failNext,
				Reject: func(match func([]byte) bool) string {
					st.setReject(match)
					return kerr.InvalidRecord.Message
				},
				Hang:              st.hang,
				DeadSettings:      settings(destinationtest.DeadAddr(t), pass, "3s"),
				BadSecretSettings: settings(servers, wrong, "3s"),
			}
		},
	})
}

// faultyBroker is a kfake cluster whose produce requests go through an
// interceptor that can fail, reject or hold them, per topic.
type faultyBroker struct {
	c *kfake.Cluster

	mu     sync.Mutex
	topics map[string]*topicFaults   // by name
	ids    map[[16]byte]*topicFaults // by topic id (produce v13+)
}

// topicFaults are the failures armed for one topic.
type topicFaults struct {
	mu       sync.Mutex
	failN    int
	reject   func([]byte) bool
	hangCh   chan struct{}
	released bool
}

func newFaultyBroker(t testing.TB, opts ...kfake.Opt) *faultyBroker {
	fb := &faultyBroker{
		c:      newCluster(t, opts...),
		topics: map[string]*topicFaults{},
		ids:    map[[16]byte]*topicFaults{},
	}
	dec := kgo.DefaultDecompressor()
	fb.c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		fb.c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		st := fb.faultsFor(req)
		if st == nil {
			return nil, nil, false
		}
		if hang := st.holding(); hang != nil {
			fb.c.SleepControl(func() { <-hang })
		}
		if st.takeFailure() {
			return produceError(req, kerr.UnknownServerError), nil, true
		}
		if match := st.rejecter(); match != nil && anyRecord(req, dec, match) {
			return produceError(req, kerr.InvalidRecord), nil, true
		}
		return nil, nil, false
	})
	return fb
}

// topic creates a fresh single-partition topic with its fault state.
func (fb *faultyBroker) topic(t testing.TB, admin *kgo.Client) (string, *topicFaults) {
	t.Helper()
	topicSeq.Lock()
	topicSeq.n++
	name := fmt.Sprintf("%s-%d", topicChars(t.Name()), topicSeq.n)
	topicSeq.Unlock()
	req := kmsgCreateTopic(name, 1)
	resp, err := req.RequestWith(t.Context(), admin)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic %s: %v %+v", name, err, resp)
	}
	st := &topicFaults{}
	fb.mu.Lock()
	fb.topics[name] = st
	fb.ids[resp.Topics[0].TopicID] = st
	fb.mu.Unlock()
	t.Cleanup(st.release)
	return name, st
}

func (fb *faultyBroker) faultsFor(req *kmsg.ProduceRequest) *topicFaults {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for _, rt := range req.Topics {
		if st := fb.topics[rt.Topic]; st != nil {
			return st
		}
		if st := fb.ids[rt.TopicID]; st != nil {
			return st
		}
	}
	return nil
}

func (st *topicFaults) failNext(n int) {
	st.mu.Lock()
	st.failN += n
	st.mu.Unlock()
}

func (st *topicFaults) takeFailure() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failN > 0 {
		st.failN--
		return true
	}
	return false
}

func (st *topicFaults) setReject(match func([]byte) bool) {
	st.mu.Lock()
	st.reject = match
	st.mu.Unlock()
}

func (st *topicFaults) rejecter() func([]byte) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.reject
}

func (st *topicFaults) hang() func() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.hangCh = make(chan struct{})
	st.released = false
	return st.release
}

func (st *topicFaults) holding() chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.released {
		return nil
	}
	return st.hangCh
}

func (st *topicFaults) release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.hangCh != nil && !st.released {
		close(st.hangCh)
		st.released = true
	}
}

// produceError answers every partition of req with code, as a broker
// does when it refuses the batches.
func produceError(req *kmsg.ProduceRequest, code *kerr.Error) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewProduceResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition = rp.Partition
			p.ErrorCode = code.Code
			p.BaseOffset = -1
			p.LogStartOffset = -1
			p.ErrorMessage = kmsg.StringPtr(code.Description)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// anyRecord reports whether match is true of some partition's records in
// req (their decompressed bytes).
func anyRecord(req *kmsg.ProduceRequest, dec kgo.Decompressor, match func([]byte) bool) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(rp.Records); err != nil {
				continue
			}
			raw := rb.Records
			if codec := kgo.CompressionCodecType(rb.Attributes & 0x07); codec != kgo.CodecNone {
				var err error
				if raw, err = dec.Decompress(rb.Records, codec); err != nil {
					continue
				}
			}
			if match(raw) {
				return true
			}
		}
	}
	return false
}

// readAll reads topic from the start up to its end offset (partition 0).
func readAll(t testing.TB, admin *kgo.Client, topic string) []consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, admin)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	end := resp.Topics[0].Partitions[0].Offset
	if end <= 0 {
		return nil
	}
	opts := admin.Opts() // same brokers and SASL
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []consumed
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: got to offset %d of %d", topic, len(out), end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				out = append(out, consumed{r.Partition, r.Offset, r.Key, bytes.Clone(r.Value)})
			}
		})
		if n := len(out); n > 0 && out[n-1].Offset >= end-1 {
			return out
		}
	}
}
