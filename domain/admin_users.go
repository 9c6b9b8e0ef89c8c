package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// The admin API (server to server, see httpapi's admin routes) manages
// users, clients and tokens on behalf of an application, with the
// application's client as the actor of every event. Its commands are the
// ones the CLI and the dashboard use, with the actor given; the few below
// exist only for it.

// ErrUserExists: a user with the id given exists, or existed: a deleted
// user's id is never given to another user.
var ErrUserExists = errors.New("domain: a user with this id exists or existed")

// ExternalUser is the command to register a user whose id the caller
// chooses: the admin API's external id, so an application's own user id
// is the user's id in stamp and so the tokens' "sub".
type ExternalUser struct {
	// ID is the user's id (ValidID: letters, digits, '-' and '_', at most
	// 128); empty gives a random one, as RegisterUser.
	ID    string
	Email string
	Name  string
	// Password is optional: empty gives a random one nobody knows, for
	// users who log in through the application (the password hook) or
	// only hold tokens the application mints.
	Password string
}

// RegisterExternalUser registers cmd's user, as RegisterUser does (the
// email must be new), with the id cmd gives. Errors: *ValidationError for a
// bad field, an error wrapping ErrUserExists when the id is or was taken.
//
// Two concurrent registrations of one id with two different emails are
// not excluded by the log (the email claim is the checked aggregate); an
// application registers each of its users once.
func (s *Service) RegisterExternalUser(ctx context.Context, actor Actor, cmd ExternalUser) (User, error) {
	id := cmd.ID
	if id == "" {
		var err error
		if id, err = NewID(s.cfg.Random); err != nil {
			return User{}, err
		}
	}
	if !ValidID(id) {
		return User{}, invalid("external_id", "must be 1 to 128 letters, digits, '-' or '_'")
	}
	_, err := load(ctx, s.ports.Log, Aggregate{KindUser, id}, ApplyUser)
	switch {
	case err == nil:
		return User{}, fmt.Errorf("domain: user %q: %w", id, ErrUserExists)
	case !errors.Is(err, ErrNotFound):
		return User{}, err
	}
	password := cmd.Password
	if password == "" {
		if password, err = NewSecret(s.cfg.Random); err != nil {
			return User{}, err
		}
	}
	return s.registerUser(ctx, actor, id, cmd.Email, cmd.Name, password)
}

// UserByID returns a live user; ErrNotFound for an unknown or deleted one.
func (s *Service) UserByID(ctx context.Context, userID string) (User, error) {
	if s.ports.Users == nil {
		return User{}, errors.New("domain: no user reader")
	}
	if !ValidID(userID) {
		return User{}, fmt.Errorf("domain: user %q: %w", userID, ErrNotFound)
	}
	ctx, err := s.catchUp(ctx)
	if err != nil {
		return User{}, err
	}
	u, err := s.ports.Users.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if !u.Exists() {
		return User{}, fmt.Errorf("domain: user %q: %w", userID, ErrNotFound)
	}
	return u, nil
}

// AllUserTokens returns every live access token of a live user, newest
// first, each with its client: personal access tokens, the dashboard's
// cookie tokens and applications' tokens alike. ErrNotFound for an
// unknown or deleted user.
func (s *Service) AllUserTokens(ctx context.Context, userID string) ([]UserToken, error) {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	return s.liveTokens(ctx, userID, func(AccessToken) bool { return true })
}

// RevokeUserTokenAs is RevokeUserToken on behalf of actor: it revokes one
// of userID's access tokens and the refresh token family issued with it.
// Someone else's or an unknown token is ErrNotFound.
func (s *Service) RevokeUserTokenAs(ctx context.Context, actor Actor, userID, jti string) error {
	return s.revokeUserToken(ctx, actor, userID, jti)
}

// RevokeAuthorizationAs is RevokeClientAuthorization on behalf of actor:
// userID's consent to clientID goes, and so does every token the client
// holds for the user. ErrNotFound for an unknown user or client.
func (s *Service) RevokeAuthorizationAs(ctx context.Context, actor Actor, userID, clientID string) error {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return err
	}
	if _, err := s.ports.Clients.Client(ctx, clientID); err != nil {
		return err
	}
	return s.revokeClientAuthorization(ctx, actor, userID, clientID)
}

// AuthorizationLister lists a user's consents, revoked ones included,
// sorted by client id (the grants read model has it).
type AuthorizationLister interface {
	AuthorizationsByUser(ctx context.Context, userID string) ([]Authorization, error)
}

// UserAuthorizations returns the live consents of a live user (the
// clients it approved and the scopes it granted them), by client id.
// ErrNotFound for an unknown or deleted user.
func (s *Service) UserAuthorizations(ctx context.Context, userID string) ([]Authorization, error) {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	l, ok := s.ports.Grants.(AuthorizationLister)
	if !ok {
		return nil, errors.New("domain: cannot list a user's authorizations")
	}
	all, err := l.AuthorizationsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := []Authorization{}
	for _, a := range all {
		if !a.Revoked {
			out = append(out, a)
		}
	}
	return out, nil
}

// LoggedOut counts what LogOutEverywhere revoked.
type LoggedOut struct {
	Clients []string `json:"clients"` // the clients whose consent and tokens went
}

// LogOutEverywhere revokes, on behalf of actor, every consent userID gave
// and every access token and refresh token family the user holds, with
// any client: "log out everywhere": the consents the grants read model
// lists (when it can list them) and those of every client the user holds
// or held tokens from. Web sessions of the built-in login are not ended
// (they end with their lifetime). ErrNotFound for an unknown or deleted
// user.
func (s *Service) LogOutEverywhere(ctx context.Context, actor Actor, userID string) (LoggedOut, error) {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return LoggedOut{}, err
	}
	r, err := s.userTokens()
	if err != nil {
		return LoggedOut{}, err
	}
	tokens, err := r.AccessTokensByUser(ctx, userID)
	if err != nil {
		return LoggedOut{}, err
	}
	fams, err := r.RefreshFamiliesByUser(ctx, userID)
	if err != nil {
		return LoggedOut{}, err
	}
	out := LoggedOut{Clients: []string{}}
	for _, t := range tokens {
		if !slices.Contains(out.Clients, t.ClientID) {
			out.Clients = append(out.Clients, t.ClientID)
		}
	}
	for _, f := range fams {
		if !slices.Contains(out.Clients, f.ClientID) {
			out.Clients = append(out.Clients, f.ClientID)
		}
	}
	if l, ok := s.ports.Grants.(AuthorizationLister); ok {
		consents, err := l.AuthorizationsByUser(ctx, userID)
		if err != nil {
			return LoggedOut{}, err
		}
		for _, a := range consents {
			if !a.Revoked && !slices.Contains(out.Clients, a.ClientID) {
				out.Clients = append(out.Clients, a.ClientID)
			}
		}
	}
	slices.Sort(out.Clients)
	for _, c := range out.Clients {
		if err := s.revokeClientAuthorization(ctx, actor, userID, c); err != nil {
			return LoggedOut{}, err
		}
	}
	return out, nil
}
