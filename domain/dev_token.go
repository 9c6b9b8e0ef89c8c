package domain

import (
	"context"
	"errors"
	"io"
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
	cmd, err := checkDevTokenRequest(req, s.cfg.AccessToken)
	if err != nil {
		return TokenResponse{}, err
	}
	c, err := s.devClient(ctx, req.ClientID)
	if err != nil {
		return TokenResponse{}, err
	}
	userID, err := s.devUser(ctx, req.Subject)
	if err != nil {
		return TokenResponse{}, err
	}
	is, signer := s.issuerTerms()
	d, err := decideDevToken(devTokenState{Client: c, UserID: userID, Scopes: s.cfg.Scopes, Issuer: is}, cmd, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.issue(ctx, signer, d)
}

// checkDevTokenRequest checks what a dev token request is refused for
// before its client or user is looked up (or registered): a lifetime
// outside 1s to MaxDevTokenLifetime, an audience that is not an absolute
// URI without a fragment (ErrInvalidRequest). The lifetime defaults to
// accessTTL.
func checkDevTokenRequest(req DevTokenRequest, accessTTL time.Duration) (DevTokenRequest, error) {
	if req.TTL == 0 {
		req.TTL = accessTTL
	}
	if req.TTL < time.Second || req.TTL > MaxDevTokenLifetime {
		return DevTokenRequest{}, ErrInvalidRequest.WithDescription("the lifetime must be 1s to %s", MaxDevTokenLifetime)
	}
	for _, r := range req.Audience {
		if !validResource(r) {
			return DevTokenRequest{}, ErrInvalidRequest.WithDescription("the audience %q is not an absolute URI without a fragment", r)
		}
	}
	return req, nil
}

// devTokenState is what the dev token decision decides on: the client
// and user (""  for a client token) the token is for, the scope
// catalogue and the issuer's terms.
type devTokenState struct {
	Client Client
	UserID string
	Scopes *Scopes
	Issuer issuerTerms
}

// decideDevToken decides a checked dev token request: its scopes are
// resolved as any request's ("*" allowed; invalid_scope), its aud is the
// audience asked for (need not be registered with the client), and it is
// recorded as the user or the client.
func decideDevToken(st devTokenState, cmd DevTokenRequest, now time.Time, rnd io.Reader) (tokenDecision, error) {
	c := st.Client
	scopes, err := st.Scopes.Resolve(cmd.Scopes, true, c.Scopes)
	if err != nil {
		return tokenDecision{}, err
	}
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, UserID: st.UserID, Grant: GrantDev, Scopes: scopes, Resources: dedupe(cmd.Audience), TTL: cmd.TTL}, false, now, rnd)
	if err != nil {
		return tokenDecision{}, err
	}
	return tokenDecision{Events: set.events(), Expect: ExpectAny, Actor: actorFor(c.ID, st.UserID), Tokens: &set}, nil
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
