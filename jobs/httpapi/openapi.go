package httpapi

import (
	_ "embed"
	"net/http"
)

// openapiDoc describes every route; a test checks it against the mux and
// validates real requests and responses with it.
//
//go:embed openapi.yaml
var openapiDoc []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openapiDoc)
}
