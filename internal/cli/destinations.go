package cli

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func (a *app) destinationsCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:     "destinations",
		Aliases: []string{"dest"},
		Short:   "Work with a stream's destinations",
		Args:    cobra.NoArgs,
	}
	addClientFlags(cmd.PersistentFlags(), cf)
	cmd.AddCommand(a.destinationsTestCmd(cf))
	return cmd
}

// destinationsTestCmd probes a destination now ("test connection"): exit
// status 0 when it answers, 1 with the exact error when not.
func (a *app) destinationsTestCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test STREAM DESTINATION",
		Short: "Probe a destination now and print whether it is reachable and accepts the credentials",
		Args:  cobra.ExactArgs(2),
	}
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		path := streamPath(args[0], "destinations", url.PathEscape(args[1]), "test")
		resp, err := c.send(cmd.Context(), request{method: http.MethodPost, path: path})
		if err != nil {
			return err
		}
		o, err := decodeObj(resp.body)
		if err != nil {
			return err
		}
		if o.str("ok") == "true" {
			fmt.Fprintf(a.stdout, "ok: destination %s of stream %s is reachable\n", args[1], args[0])
			return nil
		}
		fmt.Fprintf(a.stderr, "error: destination %s of stream %s: %s\n", args[1], args[0], o.str("error"))
		return errReported
	})
	return cmd
}
