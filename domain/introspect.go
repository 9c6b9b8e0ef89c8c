package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
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
	mark, marked := s.appliedMark()
	t, err := s.ports.Tokens.AccessToken(ctx, claims.ID)
	if (err == nil && t.Active(now) || errors.Is(err, ErrNotFound)) && !s.isCaughtUp(ctx) {
		var cerr error
		if ctx, cerr = s.catchUp(ctx); cerr != nil {
			return AccessToken{}, Claims{}, cerr
		}
		if after, ok := s.appliedMark(); !marked || !ok || after != mark {
			t, err = s.ports.Tokens.AccessToken(ctx, claims.ID)
		}
	}
	if errors.Is(err, ErrNotFound) {
		t, err = AccessToken{}, nil
	}
	if err != nil {
		return AccessToken{}, Claims{}, err
	}
	state := tokenState{Token: t}
	if t.Active(now) { // else the decision refuses: nothing more to load
		c, err := s.ports.Clients.Client(ctx, t.ClientID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return AccessToken{}, Claims{}, err
		}
		state.Client, state.UserLive = c, !s.userGone(ctx, t.UserID)
	}
	if t, err = decideAccessTokenValid(state, claims, now, s.cfg.Random); err != nil {
		return AccessToken{}, Claims{}, err
	}
	return t, claims, nil
}

// tokenState is what judging a presented access token decides on: the
// token as the read model has it (the zero AccessToken when unknown), its
// client (the zero Client when unknown) and whether its user still exists
// (true for a token without a user).
type tokenState struct {
	Token    AccessToken
	Client   Client
	UserLive bool
}

// decideAccessTokenValid judges an access token whose signed claims (cmd)
// already hold: the read model must know its jti, it must be neither
// revoked nor expired at now, and its client and user must still exist.
// It returns the token, or an error wrapping ErrInvalidToken that says
// which rule failed.
func decideAccessTokenValid(state tokenState, _ Claims, now time.Time, _ io.Reader) (AccessToken, error) {
	t := state.Token
	switch {
	case t.ID == "":
		return AccessToken{}, fmt.Errorf("%w: unknown token id", ErrInvalidToken)
	case !t.Active(now):
		return AccessToken{}, fmt.Errorf("%w: revoked or expired", ErrInvalidToken)
	case !state.Client.Exists():
		return AccessToken{}, fmt.Errorf("%w: the client was deleted", ErrInvalidToken)
	case !state.UserLive:
		return AccessToken{}, fmt.Errorf("%w: the user was deleted", ErrInvalidToken)
	}
	return t, nil
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
	state := introspectionState{Caller: c, Issuer: s.cfg.Issuer}
	if c.Confidential() && token != "" { // else the decision refuses: nothing to load
		if state, err = s.loadIntrospection(ctx, state, token); err != nil {
			return Introspection{}, err
		}
	}
	return decideIntrospection(state, token, s.cfg.Now(), s.cfg.Random)
}

// loadIntrospection loads into state what the presented token is: an
// access token that validates, else the refresh family of its hash.
func (s *Service) loadIntrospection(ctx context.Context, state introspectionState, token string) (introspectionState, error) {
	t, claims, err := s.ValidateAccessToken(ctx, token)
	if err == nil {
		state.Access, state.Claims = t, claims
		return state, nil
	}
	if !errors.Is(err, ErrInvalidToken) {
		return state, err
	}
	if s.ports.Grants == nil {
		return state, nil
	}
	f, err := s.ports.Grants.RefreshFamilyByTokenHash(ctx, HashSecret(token))
	if errors.Is(err, ErrNotFound) {
		return state, nil
	}
	if err != nil {
		return state, err
	}
	state.Family, state.FamilyUserLive = f, !s.userGone(ctx, f.UserID)
	return state, nil
}

// introspectionState is what an introspection decides on: the
// authenticated caller; the presented token's state and claims when it
// validates as an access token (ValidateAccessToken), else the refresh
// family its hash names (the zero values when there is none) and whether
// that family's user still exists; the issuer.
type introspectionState struct {
	Caller         Client
	Access         AccessToken
	Claims         Claims
	Family         RefreshFamily
	FamilyUserLive bool
	Issuer         string
}

// decideIntrospection answers RFC 7662 for cmd, the presented token. A
// public caller may not introspect at all (ErrUnauthorizedClient: §4, the
// endpoint must not be open to token scanning); a missing token is
// ErrInvalidRequest (§2.1). An access token that validates is active for
// any confidential caller, with its claims (§2.2). A refresh token is
// active only for the client it was issued to (it is that client's
// opaque secret), while it is its family's current token, the family is
// neither revoked nor expired at now, and its user still exists. Anything
// else is inactive, with nothing more said.
func decideIntrospection(state introspectionState, cmd string, now time.Time, _ io.Reader) (Introspection, error) {
	if !state.Caller.Confidential() {
		return Introspection{}, ErrUnauthorizedClient.WithDescription("a public client may not introspect tokens")
	}
	if cmd == "" {
		return Introspection{}, ErrInvalidRequest.WithDescription("the token parameter is missing")
	}
	if t, claims := state.Access, state.Claims; t.ID != "" {
		return Introspection{
			Active: true, Scope: claims.Scope, Scopes: t.Scopes, ClientID: t.ClientID, TokenType: "Bearer",
			Exp: claims.Expiry, Iat: claims.IssuedAt, Nbf: claims.NotBefore,
			Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID,
		}, nil
	}
	f := state.Family
	if f.ClientID != state.Caller.ID || f.TokenHash != HashSecret(cmd) || !f.Live(now) || !state.FamilyUserLive {
		return Introspection{Active: false}, nil
	}
	sub := f.UserID
	if sub == "" {
		sub = f.ClientID
	}
	return Introspection{
		Active: true, Scope: FormatScope(f.Scopes), Scopes: f.Scopes, ClientID: f.ClientID, TokenType: "refresh_token",
		Exp: f.ExpiresAt.Unix(), Iat: f.IssuedAt.Unix(), Sub: sub, Iss: state.Issuer, Jti: f.TokenID,
	}, nil
}
