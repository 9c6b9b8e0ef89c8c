package domain

import (
	"context"
	"errors"
)

// password implements the resource owner password credentials grant
// (RFC 6749 §4.3), off unless enabled (Passport 12+; RFC 9700 §2.4 says it
// must not be used, so it is opt-in). The username is the user's email.
// The client may be confidential or public (Passport's password clients
// may be either); "*" may be requested.
func (s *Service) password(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if !s.cfg.Password {
		return TokenResponse{}, ErrUnsupportedGrantType.WithDescription("the password grant is not enabled")
	}
	c, err := s.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	if !c.HasGrant(GrantPassword) {
		return TokenResponse{}, ErrUnauthorizedClient.WithDescription("the client may not use the password grant")
	}
	username, password := req.Form["username"], req.Form["password"]
	if username == "" || password == "" {
		return TokenResponse{}, ErrInvalidRequest.WithDescription("username and password are required")
	}
	scopes, err := s.cfg.Scopes.Resolve(ParseScope(req.Scope), true, c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	resources, err := decideResources(c, req.Form["resource"], nil)
	if err != nil {
		return TokenResponse{}, err
	}
	// Too many failures (a *RetryError wrapping ErrRateLimited) and no
	// free hashing slot (one wrapping ErrTemporarilyUnavailable) go back
	// as they are: the HTTP adapter answers them 429 and 503.
	u, err := s.AuthenticateUser(ctx, username, password, req.Remote)
	switch {
	case errors.Is(err, ErrAccessDenied):
		return TokenResponse{}, ErrInvalidGrant.WithDescription("the user credentials were incorrect")
	case err != nil:
		return TokenResponse{}, err
	}
	resp, events, err := s.tokenSetFor(c, u.ID, GrantPassword, scopes, resources, s.cfg.AccessToken, true)
	if err != nil {
		return TokenResponse{}, err
	}
	if _, err := s.record(ctx, ExpectAny, actorFor(c.ID, u.ID), events...); err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}
