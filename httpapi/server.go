package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Paths of the routes New serves. Passport's paths where Passport has the
// route; the device authorization path is Passport 13's, announced in the
// metadata when the device grant is enabled.
const (
	pathToken      = "/oauth/token"
	pathIntrospect = "/oauth/introspect"
	pathRevoke     = "/oauth/revoke"
	pathScopes     = "/oauth/scopes"
	pathAuthorize  = "/oauth/authorize"
	pathDeviceCode = "/oauth/device/code"
	pathMetadata   = "/.well-known/oauth-authorization-server"
	pathJWKS       = "/.well-known/jwks.json"
	pathHealth     = "/healthz"

	// The browser pages. /oauth/device is where DeviceAuthorization's
	// verification_uri points.
	pathLogin         = "/login"
	pathLogout        = "/logout"
	pathDevice        = "/oauth/device"
	pathDeviceApprove = "/oauth/device/approve"
	pathDeviceDeny    = "/oauth/device/deny"

	// Passport's JSON API (api_clients.go, api_tokens.go); the cookie
	// token's refresh route is pathTokenRefresh.
	pathClients         = "/oauth/clients"
	pathClient          = "/oauth/clients/:id"
	pathTokens          = "/oauth/tokens"
	pathTokenByID       = "/oauth/tokens/:id"
	pathPersonalTokens  = "/oauth/personal-access-tokens"
	pathPersonalTokenID = "/oauth/personal-access-tokens/:id"

	// The forward-auth endpoint: this exact path only (exactVerify).
	pathVerify = "/auth/verify"
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
// OAuth requests are a few hundred bytes; 64 KiB leaves room for long
// assertions without letting a client make the server buffer megabytes.
const DefaultMaxBodyBytes = 64 << 10

// DefaultSessionLifetime is how long a login lasts when
// Options.SessionLifetime is 0.
const DefaultSessionLifetime = 2 * time.Hour

// MinSessionKeyBytes is the shortest Options.SessionKey accepted.
const MinSessionKeyBytes = 32

// Options configure the handler New returns.
type Options struct {
	// Issuer is the server's public base URL: an absolute http or https
	// URL without query or fragment. It must be the issuer the service
	// signs tokens with, since the metadata announces it verbatim (RFC 8414
	// §3.3 requires the two to be identical); endpoint URLs are built from
	// it with any trailing slash removed.
	Issuer string
	// GrantTypes are the enabled grant types (domain.Grant* values),
	// announced in the metadata as grant_types_supported. They also decide
	// the response types, the PKCE methods and the device authorization
	// endpoint the metadata lists.
	GrantTypes []string
	// MaxBodyBytes bounds every request body; a longer one is answered 413.
	// 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives unexpected errors and panics. nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock deciding which signing keys the JWKS still lists
	// and when sessions expire. nil means time.Now.
	Now func() time.Time
	// SessionKey signs the session cookie (HMAC-SHA256): at least
	// MinSessionKeyBytes random bytes, the same on every instance behind
	// one issuer. Changing it logs everybody out. Required.
	SessionKey []byte
	// SessionLifetime is how long a login lasts, counted from the login
	// (not extended by use). 0 means DefaultSessionLifetime.
	SessionLifetime time.Duration
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server. A request from one of them is counted (rate limits)
	// under the address its X-Forwarded-For or Forwarded header names
	// (see clientAddr), and its X-Forwarded-Proto: https marks it secure.
	// Empty: both headers are ignored and the peer's address counts, so
	// clients cannot forge them.
	TrustedProxies []netip.Prefix
	// VerifyAcceptsCookie lets GET /auth/verify accept, when a request
	// has no bearer token, the dashboard's cookie token (stamp_token)
	// with its CSRF value in X-CSRF-TOKEN or X-XSRF-TOKEN (see
	// verify_cookie.go), so a first-party single-page app can call its
	// own API behind the proxy. Off: the cookie alone is 401.
	VerifyAcceptsCookie bool
	// LogKeys are the log-signing public keys served at
	// /.well-known/stamp-log-keys.json (see logkeys.go); nil serves none.
	LogKeys []LogKey
	// Health answers GET /health/ready and gates the answers that depend
	// on revocation state (see staleGate); nil: always ready.
	Health Health
	// ServeStale lets those answers come from read models that Health
	// says are not fresh, instead of 503.
	ServeStale bool
	// AccessLog receives one record per request (see accessLog): method,
	// route, status, bytes, duration, client address and request id,
	// never a query, header or form value. nil logs no requests.
	AccessLog *slog.Logger
	// Observer, when set, sees every request (see Observer): metrics and
	// tracing hook in here.
	Observer Observer
	// Metrics, when set, serves GET /metrics (Prometheus' exposition);
	// nil registers no such route.
	Metrics http.Handler
	// BenchCeiling registers GET /bench/ceiling (see benchceiling.go), the
	// trivial JSON handler `stamp bench` measures as the ceiling of the
	// server and load generator. Off: the route does not exist (404). It
	// is not part of the API and openapi.json does not describe it.
	BenchCeiling bool
	// LoginURL and ConsentURL, each optional, delegate the login and the
	// consent of /oauth/authorize to the application (see delegation.go):
	// absolute http(s) URLs, which need Deps.Delegation and Deps.Admin.
	// Empty: the built-in login page and approval screen.
	LoginURL   string
	ConsentURL string
}

// Validate reports the first bad field of o, named in the error. It
// changes nothing: a zero MaxBodyBytes, SessionLifetime, Logger or Now is
// valid and takes its default in New.
func (o Options) Validate() error {
	if o.Issuer == "" {
		return errors.New("httpapi: issuer is required")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("httpapi: issuer %q is not an absolute http(s) URL", o.Issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o.Issuer, "?#") {
		return fmt.Errorf("httpapi: issuer %q must have no query or fragment (RFC 8414 §2)", o.Issuer)
	}
	for _, g := range o.GrantTypes {
		if strings.TrimSpace(g) == "" {
			return errors.New("httpapi: grant types must not be empty strings")
		}
	}
	if err := validateDelegationURL("login URL", o.LoginURL); err != nil {
		return err
	}
	if err := validateDelegationURL("consent URL", o.ConsentURL); err != nil {
		return err
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("httpapi: max body bytes %d is negative", o.MaxBodyBytes)
	}
	if len(o.SessionKey) < MinSessionKeyBytes {
		return fmt.Errorf("httpapi: the session key must be at least %d bytes", MinSessionKeyBytes)
	}
	if o.SessionLifetime < 0 {
		return fmt.Errorf("httpapi: session lifetime %v is negative", o.SessionLifetime)
	}
	return nil
}

// withDefaults returns o with its zero MaxBodyBytes, SessionLifetime,
// Logger and Now replaced by their defaults.
func (o Options) withDefaults() Options {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.SessionLifetime == 0 {
		o.SessionLifetime = DefaultSessionLifetime
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// server holds what the handlers share. It is immutable after New, but
// for noPersonalClientLogged.
type server struct {
	svc       Service
	keys      KeyLister
	web       Web
	users     Users
	api       API
	validator Validator
	dev       DevMinter // nil but in development mode
	admin     Admin     // nil: no admin API
	origins   Origins   // nil: no client origin is granted (cors.go)
	// delegation answers login and consent delegation; nil: none.
	delegation Delegation
	scopes     *domain.Scopes
	opts       Options
	log        *slog.Logger
	metadata   []byte // the RFC 8414 document, encoded once
	sessions   *sessions
	pages      pages
	// base is the issuer's path without its trailing slash ("" for a
	// host-only issuer): the prefix of every link and redirect to this
	// server's own pages.
	base string
	// noPersonalClientLogged records that a login without a personal
	// access client was logged, so it is logged once.
	noPersonalClientLogged atomic.Bool
}

// New returns the HTTP handler of stamp's OAuth endpoints, browser pages
// (login, approval screen, device verification), Passport's JSON API
// (API.md documents it), the forward-auth endpoint, discovery documents
// and health check. It returns an error when a dependency is missing, the
// service has no scope catalogue, or opts does not validate. The handler
// is safe for concurrent use as long as deps are.
//
// Paths are served as the metadata names them relative to the issuer:
// when the issuer has a path, a proxy (or http.StripPrefix) must remove
// it; links and redirects to the pages carry it.
//
// Unknown paths answer 404 (so does any path that only resembles
// /auth/verify: see exactVerify) and known paths with another method 405 (with
// Allow), both as JSON, or as an HTML page with a way back for a browser
// (Accept prefers text/html); a panicking handler is logged with its stack and
// answered 500 server_error.
func New(deps Deps, opts Options) (http.Handler, error) {
	if deps.Service == nil || deps.Keys == nil || deps.Web == nil || deps.Users == nil || deps.API == nil || deps.Validator == nil {
		return nil, errors.New("httpapi: a service, a key lister, a web service, a user reader, an API service and a token validator are required")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	scopes := deps.Service.Scopes()
	if scopes == nil {
		return nil, errors.New("httpapi: the service has no scope catalogue")
	}
	meta, err := encodeMetadata(opts, scopes)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	issuer, _ := url.Parse(opts.Issuer) // validated
	s := &server{
		svc: deps.Service, keys: deps.Keys, web: deps.Web, users: deps.Users,
		api: deps.API, validator: deps.Validator, dev: deps.Dev, admin: deps.Admin, origins: deps.Origins, scopes: scopes, opts: opts, log: opts.Logger, metadata: meta, pages: pages,
		base: strings.TrimSuffix(issuer.Path, "/"), delegation: deps.Delegation,
	}
	if (opts.LoginURL != "" || opts.ConsentURL != "") && (deps.Delegation == nil || deps.Admin == nil) {
		return nil, errors.New("httpapi: a login or consent URL needs the delegation service and the admin API")
	}
	s.sessions = newSessions(opts.SessionKey, opts.SessionLifetime, opts.Now, issuer.Scheme == "https", s.fromTrustedProxy)

	r := newRouteTable()
	r.POST(pathToken, s.token)
	r.POST(pathIntrospect, s.introspect)
	r.POST(pathRevoke, s.revoke)
	r.POST(pathDeviceCode, s.deviceCode)
	r.GET(pathScopes, s.listScopes)
	r.GET(pathMetadata, s.serveMetadata)
	r.GET(pathJWKS, s.jwks)
	r.GET(pathOpenAPI, serveOpenAPI)
	r.GET(pathLogKeys, s.logKeys)
	r.GET(pathHealth, s.alive)
	r.GET(pathHealthAlive, s.alive)
	r.GET(pathHealthReady, s.ready)
	if opts.Metrics != nil {
		r.GET(pathMetrics, s.serveMetrics)
	}

	r.GET(pathLogin, s.loginPage)
	r.POST(pathLogin, s.login)
	r.POST(pathLogout, s.logout)
	r.GET(pathAuthorize, s.authorize)
	r.POST(pathAuthorize, s.decideAuthorization)
	r.DELETE(pathAuthorize, s.decideAuthorization)
	r.GET(pathDevice, s.devicePage)
	r.POST(pathDevice, s.deviceConfirm)
	r.POST(pathDeviceApprove, s.deviceDecide(true))
	r.POST(pathDeviceDeny, s.deviceDecide(false))

	r.POST(pathTokenRefresh, s.authed(s.refreshCookieToken))
	r.GET(pathClients, s.authed(s.listClients))
	r.POST(pathClients, s.authed(s.createClient))
	r.PUT(pathClient, s.authed(s.updateClient))
	r.DELETE(pathClient, s.authed(s.deleteClient))
	r.GET(pathTokens, s.authed(s.listAuthorizedTokens))
	r.DELETE(pathTokenByID, s.authed(s.revokeToken))
	r.GET(pathPersonalTokens, s.authed(s.listPersonalTokens))
	r.POST(pathPersonalTokens, s.authed(s.createPersonalToken))
	r.DELETE(pathPersonalTokenID, s.authed(s.revokeToken))

	// Every method: nginx sends the original request's.
	for _, m := range verifyMethods {
		r.Handle(m, pathVerify, s.verify)
	}
	s.registerDashboard(r)
	if s.dev != nil {
		r.POST(pathDevTokens, s.devToken)
	}
	if s.admin != nil {
		s.registerAdmin(r)
		s.registerDelegation(r)
	}
	if opts.BenchCeiling {
		r.GET(PathBenchCeiling, benchCeiling)
	}

	r.NotFound = http.HandlerFunc(s.notFound)
	r.MethodNotAllowed = http.HandlerFunc(s.methodNotAllowed)
	r.PanicHandler = s.panicked
	r.GlobalOPTIONS = http.HandlerFunc(s.preflight)
	var h http.Handler = exactVerify(r, s.notFound)
	if opts.AccessLog != nil {
		h = s.accessLog(h, r.Router, opts.AccessLog)
	}
	if opts.Observer != nil {
		h = observe(h, r.Router, opts.Observer)
	}
	return routedHandler{Handler: h, routes: r.routes}, nil
}

// notFound answers an unknown path: an HTML page for a browser (see
// wantsHTML), else 404 not_found JSON.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r) {
		s.notFoundPage(w, r)
		return
	}
	s.renderError(w, r, fmt.Errorf("httpapi: no route for %s: %w", r.URL.Path, domain.ErrNotFound))
}

// methodNotAllowed answers 405, an HTML page for a browser, else JSON;
// httprouter has already set Allow.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r) {
		s.methodNotAllowedPage(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{
		Error:       "method_not_allowed",
		Description: fmt.Sprintf("the method %s is not allowed here", r.Method),
	})
}

// panicked logs a handler's panic once, with its stack, and answers a
// generic server_error. http.ErrAbortHandler is re-raised so net/http
// aborts the response silently, as it would without a router.
func (s *server) panicked(w http.ResponseWriter, r *http.Request, v any) {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.log.ErrorContext(r.Context(), "httpapi: handler panicked",
		"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	s.renderError(w, r, domain.ErrServerError.WithDescription(genericServerError))
}
