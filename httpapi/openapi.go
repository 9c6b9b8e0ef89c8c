package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// pathOpenAPI serves the OpenAPI 3.1 description of every route New
// registers.
const pathOpenAPI = "/openapi.json"

// openAPIDocument is the OpenAPI 3.1 description of the HTTP API. Its
// paths and methods equal the route table of New (openapi_test.go fails
// otherwise) but for operations marked x-stamp-only-with, which an option
// turns on, and the integration tests validate real requests and
// responses against its schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document served at /openapi.json. The
// slice is a copy.
func OpenAPI() []byte {
	return append([]byte(nil), openAPIDocument...)
}

// serveOpenAPI answers GET /openapi.json with the embedded document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
