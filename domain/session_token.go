package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	state, err := s.loadIssueState(ctx, userID)
	if err != nil {
		return "", AccessToken{}, err
	}
	issue, err := decideSessionToken(state, userID, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", AccessToken{}, err
	}
	raw, e, err := s.mintAccess(issue.Client, issue.UserID, issue.Grant, issue.Name, issue.Scopes, issue.TTL)
	if err != nil {
		return "", AccessToken{}, err
	}
	seq, err := s.record(ctx, ExpectAny, Actor{Kind: ActorUser, ID: userID}, e)
	if err != nil {
		return "", AccessToken{}, err
	}
	return raw, ApplyAccessToken(AccessToken{}, e, seq, e.IssuedAt), nil
}

// decideSessionToken decides a cookie token for userID: the user must be
// live (else ErrNotFound) and a personal access client must exist (else
// ErrNoPersonalAccessClient); the token is the session grant's, named
// "session", scoped "*", living SessionTokenLifetime.
func decideSessionToken(state issueState, userID string, _ time.Time, _ io.Reader) (accessIssue, error) {
	if userID == "" || !state.UserLive {
		return accessIssue{}, ErrNotFound
	}
	if state.Client.ID == "" {
		return accessIssue{}, ErrNoPersonalAccessClient
	}
	return accessIssue{Client: state.Client, UserID: userID, Grant: GrantSession, Name: "session", Scopes: []string{WildcardScope}, TTL: SessionTokenLifetime}, nil
}

// RefreshSessionToken re-issues a cookie token: the presented one must be
// a valid session token; it is revoked and a new one issued.
func (s *Service) RefreshSessionToken(ctx context.Context, raw string) (string, AccessToken, error) {
	t, _, err := s.ValidateAccessToken(ctx, raw)
	if err != nil {
		return "", AccessToken{}, err
	}
	old, err := decideRefreshSessionToken(t, raw, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", AccessToken{}, err
	}
	next, nt, err := s.IssueSessionToken(ctx, old.UserID)
	if err != nil {
		return "", AccessToken{}, err
	}
	if err := s.RevokeAccessToken(ctx, Actor{Kind: ActorUser, ID: old.UserID}, old.ID, ReasonRotated); err != nil && !errors.Is(err, ErrNotFound) {
		return "", AccessToken{}, err
	}
	return next, nt, nil
}

// decideRefreshSessionToken decides whether state, a valid token, may be
// exchanged for a new cookie token: only a session token may (else
// ErrInvalidToken). It returns the token to revoke (reason
// ReasonRotated) once the new one is issued, for its user.
func decideRefreshSessionToken(state AccessToken, _ string, _ time.Time, _ io.Reader) (AccessToken, error) {
	if state.GrantType != GrantSession {
		return AccessToken{}, fmt.Errorf("%w: not a session token", ErrInvalidToken)
	}
	return state, nil
}

// EndSessionToken revokes a cookie token at logout. An invalid token is
// not an error: there is nothing left to end.
func (s *Service) EndSessionToken(ctx context.Context, raw string) error {
	t, _, err := s.ValidateAccessToken(ctx, raw)
	if errors.Is(err, ErrInvalidToken) {
		err, t = nil, AccessToken{}
	}
	if err != nil {
		return err
	}
	jti, err := decideEndSessionToken(t, raw, s.cfg.Now(), s.cfg.Random)
	if err != nil || jti == "" {
		return err
	}
	return s.RevokeAccessToken(ctx, Actor{Kind: ActorUser, ID: t.UserID}, jti, ReasonRevokedByUser)
}

// decideEndSessionToken decides what logging out ends of state, the
// presented token once validated (the zero AccessToken when it is
// invalid): a session token is revoked (its jti is returned, to revoke by
// its user with ReasonRevokedByUser); an invalid token or any other
// grant's ends nothing ("", nil).
func decideEndSessionToken(state AccessToken, _ string, _ time.Time, _ io.Reader) (string, error) {
	if state.ID == "" || state.GrantType != GrantSession {
		return "", nil
	}
	return state.ID, nil
}
