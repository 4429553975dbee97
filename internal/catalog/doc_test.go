package catalog

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/data-sources.md from the catalog")

const docPath = "../../docs/data-sources.md"

// docs/data-sources.md is generated from the catalog, so the
// documentation and GET /v1/data-sources cannot disagree.
func TestDocsUpToDate(t *testing.T) {
	got := renderDoc()
	if *update {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/catalog -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./internal/catalog -update", docPath)
	}
}

const docIntro = `# Data sources and templates

<!-- Generated from internal/catalog/catalog.json by
     go test ./internal/catalog -update; edit those, not this file. -->

A stream's ` + "`data_source`" + ` says what kind of events it carries. Each data
source but ` + "`custom`" + ` comes with a catalog of **variables** — the fields its
events have, each with a type, a description and an example — and a
**preset template** that sends all of them. The data sources and their
variables follow the documentation of the product Runnel is modelled on
(a CDN's log streaming service): Activity History, Edge Applications,
Edge Functions and WAF Events, plus ` + "`custom`" + ` for events of your own shape.

- [Choosing a template](#choosing-a-template)
- [Finding the variables](#finding-the-variables)
- [Types](#types)
- [Summary](#summary)
%s- [Templates](#templates)
- [Differences from the seed product](#differences-from-the-seed-product)

## Choosing a template

The ` + "`template`" + ` of a stream (see [streams.md](streams.md#templates)) is one of:

- ` + "`preset`" + `: a preset template of the stream's data source. Its variables are
  fixed; a stream that names a preset cannot also set ` + "`variables`" + ` or
  ` + "`dataset`" + `. Each record is a JSON object with the preset's variables, in
  order, as keys.
- ` + "`variables`" + `: the variables you pick (the **custom template**); the output
  keys are the variables.
- ` + "`dataset`" + `: a JSON object whose keys are yours and whose values are
  ` + "`\"$variable\"`" + ` references or literals.
- nothing: each event is sent as stored.

Every variable a template reads must belong to the stream's data source;
with ` + "`custom`" + ` any path of the event is allowed (` + "`event.status`" + `,
` + "`items.0.sku`" + `). A stream that breaks this rule is refused with 400
` + "`invalid_config`" + `, naming each offending variable:

` + "```json" + `
{"error":"invalid_config","detail":"…","fields":[
  {"path":"template.variables[3]","message":"\"request_path\" is not a variable of data source edge_applications (did you mean \"requestPath\"?); see GET /v1/data-sources"}]}
` + "```" + `

A preset of another data source is refused the same way
(` + "`template.preset`" + `), and so is an unknown data source (` + "`data_source`" + `).

` + "```yaml" + `
name: edge-logs
data_source: edge_applications
template: {preset: edge_applications_waf_collector}
destinations:
  - {name: siem, type: http, settings: {url: "https://siem.example.com/in"}}
` + "```" + `

` + "```yaml" + `
name: edge-errors
data_source: edge_applications
template:
  dataset: {"when": "$time", "host": "$host", "status": "$status", "origin": "$upstream_status_last", "app": "shop"}
destinations:
  - {name: siem, type: http, settings: {url: "https://siem.example.com/in"}}
` + "```" + `

## Finding the variables

- ` + "`GET /v1/data-sources`" + ` answers ` + "`{\"items\":[…]}`" + `: every data source with its
  ` + "`name`, `title`, `description`, `variables`" + ` (` + "`name`, `type`, `description`,\n  `example`" + `, and ` + "`extra: true`" + ` for Runnel's additions) and ` + "`presets`" + `.
- ` + "`GET /v1/templates`" + ` answers ` + "`{\"items\":[…]}`" + `: the presets (` + "`name`, `data_source`,\n  `title`, `description`, `variables`, `editable: false`" + `) and the custom
  template (` + "`editable: true`" + `, no data source: it fits all).
- ` + "`runnel sources`" + ` lists the data sources, ` + "`runnel sources get NAME`" + ` shows
  one with its variables, ` + "`runnel templates`" + ` lists the templates
  (` + "`-o json`" + ` or ` + "`-o yaml`" + ` for the full answer).

Both endpoints need a token with ` + "`streams.read`" + `.

## Types

| Type | Values |
| --- | --- |
| ` + "`string`" + ` | a JSON string |
| ` + "`integer`" + ` | a JSON number without a fractional part |
| ` + "`number`" + ` | a JSON number |
| ` + "`boolean`" + ` | ` + "`true` or `false`" + ` |
| ` + "`timestamp`" + ` | an RFC 3339 string, such as ` + "`2022-10-31T19:30:41Z`" + ` |

The type says what a variable holds in the events Runnel produces or
parses (Activity History, access-log lines). Events you send as JSON are
stored as sent: a template copies each value as it is.

`

