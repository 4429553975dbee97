package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/server"
)

func serveCfg(t *testing.T, env map[string]string, args ...string) (server.Config, error) {
	t.Helper()
	a := &app{deps{env: func(k string) string { return env[k] }}}
	cmd := a.serveCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return serveConfig(cmd, a.env)
}

func TestServeConfigDefaults(t *testing.T) {
	cfg, err := serveCfg(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{DataDir: "./data", Listen: ":8080", Fsync: "1s", LogFormat: "text", LogLevel: "info"}
	if cfg != want {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
}

func TestServeConfigPrecedence(t *testing.T) {
	env := map[string]string{
		"RUNNEL_DATA_DIR":     "/env/data",
		"RUNNEL_LISTEN":       ":9000",
		"RUNNEL_NATS":         "nats://a:4222,nats://b:4222",
		"RUNNEL_FSYNC":        "always",
		"RUNNEL_REPLICAS":     "3",
		"RUNNEL_TLS_CERT":     "/env/cert.pem",
		"RUNNEL_TLS_KEY":      "/env/key.pem",
		"RUNNEL_LOG_FORMAT":   "json",
		"RUNNEL_LOG_LEVEL":    "debug",
		"RUNNEL_PUBLIC_URL":   "https://runnel.example/",
		"RUNNEL_SECRET_KEY":   "k3y",
		"RUNNEL_ADMIN_TOKEN":  "adm1n",
		"RUNNEL_MEMORY_LIMIT": "1GiB",
		"RUNNEL_LOOKUP_DIR":   "/env/lookups",
	}
	cfg, err := serveCfg(t, env)
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{
		DataDir: "/env/data", Listen: ":9000", NATS: "nats://a:4222,nats://b:4222", Fsync: "always", Replicas: 3,
		TLSCert: "/env/cert.pem", TLSKey: "/env/key.pem", LogFormat: "json", LogLevel: "debug",
		PublicURL: "https://runnel.example", SecretKey: "k3y", AdminToken: "adm1n", MemoryLimit: 1 << 30, LookupDir: "/env/lookups",
	}
	if cfg != want {
		t.Errorf("from env\n got %+v\nwant %+v", cfg, want)
	}

	// Flags on the command line win over the environment.
	cfg, err = serveCfg(t, env, "--data-dir", "/flag/data", "--listen=127.0.0.1:1", "--fsync", "200ms", "--replicas", "1",
		"--log-format", "text", "--log-level", "warn", "--nats", "", "--public-url", "http://x", "--tls-cert", "c", "--tls-key", "k",
		"--memory-limit", "0", "--lookup-dir", "/flag/lookups")
	if err != nil {
		t.Fatal(err)
	}
	want = server.Config{
		DataDir: "/flag/data", Listen: "127.0.0.1:1", NATS: "", Fsync: "200ms", Replicas: 1,
		TLSCert: "c", TLSKey: "k", LogFormat: "text", LogLevel: "warn",
		PublicURL: "http://x", SecretKey: "k3y", AdminToken: "adm1n", LookupDir: "/flag/lookups",
	}
	if cfg != want {
		t.Errorf("flags over env\n got %+v\nwant %+v", cfg, want)
	}
}

func TestServeSecretsAreNotFlags(t *testing.T) {
	a := &app{deps{env: func(string) string { return "" }}}
	cmd := a.serveCmd()
	for _, name := range []string{"secret-key", "admin-token", "token"} {
		if cmd.Flags().Lookup(name) != nil {
			t.Errorf("serve has a --%s flag: secrets must come from the environment", name)
		}
	}
	// Each flag shows its environment twin.
	usage := cmd.Flags().FlagUsages()
	for _, env := range []string{"RUNNEL_DATA_DIR", "RUNNEL_LISTEN", "RUNNEL_NATS", "RUNNEL_FSYNC", "RUNNEL_REPLICAS",
		"RUNNEL_TLS_CERT", "RUNNEL_TLS_KEY", "RUNNEL_LOG_FORMAT", "RUNNEL_LOG_LEVEL", "RUNNEL_PUBLIC_URL", "RUNNEL_LOOKUP_DIR", "RUNNEL_MEMORY_LIMIT"} {
		if !strings.Contains(usage, "[$"+env+"]") {
			t.Errorf("help lacks %s", env)
		}
	}
}

func TestServeConfigInvalid(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"RUNNEL_REPLICAS": "three"}, nil, `RUNNEL_REPLICAS="three"`},
		{nil, []string{"--fsync", "sometimes"}, `--fsync "sometimes"`},
		{nil, []string{"--tls-cert", "c"}, "--tls-cert and --tls-key go together"},
		{map[string]string{"RUNNEL_LOG_FORMAT": "xml"}, nil, `--log-format "xml"`},
		{nil, []string{"--log-level", "loud"}, `--log-level "loud"`},
		{nil, []string{"--memory-limit", "lots"}, `--memory-limit "lots"`},
		{map[string]string{"RUNNEL_MEMORY_LIMIT": "1MiB"}, nil, `--memory-limit "1MiB": want a size of at least 64MiB`},
	} {
		_, err := serveCfg(t, c.env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want %q", c.env, c.args, err, c.want)
		}
	}
}

func TestServeRunsServer(t *testing.T) {
	var got server.Config
	res := runCLI(runOpts{serve: func(_ context.Context, cfg server.Config, _, _ io.Writer) error {
		got = cfg
		return nil
	}}, map[string]string{"RUNNEL_LISTEN": ":7000", "RUNNEL_ADMIN_TOKEN": "t"}, nil, "serve", "--data-dir", "/tmp/x")
	if res.err != nil {
		t.Fatal(res.err, res.stderr)
	}
	if got.Listen != ":7000" || got.DataDir != "/tmp/x" || got.AdminToken != "t" {
		t.Errorf("config %+v", got)
	}
	res = runCLI(runOpts{}, map[string]string{"RUNNEL_FSYNC": "never"}, nil, "serve")
	if res.err == nil || !strings.HasPrefix(res.stderr, `error: serve: --fsync "never"`) {
		t.Errorf("%v %q", res.err, res.stderr)
	}
}
