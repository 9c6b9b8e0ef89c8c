// Package httpapi is stamp's HTTP adapter: the OAuth2 endpoints
// (POST /oauth/token, RFC 7662 introspection, RFC 7009 revocation, RFC 8628
// device authorization), the browser pages (login, Passport's approval
// screen at /oauth/authorize, the device verification pages), the
// discovery documents (RFC 8414 metadata, the JWKS), Passport's
// GET /oauth/scopes, Passport's JSON API (clients, authorized tokens,
// personal access tokens; API.md documents every route), the dashboard's
// cookie token (Passport's CreateFreshApiToken, cookie_token.go), the
// forward-auth endpoint GET /auth/verify for reverse proxies, and the
// rendering of errors.
//
// The JSON API authenticates a request by a bearer token, or by the
// session cookie or the cookie token together with a CSRF header
// (api_auth.go). Unlike Passport's, the cookie token is a real access
// token in the log, revoked at logout.
//
// Handlers are thin: they parse and bound the request, call the
// application service (domain.Service, seen through the small interfaces
// ports.go declares) and render its answer. No OAuth2 rule lives here;
// the exceptions are the transport itself (RFC 6749 §2.3.1 client
// authentication, §3.2 parameter rules) and the browser session, which
// only HTTP knows about.
//
// The browser pages (login, approval, device) are server-rendered with
// html/template from embedded files (templates/), work without JavaScript
// and load nothing from elsewhere. The dashboard (dashboard.go,
// dashboard/) is the one page with a script: its own, embedded, calling
// the JSON API. A login is a signed session cookie (session.go) with a
// session id that logout ends for every copy of the cookie; every form
// carries the session's CSRF token, and the approval and device
// confirmation screens also a screen token binding the decision to what
// the screen showed.
//
// Every JSON error reaches the client through renderError in errors.go,
// which maps domain errors to RFC 6749 §5.2 JSON and an HTTP status, and
// logs an unexpected error once, showing the client only a generic
// server_error; renderPageError in html.go is its counterpart for pages
// (a text for a person, the code beneath, a way back: errorpages.go), and
// renderAPIError the JSON API's, in Laravel's {"message"} shapes. An
// unknown path or method is a page for a browser and JSON for anyone else
// (wantsHTML). With Options.AccessLog, every request is logged once,
// without query, headers or form values (accesslog.go).
//
// httpapi imports domain, httprouter and the standard library only, never
// another adapter of stamp; cmd/stamp wires it to the service.
package httpapi
