package httpdest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/model"
)

func TestValidate(t *testing.T) {
	valid := func(mut func(c *Config)) *Config {
		c := NewConfig()
		c.URL = "https://logs.example.com:8443/in?token=abc"
		if mut != nil {
			mut(c)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		c     *Config
		paths []string // every path reported, in order; none: valid
	}{
		{"defaults with url", valid(nil), nil},
		{"http", valid(func(c *Config) { c.URL = "http://127.0.0.1:9000" }), nil},
		{"userinfo allowed", valid(func(c *Config) { c.URL = "https://u:p@h.example/x" }), nil},
		{"ipv6 host", valid(func(c *Config) { c.URL = "http://[::1]:8080/" }), nil},
		{"method lower case", valid(func(c *Config) { c.Method = "patch" }), nil},
		{"method PUT", valid(func(c *Config) { c.Method = "PUT" }), nil},
		{"empty method is default", valid(func(c *Config) { c.Method = "" }), nil},
		{"compression GZIP", valid(func(c *Config) { c.Compression = "GZIP" }), nil},
		{"empty compression is default", valid(func(c *Config) { c.Compression = "" }), nil},
		{"timeout bounds", valid(func(c *Config) { c.Timeout = model.Duration(time.Second) }), nil},
		{"timeout max", valid(func(c *Config) { c.Timeout = model.Duration(5 * time.Minute) }), nil},
		{"headers", valid(func(c *Config) {
			c.Headers = map[string]string{"Authorization": "Bearer x", "X-Tab": "a\tb", "Content-Type": "application/x-ndjson", "User-Agent": "me", "x~!#$%&'*+-.^_`|": "v", "X-Empty": ""}
		}), nil},

		{"url missing", NewConfig(), []string{"url"}},
		{"url blank", valid(func(c *Config) { c.URL = "  " }), []string{"url"}},
		{"url scheme", valid(func(c *Config) { c.URL = "ftp://h.example/" }), []string{"url"}},
		{"url no scheme", valid(func(c *Config) { c.URL = "h.example/in" }), []string{"url"}},
		{"url no host", valid(func(c *Config) { c.URL = "https:///in" }), []string{"url"}},
		{"url port only", valid(func(c *Config) { c.URL = "https://:443/in" }), []string{"url"}},
		{"url opaque", valid(func(c *Config) { c.URL = "http:h.example" }), []string{"url"}},
		{"url unparsable", valid(func(c *Config) { c.URL = "http://h.example:port/" }), []string{"url"}},
		{"url control char", valid(func(c *Config) { c.URL = "http://h.example/\n" }), []string{"url"}},
		{"url too long", valid(func(c *Config) { c.URL = "http://h.example/" + strings.Repeat("a", maxURLLen) }), []string{"url"}},
		{"header name space", valid(func(c *Config) { c.Headers = map[string]string{"X Bad": "v"} }), []string{"headers.X Bad"}},
		{"header name colon", valid(func(c *Config) { c.Headers = map[string]string{"X-A:": "v"} }), []string{"headers.X-A:"}},
		{"header name empty", valid(func(c *Config) { c.Headers = map[string]string{"": "v"} }), []string{"headers."}},
		{"header name non-ascii", valid(func(c *Config) { c.Headers = map[string]string{"X-é": "v"} }), []string{"headers.X-é"}},
		{"header name too long", valid(func(c *Config) { c.Headers = map[string]string{strings.Repeat("a", 257): "v"} }), []string{"headers." + strings.Repeat("a", 257)}},
		{"header value CR", valid(func(c *Config) { c.Headers = map[string]string{"X-A": "a\rb"} }), []string{"headers.X-A"}},
		{"header value LF", valid(func(c *Config) { c.Headers = map[string]string{"X-A": "a\nX-Injected: 1"} }), []string{"headers.X-A"}},
		{"header value NUL", valid(func(c *Config) { c.Headers = map[string]string{"X-A": "a\x00"} }), []string{"headers.X-A"}},
		{"header value too long", valid(func(c *Config) { c.Headers = map[string]string{"X-A": strings.Repeat("v", maxHeaderValueLen+1)} }), []string{"headers.X-A"}},
		{"header Host", valid(func(c *Config) { c.Headers = map[string]string{"host": "evil.example"} }), []string{"headers.host"}},
		{"header Content-Length", valid(func(c *Config) { c.Headers = map[string]string{"Content-Length": "3"} }), []string{"headers.Content-Length"}},
		{"header Content-Encoding", valid(func(c *Config) { c.Headers = map[string]string{"Content-Encoding": "gzip"} }), []string{"headers.Content-Encoding"}},
		{"header Transfer-Encoding", valid(func(c *Config) { c.Headers = map[string]string{"transfer-encoding": "chunked"} }), []string{"headers.transfer-encoding"}},
		{"header duplicate case", valid(func(c *Config) { c.Headers = map[string]string{"X-Key": "a", "x-key": "b"} }), []string{"headers.x-key"}},
		{"too many headers", valid(func(c *Config) {
			c.Headers = map[string]string{}
			for i := range maxHeaders + 1 {
				c.Headers[fmt.Sprintf("X-H%d", i)] = "v"
			}
		}), []string{"headers"}},
		{"method GET", valid(func(c *Config) { c.Method = "GET" }), []string{"method"}},
		{"method DELETE", valid(func(c *Config) { c.Method = "DELETE" }), []string{"method"}},
		{"method junk", valid(func(c *Config) { c.Method = "P OST" }), []string{"method"}},
		{"timeout zero", valid(func(c *Config) { c.Timeout = 0 }), []string{"timeout"}},
		{"timeout too short", valid(func(c *Config) { c.Timeout = model.Duration(999 * time.Millisecond) }), []string{"timeout"}},
		{"timeout too long", valid(func(c *Config) { c.Timeout = model.Duration(5*time.Minute + 1) }), []string{"timeout"}},
		{"compression zstd", valid(func(c *Config) { c.Compression = "zstd" }), []string{"compression"}},
		{"everything wrong", &Config{URL: "mailto:x", Headers: map[string]string{"Host": "h"}, Method: "GET", Timeout: 1, Compression: "br"},
			[]string{"url", "headers.Host", "method", "timeout", "compression"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.c.Validate()
			var paths []string
			for _, e := range errs {
				paths = append(paths, e.Path)
			}
			if fmt.Sprint(paths) != fmt.Sprint(tc.paths) {
				t.Fatalf("paths %q, want %q (errors: %v)", paths, tc.paths, errs)
			}
		})
	}
}

// TestValidateNoEcho: no message repeats the URL or a header value.
func TestValidateNoEcho(t *testing.T) {
	for _, c := range []*Config{
		{URL: "ftp://user:hunter22@h.example/?token=abcdef", Method: "POST", Timeout: model.Duration(time.Second)},
		{URL: "http://user:hunter22@h.example:bad/?token=abcdef", Method: "POST", Timeout: model.Duration(time.Second)},
		{URL: "http://user:hunter22@/?token=abcdef", Method: "POST", Timeout: model.Duration(time.Second)},
		{URL: "http://h.example", Method: "POST", Timeout: model.Duration(time.Second), Headers: map[string]string{"X-Key": "hunter22\n", "Host": "abcdef"}},
	} {
		errs := c.Validate()
		if len(errs) == 0 {
			t.Fatalf("%+v: want errors", c)
		}
		if s := errs.Error(); strings.Contains(s, "hunter22") || strings.Contains(s, "abcdef") {
			t.Errorf("errors %q echo a secret", s)
		}
	}
}

func TestDecodeSettings(t *testing.T) {
	k := Kind()
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     Config
		errPaths string
	}{
		{"minimal", map[string]any{"url": "https://h.example"},
			Config{URL: "https://h.example", Method: "POST", Timeout: model.Duration(20 * time.Second), Compression: "none"}, "[]"},
		{"all", map[string]any{"url": "https://h.example", "method": "PUT", "timeout": "30s", "compression": "gzip", "headers": map[string]any{"A": "b"}},
			Config{URL: "https://h.example", Method: "PUT", Timeout: model.Duration(30 * time.Second), Compression: "gzip", Headers: map[string]string{"A": "b"}}, "[]"},
		{"timeout seconds as number", map[string]any{"url": "https://h.example", "timeout": 5},
			Config{URL: "https://h.example", Method: "POST", Timeout: model.Duration(5 * time.Second), Compression: "none"}, "[]"},
		{"unknown setting", map[string]any{"url": "https://h.example", "verb": "PUT"}, Config{}, "[verb]"},
		{"header not a string", map[string]any{"url": "https://h.example", "headers": map[string]any{"A": 1}}, Config{}, "[headers]"},
		{"bad timeout", map[string]any{"url": "https://h.example", "timeout": "soon"}, Config{}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, errs := k.Decode(tc.settings)
			if tc.want.URL == "" {
				if len(errs) == 0 {
					t.Fatal("want errors")
				}
				var paths []string
				for _, e := range errs {
					if e.Path != "" {
						paths = append(paths, e.Path)
					}
				}
				if fmt.Sprint(paths) != tc.errPaths && tc.errPaths != "[]" {
					t.Fatalf("errors %v, want paths %s", errs, tc.errPaths)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			got := *c.(*Config)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	for path, want := range map[string]bool{
		"headers.Authorization":        true,
		"headers.authorization":        true,
		"headers.Proxy-Authorization":  true,
		"headers.Cookie":               true,
		"headers.COOKIE":               true,
		"headers.X-Api-Key":            true,
		"headers.DD-API-KEY":           true,
		"headers.X-Auth-Token":         true,
		"headers.X-Amz-Security-Token": true,
		"headers.X-Client-Secret":      true,
		"headers.X-Password":           true,
		"headers.X-Hub-Signature-256":  true,
		"headers.X-Credentials":        true,
		"headers.X-Authn":              true,
		"headers.Idempotency-Key":      true,
		"headers.Content-Type":         false,
		"headers.X-Team":               false,
		"headers.User-Agent":           false,
		"headers.Set-Cookie2":          false, // "cookie" is matched exactly, not as a substring
		"headers.Keep-Alive":           false,
		"headers.":                     false,
		"headers":                      false,
		"url":                          false,
		"method":                       false,
		"timeout":                      false,
		"compression":                  false,
		"Headers.Authorization":        false, // setting keys are exact
		"authorization":                false,
		"":                             false,
	} {
		if got := Secret(path); got != want {
			t.Errorf("Secret(%q) = %v, want %v", path, got, want)
		}
		if got := Kind().Secret(path); got != want {
			t.Errorf("Kind().Secret(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "http" || fmt.Sprint(k.Aliases) != "[standard]" {
		t.Errorf("name %q aliases %v", k.Name, k.Aliases)
	}
	if k.Batch.MaxEvents != 2000 || k.Batch.MaxAge.D() != time.Minute {
		t.Errorf("batch %+v", k.Batch)
	}
	if k.Limits != (destination.Limits{}) {
		t.Errorf("limits %+v, want none", k.Limits)
	}
	if k.Config == nil || k.New == nil || k.Secret == nil {
		t.Error("Config, New and Secret must be set")
	}
}
