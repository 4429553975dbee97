package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/internal/api/view"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/store"
)

// resource is the API view of a stored stream: secrets masked, etag and
// inlet_url added.
func (a *API) resource(r *http.Request, st *model.Stream, rev uint64) view.Stream {
	m := a.d.Store.Masked(st)
	return view.Stream{Stream: *m, ETag: store.ETag(rev), InletURL: a.baseURL(r) + "/collection/" + m.InletID}
}

func setETag(w http.ResponseWriter, rev uint64) {
	w.Header().Set("ETag", `"`+store.ETag(rev)+`"`)
}

// parseStream decodes and checks a stream definition: strict decoding,
// Normalize, Validate, then the extra Check. Read-only fields are dropped.
func (a *API) parseStream(body []byte) (*model.Stream, model.FieldErrors, *inputError) {
	var v view.Stream
	derrs, ie := decodeStrict(body, &v)
	if ie != nil {
		return nil, nil, ie
	}
	st := &v.Stream
	st.ID, st.Workspace, st.InletID = "", "", ""
	st.CreatedAt, st.UpdatedAt = time.Time{}, time.Time{}
	st.Normalize(a.d.Kinds)
	errs := mergeErrors(derrs, st.Validate(a.d.Kinds))
	if len(errs) == 0 && a.d.Check != nil {
		errs = a.d.Check(st)
	}
	return st, errs, nil
}

