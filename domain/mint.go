package domain

import (
	"errors"
	"time"
)

// mintAccess signs a new access token for no particular resource (its aud
// is the client id); see mintAccessFor.
func (s *Service) mintAccess(c Client, userID, grant, name string, scopes []string, ttl time.Duration) (string, AccessTokenCreated, error) {
	return s.mintAccessFor(c, userID, grant, name, scopes, nil, ttl)
}

// mintAccessFor signs a new access token and returns it with the event
// that records it. Its aud is resources (decided by decideResources), or
// the client id when there are none. Nothing is recorded yet: the caller
// appends the event, with whatever else its decision produced, before the
// token leaves.
func (s *Service) mintAccessFor(c Client, userID, grant, name string, scopes, resources []string, ttl time.Duration) (string, AccessTokenCreated, error) {
	signer := s.signer.Load()
	if signer == nil {
		return "", AccessTokenCreated{}, errors.New("domain: this service has no signing key")
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	jti, err := NewID(s.cfg.Random)
	if err != nil {
		return "", AccessTokenCreated{}, err
	}
	sub := userID
	if sub == "" {
		sub = c.ID
	}
	exp := now.Add(ttl)
	raw, err := signer.Sign(Claims{
		Issuer: s.cfg.Issuer, Audience: audienceOf(c, resources), Subject: sub, ClientID: c.ID, ID: jti,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: exp.Unix(),
		Scopes: scopes, Scope: FormatScope(scopes),
	})
	if err != nil {
		return "", AccessTokenCreated{}, err
	}
	return raw, AccessTokenCreated{
		TokenID: jti, ClientID: c.ID, UserID: userID, Scopes: scopes, GrantType: grant, Name: name,
		KeyID: signer.KeyID(), IssuedAt: now, ExpiresAt: exp, Audience: resources,
	}, nil
}

// mintRefresh makes a refresh token for access: a new family when
// family is empty, else the family's next token replacing parentID.
func (s *Service) mintRefresh(family, parentID string, access AccessTokenCreated) (string, RefreshTokenCreated, error) {
	raw, err := NewSecret(s.cfg.Random)
	if err != nil {
		return "", RefreshTokenCreated{}, err
	}
	id, err := NewID(s.cfg.Random)
	if err != nil {
		return "", RefreshTokenCreated{}, err
	}
	if family == "" {
		family = id
	}
	return raw, RefreshTokenCreated{
		FamilyID: family, RefreshTokenID: id, ParentID: parentID, TokenHash: HashSecret(raw),
		AccessTokenID: access.TokenID, ClientID: access.ClientID, UserID: access.UserID, Scopes: access.Scopes,
		Resources: access.Audience, IssuedAt: access.IssuedAt, ExpiresAt: access.IssuedAt.Add(s.cfg.RefreshToken),
	}, nil
}

// tokenSet is tokenSetFor with no resource.
func (s *Service) tokenSet(c Client, userID, grant string, scopes []string, ttl time.Duration, withRefresh bool) (TokenResponse, []Event, error) {
	return s.tokenSetFor(c, userID, grant, scopes, nil, ttl, withRefresh)
}

// tokenSetFor mints an access token for resources and, when withRefresh,
// a new refresh family for it (bound to the same resources), and returns
// the response and the events to record.
func (s *Service) tokenSetFor(c Client, userID, grant string, scopes, resources []string, ttl time.Duration, withRefresh bool) (TokenResponse, []Event, error) {
	raw, at, err := s.mintAccessFor(c, userID, grant, "", scopes, resources, ttl)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	resp := TokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: FormatScope(scopes)}
	events := []Event{at}
	if withRefresh {
		rt, rc, err := s.mintRefresh("", "", at)
		if err != nil {
			return TokenResponse{}, nil, err
		}
		resp.RefreshToken = rt
		events = append(events, rc)
	}
	return resp, events, nil
}

// actorFor names who a token request acts for.
func actorFor(clientID, userID string) Actor {
	if userID != "" {
		return Actor{Kind: ActorUser, ID: userID}
	}
	return Actor{Kind: ActorClient, ID: clientID}
}
