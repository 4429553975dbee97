package spec

import (
	_ "embed"
	"encoding/json"
	"sync"
)

// commentsJSON holds the Go doc comments of the reflected types and their
// fields ("pkg.Type" and "pkg.Type.Field" → text), extracted from the
// sources by the tests (go test ./internal/spec -update) so that the
// server binary needs no source code. A test fails when it is stale.
//
//go:embed comments.json
var commentsJSON []byte

// commentPackages are the source directories (relative to this package)
// whose doc comments describe the schemas.
var commentPackages = []string{"../model", "../api/view", "../apierr", "../catalog"}

var comments = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal(commentsJSON, &m)
	return m
})
