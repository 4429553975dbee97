// Package cli is the `runnel` command line: `runnel serve` runs a node,
// the other commands are clients of the management and ingest APIs
// (streams, tokens, send, status, tail, dead-letters), and `runnel buffer
// verify` checks an embedded store offline.
//
// There is no package state: New builds a fresh command tree around the
// given streams and environment, so tests drive it with buffers and a fake
// environment. Errors are printed here (to stderr) and returned, so the
// caller only has to choose the exit status.
//
// Every flag with an environment twin carries it as the pflag annotation
// "env"; a command-line flag wins over the environment, the environment
// over the default (see applyEnv).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runnel/runnel/internal/server"
)

// deps is what the commands need from the outside world; tests replace
// the HTTP client, the sleep of retries and the server.
type deps struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	httpClient     *http.Client
	// sleep waits d or until ctx is done (retry waits).
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
	serve func(ctx context.Context, cfg server.Config, stdout, stderr io.Writer) error
}

// New builds the root command. stdin, stdout and stderr are the process
// streams and env looks up environment variables (os.Getenv).
func New(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *cobra.Command {
	return newRoot(deps{
		stdin:      stdin,
		stdout:     stdout,
		stderr:     stderr,
		env:        env,
		httpClient: &http.Client{Transport: http.DefaultTransport},
		sleep:      sleepCtx,
		now:        time.Now,
		serve:      server.Run,
	})
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type app struct{ deps }

func newRoot(d deps) *cobra.Command {
	if d.env == nil {
		d.env = func(string) string { return "" }
	}
	if d.stdin == nil {
		d.stdin = strings.NewReader("")
	}
	a := &app{d}
	root := &cobra.Command{
		Use:   "runnel",
		Short: "Runnel: a self-hosted event streaming service",
		Long: `Runnel receives events over HTTP, stores them durably, and delivers them in
batches to the destinations of each stream.

  runnel serve                     run a node (embedded store under --data-dir)
  runnel streams apply -f s.yaml   create or update streams from a file
  runnel send --stream S file      send events (NDJSON or a JSON array)
  runnel status S                  per-destination health and backlog

Client commands reach the server at --url (RUNNEL_URL) with --token
(RUNNEL_TOKEN); prefer the environment variable for the token, command-line
flags are visible to other users of the machine.`,
		SilenceUsage: false,
		// Errors are printed by the commands (see app.run); cobra prints
		// only its own (unknown command, bad flag) with this prefix.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags(), a.env)
		},
	}
	root.SetIn(d.stdin)
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	root.SetErrPrefix("error:")
	root.AddCommand(
		a.serveCmd(),
		a.streamsCmd(),
		a.tokensCmd(),
		a.sendCmd(),
		a.statusCmd(),
		a.tailCmd(),
		a.deadLettersCmd(),
		a.destinationsCmd(),
		a.sourcesCmd(), a.templatesCmd(),
		a.bufferCmd(),
		a.versionCmd(),
	)
	return root
}

// errReported is returned when the command has already printed what went
// wrong (for example the damaged messages of a buffer check).
var errReported = errors.New("failed")

// run wraps a command body: usage is not printed for errors past flag
// parsing, and the error is printed once, here, in the CLI's format.
func (a *app) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		err := fn(cmd, args)
		if err != nil && errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
			err = errors.New("interrupted")
		}
		if err != nil {
			a.report(err)
			cmd.SilenceErrors = true
		}
		return err
	}
}

// report prints err to stderr: an API error as its body gives it, other
// errors on one line.
func (a *app) report(err error) {
	if errors.Is(err, errReported) {
		return
	}
	var ae *APIError
	if errors.As(err, &ae) {
		fmt.Fprint(a.stderr, ae.Format())
		return
	}
	fmt.Fprintf(a.stderr, "error: %v\n", err)
}

// setEnv records the environment twin of a flag (shown in its help).
func setEnv(fs *pflag.FlagSet, flag, env string) {
	f := fs.Lookup(flag)
	if f == nil {
		panic("cli: no flag " + flag)
	}
	f.Usage += " [$" + env + "]"
	if err := fs.SetAnnotation(flag, "env", []string{env}); err != nil {
		panic(err)
	}
}

// applyEnv sets every flag that was not given on the command line from
// its environment twin, if that is set. It is idempotent.
func applyEnv(fs *pflag.FlagSet, env func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		names := f.Annotations["env"]
		if err != nil || f.Changed || len(names) == 0 {
			return
		}
		v := env(names[0])
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("environment variable %s=%q: %v", names[0], v, e)
		}
	})
	return err
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: a.run(func(*cobra.Command, []string) error {
			fmt.Fprintln(a.stdout, versionString())
			return nil
		}),
	}
}

// versionString describes the binary from its build information.
func versionString() string {
	v, rev, modified, when := "(devel)", "", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "runnel %s", v)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, " commit %s", rev)
		if modified {
			b.WriteString(" (modified)")
		}
	}
	if when != "" {
		fmt.Fprintf(&b, " built %s", when)
	}
	fmt.Fprintf(&b, " %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func userAgent() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "runnel-cli/" + v
}
