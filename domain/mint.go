package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The issuer: it signs what a decision decided to issue (token_set.go),
// records the decision's events and hands the tokens out. Every token
// stamp issues goes through here.

// issue carries out a token decision: it signs the access token d
// decided with signer (the one d's issuerTerms named), records d's
// events and waits for the projection, and returns the response. The
// token reaches the caller only after the log has acknowledged its
// event. A decision without tokens answers d.Answer once its events are
// recorded. Errors: d.Answer; the recording's (ErrConflict for an
// append whose expectation failed: the caller reloads and decides again).
func (s *Service) issue(ctx context.Context, signer *TokenSigner, d tokenDecision) (TokenResponse, error) {
	var resp TokenResponse
	if d.Tokens != nil {
		raw, err := sign(signer, d.Tokens.Claims)
		if err != nil {
			return TokenResponse{}, err
		}
		resp = d.Tokens.Response
		resp.AccessToken = raw
	}
	if len(d.Events) > 0 {
		if _, err := s.record(ctx, d.Expect, d.Actor, d.Events...); err != nil {
			return TokenResponse{}, fmt.Errorf("domain: record tokens: %w", err)
		}
	}
	if d.Tokens == nil {
		return TokenResponse{}, d.Answer
	}
	return resp, nil
}

// sign signs claims with signer. Errors: a service without a signing key.
func sign(signer *TokenSigner, claims Claims) (string, error) {
	if signer == nil {
		return "", errors.New("domain: this service has no signing key")
	}
	return signer.Sign(claims)
}

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
	is, signer := s.issuerTerms()
	if signer == nil {
		return "", AccessTokenCreated{}, errors.New("domain: this service has no signing key")
	}
	claims, at, err := decideAccessToken(is, accessTerms{Client: c, UserID: userID, Grant: grant, Name: name, Scopes: scopes, Resources: resources, TTL: ttl}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", AccessTokenCreated{}, err
	}
	raw, err := sign(signer, claims)
	if err != nil {
		return "", AccessTokenCreated{}, err
	}
	return raw, at, nil
}

// tokenSet is tokenSetFor with no resource.
func (s *Service) tokenSet(c Client, userID, grant string, scopes []string, ttl time.Duration, withRefresh bool) (TokenResponse, []Event, error) {
	return s.tokenSetFor(c, userID, grant, scopes, nil, ttl, withRefresh)
}

// tokenSetFor mints an access token for resources and, when withRefresh,
// a new refresh family for it (bound to the same resources), and returns
// the response and the events to record.
func (s *Service) tokenSetFor(c Client, userID, grant string, scopes, resources []string, ttl time.Duration, withRefresh bool) (TokenResponse, []Event, error) {
	is, signer := s.issuerTerms()
	if signer == nil {
		return TokenResponse{}, nil, errors.New("domain: this service has no signing key")
	}
	set, err := decideTokenSet(is, accessTerms{Client: c, UserID: userID, Grant: grant, Scopes: scopes, Resources: resources, TTL: ttl}, withRefresh, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	raw, err := sign(signer, set.Claims)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	resp := set.Response
	resp.AccessToken = raw
	return resp, set.events(), nil
}

// actorFor names who a token request acts for.
func actorFor(clientID, userID string) Actor {
	if userID != "" {
		return Actor{Kind: ActorUser, ID: userID}
	}
	return Actor{Kind: ActorClient, ID: clientID}
}
