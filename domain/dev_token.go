package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// GrantDev is the grant_type AccessTokenCreated records for a token minted
// by `stamp serve --dev`'s token endpoint. No client is ever given it and
// no request to /oauth/token can ask for it.
const GrantDev = "dev"

// DevClientName names the client dev tokens are issued to when the request
// names none; MintDevToken registers it on first use.
const DevClientName = "stamp dev client"

// MaxDevTokenLifetime bounds DevTokenRequest.TTL.
const MaxDevTokenLifetime = 366 * 24 * time.Hour

// DevTokenRequest asks for a dev token. Every field may be empty.
type DevTokenRequest struct {
	// ClientID is a live client; the dev client (DevClientName) if empty.
	ClientID string
	// Subject is the user the token acts for: a user id, or an email,
	// registering a user with it (and a random password) when none has
	// it. Empty: a client token, acting for its client.
	Subject string
	// Scopes are resolved against the catalogue and the client's allowed
	// scopes as any request's are ("*" allowed); the default scopes if
	// empty.
	Scopes []string
	// Audience are resources (RFC 8707 absolute URIs) the token is for;
	// the client id is its aud if empty. They need not be registered with
	// the client.
	Audience []string
	// TTL is the token's lifetime: the access token lifetime if zero, at
	// most MaxDevTokenLifetime.
	TTL time.Duration
}

// MintDevToken signs an access token as asked and records it like any
// other (AccessTokenCreated, grant_type GrantDev), so introspection,
// revocation, audit and resource servers treat it as a real token. It is
// for development servers only: it checks no credentials, and the caller
// must expose it to nobody else. Errors: ErrInvalidRequest for an unknown
// client or user, a bad audience or lifetime; ErrInvalidScope;
// *ValidationError for an email it cannot register.
func (s *Service) MintDevToken(ctx context.Context, req DevTokenRequest) (TokenResponse, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.cfg.AccessToken
	}
	if ttl < time.Second || ttl > MaxDevTokenLifetime {
		return TokenResponse{}, ErrInvalidRequest.WithDescription("the lifetime must be 1s to %s", MaxDevTokenLifetime)
	}
	for _, r := range req.Audience {
		if !validResource(r) {
			return TokenResponse{}, ErrInvalidRequest.WithDescription("the audience %q is not an absolute URI without a fragment", r)
		}
	}
	c, err := s.devClient(ctx, req.ClientID)
	if err != nil {
		return TokenResponse{}, err
	}
	userID, err := s.devUser(ctx, req.Subject)
	if err != nil {
		return TokenResponse{}, err
	}
	scopes, err := s.cfg.Scopes.Resolve(req.Scopes, true, c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	resp, events, err := s.tokenSetFor(c, userID, GrantDev, scopes, dedupe(req.Audience), ttl, false)
	if err != nil {
		return TokenResponse{}, err
	}
	if _, err := s.record(ctx, ExpectAny, actorFor(c.ID, userID), events...); err != nil {
		return TokenResponse{}, fmt.Errorf("domain: record dev token: %w", err)
	}
	return resp, nil
}

// devClient returns the live client id, or the dev client, registered if
// no live client has its name.
func (s *Service) devClient(ctx context.Context, id string) (Client, error) {
	if id != "" {
		c, err := s.ports.Clients.Client(ctx, id)
		if errors.Is(err, ErrNotFound) || err == nil && !c.Exists() {
			return Client{}, ErrInvalidRequest.WithDescription("no client %q", id)
		}
		return c, err
	}
	best, err := s.oldestClient(ctx, func(c Client) bool { return c.Name == DevClientName })
	if err != nil {
		return Client{}, err
	}
	if best.ID != "" {
		return best, nil
	}
	c, _, err := s.RegisterClient(ctx, Actor{Kind: ActorSystem}, RegisterClient{Name: DevClientName, Grants: []string{GrantClientCredentials}, FirstParty: true})
	return c, err
}

// devUser returns the id of the user sub names (an id or an email),
// registering one for an unknown email; "" for no sub.
func (s *Service) devUser(ctx context.Context, sub string) (string, error) {
	if sub == "" {
		return "", nil
	}
	if !strings.Contains(sub, "@") {
		if s.userGone(ctx, sub) {
			return "", ErrInvalidRequest.WithDescription("no user %q (name a user by id, or by email to register one)", sub)
		}
		return sub, nil
	}
	u, err := s.ports.Users.UserByEmail(ctx, NormalizeEmail(sub))
	if err == nil && u.Exists() {
		return u.ID, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	password, err := NewSecret(s.cfg.Random)
	if err != nil {
		return "", err
	}
	u, err = s.RegisterUser(ctx, Actor{Kind: ActorSystem}, sub, "", password)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}
