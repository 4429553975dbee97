package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/secret"
	"github.com/runnel/runnel/internal/store"
)

// TestTimeout bounds a destination test.
const TestTimeout = 60 * time.Second

// MaxReplayIDs bounds the ids of one replay request.
const MaxReplayIDs = 10_000

func (a *API) noDelivery(w http.ResponseWriter) bool {
	if a.d.Delivery != nil {
		return false
	}
	apierr.WriteRetry(w, apierr.Unavailable, "the delivery engine is not running", 5*time.Second)
	return true
}

// deliveryError answers for an error of the delivery engine.
func (a *API) deliveryError(w http.ResponseWriter, r *http.Request, err error, c *Call) {
	var fe model.FieldErrors
	switch {
	case errors.Is(err, store.ErrNotFound):
		apierr.Write(w, apierr.NotFound, "not found")
	case errors.As(err, &fe):
		apierr.WriteFields(w, fe)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		apierr.WriteRetry(w, apierr.Unavailable, "the delivery engine did not answer in time", time.Second)
	default:
		a.log.Error("api delivery error", "route", r.Pattern, "stream", c.Stream.ID, "error", err)
		apierr.Write(w, apierr.Internal, "internal error")
	}
}

func (a *API) streamStatus(w http.ResponseWriter, r *http.Request, c *Call) {
	if a.noDelivery(w) {
		return
	}
	masked := a.d.Store.Masked(c.Stream)
	res, err := a.d.Delivery.Status(r.Context(), masked)
	if err != nil {
		a.deliveryError(w, r, err, c)
		return
	}
	raw, err := json.Marshal(res)
	if err != nil {
		a.deliveryError(w, r, err, c)
		return
	}
	out := map[string]any{}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil && obj != nil {
		for k, v := range obj {
			out[k] = v
		}
	} else if string(raw) != "null" {
		out["destinations"] = json.RawMessage(raw)
	}
	out["id"], out["name"], out["status"] = c.Stream.ID, c.Stream.Name, c.Stream.Status
	writeJSON(w, http.StatusOK, out)
}

// destination checks that the stream has a destination of this name.
func destinationOf(w http.ResponseWriter, c *Call, name string) (*model.Destination, bool) {
	d, ok := c.Stream.Destination(name)
	if !ok {
		apierr.Write(w, apierr.NotFound, fmt.Sprintf("stream %q has no destination %q", c.Stream.Name, name))
	}
	return d, ok
}

func (a *API) listDeadLetters(w http.ResponseWriter, r *http.Request, c *Call) {
	dest := r.URL.Query().Get("destination")
	if dest != "" {
		if _, ok := destinationOf(w, c, dest); !ok {
			return
		}
	}
	after, ie := queryCursor(r, "after")
	if ie != nil {
		ie.write(w)
		return
	}
	limit, ie := queryLimit(r)
	if ie != nil {
		ie.write(w)
		return
	}
	if a.noDelivery(w) {
		return
	}
	items, next, err := a.d.Delivery.DeadLetters(r.Context(), c.Stream.ID, dest, after, limit)
	if err != nil {
		a.deliveryError(w, r, err, c)
		return
	}
	raw, err := json.Marshal(items)
	if err != nil {
		a.deliveryError(w, r, err, c)
		return
	}
	if string(raw) == "null" {
		raw = []byte("[]")
	}
	writeJSON(w, http.StatusOK, struct {
		Items json.RawMessage `json:"items"`
		Next  string          `json:"next"`
	}{raw, cursor(next)})
}

func (a *API) replayDeadLetters(w http.ResponseWriter, r *http.Request, c *Call) {
	body, ie := readBody(w, r)
	if ie != nil {
		ie.write(w)
		return
	}
	var req view.ReplayRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		errs, ie := decodeStrict(body, &req)
		if ie != nil {
			ie.write(w)
			return
		}
		if len(req.IDs) > MaxReplayIDs {
			errs.Add("ids", "at most %d ids per request", MaxReplayIDs)
		}
		if len(errs) > 0 {
			apierr.WriteFields(w, errs)
			return
		}
	}
	if req.Destination != "" {
		if _, ok := destinationOf(w, c, req.Destination); !ok {
			return
		}
	}
	if a.noDelivery(w) {
		return
	}
	n, err := a.d.Delivery.Replay(r.Context(), c.Stream.ID, req.Destination, req.IDs)
	if err != nil {
		a.deliveryError(w, r, err, c)
		return
	}
	writeJSON(w, http.StatusOK, view.ReplayResult{Replayed: n})
}

func (a *API) testDestination(w http.ResponseWriter, r *http.Request, c *Call) {
	name := r.PathValue("name")
	if _, ok := destinationOf(w, c, name); !ok {
		return
	}
	if a.noDelivery(w) {
		return
	}
	st, err := a.d.Store.Decrypted(c.Stream)
	if err != nil {
		a.storeError(w, r, err, "stream")
		return
	}
	d, _ := st.Destination(name)
	ctx, cancel := context.WithTimeout(r.Context(), TestTimeout)
	defer cancel()
	res := view.TestResult{OK: true}
	if err := a.d.Delivery.Test(ctx, st, name); err != nil {
		res = view.TestResult{OK: false, Error: scrub(err.Error(), a.secretsOf(d))}
	}
	a.log.Info("destination tested", "workspace", c.Workspace, "stream", c.Stream.ID, "destination", name, "ok", res.OK)
	writeJSON(w, http.StatusOK, res)
}

// secretsOf lists the secret setting values of a decrypted destination.
func (a *API) secretsOf(d *model.Destination) []string {
	var out []string
	for k, v := range d.Settings {
		switch val := v.(type) {
		case string:
			if a.d.Kinds.IsSecret(d.Type, k) {
				out = append(out, val)
			}
		case map[string]any:
			for sk, sv := range val {
				if s, ok := sv.(string); ok && a.d.Kinds.IsSecret(d.Type, k+"."+sk) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// maxTestError bounds the error text of a destination test.
const maxTestError = 2048

// scrub removes every secret from msg, in the forms an error message may
// quote it: as is, URL-encoded, JSON-escaped, base64 (basic auth); and the
// words of a multi-word secret ("Bearer <token>").
func scrub(msg string, secrets []string) string {
	var forms []string
	for _, s := range secrets {
		if s == "" || s == secret.Mask {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)))
		if q, err := json.Marshal(s); err == nil {
			inner := string(q[1 : len(q)-1])
			forms = append(forms, inner, strings.ReplaceAll(inner, "/", `\/`))
		}
		for _, f := range strings.Fields(s) {
			if len(f) >= 6 && f != s {
				forms = append(forms, f)
			}
		}
	}
	// Longest first, so that a secret containing another is removed whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if f != "" {
			msg = strings.ReplaceAll(msg, f, secret.Mask)
		}
	}
	if len(msg) > maxTestError {
		n := maxTestError
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "…"
	}
	return msg
}
