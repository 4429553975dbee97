// Package server assembles a Runnel node: the bus, the configuration
// store, the deliverers, the management API, the ingest dialects and the
// console, behind one HTTP listener.
package server

// Config is everything `runnel serve` takes; every field has a flag and a
// RUNNEL_* environment variable twin (see cmd/runnel).
type Config struct {
	// DataDir holds the embedded store, the secret key file and admin.token.
	DataDir string
	// LookupDir is where enrich processors read lookup tables and GeoIP
	// databases (default <DataDir>/lookups).
	LookupDir string
	// Listen is the HTTP address (":8080").
	Listen string
	// NATS, when set, is an external NATS cluster ("nats://a:4222,nats://b:4222").
	NATS string
	// Fsync is "always" or a sync interval ("1s").
	Fsync string
	// Replicas of streams and buckets on an external cluster (0: auto).
	Replicas int
	// TLSCert and TLSKey enable HTTPS.
	TLSCert, TLSKey string
	// LogFormat is "text" or "json"; LogLevel debug|info|warn|error.
	LogFormat, LogLevel string
	// PublicURL is the base URL clients reach this server at, used for
	// inlet_url (default: derived from each request's Host).
	PublicURL string
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit); 0: none. The GOMEMLIMIT environment
	// variable, when set, wins.
	MemoryLimit int64
	// SecretKey (RUNNEL_SECRET_KEY) encrypts destination secrets; empty:
	// a key file in DataDir.
	SecretKey string
	// AdminToken (RUNNEL_ADMIN_TOKEN) sets the admin token.
	AdminToken string
}
