package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// User events. A user's aggregate id is its user id. Passwords travel only
// sealed: PasswordSealed is the argon2id hash encrypted with AES-GCM under
// the instance's sealing key (kept beside the signing keys, never in the
// log), so a reader of the stream cannot attack the hashes offline.

// UserRegistered: a built-in user was created. It is appended together
// with UserEmailClaimed, whose aggregate keeps emails unique.
type UserRegistered struct {
	UserID         string    `json:"user_id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	PasswordSealed string    `json:"password_sealed"`
	RegisteredAt   time.Time `json:"registered_at"`
}

// UserPasswordChanged: a user's password was replaced.
type UserPasswordChanged struct {
	UserID         string `json:"user_id"`
	PasswordSealed string `json:"password_sealed"`
}

// UserDeleted: a user was deleted; it logs in no more and its tokens stop
// validating.
type UserDeleted struct {
	UserID string `json:"user_id"`
}

// UserEmailClaimed: an email became a live user's login. Its aggregate is
// stamp.email.<EmailKey(email)>, so two concurrent registrations of one
// email race on that aggregate's sequence and exactly one wins.
type UserEmailClaimed struct {
	EmailKey string `json:"email_key"`
	UserID   string `json:"user_id"`
}

// UserEmailReleased: the user holding an email was deleted; the email may
// be registered again.
type UserEmailReleased struct {
	EmailKey string `json:"email_key"`
	UserID   string `json:"user_id"`
}

// EmailKey is the aggregate id of an email's claim: the hex SHA-256 of the
// normalised email (the email itself is in UserRegistered).
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(NormalizeEmail(email)))
	return hex.EncodeToString(sum[:])
}

func (UserEmailClaimed) EventType() string         { return "UserEmailClaimed" }
func (UserEmailReleased) EventType() string        { return "UserEmailReleased" }
func (UserEmailClaimed) EventVersion() int         { return 1 }
func (UserEmailReleased) EventVersion() int        { return 1 }
func (e UserEmailClaimed) AggregateOf() Aggregate  { return Aggregate{KindEmail, e.EmailKey} }
func (e UserEmailReleased) AggregateOf() Aggregate { return Aggregate{KindEmail, e.EmailKey} }

// EmailClaim is the state of one email's claim.
type EmailClaim struct {
	UserID string // the live user holding the email, or ""
	Seq    uint64
}

// ApplyEmailClaim folds one event into an email's claim.
func ApplyEmailClaim(c EmailClaim, e Event, seq uint64, _ time.Time) EmailClaim {
	switch e := e.(type) {
	case UserEmailClaimed:
		c.UserID = e.UserID
	case UserEmailReleased:
		if c.UserID == e.UserID {
			c.UserID = ""
		}
	default:
		return c
	}
	c.Seq = seq
	return c
}

func (UserRegistered) EventType() string      { return "UserRegistered" }
func (UserPasswordChanged) EventType() string { return "UserPasswordChanged" }
func (UserDeleted) EventType() string         { return "UserDeleted" }

func (UserRegistered) EventVersion() int      { return 1 }
func (UserPasswordChanged) EventVersion() int { return 1 }
func (UserDeleted) EventVersion() int         { return 1 }

func (e UserRegistered) AggregateOf() Aggregate      { return Aggregate{KindUser, e.UserID} }
func (e UserPasswordChanged) AggregateOf() Aggregate { return Aggregate{KindUser, e.UserID} }
func (e UserDeleted) AggregateOf() Aggregate         { return Aggregate{KindUser, e.UserID} }

// User is the state of one built-in user.
type User struct {
	ID             string    `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	PasswordSealed string    `json:"password_sealed"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Deleted        bool      `json:"deleted,omitempty"`
	Seq            uint64    `json:"seq"`
}

// Exists reports whether the user was registered and not deleted.
func (u User) Exists() bool { return u.ID != "" && !u.Deleted }

// ApplyUser folds one event into a user's state.
func ApplyUser(u User, e Event, seq uint64, at time.Time) User {
	switch e := e.(type) {
	case UserRegistered:
		u = User{ID: e.UserID, Email: e.Email, Name: e.Name, PasswordSealed: e.PasswordSealed, CreatedAt: e.RegisteredAt, UpdatedAt: e.RegisteredAt}
	case UserPasswordChanged:
		if u.ID == "" {
			return u
		}
		u.PasswordSealed, u.UpdatedAt = e.PasswordSealed, at
	case UserDeleted:
		if u.ID == "" {
			return u
		}
		u.Deleted, u.UpdatedAt = true, at
	case SessionEnded:
		// A logout changes nothing of the user, but it is the
		// aggregate's last event, which commands expect to see.
		if u.ID == "" {
			return u
		}
	default:
		return u
	}
	u.Seq = seq
	return u
}
