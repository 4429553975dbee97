// Package catalogapi serves the catalog routes of the management API:
// GET /v1/data-sources (every data source with its variables) and
// GET /v1/templates (the presets and the custom template). It is apart
// from package catalog because it imports package api, which (through
// model) imports catalog.
package catalogapi

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/runnel/runnel/internal/api"
	"github.com/runnel/runnel/internal/catalog"
)

// Extensions returns the handlers of the routes "listDataSources" and
// "listTemplates", for api.Deps.Extensions. The API has checked the token
// and its streams.read scope; the catalog is the same in every workspace.
func Extensions() map[string]api.Extension {
	return map[string]api.Extension{
		"listDataSources": static(dataSources),
		"listTemplates":   static(templates),
	}
}

// The answers never change: encoded once.
var (
	dataSources = sync.OnceValue(func() []byte { return encode(catalog.DataSourceList{Items: catalog.All()}) })
	templates   = sync.OnceValue(func() []byte { return encode(catalog.TemplateList{Items: catalog.Templates()}) })
)

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("catalogapi: " + err.Error()) // static data: cannot happen
	}
	return append(b, '\n')
}

func static(body func() []byte) api.Extension {
	return func(w http.ResponseWriter, _ *http.Request, _ *api.Call) {
		// As apierr.WriteBody answers, without encoding each time.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body())
	}
}
