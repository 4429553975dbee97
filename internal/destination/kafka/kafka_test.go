package kafka

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// TestDeliverRoundTrip produces batches with keys from key_field and reads
// them back: every record exactly once, byte for byte, with its key; equal
// keys on one partition, in order.
func TestDeliverRoundTrip(t *testing.T) {
	c := shared(t)
	topic := uniqueTopic(t, c, 3)
	cfg := config(c, topic)
	cfg.KeyField = "user.id"
	d := open(t, cfg)

	const batches, per, users = 5, 200, 7
	var sent [][]byte
	for b := range batches {
		recs := records(b*per, per, users)
		sent = append(sent, recs...)
		if err := d.Deliver(t.Context(), batch(recs)); err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
	}
	got := consume(t, c, topic, len(sent))

	seen := map[int]bool{}
	keyPart := map[string]int32{}
	lastSeq := map[string]int{}
	partitions := map[int32]bool{}
	for _, m := range got {
		seq := seqOf(t, m.Value)
		if seen[seq] {
			t.Fatalf("seq %d delivered twice", seq)
		}
		seen[seq] = true
		if !bytes.Equal(m.Value, sent[seq]) {
			t.Fatalf("seq %d: value %q, sent %q", seq, m.Value, sent[seq])
		}
		wantKey := fmt.Sprintf("u%d", seq%users)
		if string(m.Key) != wantKey {
			t.Fatalf("seq %d: key %q, want %q", seq, m.Key, wantKey)
		}
		if p, ok := keyPart[wantKey]; ok && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d", wantKey, p, m.Partition)
		}
		keyPart[wantKey] = m.Partition
		partitions[m.Partition] = true
		if last, ok := lastSeq[wantKey]; ok && seq < last {
			t.Fatalf("key %s: seq %d after %d", wantKey, seq, last)
		}
		lastSeq[wantKey] = seq
	}
	if len(seen) != len(sent) {
		t.Fatalf("%d distinct records, sent %d", len(seen), len(sent))
	}
	if len(partitions) < 2 {
		t.Errorf("7 keys all landed on %d partition(s)", len(partitions))
	}
}

// TestDeliverOrder: on one partition, without keys, messages are in the
// order of the batches and of the records in them.
func TestDeliverOrder(t *testing.T) {
	c := shared(t)
	topic := uniqueTopic(t, c, 1)
	d := open(t, config(c, topic))
	const batches, per = 4, 500
	for b := range batches {
		if err := d.Deliver(t.Context(), batch(records(b*per, per, 1))); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range consume(t, c, topic, batches*per) {
		if s := seqOf(t, m.Value); s != i {
			t.Fatalf("message %d has seq %d", i, s)
		}
		if m.Key != nil {
			t.Fatalf("message %d has key %q without key_field", i, m.Key)
		}
	}
}

// TestCompression: every codec round-trips, and the batches on the broker
// carry it.
func TestCompression(t *testing.T) {
	c := shared(t)
	codecs := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4, "": 3}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range codecs {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run("codec="+name, func(t *testing.T) {
			topic := uniqueTopic(t, c, 1)
			cfg := config(c, topic)
			cfg.Compression = strings.ToUpper(name)
			d := open(t, cfg)
			// Compressible records, so that no codec falls back to none.
			recs := make([][]byte, 50)
			for i := range recs {
				recs[i] = fmt.Appendf(nil, `{"seq":%d,"msg":"%s"}`, i, strings.Repeat("abc", 100))
			}
			if err := d.Deliver(t.Context(), batch(recs)); err != nil {
				t.Fatal(err)
			}
			cl := adminClient(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			n := 0
			for n < len(recs) && ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					if !bytes.Equal(r.Value, recs[n]) {
						t.Errorf("record %d: %q", n, r.Value)
					}
					if got := r.Attrs.CompressionType(); got != codecs[name] {
						t.Errorf("record %d: compression type %d, want %d", n, got, codecs[name])
					}
					n++
				})
			}
			if n != len(recs) {
				t.Fatalf("consumed %d of %d", n, len(recs))
			}
		})
	}
}

