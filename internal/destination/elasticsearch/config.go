package elasticsearch

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/runnel/runnel/internal/model"
)

const (
	maxURLLen    = 8192
	maxAPIKeyLen = 4096
	maxIndexLen  = 255 // bytes, Elasticsearch's own limit
)

// Config is the settings of an elasticsearch destination.
type Config struct {
	// URL is the cluster address followed by the index (or data stream or
	// alias) to write to: https://host:9200/myindex. A path before the
	// index is kept (a proxy prefix); query parameters are passed to
	// _bulk (e.g. ?pipeline=p). Userinfo is sent as Basic auth when no
	// api_key is set. The URL never appears in errors.
	URL string `json:"url"`
	// APIKey is sent as "Authorization: ApiKey <api_key>": the encoded key
	// Elasticsearch returns (base64 of id:key), or "id:key", which is
	// encoded here. Optional (a cluster without security, or Basic auth in
	// the URL). Secret.
	APIKey string `json:"api_key,omitempty"`
}

// NewConfig returns a config with the defaults set (there are none).
func NewConfig() *Config { return &Config{} }

// Secret reports whether the setting at path is a secret: api_key.
func Secret(path string) bool { return path == "api_key" }

// Validate returns every invalid setting. Messages never repeat the URL or
// the key.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if _, err := parseURL(c.URL); err != nil {
		errs.Add("url", "%s", err.Error())
	}
	if len(c.APIKey) > maxAPIKeyLen {
		errs.Add("api_key", "must be at most %d characters", maxAPIKeyLen)
	} else if c.APIKey != "" && strings.TrimSpace(c.APIKey) == "" {
		errs.Add("api_key", "must not be blank")
	} else if !printable(c.APIKey) {
		errs.Add("api_key", "must not contain spaces or control characters")
	}
	return errs
}

// endpoint is a parsed url setting.
type endpoint struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	index string
	query string // raw query, "" or without "?"
	user  *url.Userinfo
}

func (e endpoint) bulkURL() string {
	u := e.base + "/" + url.PathEscape(e.index) + "/_bulk"
	if e.query != "" {
		u += "?" + e.query
	}
	return u
}

func (e endpoint) rootURL() string { return e.base + "/" }

// parseURL checks the url setting. Its errors never contain the URL.
func parseURL(raw string) (endpoint, error) {
	var e endpoint
	if strings.TrimSpace(raw) == "" {
		return e, fmt.Errorf("is required (the cluster address and the index, e.g. https://host:9200/myindex)")
	}
	if len(raw) > maxURLLen {
		return e, fmt.Errorf("must be at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return e, fmt.Errorf("is not a valid URL (expected https://host:9200/myindex)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return e, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return e, fmt.Errorf("must include a host")
	}
	if u.Fragment != "" {
		return e, fmt.Errorf("must not have a #fragment")
	}
	p := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 || p[i+1:] == "" {
		return e, fmt.Errorf("must end with the index name (https://host:9200/myindex)")
	}
	index := p[i+1:]
	if why := invalidIndex(index); why != "" {
		return e, fmt.Errorf("index name %s", why)
	}
	prefix := (&url.URL{Path: p[:i]}).EscapedPath()
	e = endpoint{
		base:  u.Scheme + "://" + u.Host + prefix,
		index: index,
		query: u.RawQuery,
		user:  u.User,
	}
	return e, nil
}

// invalidIndex says what is wrong with an index name, "" if nothing (the
// rules of Elasticsearch's create index API).
func invalidIndex(s string) string {
	switch {
	case len(s) > maxIndexLen:
		return fmt.Sprintf("must be at most %d bytes", maxIndexLen)
	case s == "." || s == "..":
		return "cannot be . or .."
	case strings.ContainsAny(s[:1], "-_+"):
		return "cannot start with -, _ or +"
	case strings.ToLower(s) != s:
		return "must be lowercase"
	case strings.ContainsAny(s, `\/*?"<>| ,#:`):
		return `must not contain \ / * ? " < > | space , # or :`
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// authHeader returns the Authorization value for the config, "" for none.
func (c *Config) authHeader(e endpoint) string {
	key := strings.TrimSpace(c.APIKey)
	if key != "" {
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key))
		}
		return "ApiKey " + key
	}
	if e.user != nil {
		p, _ := e.user.Password()
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(e.user.Username()+":"+p))
	}
	return ""
}
