package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// The ended sessions model: a web session its user logged out of, kept
// (sessions/id/<session id>, domain.EndedSession as JSON, filed by expiry
// as the codes are) until the session would have expired, so that every
// copy of its cookie is refused until then. It forgets sessions that
// expired before the time of each SessionEnded it folds, and before a
// purge of expired tokens, so it holds about as many records as there
// are logouts within one session lifetime, without anyone running a
// purge. Both depend on event times only, so a rebuild gives the same
// bytes.

// foldSession folds a SessionEnded (on the user's aggregate) into the
// session it names, after dropping the sessions that expired before it;
// a TokensPurged that purges expired tokens drops the sessions that
// expired before its Before.
func (w *writer) foldSession(rec domain.Recorded, ev domain.Event) error {
	switch e := ev.(type) {
	case domain.TokensPurged:
		return w.purgeExpired(expiringSessions, e, sessionTicketOf)
	case domain.SessionEnded:
		if err := w.purgeExpired(expiringSessions, domain.TokensPurged{Before: rec.Envelope.Time, Expired: true}, sessionTicketOf); err != nil {
			return err
		}
		if !domain.ValidID(e.SessionID) {
			return nil // names no session stamp can have issued
		}
		key := expiringSessions.idKey(e.SessionID)
		var old domain.EndedSession
		if _, err := w.load(key, &old); err != nil {
			return err
		}
		next := domain.ApplyEndedSession(old, ev, rec.Seq, rec.Envelope.Time)
		if next.Seq != rec.Seq || next.ID == "" {
			return nil
		}
		if err := w.reticket(expiringSessions, sessionTicket(old), sessionTicket(next)); err != nil {
			return err
		}
		return w.store(key, next)
	}
	return nil
}

func sessionTicket(s domain.EndedSession) ticket { return ticket{id: s.ID, expires: s.ExpiresAt} }

func sessionTicketOf(val []byte) (ticket, error) {
	var s domain.EndedSession
	err := json.Unmarshal(val, &s)
	return sessionTicket(s), err
}

// EndedSession returns the session with id id if it was ended and has not
// been forgotten since it expired. It returns an error wrapping
// domain.ErrNotFound otherwise.
func (s *Store) EndedSession(ctx context.Context, id string) (domain.EndedSession, error) {
	var es domain.EndedSession
	if err := s.get(ctx, expiringSessions.idKey(id), &es); err != nil {
		return domain.EndedSession{}, fmt.Errorf("projections: ended session %q: %w", id, err)
	}
	return es, nil
}
