package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GrantSession is the grant_type recorded for the dashboard's cookie
// tokens: Passport's CreateFreshApiToken, but real tokens in the log, so
// logging out (or any revocation) makes them fail at once, where
// Passport's cookie outlives both.
const GrantSession = "session"

// SessionTokenLifetime is how long a cookie token lives before
// POST /oauth/token/refresh must re-issue it.
const SessionTokenLifetime = 15 * time.Minute

// IssueSessionToken issues a short-lived access token ("*") for a logged
// in user's first-party JavaScript, through the personal access client.
func (s *Service) IssueSessionToken(ctx context.Context, userID string) (string, AccessToken, error) {
	if userID == "" || s.userGone(ctx, userID) {
		return "", AccessToken{}, ErrNotFound
	}
	c, err := s.PersonalAccessClient(ctx)
	if err != nil {
		return "", AccessToken{}, err
	}
	raw, e, err := s.mintAccess(c, userID, GrantSession, "session", []string{WildcardScope}, SessionTokenLifetime)
	if err != nil {
		return "", AccessToken{}, err
	}
	seq, err := s.record(ctx, ExpectAny, Actor{Kind: ActorUser, ID: userID}, e)
	if err != nil {
		return "", AccessToken{}, err
	}
	return raw, ApplyAccessToken(AccessToken{}, e, seq, e.IssuedAt), nil
}

// RefreshSessionToken re-issues a cookie token: the presented one must be
// a valid session token; it is revoked and a new one issued.
func (s *Service) RefreshSessionToken(ctx context.Context, raw string) (string, AccessToken, error) {
	t, _, err := s.ValidateAccessToken(ctx, raw)
	if err != nil {
		return "", AccessToken{}, err
	}
	if t.GrantType != GrantSession {
		return "", AccessToken{}, fmt.Errorf("%w: not a session token", ErrInvalidToken)
	}
	next, nt, err := s.IssueSessionToken(ctx, t.UserID)
	if err != nil {
		return "", AccessToken{}, err
	}
	if err := s.RevokeAccessToken(ctx, Actor{Kind: ActorUser, ID: t.UserID}, t.ID, ReasonRotated); err != nil && !errors.Is(err, ErrNotFound) {
		return "", AccessToken{}, err
	}
	return next, nt, nil
}

// EndSessionToken revokes a cookie token at logout. An invalid token is
// not an error: there is nothing left to end.
func (s *Service) EndSessionToken(ctx context.Context, raw string) error {
	t, _, err := s.ValidateAccessToken(ctx, raw)
	if errors.Is(err, ErrInvalidToken) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.GrantType != GrantSession {
		return nil
	}
	return s.RevokeAccessToken(ctx, Actor{Kind: ActorUser, ID: t.UserID}, t.ID, ReasonRevokedByUser)
}