// TestRecordTooLarge: a record over max_message_bytes fails alone,
// permanently, with 413; the others are delivered.
func TestRecordTooLarge(t *testing.T) {
	c := shared(t)
	topic := uniqueTopic(t, c, 1)
	cfg := config(c, topic)
	cfg.MaxMessageBytes = 2048
	d := open(t, cfg)
	big := fmt.Appendf(nil, `{"seq":1,"pad":"%s"}`, strings.Repeat("x", 3000))
	// Exactly at the limit: still accepted.
	edge := fmt.Appendf(nil, `{"seq":3,"pad":"%s"}`, strings.Repeat("y", 2048-recordOverhead-len(`{"seq":3,"pad":""}`)))
	recs := [][]byte{[]byte(`{"seq":0}`), big, []byte(`{"seq":2}`), edge}
	err := d.Deliver(t.Context(), batch(recs))
	var be *destination.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BatchError", err)
	}
	if len(be.Failed) != 1 || be.Failed[0].Index != 1 {
		t.Fatalf("failed = %+v, want only record 1", be.Failed)
	}
	ie := be.Failed[0].Err
	if !retry.IsPermanent(ie) || !errors.Is(ie, kerr.MessageTooLarge) {
		t.Fatalf("item error %v: want permanent MessageTooLarge", ie)
	}
	if s := statusOf(ie); s != 413 {
		t.Errorf("status %d, want 413", s)
	}
	if !strings.Contains(ie.Error(), "max_message_bytes 2048") {
		t.Errorf("error does not name the setting: %v", ie)
	}
	got := consume(t, c, topic, 3)
	for i, want := range []int{0, 2, 3} {
		if s := seqOf(t, got[i].Value); s != want {
			t.Errorf("message %d: seq %d, want %d", i, s, want)
		}
	}
}

// TestBrokerMessageTooLarge: a topic accepting less than max_message_bytes
// rejects the record on the broker: a permanent 413, and Check says why.
func TestBrokerMessageTooLarge(t *testing.T) {
	c := newCluster(t)
	req := kmsgCreateTopic("small", 1)
	rc := kmsg.NewCreateTopicsRequestTopicConfig()
	rc.Name, rc.Value = "max.message.bytes", kmsg.StringPtr("4096")
	req.Topics[0].Configs = append(req.Topics[0].Configs, rc)
	if resp, err := req.RequestWith(t.Context(), adminClient(t, c)); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}
	cfg := config(c, "small")
	cfg.Compression = "none"
	d := open(t, cfg)
	rec := fmt.Appendf(nil, `{"pad":"%s"}`, strings.Repeat("z", 8000))
	err := d.Deliver(t.Context(), batch([][]byte{rec}))
	var be *destination.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 {
		t.Fatalf("err = %v, want a BatchError with the record", err)
	}
	if ie := be.Failed[0].Err; !retry.IsPermanent(ie) || !errors.Is(ie, kerr.MessageTooLarge) || statusOf(ie) != 413 {
		t.Fatalf("item error %v (status %d): want permanent MessageTooLarge, 413", ie, statusOf(ie))
	}
	err = d.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "max.message.bytes is 4096") {
		t.Fatalf("Check = %v, want the topic's max.message.bytes named", err)
	}
	// Within the topic's limit, the same cluster takes it.
	cfg = config(c, "small")
	cfg.MaxMessageBytes = 4096
	d2 := open(t, cfg)
	if err := d2.Check(t.Context()); err != nil {
		t.Fatalf("Check with max_message_bytes 4096: %v", err)
	}
	if err := d2.Deliver(t.Context(), batch(records(0, 20, 1))); err != nil {
		t.Fatal(err)
	}
}

func TestSASL(t *testing.T) {
	const user, pass = "runnel", "s3cret-Passw0rd"
	for _, mech := range []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := newCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, user, pass), kfake.SeedTopics(2, "secured"))
			cfg := config(c, "secured")
			cfg.SASLMechanism = strings.ToLower(mech) // case-insensitive
			cfg.SASLUsername, cfg.SASLPassword = user, pass
			d := open(t, cfg)
			if err := d.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			recs := records(0, 50, 3)
			if err := d.Deliver(t.Context(), batch(recs)); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			consume(t, c, "secured", len(recs), kgo.SASL(saslMech(mech, user, pass)))

			t.Run("wrong password", func(t *testing.T) {
				const wrong = "wr0ng-Passw0rd-123"
				rejectSASL(c, wrong)
				bad := config(c, "secured")
				bad.SASLMechanism, bad.SASLUsername, bad.SASLPassword = mech, user, wrong
				bad.Timeout = model.Duration(3 * time.Second)
				d := open(t, bad)
				start := time.Now()
				err := d.Deliver(t.Context(), batch(records(0, 3, 1)))
				if err == nil {
					t.Fatal("Deliver succeeded with a wrong password")
				}
				if !retry.IsPermanent(err) {
					t.Errorf("Deliver error %v is not permanent", err)
				}
				if s := statusOf(err); s != 401 {
					t.Errorf("status %d, want 401", s)
				}
				// The client retries until the timeout: the deliverer's
				// probe (Check) is what notices at once.
				if time.Since(start) > 3*time.Second+attemptGrace+5*time.Second {
					t.Errorf("took %v to fail", time.Since(start))
				}
				cerr := d.Check(t.Context())
				if cerr == nil {
					t.Fatal("Check succeeded with a wrong password")
				}
				for _, e := range []error{err, cerr} {
					if strings.Contains(e.Error(), wrong) || strings.Contains(e.Error(), pass) {
						t.Errorf("error contains a password: %v", e)
					}
					if !strings.Contains(e.Error(), "SASL authentication failed") {
						t.Errorf("error does not say authentication failed: %v", e)
					}
				}
				t.Logf("Deliver: %v", err)
				t.Logf("Check: %v", cerr)
			})
		})
	}
}

