package api

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
)

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *Call) {
	out := view.TokenList{Items: []view.Token{}}
	for _, t := range a.d.Store.Tokens(c.Workspace) {
		if visibleToken(c.Token, t) {
			out.Items = append(out.Items, view.FromToken(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, c *Call) {
	body, ie := readBody(w, r)
	if ie != nil {
		ie.write(w)
		return
	}
	var req model.TokenRequest
	derrs, ie := decodeStrict(body, &req)
	if ie != nil {
		ie.write(w)
		return
	}
	if errs := mergeErrors(derrs, req.Validate(a.d.Now())); len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	// No token grants more than it has: admin only from admin, and a
	// token limited to streams only issues tokens limited to some of them.
	if slices.Contains(req.Scopes, model.ScopeAdmin) && !c.Token.Has(model.ScopeAdmin) {
		apierr.Write(w, apierr.Forbidden, "only an admin token may grant the admin scope")
		return
	}
	if len(c.Token.Streams) > 0 {
		if len(req.Streams) == 0 {
			apierr.Write(w, apierr.Forbidden, "a token limited to streams can only issue tokens limited to some of its streams")
			return
		}
		for _, ref := range req.Streams {
			if st, _, ok := a.d.Store.Stream(c.Workspace, ref); ok && !c.Token.AllowsStream(st.ID) {
				apierr.Write(w, apierr.Forbidden, fmt.Sprintf("this token is not allowed to act on stream %q", ref))
				return
			}
		}
	}
	t, sec, err := a.d.Store.CreateToken(r.Context(), c.Workspace, &req, c.Actor)
	if err != nil {
		a.storeError(w, r, err, "token")
		return
	}
	w.Header().Set("Location", "/v1/tokens/"+t.ID)
	writeJSON(w, http.StatusCreated, view.NewToken{Token: view.FromToken(t), Secret: sec})
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, c *Call) {
	id := r.PathValue("id")
	t, ok := a.d.Store.Token(c.Workspace, id)
	if !ok {
		apierr.Write(w, apierr.NotFound, fmt.Sprintf("token %q not found", id))
		return
	}
	if !visibleToken(c.Token, t) {
		apierr.Write(w, apierr.Forbidden, "this token is limited to streams the other token is not limited to")
		return
	}
	if t.Has(model.ScopeAdmin) && !c.Token.Has(model.ScopeAdmin) {
		apierr.Write(w, apierr.Forbidden, "only an admin token may revoke an admin token")
		return
	}
	if err := a.d.Store.DeleteToken(r.Context(), c.Workspace, id, c.Actor); err != nil {
		a.storeError(w, r, err, "token")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
