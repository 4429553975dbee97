package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/internal/catalog"
)

// sourcesCmd is `runnel sources` (GET /v1/data-sources) and
// `runnel sources get NAME`.
func (a *app) sourcesCmd() *cobra.Command {
	cf := &clientFlags{}
	var output string
	cmd := &cobra.Command{
		Use:     "sources",
		Aliases: []string{"data-sources"},
		Short:   "List the data sources a stream can carry (runnel sources get NAME shows the variables)",
		Long: `List the data sources a stream can carry (its data_source), with the number
of variables of each and its preset templates. "runnel sources get NAME"
shows one data source with every variable: type, example and description.
A template may only read the variables of its stream's data source (any
path for custom).`,
		Args: cobra.NoArgs,
	}
	addClientFlags(cmd.PersistentFlags(), cf)
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		body, list, err := a.dataSources(cmd, cf)
		if err != nil {
			return err
		}
		switch output {
		case "json":
			return writeJSON(a.stdout, body)
		case "yaml":
			return writeYAML(a.stdout, body)
		}
		t := newTable(a.stdout, "NAME", "TITLE", "VARIABLES", "PRESETS")
		for _, ds := range list.Items {
			n := strconv.Itoa(len(ds.Variables))
			if ds.Name == catalog.Custom {
				n = "any path"
			}
			t.row(ds.Name, ds.Title, n, strings.Join(ds.Presets, ", "))
		}
		return t.flush()
	})
	cmd.AddCommand(a.sourcesGetCmd(cf))
	return cmd
}

func (a *app) sourcesGetCmd(cf *clientFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a data source with its variables: type, example and description",
		Args:  cobra.ExactArgs(1),
	}
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, args []string) error {
		_, list, err := a.dataSources(cmd, cf)
		if err != nil {
			return err
		}
		var ds *catalog.DataSource
		var names []string
		for i := range list.Items {
			names = append(names, list.Items[i].Name)
			if list.Items[i].Name == args[0] {
				ds = &list.Items[i]
			}
		}
		if ds == nil {
			return fmt.Errorf("unknown data source %q (want one of %s)", args[0], strings.Join(names, ", "))
		}
		if output != "table" {
			raw, err := json.Marshal(ds)
			if err != nil {
				return err
			}
			if output == "yaml" {
				return writeYAML(a.stdout, raw)
			}
			return writeJSON(a.stdout, raw)
		}
		fmt.Fprintf(a.stdout, "%s (%s)\n%s\n", ds.Name, ds.Title, ds.Description)
		if len(ds.Presets) > 0 {
			fmt.Fprintf(a.stdout, "preset: %s\n", strings.Join(ds.Presets, ", "))
		}
		if len(ds.Variables) == 0 {
			fmt.Fprintln(a.stdout, "variables: any path of the event")
			return nil
		}
		fmt.Fprintln(a.stdout)
		t := newTable(a.stdout, "VARIABLE", "TYPE", "EXAMPLE", "DESCRIPTION")
		for _, v := range ds.Variables {
			desc := v.Description
			if v.Extra {
				desc = "(extra) " + desc
			}
			t.row(v.Name, v.Type, exampleString(v.Example), desc)
		}
		return t.flush()
	})
	return cmd
}

// dataSources fetches GET /v1/data-sources.
func (a *app) dataSources(cmd *cobra.Command, cf *clientFlags) ([]byte, catalog.DataSourceList, error) {
	var list catalog.DataSourceList
	c, err := a.client(cf)
	if err != nil {
		return nil, list, err
	}
	resp, err := c.get(cmd.Context(), "/v1/data-sources")
	if err != nil {
		return nil, list, err
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		return nil, list, fmt.Errorf("unexpected answer: %.200s", resp.body)
	}
	return resp.body, list, nil
}

// templatesCmd is `runnel templates` (GET /v1/templates).
func (a *app) templatesCmd() *cobra.Command {
	cf := &clientFlags{}
	var output, source string
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List the preset templates and the custom template",
		Long: `List the templates a stream can use: the presets (template.preset; their
variables cannot be changed) and the custom template (template.variables
or template.dataset, with any variables of the stream's data source).
--data-source keeps the templates that fit that data source.`,
		Args: cobra.NoArgs,
	}
	addClientFlags(cmd.Flags(), cf)
	cmd.Flags().StringVar(&source, "data-source", "", "only the templates of this data source (and the custom template)")
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		c, err := a.client(cf)
		if err != nil {
			return err
		}
		resp, err := c.get(cmd.Context(), "/v1/templates")
		if err != nil {
			return err
		}
		var list catalog.TemplateList
		if err := json.Unmarshal(resp.body, &list); err != nil {
			return fmt.Errorf("unexpected answer: %.200s", resp.body)
		}
		body := resp.body
		if source != "" {
			kept := []catalog.Template{}
			for _, tp := range list.Items {
				if tp.DataSource == "" || tp.DataSource == source {
					kept = append(kept, tp)
				}
			}
			list.Items = kept
			if body, err = json.Marshal(list); err != nil {
				return err
			}
		}
		switch output {
		case "json":
			return writeJSON(a.stdout, body)
		case "yaml":
			return writeYAML(a.stdout, body)
		}
		t := newTable(a.stdout, "NAME", "DATA SOURCE", "TITLE", "VARIABLES", "EDITABLE")
		for _, tp := range list.Items {
			src, n := tp.DataSource, strconv.Itoa(len(tp.Variables))
			if src == "" {
				src, n = "all", "any"
			}
			t.row(tp.Name, src, tp.Title, n, strconv.FormatBool(tp.Editable))
		}
		return t.flush()
	})
	return cmd
}

// exampleString shows an example as JSON (strings quoted), so that "200"
// and 200 read differently.
func exampleString(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