// rejectSASL makes c answer a failed SASL authentication as Kafka does
// (KIP-152): a SaslAuthenticate response with SASL_AUTHENTICATION_FAILED
// and a message. kfake itself just closes the connection, which a client
// cannot tell from a network failure. PLAIN messages are rejected when they
// carry the password wrong; SCRAM ones at the client's final message (the
// proof), since the test knows the password is wrong.
func rejectSASL(c *kfake.Cluster, wrong string) {
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.SASLAuthenticateRequest)
		plainBad := bytes.HasSuffix(req.SASLAuthBytes, []byte("\x00"+wrong))
		scramFinal := bytes.HasPrefix(req.SASLAuthBytes, []byte("c=")) && bytes.Contains(req.SASLAuthBytes, []byte(",p="))
		if !plainBad && !scramFinal {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
}

func saslMech(mech, user, pass string) sasl.Mechanism {
	return mechanism(&Config{SASLMechanism: mech, SASLUsername: user, SASLPassword: pass})
}

// statusOf returns the StatusCode of the first error in err's chain that
// has one.
func statusOf(err error) int {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 0
}

// TestTopicAuthorization: a user who may describe the topic but not write
// gets a permanent 403, and Check says what is missing.
func TestTopicAuthorization(t *testing.T) {
	const topic = "guarded"
	c := newCluster(t,
		kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser(MechanismPlain, "admin", "admin-pass"),
		kfake.User(MechanismPlain, "reader", "reader-pass",
			kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: topic, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationDescribe, Allow: true},
			kfake.ACL{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationIdempotentWrite, Allow: true},
		),
		kfake.SeedTopics(1, topic),
	)
	cfg := config(c, topic)
	cfg.SASLMechanism, cfg.SASLUsername, cfg.SASLPassword = MechanismPlain, "reader", "reader-pass"
	cfg.Timeout = model.Duration(10 * time.Second)
	d := open(t, cfg)
	err := d.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not authorized to write") || statusOf(err) != 403 {
		t.Errorf("Check = %v (status %d), want not authorized to write, 403", err, statusOf(err))
	}
	err = d.Deliver(t.Context(), batch(records(0, 3, 1)))
	if !retry.IsPermanent(err) || statusOf(err) != 403 || !strings.Contains(err.Error(), "not authorized") {
		t.Fatalf("Deliver = %v (status %d), want a permanent 403", err, statusOf(err))
	}
	if strings.Contains(err.Error(), "reader-pass") {
		t.Errorf("error contains the password: %v", err)
	}
}

func TestCheck(t *testing.T) {
	c := shared(t)
	t.Run("ok", func(t *testing.T) {
		if err := open(t, config(c, topicCk)).Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing topic", func(t *testing.T) {
		err := open(t, config(c, "no-such-topic")).Check(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no-such-topic does not exist") {
			t.Fatalf("Check = %v, want the topic named as missing", err)
		}
		if statusOf(err) != 404 {
			t.Errorf("status %d, want 404", statusOf(err))
		}
		// Check never creates it.
		if err := open(t, config(c, "no-such-topic")).Check(t.Context()); err == nil {
			t.Fatal("the topic appeared")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		cfg := config(c, topicCk)
		cfg.BootstrapServers = closedAddr(t)
		cfg.Timeout = model.Duration(2 * time.Second)
		start := time.Now()
		err := open(t, cfg).Check(t.Context())
		if err == nil || !strings.Contains(err.Error(), "cannot reach the cluster") {
			t.Fatalf("Check = %v, want cannot reach", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Check took %v", d)
		}
		t.Log(err)
	})
	t.Run("ctx", func(t *testing.T) {
		cfg := config(c, topicCk)
		cfg.BootstrapServers = closedAddr(t)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := open(t, cfg).Check(ctx); err == nil {
			t.Fatal("Check succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Check took %v after its context ended", d)
		}
	})
}

// closedAddr returns a 127.0.0.1 address nobody listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestDeliverMissingTopic: producing to a topic that does not exist is a
// retryable failure (the events wait until it is created) naming it.
func TestDeliverMissingTopic(t *testing.T) {
	c := shared(t)
	cfg := config(c, "absent-topic")
	cfg.Timeout = model.Duration(20 * time.Second)
	d := open(t, cfg)
	err := d.Deliver(t.Context(), batch(records(0, 5, 1)))
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want a retryable error", err)
	}
	var be *destination.BatchError
	if errors.As(err, &be) {
		t.Fatalf("Deliver = %v, want one error for the whole batch", err)
	}
	if !strings.Contains(err.Error(), "does not exist") || statusOf(err) != 404 {
		t.Errorf("Deliver = %v (status %d), want does not exist, 404", err, statusOf(err))
	}
}

// stallProduce makes the cluster hold produce requests until the returned
// function is called (or the cluster closes).
func stallProduce(c *kfake.Cluster) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	return func() { once.Do(func() { close(ch) }) }
}

