package domain

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
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
	return oldestLiveClient(clients, match), nil
}

// oldestLiveClient returns the live client of clients that match accepts
// and was created first, or the zero Client when none is. It is pure.
func oldestLiveClient(clients []Client, match func(Client) bool) Client {
	var best Client
	for _, c := range clients {
		if c.Exists() && match(c) && (best.ID == "" || c.CreatedAt.Before(best.CreatedAt)) {
			best = c
		}
	}
	return best
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
	state, err := s.loadIssueState(ctx, userID)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	state.Lifetime = s.cfg.PersonalAccess
	issue, err := decidePersonalAccessToken(state, personalAccessCommand{UserID: userID, Name: name, Scopes: scopes}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	raw, e, err := s.mintAccess(issue.Client, issue.UserID, issue.Grant, issue.Name, issue.Scopes, issue.TTL)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	seq, err := s.record(ctx, ExpectAny, actor, e)
	if err != nil {
		return PersonalAccessToken{}, err
	}
	return PersonalAccessToken{AccessToken: raw, Token: ApplyAccessToken(AccessToken{}, e, seq, e.IssuedAt)}, nil
}

// accessIssue is a decision to issue one access token: through Client,
// for UserID, by Grant, named Name, with Scopes, for TTL. The shell mints
// it (mintAccess) and records the event.
type accessIssue struct {
	Client Client
	UserID string
	Grant  string
	Name   string
	Scopes []string
	TTL    time.Duration
}

// issueState is what a token issued to a user through the personal
// access client decides on: whether the user is live, the personal access
// client (the zero Client when there is none), the scope catalogue and
// the lifetime of the token.
type issueState struct {
	UserLive bool
	Client   Client
	Scopes   *Scopes
	Lifetime time.Duration
}

// loadIssueState loads an issueState for userID (without Lifetime).
func (s *Service) loadIssueState(ctx context.Context, userID string) (issueState, error) {
	state := issueState{UserLive: userID != "" && !s.userGone(ctx, userID), Scopes: s.cfg.Scopes}
	c, err := s.PersonalAccessClient(ctx)
	if err != nil && !errors.Is(err, ErrNoPersonalAccessClient) {
		return issueState{}, err
	}
	state.Client = c
	return state, nil
}

// personalAccessCommand asks for a personal access token.
type personalAccessCommand struct {
	UserID string
	Name   string
	Scopes []string
}

// decidePersonalAccessToken decides a personal access token (Passport's
// personal access grant): a name of 1 to 255 characters (trimmed); a live
// user (else ErrNotFound); a personal access client (else
// ErrNoPersonalAccessClient); scopes the catalogue and the client allow,
// "*" included, and none when none are asked for (a personal access token
// asks for what it needs). Errors: *ValidationError, ErrNotFound.
func decidePersonalAccessToken(state issueState, cmd personalAccessCommand, _ time.Time, _ io.Reader) (accessIssue, error) {
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > 255 {
		return accessIssue{}, invalid("name", "is required and at most 255 characters")
	}
	if !state.UserLive || cmd.UserID == "" {
		return accessIssue{}, ErrNotFound
	}
	if state.Client.ID == "" {
		return accessIssue{}, ErrNoPersonalAccessClient
	}
	scopes := cmd.Scopes
	if len(scopes) == 0 {
		scopes = []string{} // a personal access token asks for what it needs; none is none
	}
	granted, err := state.Scopes.Resolve(scopes, true, state.Client.Scopes)
	var oe *OAuthError
	if errors.As(err, &oe) {
		return accessIssue{}, invalid("scopes", "%s", oe.Description)
	}
	if err != nil {
		return accessIssue{}, err
	}
	if len(scopes) == 0 {
		granted = []string{}
	}
	return accessIssue{Client: state.Client, UserID: cmd.UserID, Grant: GrantPersonalAccess, Name: name, Scopes: granted, TTL: state.Lifetime}, nil
}
