// Package httpapi is stamp's HTTP adapter: the OAuth2 endpoints
// (POST /oauth/token, RFC 7662 introspection, RFC 7009 revocation), the
// discovery documents (RFC 8414 metadata, the JWKS), Passport's
// GET /oauth/scopes, and the rendering of errors.
//
// Handlers are thin: they parse and bound the request, call the
// application service (domain.Service, seen through the small interfaces
// this package declares) and render its answer. No OAuth2 rule lives here;
// the one exception is the transport itself (RFC 6749 §2.3.1 client
// authentication, §3.2 parameter rules), which only HTTP knows about.
//
// Every error reaches the client through one function, renderError in
// errors.go, which maps domain errors to RFC 6749 §5.2 JSON and an HTTP
// status, and logs an unexpected error once, showing the client only a
// generic server_error.
//
// httpapi imports domain, httprouter and the standard library only, never
// another adapter of stamp; cmd/stamp wires it to the service.
package httpapi
