package s3

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/model"
)

// Content types (the content_type setting).
const (
	ContentTypePlain = "plain/text"
	ContentTypeGzip  = "application/gzip"
)

// Bounds of the settings.
const (
	// DefaultRegion is used with host_url when region is empty.
	DefaultRegion = "us-east-1"
	// MaxPrefixLen keeps every key under S3's 1024 bytes: the rest of the
	// key ("YYYY/MM/DD/hh/mm/" and a UUID) is 53 bytes.
	MaxPrefixLen  = 900
	maxHostURLLen = 2048
	maxKeyIDLen   = 128
	maxSecretLen  = 256
	maxRegionLen  = 64
)

// Config is the settings of an s3 destination.
type Config struct {
	// HostURL is the endpoint of an S3-compatible service
	// (http://minio:9000); empty means AWS S3. With it, requests use
	// path-style addressing (host/bucket/key).
	HostURL string `json:"host_url"`
	// BucketName receives the objects (required).
	BucketName string `json:"bucket_name"`
	// Region signs the requests: required for AWS, "us-east-1" by default
	// with host_url.
	Region string `json:"region"`
	// AccessKey is the access key ID (required).
	AccessKey string `json:"access_key"`
	// SecretKey is the secret access key (required, write-only).
	SecretKey string `json:"secret_key"`
	// ObjectKeyPrefix starts every object key; a "/" is added between it
	// and the date unless it ends with one. Leading slashes are dropped.
	ObjectKeyPrefix string `json:"object_key_prefix"`
	// ContentType is "plain/text" (default: the framed batch as is) or
	// "application/gzip" (the framed batch gzip-compressed).
	ContentType string `json:"content_type"`
}

// NewConfig returns a config with the defaults set.
func NewConfig() *Config {
	return &Config{ContentType: ContentTypePlain}
}

// Secret reports whether the setting at path is a secret: only secret_key.
func Secret(path string) bool { return path == "secret_key" }

// contentType returns the setting with "" as the default.
func (c *Config) contentType() string {
	if c.ContentType == "" {
		return ContentTypePlain
	}
	return c.ContentType
}

// region returns the signing region.
func (c *Config) region() string {
	if c.Region == "" && c.HostURL != "" {
		return DefaultRegion
	}
	return c.Region
}

// prefix returns the key prefix ready to be followed by the date: no
// leading slash, a trailing slash unless empty.
func (c *Config) prefix() string {
	p := strings.TrimLeft(c.ObjectKeyPrefix, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// Validate returns every invalid setting. Messages never repeat the
// secret key.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if c.HostURL != "" {
		if err := checkHostURL(c.HostURL); err != nil {
			errs.Add("host_url", "%s", err.Error())
		}
	}
	if err := checkBucket(c.BucketName, c.HostURL == ""); err != nil {
		errs.Add("bucket_name", "%s", err.Error())
	}
	switch {
	case c.Region == "" && c.HostURL == "":
		errs.Add("region", "is required for AWS S3 (e.g. us-east-1); it may be empty only with host_url")
	case len(c.Region) > maxRegionLen || !onlyChars(c.Region, "abcdefghijklmnopqrstuvwxyz0123456789-"):
		errs.Add("region", "must be a region name such as eu-west-1 (lower-case letters, digits and -)")
	}
	switch {
	case c.AccessKey == "":
		errs.Add("access_key", "is required")
	case len(c.AccessKey) > maxKeyIDLen || !printableNoSpace(c.AccessKey):
		errs.Add("access_key", "must be at most %d printable characters without spaces", maxKeyIDLen)
	}
	switch {
	case c.SecretKey == "":
		errs.Add("secret_key", "is required")
	case len(c.SecretKey) > maxSecretLen || !printableNoSpace(c.SecretKey):
		errs.Add("secret_key", "must be at most %d printable characters without spaces", maxSecretLen)
	}
	switch p := c.ObjectKeyPrefix; {
	case len(p) > MaxPrefixLen:
		errs.Add("object_key_prefix", "must be at most %d bytes", MaxPrefixLen)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, isControl):
		errs.Add("object_key_prefix", "must be valid UTF-8 without control characters")
	case strings.Contains(strings.TrimLeft(p, "/"), "//"):
		errs.Add("object_key_prefix", "must not contain an empty path segment (//)")
	}
	switch c.contentType() {
	case ContentTypePlain, ContentTypeGzip:
	default:
		errs.Add("content_type", "must be %q or %q", ContentTypePlain, ContentTypeGzip)
	}
	return errs
}

// checkHostURL accepts an http or https URL with a host and an optional
// path, without credentials, query or fragment.
func checkHostURL(raw string) error {
	if len(raw) > maxHostURLLen {
		return fmt.Errorf("must be at most %d characters", maxHostURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a valid URL (expected http://host[:port] or https://host[:port])")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https")
	case u.Hostname() == "":
		return fmt.Errorf("must include a host")
	case u.User != nil:
		return fmt.Errorf("must not contain credentials: use access_key and secret_key")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("must not have a query or a fragment")
	}
	return nil
}

// checkBucket applies AWS's naming rules for AWS, and looser ones (the
// characters S3-compatible services accept) for a custom endpoint.
func checkBucket(b string, aws bool) error {
	if b == "" {
		return fmt.Errorf("is required")
	}
	if aws {
		if len(b) < 3 || len(b) > 63 || !onlyChars(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") ||
			!isAlnum(b[0]) || !isAlnum(b[len(b)-1]) || strings.Contains(b, "..") {
			return fmt.Errorf("must be 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit")
		}
		return nil
	}
	if len(b) > 255 || !onlyChars(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") {
		return fmt.Errorf("must be at most 255 letters, digits, dots, hyphens and underscores")
	}
	return nil
}

func onlyChars(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
