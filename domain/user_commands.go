package domain

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// NormalizeEmail trims and lowercases an email address: the form users are
// found and kept unique by.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func (s *Service) sealer() (*Sealer, error) {
	if s.cfg.Sealer == nil {
		return nil, errors.New("domain: no sealing key: users need one")
	}
	return s.cfg.Sealer, nil
}

// sealPassword hashes password in a hashing slot (hashSlot) and seals
// the hash for the log.
func (s *Service) sealPassword(ctx context.Context, userID, password string) (string, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return "", invalid("password", "must be at least %d characters", MinPasswordLength)
	}
	if len(password) > 1024 {
		return "", invalid("password", "must be at most 1024 bytes")
	}
	sealer, err := s.sealer()
	if err != nil {
		return "", err
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	hash, err := HashPassword(password, s.cfg.Random)
	release()
	if err != nil {
		return "", err
	}
	return sealer.Seal(hash, userID, s.cfg.Random)
}

// RegisterUser creates a built-in user. The email must be new (among
// users not deleted); the password is hashed with argon2id and sealed;
// the email and name are sealed under a key created for the user in the
// key store before anything is appended (see personal.go). Errors:
// *ValidationError.
func (s *Service) RegisterUser(ctx context.Context, actor Actor, email, name, password string) (User, error) {
	id, err := NewID(s.cfg.Random)
	if err != nil {
		return User{}, err
	}
	return s.registerUser(ctx, actor, id, email, name, password)
}

// registerUser is RegisterUser with the new user's id given.
func (s *Service) registerUser(ctx context.Context, actor Actor, id, email, name, password string) (User, error) {
	email = NormalizeEmail(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return User{}, invalid("email", "%q is not an email address", email)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = email
	}
	if utf8.RuneCountInString(name) > 255 {
		return User{}, invalid("name", "must be at most 255 characters")
	}
	if s.ports.UserKeys == nil {
		return User{}, errors.New("domain: no user key store: users need one")
	}
	sealer, err := s.sealer()
	if err != nil {
		return User{}, err
	}
	sealed, err := s.sealPassword(ctx, id, password)
	if err != nil {
		return User{}, err
	}
	taken := invalid("email", "a user with this email exists")
	// A user of UserRegistered version 1 holds its email by the legacy
	// claim. Such a claim is never made any more, only released, so a
	// check outside the append below cannot miss a concurrent claim.
	legacy, err := load(ctx, s.ports.Log, Aggregate{KindEmail, LegacyEmailKey(email)}, ApplyEmailClaim)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	if legacy.UserID != "" {
		return User{}, taken
	}
	key, err := s.ports.UserKeys.CreateUserKey(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("domain: create the user's key: %w", err)
	}
	e := UserRegistered{UserID: id, EmailKey: sealer.EmailKey(email), PasswordSealed: sealed, RegisteredAt: s.cfg.Now().UTC()}
	if e.EmailSealed, err = SealField(key, id, FieldEmail, email, s.cfg.Random); err != nil {
		return User{}, err
	}
	if e.NameSealed, err = SealField(key, id, FieldName, name, s.cfg.Random); err != nil {
		return User{}, err
	}
	claim := UserEmailClaimed{EmailKey: e.EmailKey, UserID: id}
	var seq uint64
	err = retry(ctx, func() error {
		c, err := load(ctx, s.ports.Log, claim.AggregateOf(), ApplyEmailClaim)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if c.UserID != "" {
			return taken
		}
		seq, err = s.record(ctx, ExpectSeq(c.Seq), actor, claim, e)
		return err
	})
	if errors.Is(err, ErrConflict) {
		err = taken
	}
	if errors.Is(err, taken) {
		// Nothing was appended: the key serves no one. Any other error
		// may follow an append, so the key must stay.
		s.ports.UserKeys.DestroyUserKey(context.WithoutCancel(ctx), id)
		return User{}, err
	}
	if err != nil {
		return User{}, err
	}
	e.Email, e.Name = email, name
	return ApplyUser(User{}, e, seq, e.RegisteredAt), nil
}

// ChangePassword replaces a user's password. Errors: ErrNotFound,
// *ValidationError.
func (s *Service) ChangePassword(ctx context.Context, actor Actor, userID, password string) error {
	return retry(ctx, func() error {
		u, err := load(ctx, s.ports.Log, Aggregate{KindUser, userID}, ApplyUser)
		if err != nil {
			return err
		}
		if !u.Exists() {
			return fmt.Errorf("domain: user %q: %w", userID, ErrNotFound)
		}
		sealed, err := s.sealPassword(ctx, u.ID, password)
		if err != nil {
			return err
		}
		e := UserPasswordChanged{UserID: u.ID, PasswordSealed: sealed}
		_, err = s.record(ctx, ExpectSeq(u.Seq), actor, e)
		return err
	})
}

