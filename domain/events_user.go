package domain

import "time"

// User events. A user's aggregate id is its user id. Passwords travel only
// sealed: PasswordSealed is the argon2id hash encrypted with AES-GCM under
// the instance's sealing key (kept beside the signing keys, never in the
// log), so a reader of the stream cannot attack the hashes offline.

// UserRegistered: a built-in user was created. EmailHash is the SHA-256 of
// the normalised email, the id of the email's claim on uniqueness.
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
	default:
		return u
	}
	u.Seq = seq
	return u
}
