// Package kafka is the kafka destination: every record (one rendered
// event) is produced as one message to a topic with
// github.com/twmb/franz-go — an idempotent producer with acks from all
// in-sync replicas, lz4 batches by default, optional SASL (PLAIN,
// SCRAM-SHA-256/512) and TLS. The user documentation, with every setting,
// is docs/destinations/kafka.md.
//
// # Deliver
//
// Deliver copies the batch's records into one buffer (the client may
// still hold them after an attempt that timed out; Batch.Records are not
// the destination's to keep), produces them all and waits for every
// promise, the timeout setting (plus one second of grace, so that the
// client reports records it failed itself with their last error) or the
// caller's context, whichever comes first. Records still unanswered then
// fail with the context's cause: a *timeoutError that is
// context.DeadlineExceeded, or the caller's cancellation.
//
// Per-record outcomes become the result: nil when all were acknowledged;
// the first error alone when none was and all failed for one reason that
// is not the records' own (unreachable cluster, SASL, unknown topic,
// timeout: retry.Permanent when it cannot pass by itself), so that the
// deliverer sees the destination as unavailable; a *destination.BatchError
// otherwise. Kafka error codes are classified in classify (errors.go):
// record-level rejections (too large, invalid) and authentication or
// authorization failures are permanent; UNKNOWN_TOPIC_OR_PARTITION,
// timeouts, network errors and every other code are retryable — dead
// letters are for what retrying cannot fix, and an unknown broker error
// is not known to be that.
//
// franz-go retries Kafka's retriable errors itself, in order, until the
// record timeout (RecordDeliveryTimeout = the timeout setting); linger is
// 0 because Deliver hands over a whole batch at once. Records are produced
// without the caller's context: franz-go fails every record buffered on a
// partition behind one whose context ended, so an attempt cancelled while
// its records were in flight would fail the records of the next attempt.
// A cancelled or timed-out attempt returns at once; its records may still
// be written later (delivery is at least once).
//
// # Limits
//
// Kind.Limits is empty: Kafka has no per-request record or byte limit the
// client does not handle (it splits a batch into produce requests), and
// the record limit depends on the max_message_bytes setting, which a
// static Kind cannot express. Deliver enforces it per record (value plus
// key plus recordOverhead of framing), as a permanent item error with
// status 413. The deliverer's payload.max_size check still applies before.
//
// # Check
//
// Check sends a metadata request for the topic (never creating it):
// reachability, SASL, existence, partition leaders, WRITE permission when
// the broker reports authorized operations, and, when DescribeConfigs is
// allowed, the topic's max.message.bytes against max_message_bytes.
//
// # Secrets
//
// Only sasl_password is secret. Neither franz-go nor brokers put it in
// errors; every message is still passed through a replacer that removes
// it (when 4 bytes or longer).
package kafka