// DeleteUser deletes a user: it logs in no more and its tokens stop
// validating; then it destroys the user's key, which erases the user's
// personal fields from every replay of the log. The key is destroyed only
// after the log acknowledged UserDeleted; if that fails the error wraps
// ErrUserKeyNotDestroyed, and deleting the user again (already deleted, it
// only destroys the key again) retries and returns nil. Errors:
// ErrNotFound, ErrUserKeyNotDestroyed.
func (s *Service) DeleteUser(ctx context.Context, actor Actor, userID string) error {
	if s.ports.UserKeys == nil {
		return errors.New("domain: no user key store: users need one")
	}
	err := retry(ctx, func() error {
		u, err := load(ctx, s.ports.Log, Aggregate{KindUser, userID}, ApplyUser)
		if err != nil {
			return err
		}
		if u.Deleted {
			return nil // only the key is left to destroy
		}
		if !u.Exists() {
			return fmt.Errorf("domain: user %q: %w", userID, ErrNotFound)
		}
		_, err = s.record(ctx, ExpectSeq(u.Seq), actor, UserDeleted{UserID: u.ID}, UserEmailReleased{EmailKey: u.EmailKey, UserID: u.ID})
		return err
	})
	if err != nil {
		return err
	}
	var derr error
	for range maxAttempts {
		if derr = s.ports.UserKeys.DestroyUserKey(ctx, userID); derr == nil || ctx.Err() != nil {
			break
		}
	}
	if derr != nil {
		return fmt.Errorf("domain: user %s is deleted, but %w (delete it again to retry): %w", userID, ErrUserKeyNotDestroyed, derr)
	}
	return nil
}

// dummyHash is checked against when no user matches, so a failure takes
// as long whether or not the account exists.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c3RhbXAtZHVtbXktc2FsdA$2x4E1d3wJxXzK1p2U3r8l2yQ4g3v8kqv1m0n5b6c7d8"

// AuthenticateUser checks an email and password. remote is the client
// address. Any failure is ErrAccessDenied with one description, so an
// answer never tells whether the account exists.
//
// Only failures are counted (Limits): per account and address, per
// account and per address. While one of those is spent the answer is a
// *RetryError wrapping ErrRateLimited, before any password is checked; a
// success resets the account's count for that address only, so wrong
// passwords from one address do not lock the owner out at another. The
// check runs in a password hashing slot: when none frees in time the
// answer is a *RetryError wrapping ErrTemporarilyUnavailable.
func (s *Service) AuthenticateUser(ctx context.Context, email, password, remote string) (User, error) {
	fail := ErrAccessDenied.WithDescription("the email or password is wrong")
	username := strings.TrimSpace(email)
	email = NormalizeEmail(email)
	acct, addr := accountKey(email), addressKey(remote)
	pair := limitKey{s.cfg.Limits.LoginPair, acct + " " + addr}
	keys := []limitKey{pair, {s.cfg.Limits.LoginAccount, acct}, {s.cfg.Limits.LoginAddress, addr}}
	if err := s.limited(ctx, keys...); err != nil {
		return User{}, err
	}
	if s.ports.PasswordHook != nil { // see password_hook.go
		return s.authenticateByHook(ctx, username, password, fail, keys)
	}
	if s.ports.Users == nil {
		return User{}, errors.New("domain: no user reader")
	}
	u, err := s.ports.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	hash := dummyHash
	if err == nil && u.Exists() {
		sealer, serr := s.sealer()
		if serr != nil {
			return User{}, serr
		}
		if hash, err = sealer.Open(u.PasswordSealed, u.ID); err != nil {
			return User{}, fmt.Errorf("domain: user %s: %w", u.ID, err)
		}
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return User{}, err
	}
	ok := PasswordMatches(password, hash)
	release()
	if !ok || !u.Exists() {
		if err := s.failed(ctx, keys...); err != nil {
			return User{}, err
		}
		return User{}, fail
	}
	if err := s.succeeded(ctx, pair); err != nil {
		return User{}, err
	}
	return u, nil
}

// FoldUsers folds a replay of user events into users, in order of
// registration.
func FoldUsers(recs []Recorded) ([]User, error) {
	w, _, err := FoldWorld(recs, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(w.Users))
	for _, u := range w.Users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