// TestContextCancel: Deliver returns soon after its context ends, with a
// retryable error that is the context's; the records were copied, so
// changing them afterwards changes nothing; they are delivered later
// (at least once).
func TestContextCancel(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "slow"))
	d := open(t, config(c, "slow"))
	if err := d.Check(t.Context()); err != nil { // connections up
		t.Fatal(err)
	}
	release := stallProduce(c)
	defer release()

	recs := records(0, 10, 1)
	orig := make([][]byte, len(recs))
	for i, r := range recs {
		orig[i] = slices.Clone(r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := d.Deliver(ctx, batch(recs))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Deliver returned %v after cancellation", el)
	}
	if err == nil || retry.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver = %v, want a retryable context.Canceled", err)
	}
	for _, r := range recs {
		for i := range r {
			r[i] = 'X'
		}
	}
	release()
	closeCtx, cancelClose := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancelClose()
	if err := d.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, m := range consume(t, c, "slow", len(orig)) {
		if !bytes.Equal(m.Value, orig[i]) {
			t.Fatalf("message %d = %q, want %q", i, m.Value, orig[i])
		}
	}
}

// TestTimeout: an attempt longer than the timeout setting fails with a
// retryable error that is context.DeadlineExceeded (the deliverer shows
// 504).
func TestTimeout(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "stalled"))
	cfg := config(c, "stalled")
	cfg.Timeout = model.Duration(time.Second)
	d := open(t, cfg)
	release := stallProduce(c)
	defer release()
	start := time.Now()
	err := d.Deliver(t.Context(), batch(records(0, 5, 1)))
	if el := time.Since(start); el < 900*time.Millisecond || el > 10*time.Second {
		t.Errorf("Deliver took %v with a 1s timeout", el)
	}
	if err == nil || retry.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver = %v, want a retryable deadline exceeded", err)
	}
	if !strings.Contains(err.Error(), "within 1s") {
		t.Errorf("error does not name the timeout: %v", err)
	}
}

// TestUnreachableDeliver: with no broker listening, Deliver fails with a
// retryable error within the timeout.
func TestUnreachableDeliver(t *testing.T) {
	cfg := NewConfig()
	cfg.BootstrapServers = closedAddr(t)
	cfg.Topic = "x"
	cfg.Timeout = model.Duration(2 * time.Second)
	d := open(t, cfg)
	start := time.Now()
	err := d.Deliver(t.Context(), batch(records(0, 3, 1)))
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want retryable", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Deliver took %v with a 2s timeout", el)
	}
	t.Log(err)
}

