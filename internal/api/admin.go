package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
)

func (a *API) listWorkspaces(w http.ResponseWriter, r *http.Request, c *Call) {
	out := view.WorkspaceList{Items: []model.Workspace{}}
	for _, ws := range a.d.Store.Workspaces() {
		out.Items = append(out.Items, *ws)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createWorkspace(w http.ResponseWriter, r *http.Request, c *Call) {
	body, ie := readBody(w, r)
	if ie != nil {
		ie.write(w)
		return
	}
	var req view.WorkspaceRequest
	errs, ie := decodeStrict(body, &req)
	if ie != nil {
		ie.write(w)
		return
	}
	if len(errs) == 0 && !model.ValidWorkspaceName(req.Name) {
		errs.Add("name", "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit")
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	ws, err := a.d.Store.CreateWorkspace(r.Context(), req.Name, c.Actor)
	if err != nil {
		a.storeError(w, r, err, fmt.Sprintf("workspace %q", req.Name))
		return
	}
	writeJSON(w, http.StatusCreated, ws)
}

// maxActivityPages bounds the pages one filtered activity listing reads.
const maxActivityPages = 50

func (a *API) listActivity(w http.ResponseWriter, r *http.Request, c *Call) {
	before, ie := queryCursor(r, "before")
	if ie != nil {
		ie.write(w)
		return
	}
	limit, ie := queryLimit(r)
	if ie != nil {
		ie.write(w)
		return
	}
	out := view.ActivityPage{Items: []model.Activity{}}
	if len(c.Token.Streams) == 0 {
		items, next, err := a.d.Store.Activity(r.Context(), c.Workspace, before, limit)
		if err != nil {
			a.storeError(w, r, err, "activity")
			return
		}
		out.Items, out.Next = append(out.Items, items...), cursor(next)
		writeJSON(w, http.StatusOK, out)
		return
	}
	// A token limited to streams sees the history of those streams only.
	cur := before
	for range maxActivityPages {
		items, next, err := a.d.Store.Activity(r.Context(), c.Workspace, cur, limit)
		if err != nil {
			a.storeError(w, r, err, "activity")
			return
		}
		for _, it := range items {
			if it.Resource == "stream" && c.Token.AllowsStream(it.ResourceID) {
				out.Items = append(out.Items, it)
			}
			if len(out.Items) == limit {
				out.Next = it.ID
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
		if next == 0 {
			out.Next = ""
			writeJSON(w, http.StatusOK, out)
			return
		}
		cur, out.Next = next, cursor(next)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getOpenAPI(w http.ResponseWriter, r *http.Request, _ *Call) {
	doc, err := a.openapi()
	if err != nil {
		a.log.Error("api openapi", "error", err)
		apierr.Write(w, apierr.Internal, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(doc)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request, _ *Call) {
	writeJSON(w, http.StatusOK, view.Health{Status: "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ *Call) {
	if a.d.Ready != nil && !a.d.Ready() {
		apierr.WriteRetry(w, apierr.Unavailable, "not ready: the store is not reachable", time.Second)
		return
	}
	writeJSON(w, http.StatusOK, view.Health{Status: "ready"})
}

func (a *API) metrics() handler {
	reg := prometheus.NewRegistry()
	if a.d.Metrics != nil {
		reg = a.d.Metrics.Registry
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return func(w http.ResponseWriter, r *http.Request, _ *Call) { h.ServeHTTP(w, r) }
}
