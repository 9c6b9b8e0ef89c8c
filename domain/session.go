package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrSessionEnded: a web session was ended (its user logged out); every
// copy of its cookie is refused.
var ErrSessionEnded = errors.New("domain: the session has ended")

// SessionReader reads the ended-sessions read model. EndedSession returns
// an error wrapping ErrNotFound for a session that was not ended, or whose
// end was forgotten after the session expired.
type SessionReader interface {
	EndedSession(ctx context.Context, id string) (EndedSession, error)
}

// EndSession records that userID logged out of the web session sessionID,
// which expires at expiresAt, so that every copy of its cookie is refused
// on every instance (CheckSession) once this returns. A session past its
// expiry needs no end and records nothing; ending a session twice is
// recorded once (the event id derives from the session id). A bad id is a
// *ValidationError.
func (s *Service) EndSession(ctx context.Context, sessionID, userID string, expiresAt time.Time) error {
	events, err := decideEndSession(noState{}, endSession{SessionID: sessionID, UserID: userID, ExpiresAt: expiresAt}, s.cfg.Now(), s.cfg.Random)
	if err != nil || len(events) == 0 {
		return err
	}
	if _, err := s.recordCaused(ctx, "session/"+sessionID, ExpectAny, Actor{Kind: ActorUser, ID: userID}, events...); err != nil {
		return fmt.Errorf("domain: end session: %w", err)
	}
	return nil
}

// noState is the state of a decision that depends on nothing loaded.
type noState struct{}

// endSession is the command of EndSession.
type endSession struct {
	SessionID string
	UserID    string
	ExpiresAt time.Time
}

// decideEndSession decides a logout: valid session and user ids (else a
// *ValidationError); a session expired at now needs no end (no event);
// else SessionEnded, remembered until the session's expiry.
func decideEndSession(_ noState, cmd endSession, now time.Time, _ io.Reader) ([]Event, error) {
	if !ValidID(cmd.SessionID) {
		return nil, invalid("session_id", "is not a valid id")
	}
	if !ValidID(cmd.UserID) {
		return nil, invalid("user_id", "is not a valid id")
	}
	if !cmd.ExpiresAt.After(now) {
		return nil, nil
	}
	return []Event{SessionEnded{SessionID: cmd.SessionID, UserID: cmd.UserID, ExpiresAt: cmd.ExpiresAt.UTC()}}, nil
}

// CheckSession returns an error wrapping ErrSessionEnded when the web
// session sessionID was ended, nil when it was not, and any other error
// when the read model cannot tell. It does not check the session's
// expiry or its user: the caller has the session's cookie for that.
// Before answering "not ended" it catches up with the log (see
// Freshness), so a logout through any instance holds everywhere; when it
// cannot, the error is a *RetryError wrapping ErrTemporarilyUnavailable.
func (s *Service) CheckSession(ctx context.Context, sessionID string) error {
	if s.ports.Sessions == nil {
		return errors.New("domain: no session reader")
	}
	_, err := lookupFresh(ctx, s, func(ctx context.Context) (EndedSession, error) {
		return s.ports.Sessions.EndedSession(ctx, sessionID)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("domain: check session: %w", err)
	}
	return ErrSessionEnded
}
