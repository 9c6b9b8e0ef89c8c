package httpapi

import (
	"context"

	"github.com/stamp-oauth/stamp/domain"
)

// The ports below are what the handlers need, declared here where they are
// used. *domain.Service satisfies Service and Web; the users read model
// (a domain.UserReader) satisfies Users; the keys read model satisfies
// KeyLister. Errors are *domain.OAuthError values (*domain.RedirectError
// from the authorization methods), *domain.ValidationError, errors
// wrapping domain.ErrNotFound or domain.ErrRateLimited, context errors, or
// anything else (shown as a generic server error and logged once).

// Deps are the collaborators of the handler New returns. All are
// required. Each must be safe for concurrent use.
type Deps struct {
	// Service answers the JSON OAuth endpoints.
	Service Service
	// Keys lists the signing keys the JWKS announces.
	Keys KeyLister
	// Web answers the browser flows (login, authorization, device
	// verification) and the device authorization endpoint.
	Web Web
	// Users resolves the user a session cookie names, on every request.
	Users Users
}

// Service is the application service as the OAuth endpoints use it.
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

// Users reads users by id; an unknown id is an error wrapping
// domain.ErrNotFound. A session whose user is unknown or deleted is void.
type Users interface {
	User(ctx context.Context, id string) (domain.User, error)
}

// Authenticator checks a login. Any wrong email or password is an error
// matching domain.ErrAccessDenied, whether or not the account exists; too
// many attempts from remote or for the account are domain.ErrRateLimited.
type Authenticator interface {
	AuthenticateUser(ctx context.Context, email, password, remote string) (domain.User, error)
}

// Authorizer decides authorization requests (RFC 6749 §4.1, §4.2).
// Errors the client may learn are *domain.RedirectError; other
// *domain.OAuthError values are shown to the user and never redirected.
type Authorizer interface {
	// Authorize validates a request for user (nil when nobody is logged
	// in) and returns what the approval screen shows.
	Authorize(ctx context.Context, req domain.AuthorizeRequest, user *domain.User) (domain.AuthorizePrompt, error)
	// Approve issues the grant and returns where to send the user agent.
	Approve(ctx context.Context, req domain.AuthorizeRequest, user domain.User) (string, error)
	// Deny returns the client's redirect URI carrying access_denied.
	Deny(ctx context.Context, req domain.AuthorizeRequest, user domain.User) (string, error)
}

// DeviceFlow runs the device authorization grant (RFC 8628).
type DeviceFlow interface {
	// DeviceAuthorize answers the device authorization request (§3.1).
	DeviceAuthorize(ctx context.Context, cred domain.ClientCredentials, scope string) (domain.DeviceAuthorization, error)
	// LookupUserCode finds the pending request a typed user code names;
	// domain.ErrInvalidGrant for an unknown, used or expired code.
	LookupUserCode(ctx context.Context, userCode string) (domain.DevicePrompt, error)
	// DecideDevice records the user's answer; domain.ErrInvalidGrant when
	// the code is no longer pending.
	DecideDevice(ctx context.Context, user domain.User, userCode string, approve bool) error
}

// Web is everything the browser-facing flows ask of the service.
type Web interface {
	Authenticator
	Authorizer
	DeviceFlow
}
