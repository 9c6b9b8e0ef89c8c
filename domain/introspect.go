package domain

import (
	"context"
	"errors"
	"fmt"
)

// Introspection is the RFC 7662 §2.2 answer. An inactive token gets only
// Active=false, so nothing about it leaks.
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
func (s *Service) ValidateAccessToken(ctx context.Context, raw string) (AccessToken, Claims, error) {
	now := s.cfg.Now()
	keys, err := s.verificationKeys(ctx, now)
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	claims, err := ParseAccessToken(raw, s.cfg.Issuer, keys, now, s.cfg.Leeway)
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	t, err := s.ports.Tokens.AccessToken(ctx, claims.ID)
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
// confidential client may introspect any token (as ORY Hydra allows); a
// public client may not introspect at all (§4: the endpoint must not be
// open to token scanning). Errors: ErrInvalidClient, ErrUnauthorizedClient,
// ErrInvalidRequest; a token that fails validation is an inactive answer,
// not an error.
func (s *Service) Introspect(ctx context.Context, caller ClientCredentials, token string) (Introspection, error) {
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
		return Introspection{Active: false}, nil
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
