package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	hash, err := s.cfg.PasswordHashing.Hash(password, s.cfg.Random)
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
	email, name, err := validateNewUser(email, name)
	if err != nil {
		return User{}, err
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
	e := UserRegistered{UserID: id, EmailKey: sealer.EmailKey(email), PasswordSealed: sealed, RegisteredAt: s.cfg.Now().UTC()}
	// A user of UserRegistered version 1 holds its email by the legacy
	// claim. Such a claim is never made any more, only released, so a
	// check outside the append below cannot miss a concurrent claim; it
	// runs before the user's key is created, so a taken email creates
	// none.
	state := registerUserState{}
	if state.Legacy, err = load(ctx, s.ports.Log, Aggregate{KindEmail, LegacyEmailKey(email)}, ApplyEmailClaim); err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	if _, err := decideRegisterUser(state, e, s.cfg.Now(), s.cfg.Random); err != nil {
		return User{}, err
	}
	key, err := s.ports.UserKeys.CreateUserKey(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("domain: create the user's key: %w", err)
	}
	if e.EmailSealed, err = SealField(key, id, FieldEmail, email, s.cfg.Random); err != nil {
		return User{}, err
	}
	if e.NameSealed, err = SealField(key, id, FieldName, name, s.cfg.Random); err != nil {
		return User{}, err
	}
	var seq uint64
	err = retry(ctx, func() error {
		if state.Claim, err = load(ctx, s.ports.Log, Aggregate{KindEmail, e.EmailKey}, ApplyEmailClaim); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		events, err := decideRegisterUser(state, e, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		seq, err = s.record(ctx, ExpectSeq(state.Claim.Seq), actor, events...)
		return err
	})
	if errors.Is(err, ErrConflict) {
		err = errEmailTaken
	}
	if errors.Is(err, errEmailTaken) {
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

// errWrongLogin is the one answer to a failed login, so it never tells
// whether the account exists.
var errWrongLogin = ErrAccessDenied.WithDescription("the email or password is wrong")

// errEmailTaken refuses a registration whose email a live user holds.
var errEmailTaken = invalid("email", "a user with this email exists")

// validateNewUser normalises a new user's email (NormalizeEmail) and name
// (trimmed; the email when empty) and checks them: an email address of at
// most 254 bytes (RFC 5321 §4.5.3.1.3), a name of at most 255 characters.
// Errors: *ValidationError.
func validateNewUser(email, name string) (string, string, error) {
	email = NormalizeEmail(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return "", "", invalid("email", "%q is not an email address", email)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = email
	}
	if utf8.RuneCountInString(name) > 255 {
		return "", "", invalid("name", "must be at most 255 characters")
	}
	return email, name, nil
}

// registerUserState is what a registration decides on: the email's
// legacy claim (version 1 users, by LegacyEmailKey) and its claim (by
// Sealer.EmailKey), each the zero EmailClaim when the log has none.
type registerUserState struct {
	Legacy EmailClaim
	Claim  EmailClaim
}

// decideRegisterUser decides the registration of cmd, a UserRegistered
// with its fields sealed: an email held by a live user, by either claim,
// is refused (*ValidationError on "email"); else the user claims its
// email and is registered, in that order, as one append (expecting the
// claim's sequence, so a concurrent claim conflicts).
func decideRegisterUser(state registerUserState, cmd UserRegistered, _ time.Time, _ io.Reader) ([]Event, error) {
	if state.Legacy.UserID != "" || state.Claim.UserID != "" {
		return nil, errEmailTaken
	}
	return []Event{UserEmailClaimed{EmailKey: cmd.EmailKey, UserID: cmd.UserID}, cmd}, nil
}

// changePassword is the command decideChangePassword decides: the user
// and the new password, hashed and sealed (sealPassword).
type changePassword struct {
	UserID         string
	PasswordSealed string
}

// ChangePassword replaces a user's password. Errors: ErrNotFound,
// *ValidationError.
func (s *Service) ChangePassword(ctx context.Context, actor Actor, userID, password string) error {
	return retry(ctx, func() error {
		u, err := load(ctx, s.ports.Log, Aggregate{KindUser, userID}, ApplyUser)
		if err != nil {
			return err
		}
		cmd := changePassword{UserID: userID}
		if u.Exists() { // hash only for a user the decision can accept
			if cmd.PasswordSealed, err = s.sealPassword(ctx, u.ID, password); err != nil {
				return err
			}
		}
		e, err := decideChangePassword(u, cmd, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		_, err = s.record(ctx, ExpectSeq(u.Seq), actor, e)
		return err
	})
}

// decideChangePassword decides a new password for state: the user must
// exist and not be deleted (else ErrNotFound); the sealed password
// replaces the old one.
func decideChangePassword(state User, cmd changePassword, _ time.Time, _ io.Reader) (UserPasswordChanged, error) {
	if !state.Exists() {
		return UserPasswordChanged{}, fmt.Errorf("domain: user %q: %w", cmd.UserID, ErrNotFound)
	}
	if cmd.PasswordSealed == "" {
		return UserPasswordChanged{}, errors.New("domain: change password: no sealed password")
	}
	return UserPasswordChanged{UserID: state.ID, PasswordSealed: cmd.PasswordSealed}, nil
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
		events, err := decideDeleteUser(u, userID, s.cfg.Now(), s.cfg.Random)
		if err != nil || len(events) == 0 {
			return err
		}
		_, err = s.record(ctx, ExpectSeq(u.Seq), actor, events...)
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

// decideDeleteUser decides the deletion of state, the user userID: a live
// user is deleted and releases its email (so it may register again); an
// already deleted one needs no event (only its key is left to destroy,
// which the shell does either way); an unknown one is ErrNotFound.
func decideDeleteUser(state User, userID string, _ time.Time, _ io.Reader) ([]Event, error) {
	if state.Deleted {
		return nil, nil
	}
	if !state.Exists() {
		return nil, fmt.Errorf("domain: user %q: %w", userID, ErrNotFound)
	}
	return []Event{UserDeleted{UserID: state.ID}, UserEmailReleased{EmailKey: state.EmailKey, UserID: state.ID}}, nil
}

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
	fail := errWrongLogin
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
	hash := s.cfg.PasswordHashing.dummy() // as long as a real check, at the configured cost
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
	u, err = decideLogin(loginState{User: u, PasswordMatches: ok}, email, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		if ferr := s.failed(ctx, keys...); ferr != nil {
			return User{}, ferr
		}
		return User{}, err
	}
	if err := s.succeeded(ctx, pair); err != nil {
		return User{}, err
	}
	return u, nil
}

// loginState is what a login decides on: the user the email names (the
// zero User when none does; its password was checked against a dummy
// hash then) and whether the password matched.
type loginState struct {
	User            User
	PasswordMatches bool
}

// decideLogin decides a login with an email: it succeeds, with the user,
// only for a live user whose password matched. Any failure is
// ErrAccessDenied with one description, so an answer never tells whether
// the account exists; the shell counts it against the login limits.
func decideLogin(state loginState, _ string, _ time.Time, _ io.Reader) (User, error) {
	if !state.PasswordMatches || !state.User.Exists() {
		return User{}, errWrongLogin
	}
	return state.User, nil
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
