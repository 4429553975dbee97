// Package builtins lists the destination kinds compiled into Runnel. The
// list is explicit (no init() registration): adding a kind means adding it
// here, and to the minimal-settings table of this package's test.
package builtins

import (
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/azureblob"
	"github.com/runnel/runnel/internal/destination/datadog"
	"github.com/runnel/runnel/internal/destination/elasticsearch"
	"github.com/runnel/runnel/internal/destination/httpdest"
	"github.com/runnel/runnel/internal/destination/kafka"
	"github.com/runnel/runnel/internal/destination/s3"
	"github.com/runnel/runnel/internal/destination/splunk"
)

// Builtins returns every built-in destination kind, a fresh slice each call.
func Builtins() []destination.Kind {
	return []destination.Kind{
		httpdest.Kind(),
		kafka.Kind(),
		elasticsearch.Kind(),
		splunk.Kind(),
		datadog.Kind(),
		s3.Kind(),
		azureblob.Kind(),
	}
}

// Registry returns a registry of the built-in kinds.
func Registry() *destination.Registry {
	return destination.NewRegistry(Builtins()...)
}
