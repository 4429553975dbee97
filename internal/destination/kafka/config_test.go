package kafka

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/model"
)

func TestConfigValidate(t *testing.T) {
	valid := func() *Config {
		c := NewConfig()
		c.BootstrapServers = "h1:9092,h2:9092"
		c.Topic = "events"
		return c
	}
	tests := []struct {
		name   string
		mod    func(*Config)
		errAt  string // "" for valid
		errHas string
	}{
		{"defaults", func(*Config) {}, "", ""},
		{"spaces and default port", func(c *Config) { c.BootstrapServers = " h1 , 10.0.0.1:19092,[::1]:9093 " }, "", ""},
		{"empty servers", func(c *Config) { c.BootstrapServers = " " }, "bootstrap_servers", "required"},
		{"empty entry", func(c *Config) { c.BootstrapServers = "h1:9092,,h2" }, "bootstrap_servers", "entry 2 is empty"},
		{"url", func(c *Config) { c.BootstrapServers = "kafka://h1:9092" }, "bootstrap_servers", "not a URL"},
		{"bad port", func(c *Config) { c.BootstrapServers = "h1:0" }, "bootstrap_servers", "port"},
		{"port text", func(c *Config) { c.BootstrapServers = "h1:abc" }, "bootstrap_servers", "port"},
		{"bare ipv6", func(c *Config) { c.BootstrapServers = "::1:9092" }, "bootstrap_servers", "IPv6"},
		{"bad host", func(c *Config) { c.BootstrapServers = "h 1:9092" }, "bootstrap_servers", "invalid host"},
		{"no topic", func(c *Config) { c.Topic = "" }, "kafka_topic", "required"},
		{"topic chars", func(c *Config) { c.Topic = "a/b" }, "kafka_topic", "letters"},
		{"topic dot", func(c *Config) { c.Topic = ".." }, "kafka_topic", "cannot be"},
		{"topic long", func(c *Config) { c.Topic = strings.Repeat("a", 250) }, "kafka_topic", "249"},
		{"topic max", func(c *Config) { c.Topic = strings.Repeat("a", 249) }, "", ""},
		{"plain", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = "PLAIN", "u", "p" }, "", ""},
		{"scram lower", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = "scram-sha-512", "u", "p" }, "", ""},
		{"mechanism unknown", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = "GSSAPI", "u", "p" }, "sasl_mechanism", "PLAIN"},
		{"no username", func(c *Config) { c.SASLMechanism, c.SASLPassword = "SCRAM-SHA-256", "p" }, "sasl_username", "required"},
		{"no password", func(c *Config) { c.SASLMechanism, c.SASLUsername = "SCRAM-SHA-256", "u" }, "sasl_password", "required"},
		{"password without mechanism", func(c *Config) { c.SASLPassword = "hunter22" }, "sasl_password", "sasl_mechanism is empty"},
		{"username without mechanism", func(c *Config) { c.SASLUsername = "u" }, "sasl_username", "sasl_mechanism is empty"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, "compression", "zstd"},
		{"compression upper", func(c *Config) { c.Compression = "ZSTD" }, "", ""},
		{"compression empty is default", func(c *Config) { c.Compression = "" }, "", ""},
		{"key field", func(c *Config) { c.KeyField = `user.id` }, "", ""},
		{"key field escaped", func(c *Config) { c.KeyField = `http\.status` }, "", ""},
		{"key field empty segment", func(c *Config) { c.KeyField = "a..b" }, "key_field", "empty segment"},
		{"key field trailing backslash", func(c *Config) { c.KeyField = `a\` }, "key_field", "backslash"},
		{"max bytes small", func(c *Config) { c.MaxMessageBytes = 100 }, "max_message_bytes", "between"},
		{"max bytes large", func(c *Config) { c.MaxMessageBytes = 200 << 20 }, "max_message_bytes", "between"},
		{"max bytes zero is default", func(c *Config) { c.MaxMessageBytes = 0 }, "", ""},
		{"timeout short", func(c *Config) { c.Timeout = model.Duration(time.Millisecond) }, "timeout", "between"},
		{"timeout long", func(c *Config) { c.Timeout = model.Duration(time.Hour) }, "timeout", "between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(c)
			errs := c.Validate()
			if tt.errAt == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			for _, e := range errs {
				if e.Path == tt.errAt && strings.Contains(e.Message, tt.errHas) {
					return
				}
			}
			t.Fatalf("errors %v: want %s containing %q", errs, tt.errAt, tt.errHas)
		})
	}
}

// TestConfigNoPasswordInErrors: no validation message repeats the password.
func TestConfigNoPasswordInErrors(t *testing.T) {
	c := NewConfig()
	c.SASLPassword = "Very-Secret-Pw\x00" + strings.Repeat("x", 5000)
	for _, e := range c.Validate() {
		if strings.Contains(e.Message, "Very-Secret") {
			t.Errorf("%s: %s", e.Path, e.Message)
		}
	}
}

func TestDecode(t *testing.T) {
	k := Kind()
	c, errs := k.Decode(map[string]any{
		"bootstrap_servers": "h1:9092", "kafka_topic": "t", "use_tls": true,
		"sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u", "sasl_password": "p",
		"compression": "zstd", "key_field": "a.b", "max_message_bytes": "2MiB", "timeout": "10s",
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := c.(*Config)
	if !got.UseTLS || got.MaxMessageBytes != 2<<20 || got.Timeout.D() != 10*time.Second || got.Compression != "zstd" {
		t.Errorf("decoded %+v", got)
	}
	if _, errs := k.Decode(map[string]any{"bootstrap_servers": "h1", "kafka_topic": "t", "topic": "x"}); len(errs) != 1 || errs[0].Path != "topic" {
		t.Errorf("unknown setting: %v", errs)
	}
	if _, errs := k.Decode(map[string]any{"bootstrap_servers": "h1", "kafka_topic": "t", "use_tls": "yes"}); len(errs) != 1 || errs[0].Path != "use_tls" {
		t.Errorf("wrong type: %v", errs)
	}
	// The password is never written when empty, and round-trips otherwise.
	b, _ := json.Marshal(NewConfig())
	if strings.Contains(string(b), "sasl_password") {
		t.Errorf("empty password marshalled: %s", b)
	}
}

// TestDefaults: the defaults lack exactly the required settings, and
// survive a JSON round trip (what the builtins test checks of every kind).
func TestDefaults(t *testing.T) {
	var paths []string
	for _, e := range NewConfig().Validate() {
		paths = append(paths, e.Path)
	}
	if strings.Join(paths, ",") != "bootstrap_servers,kafka_topic" {
		t.Errorf("defaults report %v, want bootstrap_servers and kafka_topic", paths)
	}
	k := Kind()
	c, errs := k.Decode(map[string]any{"bootstrap_servers": "h1:9092", "kafka_topic": "t"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := json.Marshal(c)
	var settings map[string]any
	if err := json.Unmarshal(b, &settings); err != nil {
		t.Fatal(err)
	}
	c2, errs := k.Decode(settings)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", b, errs)
	}
	if b2, _ := json.Marshal(c2); string(b2) != string(b) {
		t.Errorf("round trip: %s != %s", b2, b)
	}
}
