package httpdest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Defaults and bounds of the settings.
const (
	DefaultMethod      = http.MethodPost
	DefaultTimeout     = 20 * time.Second
	MinTimeout         = time.Second
	MaxTimeout         = 5 * time.Minute
	CompressionNone    = "none"
	CompressionGzip    = "gzip"
	maxURLLen          = 8192
	maxHeaders         = 100
	maxHeaderNameLen   = 256
	maxHeaderValueLen  = 16 << 10
	defaultContentType = "application/json"
)

// Config is the settings of an http destination.
type Config struct {
	// URL receives the batches: http or https, with a host. Userinfo and
	// query are allowed and never appear in errors.
	URL string `json:"url"`
	// Headers are sent with every request. Values of secret-looking
	// headers (see the package doc) are write-only. Host, Content-Length,
	// Content-Encoding and Transfer-Encoding cannot be set.
	Headers map[string]string `json:"headers,omitempty"`
	// Method is POST (default), PUT or PATCH.
	Method string `json:"method"`
	// Timeout bounds one request, response included (default 20s, 1s to 5m).
	Timeout model.Duration `json:"timeout"`
	// Compression of the body: "none" (default) or "gzip".
	Compression string `json:"compression"`
}

// NewConfig returns a config with the defaults set.
func NewConfig() *Config {
	return &Config{
		Method:      DefaultMethod,
		Timeout:     model.Duration(DefaultTimeout),
		Compression: CompressionNone,
	}
}

// method returns the upper-cased method, the default for "".
func (c *Config) method() string {
	if c.Method == "" {
		return DefaultMethod
	}
	return strings.ToUpper(c.Method)
}

// compression returns the lower-cased compression, the default for "".
func (c *Config) compression() string {
	if c.Compression == "" {
		return CompressionNone
	}
	return strings.ToLower(c.Compression)
}

// forbiddenHeaders are set by the client itself.
var forbiddenHeaders = map[string]string{
	"Host":              "is set from url",
	"Content-Length":    "is set from the body",
	"Content-Encoding":  "is set by compression",
	"Transfer-Encoding": "is set by the client",
}

// Validate returns every invalid setting. Messages never repeat the URL
// or a header value: either may hold a credential.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if _, err := parseURL(c.URL); err != nil {
		errs.Add("url", "%s", err.Error())
	}
	if len(c.Headers) > maxHeaders {
		errs.Add("headers", "at most %d headers", maxHeaders)
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		value := c.Headers[name]
		p := "headers." + name
		if !validHeaderName(name) {
			errs.Add(p, "is not a valid header name (1-%d letters, digits and !#$%%&'*+-.^_`|~)", maxHeaderNameLen)
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if why, ok := forbiddenHeaders[canon]; ok {
			errs.Add(p, "cannot be set: %s", why)
		}
		if other, dup := seen[canon]; dup {
			errs.Add(p, "duplicates header %q (header names are case-insensitive)", other)
		}
		seen[canon] = name
		if !validHeaderValue(value) {
			errs.Add(p, "value must not contain CR, LF or other control characters")
		}
		if len(value) > maxHeaderValueLen {
			errs.Add(p, "value must be at most %d bytes", maxHeaderValueLen)
		}
	}
	switch c.method() {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		errs.Add("method", "must be POST, PUT or PATCH")
	}
	if d := c.Timeout.D(); d < MinTimeout || d > MaxTimeout {
		errs.Add("timeout", "must be between %s and %s", MinTimeout, MaxTimeout)
	}
	switch c.compression() {
	case CompressionNone, CompressionGzip:
	default:
		errs.Add("compression", "must be %q or %q", CompressionNone, CompressionGzip)
	}
	return errs
}

// parseURL checks a destination URL. Its errors never contain the URL.
func parseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("is required")
	}
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("must be at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the URL: say what is wrong without it.
		return nil, fmt.Errorf("is not a valid URL (expected http://host[:port]/path or https://…)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("must include a host")
	}
	return u, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > maxHeaderNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue rejects CR, LF, NUL and the other control characters
// (horizontal tab allowed), as net/http would at send time.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// secretWords mark a header as secret when its name contains one of them.
var secretWords = []string{"token", "key", "secret", "password", "auth", "signature", "credential"}

// Secret reports whether the setting at path is a secret: "headers.<name>"
// when the header is Authorization, Proxy-Authorization or Cookie, or its
// name contains token, key, secret, password, auth, signature or
// credential (all case-insensitive). Nothing else is secret.
func Secret(path string) bool {
	name, ok := strings.CutPrefix(path, "headers.")
	if !ok || name == "" {
		return false
	}
	return secretHeader(name)
}

func secretHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
