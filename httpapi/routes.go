package httpapi

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// Route is one method and path the handler New returns serves, the path
// in OpenAPI's spelling: httprouter's :name and *name become {name}.
type Route struct {
	Method string
	Path   string
}

// routeTable is an httprouter.Router that records every route registered
// through it, because httprouter has no listing API. Every registration in
// New goes through it, so the table is the router's complete route set;
// the OpenAPI document (openapi.json) is tested against it.
//
// It records only: the router is the one serving requests. Not safe for
// concurrent registration (New registers once, before serving).
type routeTable struct {
	*httprouter.Router
	routes []Route
}

func newRouteTable() *routeTable {
	return &routeTable{Router: httprouter.New()}
}

// Handle registers h for method and path on the router and records it.
func (t *routeTable) Handle(method, path string, h httprouter.Handle) {
	t.Router.Handle(method, path, h)
	t.routes = append(t.routes, Route{Method: method, Path: openAPIPath(path)})
}

// GET registers a GET route (httprouter's GET would bypass the record).
func (t *routeTable) GET(path string, h httprouter.Handle) { t.Handle(http.MethodGet, path, h) }

// POST registers a POST route.
func (t *routeTable) POST(path string, h httprouter.Handle) { t.Handle(http.MethodPost, path, h) }

// PUT registers a PUT route.
func (t *routeTable) PUT(path string, h httprouter.Handle) { t.Handle(http.MethodPut, path, h) }

// DELETE registers a DELETE route.
func (t *routeTable) DELETE(path string, h httprouter.Handle) { t.Handle(http.MethodDelete, path, h) }

// openAPIPath turns httprouter's /a/:id and /a/*rest into /a/{id} and
// /a/{rest}.
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if len(s) > 1 && (s[0] == ':' || s[0] == '*') {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// routedHandler is the handler New returns: it serves as next does and
// remembers the route table, for the OpenAPI completeness test.
type routedHandler struct {
	http.Handler
	routes []Route
}

// Routes returns the routes of a handler New returned, in registration
// order, or nil for any other handler. The slice is a copy.
func Routes(h http.Handler) []Route {
	rh, ok := h.(routedHandler)
	if !ok {
		return nil
	}
	return append([]Route(nil), rh.routes...)
}
