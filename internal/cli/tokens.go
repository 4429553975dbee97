package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) tokensCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Manage API tokens: create, list, revoke",
		Args:    cobra.NoArgs,
	}
	addClientFlags(cmd.PersistentFlags(), cf)
	cmd.AddCommand(a.tokensCreateCmd(cf), a.tokensListCmd(cf), a.tokensRevokeCmd(cf))
	return cmd
}

func (a *app) tokensCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		name      string
		scopes    []string
		streams   []string
		expiresIn time.Duration
		output    string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE [--scope …] [--stream S …] [--expires-in 720h]",
		Short: "Create a token; its secret is printed this once",
		Long: `Create a token in the workspace. The secret is printed once, on standard
output, and cannot be shown again.

Scopes: events.ingest, streams.read, streams.write, tokens.write, admin.`,
		Example: `  runnel tokens create --name ci --scope events.ingest --stream payments --expires-in 720h
  export RUNNEL_TOKEN=$(runnel tokens create --name ops --scope streams.read --scope streams.write)`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "name of the token (a label for humans)")
	fs.StringArrayVar(&scopes, "scope", nil, "scope to grant; repeatable (events.ingest, streams.read, streams.write, tokens.write, admin)")
	fs.StringArrayVar(&streams, "stream", nil, "limit the token to this stream (id or name); repeatable")
	fs.DurationVar(&expiresIn, "expires-in", 0, "lifetime of the token, e.g. 720h (default: no expiry)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scope")
	outputFlag(cmd, &output, "text", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		if expiresIn < 0 {
			return fmt.Errorf("--expires-in %s: must be positive", expiresIn)
		}
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		req := map[string]any{"name": name, "scopes": splitList(scopes)}
		if s := splitList(streams); len(s) > 0 {
			req["streams"] = s
		}
		if expiresIn > 0 {
			req["expires_at"] = a.now().Add(expiresIn).UTC().Format(time.RFC3339)
		}
		resp, err := c.send(cmd.Context(), request{method: http.MethodPost, path: "/v1/tokens", body: jsonBody(req)})
		if err != nil {
			return err
		}
		switch output {
		case "json":
			return writeJSON(a.stdout, resp.body)
		case "yaml":
			return writeYAML(a.stdout, resp.body)
		}
		t, err := decodeObj(resp.body)
		if err != nil {
			return err
		}
		secret := t.str("token", "secret")
		if secret == "" {
			return fmt.Errorf("the server answered without the token's secret: %.200s", resp.body)
		}
		expires := "never expires"
		if e := t.str("expires_at"); e != "" {
			expires = "expires " + e
		}
		limited := ""
		if s := t.str("streams"); s != "" {
			limited = ", streams " + s
		}
		fmt.Fprintf(a.stderr, "created token %s (%s): scopes %s%s; %s\n", t.str("id"), t.str("name"), t.str("scopes"), limited, expires)
		fmt.Fprintln(a.stdout, secret)
		fmt.Fprintln(a.stderr, "warning: save this token now: it is shown this once and will not be shown again")
		return nil
	})
	return cmd
}

// splitList accepts repeated flags and comma-separated values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (a *app) tokensListCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tokens of the workspace (never their secrets)",
		Args:    cobra.NoArgs,
	}
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		resp, err := c.get(cmd.Context(), "/v1/tokens")
		if err != nil {
			return err
		}
		items, err := listItems(resp.body, "tokens")
		if err != nil {
			return err
		}
		if output != "table" {
			return writeList(a.stdout, output, items)
		}
		t := newTable(a.stdout, "ID", "NAME", "SCOPES", "STREAMS", "EXPIRES", "CREATED")
		for _, raw := range items {
			o, err := decodeObj(raw)
			if err != nil {
				return err
			}
			exp := o.str("expires_at")
			if exp == "" {
				exp = "never"
			}
			streams := o.str("streams")
			if streams == "" {
				streams = "all"
			}
			t.row(o.str("id"), o.str("name"), o.str("scopes"), streams, exp, o.str("created_at"))
		}
		return t.flush()
	})
	return cmd
}

func (a *app) tokensRevokeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Aliases: []string{"delete", "rm"},
		Short:   "Revoke (delete) a token",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			if _, err := c.send(cmd.Context(), request{method: http.MethodDelete, path: "/v1/tokens/" + url.PathEscape(args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
			return nil
		}),
	}
}
