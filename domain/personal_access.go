package domain

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"
)

// ClientLister lists every client (the personal access client is found
// among them).
type ClientLister interface {
	Clients(ctx context.Context) ([]Client, error)
}

// ErrNoPersonalAccessClient: no live client may issue personal access
// tokens. It is a *ValidationError on the field "client".
var ErrNoPersonalAccessClient error = &ValidationError{Field: "client", Message: "no personal access client exists: run `stamp install` or `stamp client create --personal`"}

// PersonalAccessClient returns the client personal access tokens are
// issued through: the oldest live client allowed the personal_access
// grant (`stamp install` creates it, as passport:install does).
func (s *Service) PersonalAccessClient(ctx context.Context) (Client, error) {
	best, err := s.oldestClient(ctx, func(c Client) bool { return c.HasGrant(GrantPersonalAccess) })
	if err == nil && best.ID == "" {
		return Client{}, ErrNoPersonalAccessClient
	}
	return best, err
}

// oldestClient returns the oldest live client that match accepts, or the
// zero Client when none does.
func (s *Service) oldestClient(ctx context.Context, match func(Client) bool) (Client, error) {
	lister, ok := s.ports.Clients.(ClientLister)
	if !ok {
		return Client{}, errors.New("domain: cannot list clients")
	}
	clients, err := lister.Clients(ctx)
	if err != nil {
		return Client{}, err
	}
	var best Client
	for _, c := range clients {
		if c.Exists() && match(c) && (best.ID == "" || c.CreatedAt.Before(best.CreatedAt)) {
			best = c
		}
	}
	return best, nil
}

// PersonalAccessToken is a newly created personal access token: the token,
// shown once, and its record.
type PersonalAccessToken struct {
	AccessToken string      `json:"accessToken"`
	Token       AccessToken `json:"token"`
}

// CreatePersonalAccessToken issues a personal access token to a user, with
// a name and scopes ("*" allowed), through the personal access client,
// with the personal access lifetime. Errors: *ValidationError, ErrNotFound
// for an unknown user.
func (s *Service) CreatePersonalAccessToken(ctx context.Context, actor Actor, userID, name string, scopes []string) (PersonalAccessToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 255 {
		return PersonalAccessToken{}, invalid("name", "is required and at most 255 characters")
	}
	if s.userGone(ctx, userID) || userID == "" {
		return PersonalAccessToken{}, ErrNotFound
	}
	c, err := s.PersonalAccessClient(ctx)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	if len(scopes) == 0 {
		scopes = []string{} // a personal access token asks for what it needs; none is none
	}
	granted, err := s.cfg.Scopes.Resolve(scopes, true, c.Scopes)
	var oe *OAuthError
	if errors.As(err, &oe) {
		return PersonalAccessToken{}, invalid("scopes", "%s", oe.Description)
	}
	if err != nil {
		return PersonalAccessToken{}, err
	}
	if len(scopes) == 0 {
		granted = []string{}
	}
	raw, e, err := s.mintAccess(c, userID, GrantPersonalAccess, name, granted, s.cfg.PersonalAccess)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	seq, err := s.record(ctx, ExpectAny, actor, e)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	return PersonalAccessToken{AccessToken: raw, Token: ApplyAccessToken(AccessToken{}, e, seq, e.IssuedAt)}, nil
}
