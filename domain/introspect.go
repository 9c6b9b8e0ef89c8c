package domain

import (
	"context"
	"errors"
	"fmt"
)

// Introspection is the RFC 7662 §2.2 answer. An inactive token gets only
// Active=false, so nothing about it leaks. TokenType is "Bearer" for an
// access token and "refresh_token" for a refresh token.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       Audience `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

// ValidateAccessToken checks a bearer token the way every resource check
// does: signature under an announced key that still verifies, typ, issuer,
// times, and then the read model: the jti must be known, not revoked, not
// expired, and its client must still exist. It returns the token's state
// and claims, or an error wrapping ErrInvalidToken.
//
// With a Freshness port, a token whose signature holds is judged only
// after catching up with the log (a revocation or issuance acknowledged by
// any instance counts), unless the read model already knows it revoked or
// expired, which no later event undoes. Failing to catch up is a
// *RetryError wrapping ErrTemporarilyUnavailable, never a stale answer.
func (s *Service) ValidateAccessToken(ctx context.Context, raw string) (AccessToken, Claims, error) {
	now := s.cfg.Now()
	ctx, claims, err := s.parseAccessToken(ctx, raw, now, s.cfg.Leeway)
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	t, err := s.ports.Tokens.AccessToken(ctx, claims.ID)
	if (err == nil && t.Active(now) || errors.Is(err, ErrNotFound)) && !s.isCaughtUp(ctx) {
		if ctx, err = s.catchUp(ctx); err != nil {
			return AccessToken{}, Claims{}, err
		}
		t, err = s.ports.Tokens.AccessToken(ctx, claims.ID)
	}
	if errors.Is(err, ErrNotFound) {
		return AccessToken{}, Claims{}, fmt.Errorf("%w: unknown token id", ErrInvalidToken)
	}
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	if !t.Active(now) {
		return AccessToken{}, Claims{}, fmt.Errorf("%w: revoked or expired", ErrInvalidToken)
	}
	c, err := s.ports.Clients.Client(ctx, t.ClientID)
	if errors.Is(err, ErrNotFound) || err == nil && !c.Exists() {
		return AccessToken{}, Claims{}, fmt.Errorf("%w: the client was deleted", ErrInvalidToken)
	}
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	if s.userGone(ctx, t.UserID) {
		return AccessToken{}, Claims{}, fmt.Errorf("%w: the user was deleted", ErrInvalidToken)
	}
	return t, claims, nil
}

// Introspect answers RFC 7662 for an authenticated caller. Any
// confidential client may introspect any access token (as ORY Hydra
// allows); a refresh token is active only for the client it was issued
// to (it is that client's opaque secret; for any other it is inactive).
// A public client may not introspect at all (§4: the endpoint must not be
// open to token scanning). Errors: ErrInvalidClient, ErrUnauthorizedClient,
// ErrInvalidRequest; a token that fails validation is an inactive answer,
// not an error. With a Freshness port it first catches up with the log,
// so the caller, the token and its revocation state are judged with
// everything any instance acknowledged before the request (a
// *RetryError wrapping ErrTemporarilyUnavailable when it cannot).
func (s *Service) Introspect(ctx context.Context, caller ClientCredentials, token string) (Introspection, error) {
	ctx, err := s.catchUp(ctx)
	if err != nil {
		return Introspection{}, err
	}
	c, err := s.AuthenticateClient(ctx, caller)
	if err != nil {
		return Introspection{}, err
	}
	if !c.Confidential() {
		return Introspection{}, ErrUnauthorizedClient.WithDescription("a public client may not introspect tokens")
	}
	if token == "" {
		return Introspection{}, ErrInvalidRequest.WithDescription("the token parameter is missing")
	}
	t, claims, err := s.ValidateAccessToken(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return s.introspectRefresh(ctx, c, token)
	}
	if err != nil {
		return Introspection{}, err
	}
	return Introspection{
		Active: true, Scope: claims.Scope, Scopes: t.Scopes, ClientID: t.ClientID, TokenType: "Bearer",
		Exp: claims.Expiry, Iat: claims.IssuedAt, Nbf: claims.NotBefore,
		Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID,
	}, nil
}

// introspectRefresh answers RFC 7662 for token taken as a refresh token
// of caller: active while it is its family's current token, the family
// is neither revoked nor expired, and its client and user still exist.
func (s *Service) introspectRefresh(ctx context.Context, caller Client, token string) (Introspection, error) {
	if s.ports.Grants == nil {
		return Introspection{Active: false}, nil
	}
	hash := HashSecret(token)
	f, err := s.ports.Grants.RefreshFamilyByTokenHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Introspection{Active: false}, nil
	}
	if err != nil {
		return Introspection{}, err
	}
	if f.ClientID != caller.ID || f.TokenHash != hash || !f.Live(s.cfg.Now()) || s.userGone(ctx, f.UserID) {
		return Introspection{Active: false}, nil
	}
	sub := f.UserID
	if sub == "" {
		sub = f.ClientID
	}
	return Introspection{
		Active: true, Scope: FormatScope(f.Scopes), Scopes: f.Scopes, ClientID: f.ClientID, TokenType: "refresh_token",
		Exp: f.ExpiresAt.Unix(), Iat: f.IssuedAt.Unix(), Sub: sub, Iss: s.cfg.Issuer, Jti: f.TokenID,
	}, nil
}
