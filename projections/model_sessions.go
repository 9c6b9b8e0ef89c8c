package projections

import (
	"context"
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
func sessionsModel(f domain.Fold[domain.EndedSession]) *model[domain.EndedSession] {
	return &model[domain.EndedSession]{
		name: ModelSessions,
		fold: f,
		lists: []listIndex[domain.EndedSession]{
			{name: byExpiry, owner: func(s domain.EndedSession) string { return timeKey(s.ExpiresAt) }, purgedBy: purgesExpired},
		},
		purge: &purgeRule[domain.EndedSession]{
			on:    purgeOfEndedSessions,
			drops: func(p domain.TokensPurged, s domain.EndedSession) bool { return s.ExpiresAt.Before(p.Before) },
		},
	}
}

// purgeOfEndedSessions: a TokensPurged purges the ended sessions as it
// purges expired tokens, and a SessionEnded (whatever session it names)
// forgets those that expired before its own time.
func purgeOfEndedSessions(rec domain.Recorded, ev domain.Event) (domain.TokensPurged, bool) {
	switch e := ev.(type) {
	case domain.TokensPurged:
		return e, true
	case domain.SessionEnded:
		return domain.TokensPurged{Before: rec.Envelope.Time, Expired: true}, true
	}
	return domain.TokensPurged{}, false
}

// EndedSession returns the session with id id if it was ended and has not
// been forgotten since it expired. It returns an error wrapping
// domain.ErrNotFound otherwise.
func (s *Store) EndedSession(ctx context.Context, id string) (domain.EndedSession, error) {
	var es domain.EndedSession
	if err := s.get(ctx, ModelSessions.idKey(id), &es); err != nil {
		return domain.EndedSession{}, fmt.Errorf("projections: ended session %q: %w", id, err)
	}
	return es, nil
}
