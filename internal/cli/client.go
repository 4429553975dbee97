package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runnel/runnel/internal/model"
)

// Client connection defaults.
const (
	defaultURL = "http://localhost:8080"
	// requestTimeout bounds one management request (not tail, not a
	// whole send).
	requestTimeout = 60 * time.Second
	// maxResponse bounds what is read of a response body.
	maxResponse = 64 << 20
)

// clientFlags are the connection flags of the client commands.
type clientFlags struct {
	url, token, workspace string
}

// addClientFlags declares --url, --token and --workspace (persistent on a
// command group, so its subcommands take them too).
func addClientFlags(fs *pflag.FlagSet, cf *clientFlags) {
	fs.StringVar(&cf.url, "url", defaultURL, "base URL of the Runnel server")
	fs.StringVar(&cf.token, "token", "", "API token, sent as a Bearer token (prefer the environment variable: flags are visible in ps)")
	fs.StringVar(&cf.workspace, "workspace", "", "workspace to act in (admin tokens; sent as X-Workspace)")
	setEnv(fs, "url", "RUNNEL_URL")
	setEnv(fs, "token", "RUNNEL_TOKEN")
	setEnv(fs, "workspace", "RUNNEL_WORKSPACE")
}

// client calls the Runnel HTTP API.
type client struct {
	base      string
	token     string
	workspace string
	hc        *http.Client
}

func (a *app) client(cf *clientFlags) (*client, error) {
	base := strings.TrimRight(strings.TrimSpace(cf.url), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want an http:// or https:// URL such as %s", cf.url, defaultURL)
	}
	return &client{base: base, token: strings.TrimSpace(cf.token), workspace: cf.workspace, hc: a.httpClient}, nil
}

// APIError is an error answer of the API: its JSON body
// {"error","detail","fields"}, or the status and text of a non-JSON answer.
type APIError struct {
	Status int                `json:"-"`
	Code   string             `json:"error"`
	Detail string             `json:"detail"`
	Fields []model.FieldError `json:"fields,omitempty"`
	// Text is the body of an answer that is not an API error body.
	Text string `json:"-"`
	// Context names what was being done ("stream payments"), for messages
	// about one of several operations.
	Context string `json:"-"`
	// RetryAfter is the Retry-After header, if any.
	RetryAfter string `json:"-"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Context != "" {
		b.WriteString(e.Context + ": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
	if t := strings.TrimSpace(e.Text); t != "" {
		if len(t) > 512 {
			t = t[:512] + "…"
		}
		b.WriteString(": " + t)
	}
	return b.String()
}

// Format is the error as printed: "error: <code>: <detail>" and one
// indented line per invalid field.
func (e *APIError) Format() string {
	var b strings.Builder
	b.WriteString("error: " + e.Error() + "\n")
	for _, f := range e.Fields {
		if f.Path == "" {
			fmt.Fprintf(&b, "  %s\n", f.Message)
		} else {
			fmt.Fprintf(&b, "  %s: %s\n", f.Path, f.Message)
		}
	}
	return b.String()
}

func parseAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var parsed APIError
	if json.Unmarshal(body, &parsed) == nil && parsed.Code != "" {
		e.Code, e.Detail, e.Fields = parsed.Code, parsed.Detail, parsed.Fields
		return e
	}
	e.Text = string(body)
	return e
}

// isNotFound reports whether err is the API's 404 answer.
func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code != ""
}

// request is one API call.
type request struct {
	method string
	path   string // with query, already escaped
	body   []byte
	header http.Header
	// stream: open returns error answers as *APIError (tail).
	stream bool
}

// response is an answered call (status < 400).
type response struct {
	status int
	header http.Header
	body   []byte
}

// send performs one request. A status of 400 or more is an *APIError;
// a transport failure names the method and URL.
func (c *client) send(ctx context.Context, r request) (*response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	resp, err := c.open(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", r.method, c.base+r.path, err)
	}
	if resp.StatusCode >= 400 {
		return nil, parseAPIError(resp, body)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// open performs a request and returns the response with its body unread.
// For a stream request (tail), a status of 400 or more is an *APIError.
func (c *client) open(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", userAgent())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.workspace != "" {
		req.Header.Set("X-Workspace", c.workspace)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(ctxErr, context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s %s: no answer in time: %w", r.method, c.base+r.path, ctxErr)
			}
			return nil, ctxErr
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach Runnel: %s %s: %w", r.method, c.base+r.path, err)
	}
	if r.stream && resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, parseAPIError(resp, b)
	}
	return resp, nil
}

// get performs a GET.
func (c *client) get(ctx context.Context, path string) (*response, error) {
	return c.send(ctx, request{method: http.MethodGet, path: path})
}

// jsonBody marshals v for a request.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cli: marshal request: %v", err))
	}
	return b
}

// streamPath is /v1/streams/{id or name}[/suffix].
func streamPath(s string, suffix ...string) string {
	p := "/v1/streams/" + url.PathEscape(s)
	for _, x := range suffix {
		p += "/" + x
	}
	return p
}

// listItems returns the elements of a list answer: a JSON array, or an
// object holding the list ({"items":[…]}, {"streams":[…]}, …).
func listItems(body []byte, keys ...string) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("unexpected answer: %w", err)
		}
		return items, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("unexpected answer (want a JSON list): %.200s", body)
	}
	for _, k := range append(keys, "items", "data", "results") {
		if v, ok := obj[k]; ok {
			var items []json.RawMessage
			if string(bytes.TrimSpace(v)) == "null" {
				return nil, nil
			}
			if err := json.Unmarshal(v, &items); err == nil {
				return items, nil
			}
		}
	}
	// The one array-valued member, whatever its name.
	var found []json.RawMessage
	n := 0
	for _, v := range obj {
		var items []json.RawMessage
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' && json.Unmarshal(t, &items) == nil {
			found = items
			n++
		}
	}
	if n == 1 {
		return found, nil
	}
	return nil, fmt.Errorf("unexpected answer (want a JSON list): %.200s", body)
}

// outputFlag declares -o/--output with the allowed formats, the first
// being the default.
func outputFlag(cmd *cobra.Command, p *string, formats ...string) {
	cmd.Flags().StringVarP(p, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
	cmd.PreRunE = func(*cobra.Command, []string) error {
		for _, f := range formats {
			if *p == f {
				return nil
			}
		}
		return fmt.Errorf("--output %q: want one of %s", *p, strings.Join(formats, ", "))
	}
}
