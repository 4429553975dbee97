package splunk

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/runnel/runnel/internal/model"
)

const (
	maxURLLen      = 8192
	maxTokenLen    = 4096
	maxMetaLen     = 255 // host, source, sourcetype, index
	defaultPath    = "/services/collector/event"
	collectorPath  = "/services/collector"
	healthPath     = "/services/collector/health"
	jsonSourcetype = "_json"
)

// Config is the settings of a splunk destination.
type Config struct {
	// URL is the HTTP Event Collector endpoint, e.g.
	// https://splunk:8088/services/collector/event (the path defaults to
	// /services/collector/event when the URL has none). The query
	// parameters index, host, source and sourcetype set those fields of
	// every event; other parameters are passed on. The URL never appears
	// in errors.
	URL string `json:"url"`
	// APIKey is the HEC token, sent as "Authorization: Splunk <token>".
	// Required. Secret.
	APIKey string `json:"api_key"`
}

// NewConfig returns a config with the defaults set (there are none).
func NewConfig() *Config { return &Config{} }

// Secret reports whether the setting at path is a secret: api_key.
func Secret(path string) bool { return path == "api_key" }

// Validate returns every invalid setting. Messages never repeat the URL or
// the token.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if _, err := parseURL(c.URL); err != nil {
		errs.Add("url", "%s", err.Error())
	}
	switch {
	case strings.TrimSpace(c.APIKey) == "":
		errs.Add("api_key", "is required (the HEC token)")
	case len(c.APIKey) > maxTokenLen:
		errs.Add("api_key", "must be at most %d characters", maxTokenLen)
	case !printable(c.APIKey):
		errs.Add("api_key", "must not contain spaces or control characters (the token alone, without \"Splunk \")")
	}
	return errs
}

// endpoint is a parsed url setting.
type endpoint struct {
	event  string // the URL events are posted to (index etc. removed)
	health string
	// Event fields from the query string ("" when absent).
	index, host, source, sourcetype string
	query                           url.Values // what is left, for redaction
}

// parseURL checks the url setting. Its errors never contain the URL.
func parseURL(raw string) (endpoint, error) {
	var e endpoint
	if strings.TrimSpace(raw) == "" {
		return e, fmt.Errorf("is required (the HEC endpoint, e.g. https://splunk:8088/services/collector/event)")
	}
	if len(raw) > maxURLLen {
		return e, fmt.Errorf("must be at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return e, fmt.Errorf("is not a valid URL (expected https://splunk:8088/services/collector/event)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return e, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return e, fmt.Errorf("must include a host")
	}
	if u.User != nil {
		return e, fmt.Errorf("must not contain a user or password (HEC authenticates with api_key)")
	}
	if u.Fragment != "" {
		return e, fmt.Errorf("must not have a #fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return e, fmt.Errorf("has an invalid query string")
	}
	if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/raw") || strings.Contains(u.Path, "/collector/raw") {
		return e, fmt.Errorf("must be the JSON event endpoint (/services/collector/event), not /raw")
	}
	for _, k := range []string{"index", "host", "source", "sourcetype"} {
		vs := q[k]
		if len(vs) > 1 {
			return e, fmt.Errorf("query parameter %s is given %d times", k, len(vs))
		}
		if len(vs) == 1 {
			v := vs[0]
			if strings.TrimSpace(v) == "" {
				return e, fmt.Errorf("query parameter %s is empty", k)
			}
			if len(v) > maxMetaLen {
				return e, fmt.Errorf("query parameter %s must be at most %d bytes", k, maxMetaLen)
			}
		}
		q.Del(k)
	}
	if _, ok := q["token"]; ok {
		return e, fmt.Errorf("must not carry the token (?token=): set api_key")
	}
	e.index = firstValue(u.Query(), "index")
	e.host = firstValue(u.Query(), "host")
	e.source = firstValue(u.Query(), "source")
	e.sourcetype = firstValue(u.Query(), "sourcetype")
	e.query = q
	p := u.EscapedPath()
	if p == "" || p == "/" {
		p = defaultPath
	}
	base := u.Scheme + "://" + u.Host
	e.event = base + p
	if len(q) > 0 {
		e.event += "?" + q.Encode()
	}
	prefix := ""
	if i := strings.Index(p, collectorPath); i > 0 {
		prefix = p[:i] // a proxy prefix before /services/collector
	}
	e.health = base + prefix + healthPath
	return e, nil
}

func firstValue(q url.Values, k string) string {
	if vs := q[k]; len(vs) > 0 {
		return vs[0]
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
