package datadog

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/runnel/runnel/internal/model"
)

const (
	maxURLLen    = 8192
	maxAPIKeyLen = 256
	// DefaultPath is the logs intake path, used when the url has none.
	DefaultPath  = "/api/v2/logs"
	validatePath = "/api/v1/validate"
	intakePrefix = "http-intake.logs."
)

// Config is the settings of a datadog destination.
type Config struct {
	// URL is the logs intake of the Datadog site, e.g.
	// https://http-intake.logs.datadoghq.eu/api/v2/logs; with no path,
	// /api/v2/logs is used. Query parameters (ddtags, …) are passed on.
	// Required. The URL never appears in errors.
	URL string `json:"url"`
	// APIKey is the Datadog API key, sent as DD-API-KEY. Required. Secret.
	APIKey string `json:"api_key"`
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
	switch {
	case strings.TrimSpace(c.APIKey) == "":
		errs.Add("api_key", "is required (a Datadog API key)")
	case len(c.APIKey) > maxAPIKeyLen:
		errs.Add("api_key", "must be at most %d characters", maxAPIKeyLen)
	case !printable(c.APIKey):
		errs.Add("api_key", "must not contain spaces or control characters")
	}
	return errs
}

// endpoint is a parsed url setting.
type endpoint struct {
	intake   string
	validate string
	query    url.Values
}

// parseURL checks the url setting. Its errors never contain the URL.
func parseURL(raw string) (endpoint, error) {
	var e endpoint
	if strings.TrimSpace(raw) == "" {
		return e, fmt.Errorf("is required (the logs intake of your Datadog site, e.g. https://http-intake.logs.datadoghq.com/api/v2/logs)")
	}
	if len(raw) > maxURLLen {
		return e, fmt.Errorf("must be at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return e, fmt.Errorf("is not a valid URL (expected https://http-intake.logs.datadoghq.com/api/v2/logs)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return e, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return e, fmt.Errorf("must include a host")
	}
	if u.User != nil {
		return e, fmt.Errorf("must not contain a user or password (Datadog authenticates with api_key)")
	}
	if u.Fragment != "" {
		return e, fmt.Errorf("must not have a #fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return e, fmt.Errorf("has an invalid query string")
	}
	if q.Has("dd-api-key") || q.Has("DD-API-KEY") {
		return e, fmt.Errorf("must not carry the API key (?dd-api-key=): set api_key")
	}
	p := u.EscapedPath()
	if p == "" || p == "/" {
		p = DefaultPath
	}
	e.intake = u.Scheme + "://" + u.Host + p
	if u.RawQuery != "" {
		e.intake += "?" + u.RawQuery
	}
	e.query = q
	// The key is validated by the site's API host: http-intake.logs.<site>
	// answers logs, api.<site> answers /api/v1/validate. Any other host (a
	// proxy, Observability Pipelines, a test fake) is asked itself.
	vhost := u.Host
	if rest, ok := strings.CutPrefix(u.Host, intakePrefix); ok && rest != "" {
		vhost = "api." + rest
	}
	e.validate = u.Scheme + "://" + vhost + validatePath
	return e, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
