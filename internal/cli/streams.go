package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) streamsCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:     "streams",
		Aliases: []string{"stream"},
		Short:   "Manage streams: list, get, apply, delete, enable, disable",
		Args:    cobra.NoArgs,
	}
	addClientFlags(cmd.PersistentFlags(), cf)
	cmd.AddCommand(
		a.streamsListCmd(cf),
		a.streamsGetCmd(cf),
		a.streamsApplyCmd(cf),
		a.streamsDeleteCmd(cf),
		a.streamsStatusSwitchCmd(cf, "enable", "active", "enabled"),
		a.streamsStatusSwitchCmd(cf, "disable", "inactive", "disabled"),
	)
	return cmd
}

func (a *app) streamsListCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the streams of the workspace",
		Args:    cobra.NoArgs,
	}
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		resp, err := c.get(cmd.Context(), "/v1/streams")
		if err != nil {
			return err
		}
		items, err := listItems(resp.body, "streams")
		if err != nil {
			return err
		}
		if output != "table" {
			return writeList(a.stdout, output, items)
		}
		t := newTable(a.stdout, "NAME", "ID", "STATUS", "DESTINATIONS", "UPDATED")
		for _, raw := range items {
			s, err := decodeObj(raw)
			if err != nil {
				return err
			}
			var dests []string
			for _, d := range s.list("destinations") {
				if m, ok := d.(map[string]any); ok {
					dests = append(dests, fmt.Sprintf("%s(%s)", fmtValue(m["name"]), fmtValue(m["type"])))
				}
			}
			t.row(s.str("name"), s.str("id"), s.str("status"), strings.Join(dests, ","), s.str("updated_at"))
		}
		return t.flush()
	})
	return cmd
}

func (a *app) streamsGetCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get STREAM",
		Short: "Show a stream (by id or name); the YAML can be edited and applied back",
		Args:  cobra.ExactArgs(1),
	}
	outputFlag(cmd, &output, "yaml", "json")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		resp, err := c.get(cmd.Context(), streamPath(args[0]))
		if err != nil {
			return err
		}
		if output == "json" {
			return writeJSON(a.stdout, resp.body)
		}
		return writeYAML(a.stdout, resp.body)
	})
	return cmd
}

func (a *app) streamsApplyCmd(cf *clientFlags) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|-",
		Short: "Create or update streams from YAML or JSON definitions",
		Long: `Create or update streams from YAML or JSON: one stream, several YAML
documents separated by "---", or a JSON array of streams. A stream is
matched by name: created if the workspace has no stream of that name, else
replaced (PUT with If-Match of the revision just read, so a concurrent
change is not overwritten), or left alone when the definition is unchanged.

Secrets are never returned by the server, so a definition that spells a
secret out is always sent ("configured"); the placeholder "********" keeps
the stored secret.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `file with stream definitions ("-": standard input); repeatable`)
	_ = cmd.MarkFlagRequired("filename")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		var docs []streamDoc
		for _, f := range files {
			data, err := a.readInput(f)
			if err != nil {
				return err
			}
			d, err := parseStreamDocs(f, data)
			if err != nil {
				return err
			}
			docs = append(docs, d...)
		}
		if len(docs) == 0 {
			return errors.New("no stream definitions in the input")
		}
		failed := 0
		for _, d := range docs {
			res, err := applyStream(cmd.Context(), c, d)
			if err != nil {
				if len(docs) > 1 {
					var ae *APIError
					if errors.As(err, &ae) {
						ae.Context = "stream " + d.name
					} else {
						err = fmt.Errorf("stream %s: %w", d.name, err)
					}
				}
				a.report(err)
				failed++
				continue
			}
			fmt.Fprintf(a.stdout, "stream %s %s (id %s)\n", d.name, res.action, res.id)
		}
		if failed > 0 {
			if len(docs) > 1 {
				fmt.Fprintf(a.stderr, "error: %d of %d streams not applied\n", failed, len(docs))
			}
			return errReported
		}
		return nil
	})
	return cmd
}

// readInput reads a file, or standard input for "-".
func (a *app) readInput(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (a *app) streamsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete STREAM",
		Aliases: []string{"rm"},
		Short:   "Delete a stream, its buffered events and dead letters",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			if _, err := c.send(cmd.Context(), request{method: http.MethodDelete, path: streamPath(args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "stream %s deleted\n", args[0])
			return nil
		}),
	}
}

func (a *app) streamsStatusSwitchCmd(cf *clientFlags, verb, status, done string) *cobra.Command {
	short := "Activate a stream: ingest and delivery run"
	if status == "inactive" {
		short = "Deactivate a stream: ingest is refused (409), nothing is delivered, buffered events wait"
	}
	return &cobra.Command{
		Use:   verb + " STREAM",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			resp, err := c.send(cmd.Context(), request{
				method: http.MethodPatch, path: streamPath(args[0]),
				body: jsonBody(map[string]string{"status": status}),
			})
			if err != nil {
				return err
			}
			name := args[0]
			if o, err := decodeObj(resp.body); err == nil && o.str("name") != "" {
				name = o.str("name")
			}
			fmt.Fprintf(a.stdout, "stream %s %s\n", name, done)
			return nil
		}),
	}
}

// idOf returns the "id" of a JSON object ("" if none).
func idOf(raw []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.ID
}