func (a *API) listStreams(w http.ResponseWriter, r *http.Request, c *Call) {
	out := view.StreamList{Items: []view.Stream{}}
	for _, s := range a.d.Store.Streams(c.Workspace) {
		if !c.Token.AllowsStream(s.ID) {
			continue
		}
		st, rev, ok := a.d.Store.Stream(c.Workspace, s.ID)
		if !ok {
			continue
		}
		out.Items = append(out.Items, a.resource(r, st, rev))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getStream(w http.ResponseWriter, r *http.Request, c *Call) {
	setETag(w, c.Rev)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if n, ok := store.ParseETag(t); ok && n == c.Rev || strings.TrimSpace(t) == "*" {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, a.resource(r, c.Stream, c.Rev))
}

func (a *API) createStream(w http.ResponseWriter, r *http.Request, c *Call) {
	if len(c.Token.Streams) > 0 {
		apierr.Write(w, apierr.Forbidden, "a token limited to streams cannot create streams")
		return
	}
	body, ie := readBody(w, r)
	if ie != nil {
		ie.write(w)
		return
	}
	st, errs, ie := a.parseStream(body)
	if ie != nil {
		ie.write(w)
		return
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	created, rev, err := a.d.Store.CreateStream(r.Context(), c.Workspace, st, c.Actor)
	if err != nil {
		a.storeError(w, r, err, fmt.Sprintf("a stream named %q", st.Name))
		return
	}
	w.Header().Set("Location", "/v1/streams/"+created.ID)
	setETag(w, rev)
	writeJSON(w, http.StatusCreated, a.resource(r, created, rev))
}

// ifMatch checks If-Match against the current revision cur. It returns
// the revision the store must still find (0: any) and false when the
// precondition already fails.
func ifMatch(r *http.Request, cur uint64) (uint64, bool) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return 0, true
	}
	for _, t := range strings.Split(strings.Join(vals, ","), ",") {
		if strings.TrimSpace(t) == "*" {
			return 0, true
		}
		if n, ok := store.ParseETag(t); ok && n == cur {
			return cur, true
		}
	}
	return 0, false
}

func preconditionFailed(w http.ResponseWriter, cur uint64) {
	apierr.Write(w, apierr.PreconditionFailed, "If-Match does not match the current ETag \""+strconv.FormatUint(cur, 10)+"\": the stream has changed")
}

func (a *API) replaceStream(w http.ResponseWriter, r *http.Request, c *Call) {
	rev, ok := ifMatch(r, c.Rev)
	if !ok {
		preconditionFailed(w, c.Rev)
		return
	}
	body, ie := readBody(w, r)
	if ie != nil {
		ie.write(w)
		return
	}
	st, errs, ie := a.parseStream(body)
	if ie != nil {
		ie.write(w)
		return
	}
	if len(errs) > 0 {
		apierr.WriteFields(w, errs)
		return
	}
	a.update(w, r, c, st, rev)
}

func (a *API) update(w http.ResponseWriter, r *http.Request, c *Call, st *model.Stream, rev uint64) {
	updated, nrev, err := a.d.Store.UpdateStream(r.Context(), c.Workspace, c.Stream.ID, st, rev, c.Actor)
	if err != nil {
		a.updateError(w, r, err, st)
		return
	}
	setETag(w, nrev)
	writeJSON(w, http.StatusOK, a.resource(r, updated, nrev))
}

func (a *API) updateError(w http.ResponseWriter, r *http.Request, err error, st *model.Stream) {
	what := "stream"
	if errors.Is(err, store.ErrConflict) {
		what = fmt.Sprintf("a stream named %q", st.Name)
	}
	a.storeError(w, r, err, what)
}

func (a *API) patchStream(w http.ResponseWriter, r *http.Request, c *Call) {
	rev, ok := ifMatch(r, c.Rev)
	if !ok {
		preconditionFailed(w, c.Rev)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/merge-patch+json" && mt != "application/json" {
			apierr.Write(w, apierr.UnsupportedMedia, "PATCH takes a JSON merge patch: Content-Type application/merge-patch+json or application/json")
			return
		}
	}
	patch, ie := readBody(w, r)
	if ie == nil {
		ie = checkJSON(patch)
	}
	if ie != nil {
		ie.write(w)
		return
	}
	// The patch is applied to the revision it was computed on: without
	// If-Match, a concurrent change makes us start again from the new one.
	for attempt := 1; ; attempt++ {
		doc, err := json.Marshal(a.resource(r, c.Stream, c.Rev))
		if err != nil {
			a.storeError(w, r, err, "stream")
			return
		}
		merged, err := mergePatch(doc, patch)
		if err != nil {
			apierr.Write(w, apierr.InvalidFormat, "malformed merge patch")
			return
		}
		st, errs, ie := a.parseStream(merged)
		if ie != nil {
			ie.write(w)
			return
		}
		if len(errs) > 0 {
			apierr.WriteFields(w, errs)
			return
		}
		if !patchesDataset(patch) && len(st.Template.Dataset) > 0 {
			// A merge patch goes through a map, which sorts keys; a dataset
			// the patch does not touch keeps its written key order.
			st.Template.Dataset = c.Stream.Template.Dataset
		}
		want := rev
		if want == 0 {
			want = c.Rev
		}
		updated, nrev, err := a.d.Store.UpdateStream(r.Context(), c.Workspace, c.Stream.ID, st, want, c.Actor)
		if errors.Is(err, store.ErrPreconditionFailed) && rev == 0 && attempt < 3 {
			cur, crev, ok := a.d.Store.Stream(c.Workspace, c.Stream.ID)
			if !ok {
				apierr.Write(w, apierr.NotFound, "stream not found")
				return
			}
			c.Stream, c.Rev = cur, crev
			continue
		}
		if err != nil {
			a.updateError(w, r, err, st)
			return
		}
		setETag(w, nrev)
		writeJSON(w, http.StatusOK, a.resource(r, updated, nrev))
		return
	}
}

func (a *API) deleteStream(w http.ResponseWriter, r *http.Request, c *Call) {
	rev, ok := ifMatch(r, c.Rev)
	if !ok {
		preconditionFailed(w, c.Rev)
		return
	}
	if err := a.d.Store.DeleteStream(r.Context(), c.Workspace, c.Stream.ID, rev, c.Actor); err != nil {
		a.storeError(w, r, err, "stream")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// patchesDataset reports whether a merge patch sets template.dataset (or
// the whole template).
func patchesDataset(patch []byte) bool {
	var p struct {
		Template *json.RawMessage `json:"template"`
	}
	if json.Unmarshal(patch, &p) != nil || p.Template == nil {
		return false
	}
	var t map[string]json.RawMessage
	if json.Unmarshal(*p.Template, &t) != nil {
		return true // template: null or not an object replaces it
	}
	_, ok := t["dataset"]
	return ok
}
