package httpapi

import (
	"context"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The ports below are what the handlers need, declared here where they are
// used. *domain.Service satisfies Service, Web, API and Validator; the
// users read model (a domain.UserReader) satisfies Users; the keys read
// model satisfies KeyLister. Errors are *domain.OAuthError values
// (*domain.RedirectError from the authorization methods),
// *domain.ValidationError, errors wrapping domain.ErrNotFound,
// domain.ErrInvalidToken or domain.ErrRateLimited (inside a
// *domain.RetryError, as is domain.ErrTemporarilyUnavailable), context
// errors, or
// anything else (shown as a generic server error and logged once).

// Deps are the collaborators of the handler New returns. All are
// required but Dev and Origins. Each must be safe for concurrent use.
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
	// API answers Passport's JSON API (clients, tokens, personal access
	// tokens) and issues, refreshes and ends the dashboard's cookie token.
	API API
	// Validator checks the bearer tokens of the JSON API, the cookie
	// token and GET /auth/verify.
	Validator Validator
	// Dev, optional, serves POST /dev/tokens (see dev.go): set only by
	// `stamp serve --dev`; nil serves no such route.
	Dev DevMinter
	// Admin, optional, serves the admin API under /admin (see admin.go);
	// nil serves no such route.
	Admin Admin
	// Origins, optional, answers CORS for the token and revocation
	// endpoints (see cors.go); nil grants no origin there.
	Origins Origins
	// Delegation, optional, answers login and consent delegation (see
	// delegation.go); required with Options.LoginURL or ConsentURL.
	Delegation Delegation
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
// many failures from remote or for the account are domain.ErrRateLimited
// and no free password hashing slot domain.ErrTemporarilyUnavailable,
// both inside a *domain.RetryError.
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
	// LookupUserCode finds the pending request a user code typed by user
	// from address remote names; domain.ErrInvalidGrant for an unknown,
	// used or expired code, domain.ErrRateLimited (in a
	// *domain.RetryError) after too many wrong codes.
	LookupUserCode(ctx context.Context, user domain.User, userCode, remote string) (domain.DevicePrompt, error)
	// AnswerDevice records the user's answer; domain.ErrInvalidGrant when
	// the code is no longer pending.
	AnswerDevice(ctx context.Context, user domain.User, userCode string, approve bool) error
}

// Sessions ends web sessions for everyone holding a copy of their
// cookie, on every instance and across restarts.
type Sessions interface {
	// EndSession records that userID logged out of the session
	// sessionID, which expires at expiresAt; once it returns,
	// CheckSession refuses the session.
	EndSession(ctx context.Context, sessionID, userID string, expiresAt time.Time) error
	// CheckSession returns an error wrapping domain.ErrSessionEnded for
	// an ended session, nil for one that was not ended, and any other
	// error when it cannot tell.
	CheckSession(ctx context.Context, sessionID string) error
}

// Web is everything the browser-facing flows ask of the service.
type Web interface {
	Authenticator
	Authorizer
	DeviceFlow
	Sessions
}

// ClientManager manages the clients a user owns (Passport's
// /oauth/clients). Someone else's or an unknown client is an error
// wrapping domain.ErrNotFound; a bad field is *domain.ValidationError.
type ClientManager interface {
	// ClientsOf returns the live clients userID owns, oldest first.
	ClientsOf(ctx context.Context, userID string) ([]domain.Client, error)
	// RegisterClient creates a client and returns its secret in clear
	// ("" for a public client), once.
	RegisterClient(ctx context.Context, actor domain.Actor, cmd domain.RegisterClient) (domain.Client, string, error)
	// UpdateClient replaces a client's name, redirect URIs and scopes.
	UpdateClient(ctx context.Context, actor domain.Actor, cmd domain.UpdateClient) (domain.Client, error)
	// DeleteClient deletes a client userID owns.
	DeleteClient(ctx context.Context, actor domain.Actor, clientID, userID string) error
}

// UserTokens lists and revokes a user's tokens (Passport's /oauth/tokens
// and /oauth/personal-access-tokens). Someone else's or an unknown token
// is an error wrapping domain.ErrNotFound.
type UserTokens interface {
	// AuthorizedTokens returns the live tokens applications hold for
	// userID, newest first, each with its client.
	AuthorizedTokens(ctx context.Context, userID string) ([]domain.UserToken, error)
	// PersonalAccessTokens returns userID's live personal access tokens,
	// newest first, each with its client.
	PersonalAccessTokens(ctx context.Context, userID string) ([]domain.UserToken, error)
	// CreatePersonalAccessToken issues a personal access token; a bad
	// name or scope is *domain.ValidationError.
	CreatePersonalAccessToken(ctx context.Context, actor domain.Actor, userID, name string, scopes []string) (domain.PersonalAccessToken, error)
	// RevokeUserToken revokes one of userID's access tokens and the
	// refresh token issued with it.
	RevokeUserToken(ctx context.Context, userID, jti string) error
}

// SessionTokens are the dashboard's cookie tokens, Passport's
// CreateFreshApiToken: short-lived access tokens of a logged-in user,
// recorded like any other so that revoking one holds at once.
type SessionTokens interface {
	// IssueSessionToken issues a cookie token for userID. Without a
	// personal access client it is a *domain.ValidationError.
	IssueSessionToken(ctx context.Context, userID string) (string, domain.AccessToken, error)
	// RefreshSessionToken revokes a valid cookie token and issues its
	// successor; anything but a valid cookie token is an error wrapping
	// domain.ErrInvalidToken.
	RefreshSessionToken(ctx context.Context, raw string) (string, domain.AccessToken, error)
	// EndSessionToken revokes a cookie token; an invalid one is not an
	// error.
	EndSessionToken(ctx context.Context, raw string) error
}

// API is everything the JSON API and the cookie token ask of the service.
type API interface {
	ClientManager
	UserTokens
	SessionTokens
}

// Validator checks an access token: signature, claims and the read model
// (known, not revoked, not expired, client and user still there). A token
// that fails is an error wrapping domain.ErrInvalidToken; any other error
// is a failure to check. GET /auth/verify calls it on every request, so
// it should be fast.
type Validator interface {
	ValidateAccessToken(ctx context.Context, raw string) (domain.AccessToken, domain.Claims, error)
}
