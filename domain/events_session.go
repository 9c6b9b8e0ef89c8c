package domain

import "time"

// SessionEnded: a user logged out of a web session. Every copy of that
// session's cookie is refused from then on; the cookie would have
// expired by itself at ExpiresAt, so the ended-sessions read model may
// forget the session after it. The event goes on the user's aggregate
// (stamp.user.<id>.SessionEnded), a low-cardinality subject. SessionID is
// a random id, not a secret: a cookie is valid only with its signature,
// which never leaves the server.
type SessionEnded struct {
	SessionID string    `json:"session_id"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (SessionEnded) EventType() string        { return "SessionEnded" }
func (SessionEnded) EventVersion() int        { return 1 }
func (e SessionEnded) AggregateOf() Aggregate { return Aggregate{KindUser, e.UserID} }

// EndedSession is a session that was ended before it expired, as the
// ended-sessions read model keeps it until ExpiresAt.
type EndedSession struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	Seq       uint64    `json:"seq"`
}

// ApplyEndedSession folds a SessionEnded into the ended session it names
// (s is that session's state, zero if it has none); other events leave s
// as it is. Ending a session twice keeps the first end.
func ApplyEndedSession(s EndedSession, e Event, seq uint64, _ time.Time) EndedSession {
	ended, ok := e.(SessionEnded)
	if !ok || s.ID != "" {
		return s
	}
	return EndedSession{ID: ended.SessionID, UserID: ended.UserID, ExpiresAt: ended.ExpiresAt, Seq: seq}
}