const docOutro = `## Differences from the seed product

- Names are the documented ones without the ` + "`$`" + `. Descriptions are Runnel's own.
- Values are typed (` + "`status`" + ` is the number 200, not the string "200");
  ` + "`time`" + ` is an RFC 3339 timestamp rather than "Oct. 31st, 2022 - 19:30:41".
- The seed product documents that multi-valued ` + "`upstream_*`" + ` fields are best
  read by their last value; Runnel offers that value split out as
  ` + "`upstream_*_last`" + ` (marked ` + "`extra`" + `). They are not part of the preset, which
  stays the seed product's.
- Edge Applications also has ` + "`body_bytes_sent`" + ` and ` + "`remote_user`" + ` (marked
  ` + "`extra`" + `, not in the preset either): nginx's ` + "`combined`" + ` access-log format,
  the default for access-log lines
  ([ingest.md](ingest.md#streams-of-a-catalog-data-source)), carries them.
- Presets send every documented variable of their data source, except
  ` + "`traceback`" + ` (set only when rule debugging is on; add it with a custom
  template) and ` + "`truncated_body`" + ` (deprecated, always ` + "`-`" + `).
- Activity History is Runnel's own management activity: ` + "`client`" + ` is the
  workspace, ` + "`title`" + ` reads like "Stream payments was changed", and
  ` + "`type`" + ` is CREATED, CHANGED or DELETED (there are no sign-ups). Each event
  also carries the record's ` + "`activity_id`" + `, the ` + "`author_id`" + ` (token), the
  ` + "`origin`" + ` (user agent and address) and the ` + "`resource`" + `, ` + "`resource_id`" + ` and
  ` + "`resource_name`" + ` changed (marked ` + "`extra`" + `, not in the preset). How a stream
  receives them: [streams.md](streams.md#activity-history).
`

func renderDoc() []byte {
	var b strings.Builder
	var toc strings.Builder
	all := All()
	for _, ds := range all {
		fmt.Fprintf(&toc, "- [%s: `%s`](#%s)\n", ds.Title, ds.Name, anchor(ds.Title+": "+ds.Name))
	}
	fmt.Fprintf(&b, docIntro, toc.String())

	b.WriteString("## Summary\n\n| Data source | Title | Variables | Preset |\n| --- | --- | --- | --- |\n")
	for _, ds := range all {
		presets := "—"
		if len(ds.Presets) > 0 {
			presets = "`" + strings.Join(ds.Presets, "`, `") + "`"
		}
		n := fmt.Sprint(len(ds.Variables))
		if ds.Name == Custom {
			n = "any path"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", ds.Name, anchor(ds.Title+": "+ds.Name), ds.Title, n, presets)
	}
	b.WriteString("\n")

	for _, ds := range all {
		fmt.Fprintf(&b, "## %s: `%s`\n\n%s\n\n", ds.Title, ds.Name, ds.Description)
		if ds.Name == Custom {
			b.WriteString("```yaml\nname: payments\ndata_source: custom\ntemplate: {variables: [timestamp, source, event.status, event.amount]}\n```\n\n")
			continue
		}
		if ds.Name == "edge_applications" {
			b.WriteString("The `upstream_*` variables hold one value per origin the request went to:\n" +
				"`\", \"` separates the servers of one group, `\" : \"` the groups after an internal\n" +
				"redirect (`502 : 200`: the origin failed, an error page was fetched). They\n" +
				"are kept as sent, and their last value — the one that counts — is also\n" +
				"offered split out and typed, as `upstream_*_last`.\n\n")
		}
		b.WriteString("| Variable | Type | Description | Example |\n| --- | --- | --- | --- |\n")
		for _, v := range ds.Variables {
			name := "`" + v.Name + "`"
			if v.Extra {
				name += " (extra)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, v.Type, mdCell(v.Description), mdCell("`"+exampleJSON(v.Example)+"`"))
		}
		b.WriteString("\n")
		for _, name := range ds.Presets {
			p, _ := Preset(name)
			fmt.Fprintf(&b, "### Preset `%s` — %s\n\n%s An event made of the examples gives this record (indented here; records are compact JSON):\n\n```json\n", p.Name, p.Title, p.Description)
			b.Write(exampleRecord(ds.Name, p.Variables))
			b.WriteString("\n```\n\n")
		}
	}

	b.WriteString("## Templates\n\n| Template | Data source | Title | Variables | Editable |\n| --- | --- | --- | --- | --- |\n")
	for _, tp := range Templates() {
		src, n := "all", "any"
		if tp.DataSource != "" {
			src = "`" + tp.DataSource + "`"
			n = fmt.Sprint(len(tp.Variables))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %v |\n", tp.Name, src, tp.Title, n, tp.Editable)
	}
	b.WriteString("\n" + mdCell(CustomTemplate().Description) + "\n\n")
	b.WriteString(docOutro)
	return []byte(b.String())
}

// exampleRecord is the record a preset renders for an event made of the
// examples, indented.
func exampleRecord(ds string, vars []string) []byte {
	var b bytes.Buffer
	b.WriteString("{")
	for i, name := range vars {
		v, _ := Lookup(ds, name)
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteString(":" + exampleJSON(v.Example))
	}
	b.WriteString("}")
	var out bytes.Buffer
	_ = json.Indent(&out, b.Bytes(), "", "  ")
	return out.Bytes()
}

func exampleJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// mdCell escapes a table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// anchor is GitHub's heading anchor: lower case, punctuation dropped,
// spaces to dashes.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
