package azureblob

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/model"
)

// Bounds of the settings.
const (
	maxEndpointLen = 2048
	maxSASLen      = 4096
)

// Config is the settings of an azure_blob destination.
type Config struct {
	// StorageAccount is the storage account name (3-24 lower-case letters
	// and digits). Required unless endpoint is set.
	StorageAccount string `json:"storage_account"`
	// ContainerName receives the blobs (required; it must exist).
	ContainerName string `json:"container_name"`
	// BlobSASToken is a shared access signature (the query string, with or
	// without the leading "?") allowing Create and Write on the container's
	// blobs (required, write-only).
	BlobSASToken string `json:"blob_sas_token"`
	// Endpoint is the blob service URL of the account, for emulators and
	// sovereign clouds (http://127.0.0.1:10000/devstoreaccount1,
	// https://acct.blob.core.chinacloudapi.cn). Empty:
	// https://<storage_account>.blob.core.windows.net.
	Endpoint string `json:"endpoint"`
}

// NewConfig returns a config with the defaults set (there are none to set:
// every setting is either required or empty by default).
func NewConfig() *Config { return &Config{} }

// Secret reports whether the setting at path is a secret: only
// blob_sas_token.
func Secret(path string) bool { return path == "blob_sas_token" }

// sas returns the token without its leading "?".
func (c *Config) sas() string { return strings.TrimPrefix(strings.TrimSpace(c.BlobSASToken), "?") }

// serviceURL returns the account's blob service URL, without a trailing
// slash.
func (c *Config) serviceURL() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return "https://" + c.StorageAccount + ".blob.core.windows.net"
}

// Validate returns every invalid setting. Messages never repeat the SAS
// token.
func (c *Config) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			errs.Add("endpoint", "%s", err.Error())
		}
	}
	switch a := c.StorageAccount; {
	case a == "" && c.Endpoint == "":
		errs.Add("storage_account", "is required (unless endpoint is set)")
	case a != "" && (len(a) < 3 || len(a) > 24 || !onlyChars(a, lowerDigits)):
		errs.Add("storage_account", "must be 3 to 24 lower-case letters and digits")
	}
	if err := checkContainer(c.ContainerName); err != nil {
		errs.Add("container_name", "%s", err.Error())
	}
	if err := checkSAS(c.sas()); err != nil {
		errs.Add("blob_sas_token", "%s", err.Error())
	}
	return errs
}

const lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"

func checkEndpoint(raw string) error {
	if len(raw) > maxEndpointLen {
		return fmt.Errorf("must be at most %d characters", maxEndpointLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a valid URL (expected https://host[:port][/account])")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https")
	case u.Hostname() == "":
		return fmt.Errorf("must include a host")
	case u.User != nil:
		return fmt.Errorf("must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("must not have a query or a fragment: put the SAS token in blob_sas_token")
	}
	return nil
}

// checkContainer applies Azure's container naming rules.
func checkContainer(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("is required")
	case n == "$root" || n == "$web":
		return nil
	case len(n) < 3 || len(n) > 63 || !onlyChars(n, lowerDigits+"-") || n[0] == '-' ||
		n[len(n)-1] == '-' || strings.Contains(n, "--"):
		return fmt.Errorf("must be 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit")
	}
	return nil
}

// checkSAS checks the shape of a SAS token without repeating it.
func checkSAS(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is required")
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		return fmt.Errorf("must be the SAS token (the query string after \"?\"), not the SAS URL")
	case len(s) > maxSASLen:
		return fmt.Errorf("must be at most %d characters", maxSASLen)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("must not contain spaces or control characters")
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return fmt.Errorf("is not a valid query string")
	}
	if q.Get("sig") == "" || q.Get("sv") == "" {
		return fmt.Errorf("is not a SAS token: it must contain sv= and sig=")
	}
	return nil
}

// sasExpiry returns the expiry (se) of a SAS token when it has a valid one.
func sasExpiry(sas string) (time.Time, bool) {
	q, err := url.ParseQuery(sas)
	if err != nil {
		return time.Time{}, false
	}
	se := q.Get("se")
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, se); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func onlyChars(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
