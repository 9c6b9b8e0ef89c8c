package domain

import "time"

// User events. A user's aggregate id is its user id. Passwords travel only
// sealed: PasswordSealed is the argon2id hash encrypted with AES-GCM under
// the instance's sealing key (kept beside the signing keys, never in the
// log), so a reader of the stream cannot attack the hashes offline.

// UserRegistered: a built-in user was created. It is appended together
// with UserEmailClaimed, whose aggregate keeps emails unique.
//
// Version 2 carries the personal fields only sealed (see personal.go):
// EmailSealed and NameSealed, encrypted under the user's own key, which
// deleting the user destroys; and EmailKey, the keyed hash of the email
// that names its claim. Version 1 carried Email and Name in clear; it
// stays readable (its upcast fills EmailKey with LegacyEmailKey). New
// writes leave Email and Name empty: they are filled by Reveal, for
// readers holding the key, and never written by this version.
type UserRegistered struct {
	UserID         string    `json:"user_id"`
	Email          string    `json:"email,omitempty"`
	Name           string    `json:"name,omitempty"`
	EmailSealed    string    `json:"email_sealed,omitempty"`
	NameSealed     string    `json:"name_sealed,omitempty"`
	EmailKey       string    `json:"email_key,omitempty"`
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
// stamp.email.<Sealer.EmailKey(email)> (LegacyEmailKey for users of
// UserRegistered version 1), so two concurrent registrations of one
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

func (UserRegistered) EventVersion() int      { return 2 }
func (UserPasswordChanged) EventVersion() int { return 1 }
func (UserDeleted) EventVersion() int         { return 1 }

func (e UserRegistered) AggregateOf() Aggregate      { return Aggregate{KindUser, e.UserID} }
func (e UserPasswordChanged) AggregateOf() Aggregate { return Aggregate{KindUser, e.UserID} }
func (e UserDeleted) AggregateOf() Aggregate         { return Aggregate{KindUser, e.UserID} }

// User is the state of one built-in user. Email and Name are empty when
// the user's personal fields could not be revealed (its key is destroyed
// or missing) and once the user is deleted: a deleted user keeps only its
// id, times and the keyed hash of its email.
type User struct {
	ID             string    `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	EmailKey       string    `json:"email_key,omitempty"`
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
		u = User{ID: e.UserID, Email: e.Email, Name: e.Name, EmailKey: e.EmailKey, PasswordSealed: e.PasswordSealed, CreatedAt: e.RegisteredAt, UpdatedAt: e.RegisteredAt}
	case UserPasswordChanged:
		if u.ID == "" {
			return u
		}
		u.PasswordSealed, u.UpdatedAt = e.PasswordSealed, at
	case UserDeleted:
		if u.ID == "" {
			return u
		}
		// The personal fields go with the user: the state a replay
		// reaches once the user's key is destroyed.
		u.Deleted, u.UpdatedAt = true, at
		u.Email, u.Name, u.PasswordSealed = "", "", ""
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
