package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/server"
)

// Environment variables read by serve only from the environment: secrets
// must not appear in the process list.
const (
	envSecretKey  = "RUNNEL_SECRET_KEY"
	envAdminToken = "RUNNEL_ADMIN_TOKEN"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Runnel node",
		Long: `Run a Runnel node: the HTTP APIs and console on --listen, events and
configuration in an embedded NATS JetStream store under --data-dir (or an
external NATS cluster with --nats).

Every flag has an environment variable twin (shown in brackets); a flag on
the command line wins over the environment. Secrets are read from the
environment only:
  RUNNEL_SECRET_KEY    key that encrypts destination secrets (default: a key file in the data directory)
  RUNNEL_ADMIN_TOKEN   the admin token (default: generated on first start, written to <data-dir>/admin.token)`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.String("data-dir", "./data", "directory of the embedded store, the secret key file and admin.token")
	fs.String("listen", ":8080", "HTTP listen address")
	fs.String("nats", "", "external NATS cluster URLs (nats://a:4222,nats://b:4222); empty: embedded store")
	fs.String("fsync", "1s", `"always" (every write synced: survives power loss) or a sync interval (survives a process crash)`)
	fs.Int("replicas", 0, "replicas of streams and buckets on an external cluster (0: 3 on a cluster of three or more servers, else 1)")
	fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	fs.String("tls-key", "", "TLS private key file (PEM)")
	fs.String("log-format", "text", "log format: text or json")
	fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.String("public-url", "", "base URL clients reach this server at, for inlet_url (default: from each request's Host)")
	fs.String("memory-limit", "0", `soft memory limit of the Go runtime, e.g. 1GiB ("0": none; GOMEMLIMIT wins when set)`)
	fs.String("lookup-dir", "", "directory of the files enrich processors read (lookup CSV tables, GeoIP databases); default <data-dir>/lookups")
	for _, f := range [][2]string{
		{"data-dir", "RUNNEL_DATA_DIR"}, {"listen", "RUNNEL_LISTEN"}, {"nats", "RUNNEL_NATS"},
		{"fsync", "RUNNEL_FSYNC"}, {"replicas", "RUNNEL_REPLICAS"}, {"tls-cert", "RUNNEL_TLS_CERT"},
		{"tls-key", "RUNNEL_TLS_KEY"}, {"log-format", "RUNNEL_LOG_FORMAT"}, {"log-level", "RUNNEL_LOG_LEVEL"},
		{"public-url", "RUNNEL_PUBLIC_URL"}, {"lookup-dir", "RUNNEL_LOOKUP_DIR"}, {"memory-limit", "RUNNEL_MEMORY_LIMIT"},
	} {
		setEnv(fs, f[0], f[1])
	}
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		cfg, err := serveConfig(cmd, a.env)
		if err != nil {
			return err
		}
		return a.serve(cmd.Context(), cfg, a.stdout, a.stderr)
	})
	return cmd
}

// serveConfig maps the serve flags (after parsing), their environment
// twins and the environment-only secrets onto server.Config, and checks
// the values it can check without starting anything.
func serveConfig(cmd *cobra.Command, env func(string) string) (server.Config, error) {
	fs := cmd.Flags()
	if err := applyEnv(fs, env); err != nil {
		return server.Config{}, err
	}
	str := func(name string) string {
		v, err := fs.GetString(name)
		if err != nil {
			panic(err)
		}
		return strings.TrimSpace(v)
	}
	replicas, err := fs.GetInt("replicas")
	if err != nil {
		panic(err)
	}
	cfg := server.Config{
		DataDir:    str("data-dir"),
		Listen:     str("listen"),
		NATS:       str("nats"),
		Fsync:      str("fsync"),
		Replicas:   replicas,
		TLSCert:    str("tls-cert"),
		TLSKey:     str("tls-key"),
		LogFormat:  strings.ToLower(str("log-format")),
		LogLevel:   strings.ToLower(str("log-level")),
		PublicURL:  strings.TrimRight(str("public-url"), "/"),
		LookupDir:  str("lookup-dir"),
		SecretKey:  env(envSecretKey),
		AdminToken: strings.TrimSpace(env(envAdminToken)),
	}
	var problems []string
	if ml, err := model.ParseSize(str("memory-limit")); err != nil || ml < 0 || ml > 0 && ml < 64<<20 {
		problems = append(problems, fmt.Sprintf("--memory-limit %q: want a size of at least 64MiB (e.g. 512MiB), or 0 for none", str("memory-limit")))
	} else {
		cfg.MemoryLimit = int64(ml)
	}
	if cfg.NATS == "" && cfg.DataDir == "" {
		problems = append(problems, "--data-dir is required for the embedded store")
	}
	if cfg.Listen == "" {
		problems = append(problems, "--listen is required")
	}
	if cfg.Fsync != "always" {
		if d, err := time.ParseDuration(cfg.Fsync); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("--fsync %q: want \"always\" or a duration such as \"1s\"", cfg.Fsync))
		}
	}
	if cfg.Replicas < 0 || cfg.Replicas > 5 {
		problems = append(problems, fmt.Sprintf("--replicas %d: want 0 (auto) to 5", cfg.Replicas))
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		problems = append(problems, "--tls-cert and --tls-key go together")
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		problems = append(problems, fmt.Sprintf("--log-format %q: want text or json", cfg.LogFormat))
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		problems = append(problems, fmt.Sprintf("--log-level %q: want debug, info, warn or error", cfg.LogLevel))
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("serve: %s", strings.Join(problems, "; "))
	}
	return cfg, nil
}
