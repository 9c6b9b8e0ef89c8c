package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The external password check (Passport's findForPassport and
// validateForPassportPasswordGrant): when Ports.PasswordHook is set, the
// password grant and the built-in login ask the application that owns the
// users whether a username and password are right, instead of checking a
// stored hash. The application answers with the subject, the user's id in
// its own database, which becomes the user's id in stamp and so the
// tokens' "sub". A subject stamp has not seen yet becomes a stamp user on
// its first successful login (UserRegistered with that id, the email the
// hook names or else the username, and a random password nobody knows):
// the tokens, consents and audit of stamp need a user record. A subject
// whose user was deleted in stamp stays refused (ids are never reused).
//
// The check fails closed: only the application's "yes" logs a user in.
// A "no" is a wrong password (counted against the login limits like any
// other); no answer in time, a network error or any other answer is a
// *RetryError wrapping ErrTemporarilyUnavailable (the token endpoint
// answers 503 with Retry-After), never a login.

// PasswordHook checks a username and password against the application.
// CheckPassword returns the application's login for a right pair, an
// error wrapping ErrAccessDenied for a wrong one, and any other error
// when it could not tell (the hook is down, slow or answered something
// else). It must be safe for concurrent use and honour ctx.
type PasswordHook interface {
	CheckPassword(ctx context.Context, username, password string) (HookLogin, error)
}

// HookLogin is the application's answer to a right username and password.
type HookLogin struct {
	// Subject is the user's id (a valid id: ValidID), the tokens' sub.
	Subject string `json:"subject"`
	// Email and Name, both optional, are kept when the subject becomes a
	// stamp user on its first login; the email defaults to the username.
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// PasswordHookRetry is the Retry-After of a login refused because the
// password hook could not answer.
const PasswordHookRetry = 5 * time.Second

// hookActor records the users the password hook brings in.
var hookActor = Actor{Kind: ActorSystem, ID: "password-hook"}

// authenticateByHook is AuthenticateUser through the password hook; keys
// are the login's limit buckets (the first is the account and address
// pair, reset on success) and fail the answer to a wrong password.
func (s *Service) authenticateByHook(ctx context.Context, username, password string, fail error, keys []limitKey) (User, error) {
	login, err := s.ports.PasswordHook.CheckPassword(ctx, username, password)
	if errors.Is(err, ErrAccessDenied) {
		if err := s.failed(ctx, keys...); err != nil {
			return User{}, err
		}
		return User{}, fail
	}
	if err == nil && !ValidID(login.Subject) {
		err = fmt.Errorf("domain: password hook: the subject %q is not a valid id (letters, digits, '-' and '_', at most 128)", login.Subject)
	}
	if err != nil {
		return User{}, &RetryError{
			Err:   fmt.Errorf("%w: %w", ErrTemporarilyUnavailable.WithDescription("the password check is unavailable; retry later"), err),
			After: PasswordHookRetry,
		}
	}
	if s.ports.Users == nil {
		return User{}, errors.New("domain: no user reader")
	}
	u, err := s.ports.Users.User(ctx, login.Subject)
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return User{}, err
	case err == nil && u.Deleted:
		return User{}, fail
	case err != nil || !u.Exists():
		if u, err = s.hookUser(ctx, login, username); err != nil {
			return User{}, err
		}
	}
	if err := s.succeeded(ctx, keys[0]); err != nil {
		return User{}, err
	}
	return u, nil
}

// hookUser registers the user of a subject seen for the first time. When
// a concurrent login registered it first, that user is returned.
func (s *Service) hookUser(ctx context.Context, login HookLogin, username string) (User, error) {
	email := login.Email
	if email == "" {
		email = username
	}
	u, err := s.RegisterExternalUser(ctx, hookActor, ExternalUser{ID: login.Subject, Email: email, Name: login.Name})
	if err == nil {
		return u, nil
	}
	if again, rerr := s.ports.Users.User(ctx, login.Subject); rerr == nil && again.Exists() {
		return again, nil
	}
	if errors.Is(err, ErrUserExists) {
		return User{}, ErrAccessDenied.WithDescription("the email or password is wrong")
	}
	// A bad email is the application's mistake, not the client's: it is
	// not a *ValidationError here, so it is logged and answered 500.
	return User{}, fmt.Errorf("domain: password hook: register the subject %q: %v", login.Subject, err)
}