func TestDeliverConcurrent(t *testing.T) {
	c := shared(t)
	topic := uniqueTopic(t, c, 3)
	d := open(t, config(c, topic))
	var wg sync.WaitGroup
	const workers, per = 4, 250
	for w := range workers {
		wg.Go(func() {
			if err := d.Deliver(t.Context(), batch(records(w*per, per, 1))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, m := range consume(t, c, topic, workers*per) {
		seen[seqOf(t, m.Value)] = true
	}
	if len(seen) != workers*per {
		t.Fatalf("%d distinct records, want %d", len(seen), workers*per)
	}
}

func TestDeliverEmpty(t *testing.T) {
	d := open(t, config(shared(t), topic3))
	if err := d.Deliver(t.Context(), destination.Batch{}); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: use_tls verifies the brokers' certificate; with the right roots
// it delivers, with the system roots it fails and says why.
func TestTLS(t *testing.T) {
	certPEM, cert := selfSigned(t)
	c := newCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), kfake.SeedTopics(1, "tls"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	cfg := config(c, "tls")
	cfg.UseTLS = true
	d := open(t, cfg, options{rootCAs: roots})
	if err := d.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	recs := records(0, 20, 1)
	if err := d.Deliver(t.Context(), batch(recs)); err != nil {
		t.Fatal(err)
	}
	consume(t, c, "tls", len(recs), kgo.DialTLSConfig(&tls.Config{RootCAs: roots}))

	cfg.Timeout = model.Duration(3 * time.Second)
	untrusted := open(t, cfg)
	err := untrusted.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Check with system roots = %v, want a certificate error", err)
	}
	t.Log(err)

	plainCfg := config(c, "tls")
	plainCfg.Timeout = model.Duration(3 * time.Second)
	if err := open(t, plainCfg).Check(t.Context()); err == nil {
		t.Fatal("Check without use_tls succeeded against a TLS listener")
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t testing.TB) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pemEncode("CERTIFICATE", der)
	cert, err := tls.X509KeyPair(certPEM, pemEncode("EC PRIVATE KEY", keyDER))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "kafka" || k.Batch.MaxEvents != 2000 || k.Batch.MaxAge.D() != time.Minute {
		t.Errorf("kind %+v", k)
	}
	if !k.Secret("sasl_password") || k.Secret("sasl_username") || k.Secret("") {
		t.Error("only sasl_password is secret")
	}
	c, errs := k.Decode(map[string]any{"bootstrap_servers": "127.0.0.1:1", "kafka_topic": "t"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	d, err := k.New(t.Context(), c, destination.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(destination.Checker); !ok {
		t.Error("not a Checker")
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := k.New(t.Context(), &struct{ destination.Config }{}, destination.Deps{}); err == nil {
		t.Error("New accepted a foreign config")
	}
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// TestPartialFailure: records on a partition whose batch the broker fails
// are listed in a *BatchError (retryable or permanent as the broker said);
// the records on the other partitions are delivered; re-delivering the
// retryable ones succeeds.
func TestPartialFailure(t *testing.T) {
	const topic = "partial"
	c := newCluster(t, kfake.SeedTopics(3, topic))
	for p := range int32(3) {
		if err := c.MoveTopicPartition(topic, p, p); err != nil { // one leader each
			t.Fatal(err)
		}
	}
	cfg := config(c, topic)
	cfg.KeyField = "user.id"
	d := open(t, cfg)
	const users = 10
	// Learn where each key goes.
	if err := d.Deliver(t.Context(), batch(records(0, users, users))); err != nil {
		t.Fatal(err)
	}
	part := map[string]int32{}
	for _, m := range consume(t, c, topic, users) {
		part[string(m.Key)] = m.Partition
	}
	transient := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{1}, Err: kerr.UnknownServerError, Count: -1})
	permanent := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{2}, Err: kerr.InvalidRecord, Count: -1})

	recs := records(100, 30, users)
	err := d.Deliver(t.Context(), batch(recs))
	transient.Remove()
	permanent.Remove()
	var be *destination.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Deliver = %v, want a *BatchError", err)
	}
	failed := map[int]error{}
	for _, it := range be.Failed {
		failed[it.Index] = it.Err
	}
	var ok, again [][]byte
	for i, r := range recs {
		p := part[fmt.Sprintf("u%d", (100+i)%users)]
		e, isFailed := failed[i]
		switch {
		case p == 0 && isFailed:
			t.Errorf("record %d (partition 0) failed: %v", i, e)
		case p == 0:
			ok = append(ok, r)
		case !isFailed:
			t.Errorf("record %d (partition %d) not reported failed", i, p)
		case p == 1 && retry.IsPermanent(e):
			t.Errorf("record %d: transient failure reported permanent: %v", i, e)
		case p == 2 && (!retry.IsPermanent(e) || !errors.Is(e, kerr.InvalidRecord) || statusOf(e) != 400):
			t.Errorf("record %d: rejection reported as %v (status %d)", i, e, statusOf(e))
		case p == 1:
			again = append(again, r)
		}
	}
	if len(ok) == 0 || len(again) == 0 {
		t.Fatalf("keys spread badly: %d ok, %d to retry", len(ok), len(again))
	}
	if err := d.Deliver(t.Context(), batch(again)); err != nil {
		t.Fatalf("re-delivering: %v", err)
	}
	got := map[string]bool{}
	for _, m := range consume(t, c, topic, users+len(ok)+len(again)) {
		got[string(m.Value)] = true
	}
	for _, r := range append(ok, again...) {
		if !got[string(r)] {
			t.Errorf("missing %s", r)
		}
	}
}
