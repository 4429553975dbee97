// Package builtins lists the destination kinds compiled into Runnel. The
// list is explicit (no init() registration): adding a kind means adding it
// here, and to the minimal-settings table of this package's test.
package builtins

import (
	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/httpdest"
)

// Builtins returns every built-in destination kind, a fresh slice each call.
func Builtins() []destination.Kind {
	return []destination.Kind{
		httpdest.Kind(),
	}
}

// Registry returns a registry of the built-in kinds.
func Registry() *destination.Registry {
	return destination.NewRegistry(Builtins()...)
}
