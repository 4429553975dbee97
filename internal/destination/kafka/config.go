package kafka

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Defaults and bounds of the settings.
const (
	// DefaultCompression is lz4: fast on both sides, a good ratio on JSON,
	// and supported by every broker that supports the idempotent producer.
	DefaultCompression = CompressionLZ4
	// DefaultMaxMessageBytes is Kafka's own default for the broker's
	// message.max.bytes and a topic's max.message.bytes (1 MiB + 12).
	DefaultMaxMessageBytes = 1048588
	MinMaxMessageBytes     = 1 << 10
	MaxMaxMessageBytes     = 100 << 20
	DefaultTimeout         = 30 * time.Second
	MinTimeout             = time.Second
	MaxTimeout             = 5 * time.Minute

	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"

	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"

	maxServers     = 100
	maxTopicLen    = 249
	maxKeyFieldLen = 1024
	maxUsernameLen = 1024
	maxPasswordLen = 4096
)

// Config is the settings of a kafka destination.
type Config struct {
	// BootstrapServers is a comma-separated list of host:port (port 9092
	// when omitted) used to discover the cluster.
	BootstrapServers string `json:"bootstrap_servers"`
	// Topic receives one message per event. It must exist: Runnel never
	// creates topics.
	Topic string `json:"kafka_topic"`
	// UseTLS connects with TLS (1.2 or later), verifying the brokers'
	// certificates against the system roots.
	UseTLS bool `json:"use_tls"`
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for no
	// authentication.
	SASLMechanism string `json:"sasl_mechanism"`
	// SASLUsername is the SASL user (required with a mechanism).
	SASLUsername string `json:"sasl_username,omitempty"`
	// SASLPassword is the SASL password (secret; required with a mechanism).
	SASLPassword string `json:"sasl_password,omitempty"`
	// Compression of record batches: none, gzip, snappy, lz4 (default) or zstd.
	Compression string `json:"compression"`
	// KeyField is a dotted path into the event whose value becomes the
	// message key ("" for no key).
	KeyField string `json:"key_field"`
	// MaxMessageBytes bounds a record batch (uncompressed); set it to the
	// topic's max.message.bytes. A single event that cannot fit is
	// dead-lettered.
	MaxMessageBytes model.Size `json:"max_message_bytes"`
	// Timeout bounds one delivery attempt (default 30s, 1s to 5m).
	Timeout model.Duration `json:"timeout"`
}

// NewConfig returns a config with the defaults set.
func NewConfig() *Config {
	return &Config{
		Compression:     DefaultCompression,
		MaxMessageBytes: DefaultMaxMessageBytes,
		Timeout:         model.Duration(DefaultTimeout),
	}
}

// compression returns the lower-cased compression, the default for "".
func (c *Config) compression() string {
	if c.Compression == "" {
		return DefaultCompression
	}
	return strings.ToLower(strings.TrimSpace(c.Compression))
}

// mechanism returns the upper-cased SASL mechanism ("" for none).
func (c *Config) mechanism() string {
	return strings.ToUpper(strings.TrimSpace(c.SASLMechanism))
}

// maxMessageBytes returns the batch bound, the default for 0.
func (c *Config) maxMessageBytes() int {
	if c.MaxMessageBytes == 0 {
		return DefaultMaxMessageBytes
	}
	return int(c.MaxMessageBytes)
}

// timeout returns the attempt timeout, the default for 0.
func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout.D()
}

// Validate returns every invalid setting. Messages never repeat the
// password.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if _, err := parseServers(c.BootstrapServers); err != nil {
		errs.Add("bootstrap_servers", "%s", err.Error())
	}
	if err := validTopic(c.Topic); err != nil {
		errs.Add("kafka_topic", "%s", err.Error())
	}
	switch m := c.mechanism(); m {
	case "":
		if c.SASLUsername != "" {
			errs.Add("sasl_username", "is set but sasl_mechanism is empty (set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		if c.SASLPassword != "" {
			errs.Add("sasl_password", "is set but sasl_mechanism is empty (set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if c.SASLUsername == "" {
			errs.Add("sasl_username", "is required with sasl_mechanism %s", m)
		}
		if c.SASLPassword == "" {
			errs.Add("sasl_password", "is required with sasl_mechanism %s", m)
		}
	default:
		errs.Add("sasl_mechanism", "must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty (no authentication)")
	}
	if len(c.SASLUsername) > maxUsernameLen || strings.ContainsAny(c.SASLUsername, "\x00") {
		errs.Add("sasl_username", "must be at most %d bytes, without NUL", maxUsernameLen)
	}
	if len(c.SASLPassword) > maxPasswordLen || strings.ContainsAny(c.SASLPassword, "\x00") {
		errs.Add("sasl_password", "must be at most %d bytes, without NUL", maxPasswordLen)
	}
	switch c.compression() {
	case CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
	default:
		errs.Add("compression", "must be none, gzip, snappy, lz4 or zstd")
	}
	if c.KeyField != "" {
		if len(c.KeyField) > maxKeyFieldLen {
			errs.Add("key_field", "must be at most %d characters", maxKeyFieldLen)
		} else if _, err := parsePath(c.KeyField); err != nil {
			errs.Add("key_field", "%s", err.Error())
		}
	}
	if n := c.maxMessageBytes(); n < MinMaxMessageBytes || n > MaxMaxMessageBytes {
		errs.Add("max_message_bytes", "must be between %d (1KiB) and %d (100MiB)", MinMaxMessageBytes, MaxMaxMessageBytes)
	}
	if d := c.timeout(); d < MinTimeout || d > MaxTimeout {
		errs.Add("timeout", "must be between %s and %s", MinTimeout, MaxTimeout)
	}
	return errs
}

// parseServers splits bootstrap_servers into host:port addresses (port
// 9092 when omitted).
func parseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("is required (host:port[,host:port…])")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxServers {
		return nil, fmt.Errorf("at most %d servers", maxServers)
	}
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		if strings.Contains(p, "://") {
			return nil, fmt.Errorf("entry %d: want host:port, not a URL (use use_tls for TLS)", i+1)
		}
		host, port := p, "9092"
		if h, pt, err := net.SplitHostPort(p); err == nil {
			host, port = h, pt
		} else if strings.Count(p, ":") > 1 && !strings.HasPrefix(p, "[") {
			return nil, fmt.Errorf("entry %d: write an IPv6 address as [addr]:port", i+1)
		} else if strings.Contains(p, ":") || strings.ContainsAny(p, "[]") {
			return nil, fmt.Errorf("entry %d: want host:port", i+1)
		}
		if !validHost(host) {
			return nil, fmt.Errorf("entry %d: invalid host %q", i+1, host)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("entry %d: port must be a number from 1 to 65535", i+1)
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(n)))
	}
	return out, nil
}

// validHost accepts an IP address or a DNS name (letters, digits, '-',
// '_', '.').
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// validTopic applies Kafka's topic name rules: 1 to 249 of [a-zA-Z0-9._-],
// not "." or "..".
func validTopic(t string) error {
	if t == "" {
		return fmt.Errorf("is required")
	}
	if len(t) > maxTopicLen {
		return fmt.Errorf("must be at most %d characters", maxTopicLen)
	}
	if t == "." || t == ".." {
		return fmt.Errorf("cannot be %q", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("may contain only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// Secret reports whether the setting at path is a secret: only
// sasl_password.
func Secret(path string) bool { return path == "sasl_password" }
