package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

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
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
// OAuth requests are a few hundred bytes; 64 KiB leaves room for long
// assertions without letting a client make the server buffer megabytes.
const DefaultMaxBodyBytes = 64 << 10

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
	// Now is the clock deciding which signing keys the JWKS still lists.
	// nil means time.Now.
	Now func() time.Time
}

// Validate checks o and fills its defaults. It returns an error naming the
// first bad field.
func (o *Options) Validate() error {
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
	switch {
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("httpapi: max body bytes %d is negative", o.MaxBodyBytes)
	case o.MaxBodyBytes == 0:
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Service is the application service as the OAuth endpoints use it;
// *domain.Service satisfies it. Errors are *domain.OAuthError values,
// *domain.ValidationError, errors wrapping domain.ErrNotFound, context
// errors, or anything else (shown as a generic server_error).
type Service interface {
	// Token answers POST /oauth/token (RFC 6749 §4, §5).
	Token(ctx context.Context, req domain.TokenRequest) (domain.TokenResponse, error)
	// Introspect answers RFC 7662 for the authenticated caller.
	Introspect(ctx context.Context, caller domain.ClientCredentials, token string) (domain.Introspection, error)
	// Revoke implements RFC 7009 for the authenticated caller; an unknown
	// token is not an error.
	Revoke(ctx context.Context, caller domain.ClientCredentials, token, hint string) error
	// Scopes returns the scope catalogue; it must not be nil.
	Scopes() *domain.Scopes
}

// KeyLister lists the announced signing keys, current and retired, as the
// keys read model holds them.
type KeyLister interface {
	SigningKeys(ctx context.Context) ([]domain.SigningKey, error)
}

// server holds what the handlers share. It is immutable after New.
type server struct {
	svc      Service
	keys     KeyLister
	scopes   *domain.Scopes
	opts     Options
	log      *slog.Logger
	metadata []byte // the RFC 8414 document, encoded once
}

// New returns the HTTP handler of stamp's OAuth endpoints, discovery
// documents and health check. It returns an error when svc or keys is
// nil, svc has no scope catalogue, or opts does not validate. The handler
// is safe for concurrent use as long as svc and keys are.
//
// Unknown paths answer 404 and known paths with another method 405 (with
// Allow), both as JSON; a panicking handler is logged with its stack and
// answered 500 server_error.
func New(svc Service, keys KeyLister, opts Options) (http.Handler, error) {
	if svc == nil || keys == nil {
		return nil, errors.New("httpapi: a service and a key lister are required")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	scopes := svc.Scopes()
	if scopes == nil {
		return nil, errors.New("httpapi: the service has no scope catalogue")
	}
	meta, err := encodeMetadata(opts, scopes)
	if err != nil {
		return nil, err
	}
	s := &server{svc: svc, keys: keys, scopes: scopes, opts: opts, log: opts.Logger, metadata: meta}

	r := httprouter.New()
	r.POST(pathToken, s.token)
	r.POST(pathIntrospect, s.introspect)
	r.POST(pathRevoke, s.revoke)
	r.GET(pathScopes, s.listScopes)
	r.GET(pathMetadata, s.serveMetadata)
	r.GET(pathJWKS, s.jwks)
	r.GET(pathHealth, s.health)
	r.NotFound = http.HandlerFunc(s.notFound)
	r.MethodNotAllowed = http.HandlerFunc(s.methodNotAllowed)
	r.PanicHandler = s.panicked
	return r, nil
}

// health answers GET /healthz. It checks nothing beyond the process
// serving HTTP.
func (s *server) health(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	s.respond(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, fmt.Errorf("httpapi: no route for %s: %w", r.URL.Path, domain.ErrNotFound))
}

// methodNotAllowed answers 405; httprouter has already set Allow.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
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
