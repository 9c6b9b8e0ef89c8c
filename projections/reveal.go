package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// UserKeys reads users' personal-data keys, kept outside the log; the
// eventstore's key store implements it, cmd wires it.
//
// UserKey returns the user's key, or an error wrapping
// domain.ErrUserKeyErased (destroyed: the user was deleted),
// domain.ErrUserKeyMissing (never stored: a damaged key store) or
// domain.ErrUnseal (it does not open: another sealing key). Any other
// error is taken as passing (the server unreachable) and retried.
type UserKeys interface {
	UserKey(ctx context.Context, userID string) ([]byte, error)
}

// Retries of a key read that failed for a passing reason, before the
// batch fails (and the Runner stops, to be started again).
const (
	keyAttempts = 6
	keyTimeout  = 5 * time.Second
)

// reveal opens, in place, the sealed personal fields of the UserRegistered
// events of evs that a model has still to apply (above applied), so the
// users model keeps emails to log in by.
//
// A user whose key is destroyed, missing or does not open is folded
// without personal fields (email and name empty): the state every store,
// live or rebuilt, reaches once the user's UserDeleted is applied, so a
// rebuild after a deletion gives the bytes the live store has. A key that
// is missing or does not open for a user not deleted means a damaged key
// store: it is logged as a warning, and the user cannot log in by email.
// A key read that fails for a passing reason is retried; if it keeps
// failing reveal returns the error, and nothing of the batch is applied.
func (s *Store) reveal(recs []domain.Recorded, evs []domain.Event, errs []error, applied uint64) error {
	for i, ev := range evs {
		u, ok := ev.(domain.UserRegistered)
		if !ok || !u.Sealed() || errs[i] != nil || recs[i].Seq <= applied {
			continue
		}
		key, err := s.userKey(u.UserID)
		switch {
		case err == nil:
			r, err := u.Reveal(key)
			if err != nil {
				s.logger.Warn("projections: a user's personal fields do not open with its key; read as erased", "user", u.UserID, "seq", recs[i].Seq, "err", err)
				continue
			}
			evs[i] = r
		case errors.Is(err, domain.ErrUserKeyErased):
			s.logger.Debug("projections: a deleted user's personal fields are erased", "user", u.UserID, "seq", recs[i].Seq)
		case errors.Is(err, domain.ErrUserKeyMissing), errors.Is(err, domain.ErrUnseal):
			s.logger.Warn("projections: a user's key is unreadable; personal fields read as erased", "user", u.UserID, "seq", recs[i].Seq, "err", err)
		default:
			return fmt.Errorf("projections: apply seq %d: user key: %w", recs[i].Seq, err)
		}
	}
	return nil
}

// userKey reads a user's key, retrying passing failures with backoff.
func (s *Store) userKey(userID string) ([]byte, error) {
	if s.keys == nil {
		return nil, fmt.Errorf("projections: no user key store: %w", domain.ErrUserKeyMissing)
	}
	var err error
	backoff := 50 * time.Millisecond
	for attempt := range keyAttempts {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-s.done:
				return nil, ErrClosed
			}
			backoff *= 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), keyTimeout)
		var key []byte
		key, err = s.keys.UserKey(ctx, userID)
		cancel()
		if err == nil || errors.Is(err, domain.ErrUserKeyErased) || errors.Is(err, domain.ErrUserKeyMissing) || errors.Is(err, domain.ErrUnseal) {
			return key, err
		}
	}
	return nil, err
}
