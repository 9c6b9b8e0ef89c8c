package domain

import (
	"context"
	"errors"
	"io"
	"time"
)

// The resource owner password credentials grant (RFC 6749 §4.3), off
// unless enabled (Passport 12+; RFC 9700 §2.4 says it must not be used,
// so it is opt-in). The username is the user's email. The client may be
// confidential or public (Passport's password clients may be either); "*"
// may be requested. The user's credentials are checked (AuthenticateUser:
// rate limited, in a password hashing slot) only once the request is
// otherwise valid, so a malformed request costs no hash and counts no
// failure.

// passwordEnabled refuses the password grant unless Grants.Password
// enables it: unsupported_grant_type, before the client is authenticated.
func passwordEnabled(g Grants) error {
	if !g.Password {
		return ErrUnsupportedGrantType.WithDescription("the password grant is not enabled")
	}
	return nil
}

// passwordState is what the password decisions decide on: the
// authenticated client, the scope catalogue, the issuer's terms, and,
// once the user's credentials were checked, the user (User) or the
// check's failure (UserErr).
type passwordState struct {
	Client  Client
	Scopes  *Scopes
	Issuer  issuerTerms
	User    User
	UserErr error
}

// passwordCommand is a password grant request (RFC 6749 §4.3.2).
type passwordCommand struct {
	Username, Password string
	Scope, Resource    string
}

// passwordTerms are the checked request: what the token will grant.
type passwordTerms struct {
	Scopes    []string
	Resources []string
}

// decidePasswordRequest checks a password request before the user's
// credentials are: the client allowed the grant (unauthorized_client),
// username and password present (invalid_request), scopes within the
// catalogue and the client's (invalid_scope), resources among its
// audiences (invalid_target).
func decidePasswordRequest(st passwordState, cmd passwordCommand) (passwordTerms, error) {
	c := st.Client
	if !c.HasGrant(GrantPassword) {
		return passwordTerms{}, ErrUnauthorizedClient.WithDescription("the client may not use the password grant")
	}
	if cmd.Username == "" || cmd.Password == "" {
		return passwordTerms{}, ErrInvalidRequest.WithDescription("username and password are required")
	}
	scopes, err := st.Scopes.Resolve(ParseScope(cmd.Scope), true, c.Scopes)
	if err != nil {
		return passwordTerms{}, err
	}
	resources, err := decideResources(c, cmd.Resource, nil)
	if err != nil {
		return passwordTerms{}, err
	}
	return passwordTerms{Scopes: scopes, Resources: resources}, nil
}

// decidePassword decides a checked password request once the user's
// credentials were checked: wrong ones are invalid_grant (RFC 6749 §5.2);
// too many failures (a *RetryError wrapping ErrRateLimited) and no free
// hashing slot (one wrapping ErrTemporarilyUnavailable) go back as they
// are, for the HTTP adapter to answer 429 and 503. Right ones get an
// access token and a new refresh family, recorded as the user.
func decidePassword(st passwordState, terms passwordTerms, now time.Time, rnd io.Reader) (tokenDecision, error) {
	switch {
	case errors.Is(st.UserErr, ErrAccessDenied):
		return tokenDecision{}, ErrInvalidGrant.WithDescription("the user credentials were incorrect")
	case st.UserErr != nil:
		return tokenDecision{}, st.UserErr
	}
	c, u := st.Client, st.User
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, UserID: u.ID, Grant: GrantPassword, Scopes: terms.Scopes, Resources: terms.Resources, TTL: st.Issuer.AccessToken}, true, now, rnd)
	if err != nil {
		return tokenDecision{}, err
	}
	return tokenDecision{Events: set.events(), Expect: ExpectAny, Actor: actorFor(c.ID, u.ID), Tokens: &set}, nil
}

// password answers a password grant request of the authenticated client
// c: it checks the request (decidePasswordRequest), then the user's
// credentials (AuthenticateUser), decides (decidePassword) and issues.
func (s *Service) password(ctx context.Context, call grantCall) (TokenResponse, error) {
	c, req, is, signer := call.Client, call.Req, call.Issuer, call.Signer
	st := passwordState{Client: c, Scopes: s.cfg.Scopes, Issuer: is}
	cmd := passwordCommand{Username: req.Form["username"], Password: req.Form["password"], Scope: req.Scope, Resource: req.Form["resource"]}
	terms, err := decidePasswordRequest(st, cmd)
	if err != nil {
		return TokenResponse{}, err
	}
	st.User, st.UserErr = s.AuthenticateUser(ctx, cmd.Username, cmd.Password, req.Remote)
	d, err := decidePassword(st, terms, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.issue(ctx, signer, d)
}
