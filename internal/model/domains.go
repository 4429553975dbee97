package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/runnel/runnel/internal/catalog"
)

// MaxDomains bounds Domains.List.
const MaxDomains = 1000

// Domains selects the events a stream keeps by host, and the share of
// them it keeps. The host of an event is its top-level "host" field (the
// Edge Applications and WAF Events variable); for a custom stream,
// "host", else "event.host", else "metadata.host". With a list, an event
// whose host is not in it (or that has none) is filtered.
type Domains struct {
	// All keeps the events of every host (the default when no list is given).
	All *bool `json:"all,omitempty"`
	// List names the hosts whose events are kept; "*.example.com" matches every subdomain of example.com. Matching ignores case and a port.
	List []string `json:"list,omitempty"`
	// SamplingPercent is the share of events kept, 0.01 to 100 with at most two decimals (default 100).
	SamplingPercent *float64 `json:"sampling_percent,omitempty"`
}

// KeepsAll reports whether no host is filtered.
func (d *Domains) KeepsAll() bool { return d == nil || len(d.List) == 0 }

// Percent is the sampling share (100 when unset).
func (d *Domains) Percent() float64 {
	if d == nil || d.SamplingPercent == nil {
		return 100
	}
	return *d.SamplingPercent
}

func (d *Domains) validate(dataSource string) FieldErrors {
	var errs FieldErrors
	all := d.All != nil && *d.All
	switch {
	case all && len(d.List) > 0:
		errs.Add("", "set either all: true or a list of hosts, not both")
	case d.All != nil && !all && len(d.List) == 0:
		errs.Add("list", "is required when all is false")
	case len(d.List) > MaxDomains:
		errs.Add("list", "at most %d hosts", MaxDomains)
	}
	if len(d.List) > 0 && (dataSource == catalog.ActivityHistory || dataSource == catalog.EdgeFunctions) {
		errs.Add("list", "domains do not apply to data source %s (its events have no host)", dataSource)
	}
	seen := make(map[string]bool, len(d.List))
	for i, h := range d.List {
		p := fmt.Sprintf("list[%d]", i)
		n := strings.ToLower(h)
		if !validHostPattern(n) {
			errs.Add(p, "%q is not a host name (letters, digits, '-' and '.', optionally starting with \"*.\")", h)
			continue
		}
		if seen[n] {
			errs.Add(p, "duplicate host %q", h)
		}
		seen[n] = true
	}
	if d.SamplingPercent != nil {
		v := *d.SamplingPercent
		if math.IsNaN(v) || v <= 0 || v > 100 {
			errs.Add("sampling_percent", "must be more than 0 and at most 100, not %v", v)
		} else if r := math.Round(v * 100); math.Abs(r-v*100) > 1e-6 {
			errs.Add("sampling_percent", "at most two decimals (%v)", v)
		}
	}
	return errs
}

// validHostPattern accepts a lower-case DNS name, optionally with a
// leading "*." wildcard label.
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
