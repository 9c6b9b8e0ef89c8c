package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/stamp-oauth/stamp/domain"
)

// documentedOperation is one operation of openapi.json.
type documentedOperation struct {
	Route
	// onlyWith names the option that registers the route
	// (x-stamp-only-with): such a route is registered conditionally, so it
	// may be missing from a server built with the default options.
	onlyWith string
}

// documentedOperations returns the operations of the OpenAPI document.
func documentedOperations(t *testing.T) []documentedOperation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	methods := map[string]string{"get": http.MethodGet, "head": http.MethodHead, "post": http.MethodPost,
		"put": http.MethodPut, "patch": http.MethodPatch, "delete": http.MethodDelete, "options": http.MethodOptions}
	var ops []documentedOperation
	for path, item := range doc.Paths {
		for key, raw := range item {
			m, ok := methods[key]
			if !ok {
				continue // parameters, summary, ...
			}
			var op struct {
				OnlyWith string `json:"x-stamp-only-with"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("openapi.json: %s %s: %v", key, path, err)
			}
			ops = append(ops, documentedOperation{Route{m, path}, op.OnlyWith})
		}
	}
	return ops
}

// TestOpenAPIMatchesRoutes fails when the server registers a route the
// OpenAPI document does not describe, or the document describes an
// operation the server does not register (but for operations an option
// turns on).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, &fakeService{}, nil, Options{})
	routes := Routes(h.handler)
	if !slices.Contains(routes, Route{http.MethodPost, "/oauth/token"}) || !slices.Contains(routes, Route{http.MethodPut, "/oauth/clients/{id}"}) {
		t.Fatalf("Routes returned %v; want the token endpoint and /oauth/clients/{id} among them", routes)
	}
	registered := map[Route]bool{}
	for _, r := range routes {
		if registered[r] {
			t.Errorf("route %s %s registered twice", r.Method, r.Path)
		}
		registered[r] = true
	}
	documented := map[Route]bool{}
	for _, op := range documentedOperations(t) {
		documented[op.Route] = true
		if !registered[op.Route] && op.onlyWith == "" {
			t.Errorf("openapi.json describes %s %s, which the server does not register", op.Method, op.Path)
		}
	}
	for _, r := range routes {
		if !documented[r] {
			t.Errorf("the server registers %s %s, which openapi.json does not describe", r.Method, r.Path)
		}
	}

	// Development mode adds POST /dev/tokens, described as such.
	dev := Route{http.MethodPost, "/dev/tokens"}
	if !slices.Contains(Routes(newHarnessWith(t, Deps{Dev: noDevMinter{}}, Options{}).handler), dev) {
		t.Errorf("a server with Deps.Dev does not register %s %s", dev.Method, dev.Path)
	}
	found := false
	for _, op := range documentedOperations(t) {
		if op.Route == dev {
			found = op.onlyWith == "dev"
		}
	}
	if !found {
		t.Errorf("openapi.json does not describe %s %s as x-stamp-only-with dev", dev.Method, dev.Path)
	}
}

// noDevMinter is a DevMinter for route tests: it mints nothing.
type noDevMinter struct{}

func (noDevMinter) MintDevToken(context.Context, domain.DevTokenRequest) (domain.TokenResponse, error) {
	return domain.TokenResponse{}, errors.New("httpapi: test: no dev tokens")
}

// TestOpenAPIDocumentValid checks openapi.json against the OpenAPI 3.1
// schema and that every reference resolves.
func TestOpenAPIDocumentValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi version %q; want 3.1.0", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("build the model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("openapi.json: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (line %d)", se.Reason, se.KeywordLocation, se.Line)
			}
		}
	}
}

// TestServeOpenAPI checks GET /openapi.json serves the embedded document.
func TestServeOpenAPI(t *testing.T) {
	h := newHarness(t, &fakeService{}, nil, Options{})
	rec := h.do(httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %q; want 200 application/json", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Errorf("GET /openapi.json served %d bytes; want the %d embedded", len(body), len(openAPIDocument))
	}
	OpenAPI()[0] = 'x'
	if openAPIDocument[0] != '{' {
		t.Errorf("OpenAPI returned the embedded slice itself; want a copy")
	}
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                                 "/",
		"/oauth/clients/:id":                "/oauth/clients/{id}",
		"/dashboard/:file":                  "/dashboard/{file}",
		"/files/*path":                      "/files/{path}",
		"/a/:x/b/:y":                        "/a/{x}/b/{y}",
		"/.well-known/jwks.json":            "/.well-known/jwks.json",
		"/oauth/personal-access-tokens/:id": "/oauth/personal-access-tokens/{id}",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q; want %q", in, got, want)
		}
	}
	if diff := cmp.Diff([]Route(nil), Routes(http.NotFoundHandler())); diff != "" {
		t.Errorf("Routes of a foreign handler (-want +got):\n%s", diff)
	}
}
