package cli

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	cf := &clientFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "status STREAM",
		Short: "Show the delivery state of a stream's destinations",
		Long: `Show, per destination of a stream: health, the status of the last attempt
(503: skipped while unavailable, 504: timed out), the backlog (events and
bytes waiting in the buffer, age of the oldest), the counters of this node
(delivered, failed, retried, dead-lettered) and the last error.`,
		Args: cobra.ExactArgs(1),
	}
	addClientFlags(cmd.Flags(), cf)
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		resp, err := c.get(cmd.Context(), streamPath(args[0], "status"))
		if err != nil {
			return err
		}
		switch output {
		case "json":
			return writeJSON(a.stdout, resp.body)
		case "yaml":
			return writeYAML(a.stdout, resp.body)
		}
		st, err := decodeObj(resp.body)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "stream %s (%s): %s\n", st.str("name"), st.str("stream_id", "id"), st.str("status"))
		dests := st.list("destinations")
		if len(dests) == 0 {
			fmt.Fprintln(a.stdout, "no destinations: events are kept in the buffer until one is added")
			return nil
		}
		t := newTable(a.stdout, "DESTINATION", "TYPE", "HEALTH", "LAST STATUS", "BACKLOG EVENTS", "BACKLOG BYTES", "OLDEST",
			"DELIVERED", "FAILED", "RETRIED", "DEAD-LETTERED", "LAST ERROR")
		for _, raw := range dests {
			m, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			d := obj(m)
			last := d.str("last_status", "last_http_status")
			if last == "0" {
				last = ""
			}
			events := d.str("backlog_events", "backlog.events")
			if d.str("backlog_events_estimated") == "true" {
				events = "~" + events
			}
			t.row(d.str("name"), d.str("type"), d.str("health"), last,
				events, humanBytes(d.str("backlog_bytes", "backlog.bytes")),
				humanAge(d, a.now()),
				d.str("delivered", "counters.delivered"), d.str("failed", "counters.failed"),
				d.str("retried", "counters.retried"), d.str("dead_lettered", "counters.dead_lettered"),
				truncate(d.str("last_error"), 80))
		}
		return t.flush()
	})
	return cmd
}

// humanAge formats the age of the oldest undelivered event.
func humanAge(d obj, now time.Time) string {
	if s := d.str("oldest_undelivered_age_seconds", "oldest_age_seconds"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		if f <= 0 {
			return ""
		}
		return (time.Duration(f * float64(time.Second))).Round(time.Second).String()
	}
	if s := d.str("oldest_undelivered", "oldest_at"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return now.Sub(t).Round(time.Second).String()
		}
		return s
	}
	return d.str("oldest_age", "oldest_undelivered_age")
}

// humanBytes formats a byte count ("1.5MiB").
func humanBytes(s string) string {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	if n < 1024 {
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + units[i]
}

func (a *app) tailCmd() *cobra.Command {
	cf := &clientFlags{}
	var filter string
	cmd := &cobra.Command{
		Use:   "tail STREAM",
		Short: "Print a stream's events live as they are delivered (until interrupted)",
		Args:  cobra.ExactArgs(1),
	}
	addClientFlags(cmd.Flags(), cf)
	cmd.Flags().StringVar(&filter, "filter", "", `CEL condition selecting the events to show, e.g. 'event.status == "declined"'`)
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		path := streamPath(args[0], "tail")
		if filter != "" {
			path += "?" + url.Values{"filter": {filter}}.Encode()
		}
		ctx := cmd.Context()
		resp, err := c.open(ctx, request{method: http.MethodGet, path: path, stream: true,
			header: http.Header{"Accept": {"text/event-stream"}}})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 32<<20)
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 {
					fmt.Fprintln(a.stdout, strings.Join(data, "\n"))
					data = data[:0]
				}
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("tail: %w", err)
		}
		return nil
	})
	return cmd
}

func (a *app) deadLettersCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:     "dead-letters",
		Aliases: []string{"dlq"},
		Short:   "List and replay the events destinations could not take",
		Args:    cobra.NoArgs,
	}
	addClientFlags(cmd.PersistentFlags(), cf)
	cmd.AddCommand(a.deadLettersListCmd(cf), a.deadLettersReplayCmd(cf))
	return cmd
}

func (a *app) deadLettersListCmd(cf *clientFlags) *cobra.Command {
	var (
		dest, output, after string
		limit               int
	)
	cmd := &cobra.Command{
		Use:     "list STREAM",
		Aliases: []string{"ls"},
		Short:   "List a stream's dead letters, oldest first",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().StringVarP(&dest, "destination", "d", "", "only the dead letters of this destination")
	cmd.Flags().IntVar(&limit, "limit", 100, "most dead letters to show (at most 1000)")
	cmd.Flags().StringVar(&after, "after", "", "show dead letters after this id (the cursor printed at the end of a page)")
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		q := url.Values{}
		if dest != "" {
			q.Set("destination", dest)
		}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		if after != "" {
			q.Set("after", after)
		}
		path := streamPath(args[0], "dead-letters")
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		resp, err := c.get(cmd.Context(), path)
		if err != nil {
			return err
		}
		if output == "json" {
			return writeJSON(a.stdout, resp.body)
		}
		if output == "yaml" {
			return writeYAML(a.stdout, resp.body)
		}
		items, err := listItems(resp.body, "dead_letters")
		if err != nil {
			return err
		}
		t := newTable(a.stdout, "ID", "DESTINATION", "TIME", "ATTEMPTS", "STATUS", "ERROR")
		for _, raw := range items {
			o, err := decodeObj(raw)
			if err != nil {
				return err
			}
			t.row(o.str("id", "seq"), o.str("destination"), o.str("time", "failed_at"), o.str("attempts"),
				o.str("status_code"), truncate(o.str("error", "reason"), 100))
		}
		if err := t.flush(); err != nil {
			return err
		}
		if o, err := decodeObj(resp.body); err == nil {
			if next := o.str("next"); next != "" {
				fmt.Fprintf(a.stderr, "more: runnel dead-letters list %s --after %s\n", args[0], next)
			}
		}
		return nil
	})
	return cmd
}

func (a *app) deadLettersReplayCmd(cf *clientFlags) *cobra.Command {
	var (
		dest string
		ids  []string
	)
	cmd := &cobra.Command{
		Use:   "replay STREAM [--destination D] [--id N …]",
		Short: "Send dead letters back to their destination (all of them, or those named)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVarP(&dest, "destination", "d", "", "replay only the dead letters of this destination")
	cmd.Flags().StringArrayVar(&ids, "id", nil, "replay only this dead letter; repeatable")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		req := map[string]any{}
		if dest != "" {
			req["destination"] = dest
		}
		if list := splitList(ids); len(list) > 0 {
			nums := make([]uint64, len(list))
			for i, s := range list {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("--id %q: want a dead letter id (a positive number, as listed)", s)
				}
				nums[i] = n
			}
			req["ids"] = nums
		}
		resp, err := c.send(cmd.Context(), request{method: http.MethodPost, path: streamPath(args[0], "dead-letters", "replay"), body: jsonBody(req)})
		if err != nil {
			return err
		}
		o, err := decodeObj(resp.body)
		if err != nil {
			return err
		}
		if n := o.str("replayed"); n != "" {
			fmt.Fprintf(a.stdout, "replayed %s dead letters\n", n)
			return nil
		}
		return writeJSON(a.stdout, resp.body)
	})
	return cmd
}
