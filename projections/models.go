package projections

import (
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The folds of the clients, keys, users and authorizations models;
// filed.go holds those of the tokens and refresh families models,
// expiring.go those of the codes and devices models. Each takes the events
// of its aggregate kind, loads the aggregate's state, applies the pure
// domain fold with the event's sequence and time, and writes the result
// back. A fold that leaves the state as it was (its Seq unchanged) writes
// nothing, and so does one whose result has no id: the aggregate's
// creating event never reached this model, and a record without an id
// would only mislead a reader.

// foldState is what every fold shares: for an event of aggregate kind, it
// loads the aggregate's state stored at key(id), applies the pure domain
// fold, and, unless the state did not move (ident's sequence is not the
// event's) or has no identity, lets index keep the model's index entries
// in step with the move from old to next and stores next.
func foldState[T any](w *writer, rec domain.Recorded, ev domain.Event, kind string, key func(id string) []byte,
	apply func(T, domain.Event, uint64, time.Time) T, ident func(T) (seq uint64, id string), index func(old, next T) error) error {
	agg := ev.AggregateOf()
	if agg.Kind != kind {
		return nil
	}
	k := key(agg.ID)
	var old T
	if _, err := w.load(k, &old); err != nil {
		return err
	}
	next := apply(old, ev, rec.Seq, rec.Envelope.Time)
	if seq, id := ident(next); seq != rec.Seq || id == "" {
		return nil
	}
	if index != nil {
		if err := index(old, next); err != nil {
			return err
		}
	}
	return w.store(k, next)
}

func (w *writer) foldClient(rec domain.Recorded, ev domain.Event) error {
	return foldState(w, rec, ev, domain.KindClient, clientKey, domain.ApplyClient,
		func(c domain.Client) (uint64, string) { return c.Seq, c.ID }, nil)
}

func (w *writer) foldSigningKey(rec domain.Recorded, ev domain.Event) error {
	return foldState(w, rec, ev, domain.KindKey, signingKeyKey, domain.ApplySigningKey,
		func(k domain.SigningKey) (uint64, string) { return k.Seq, k.ID }, nil)
}

// foldUser folds a user event, and keeps the email index: a user not
// deleted claims its normalized email, and the first claimant holds it
// (see join: two racing registrations of one email may both reach the
// log); a deleted user leaves it, so the email passes to the next
// claimant or, with none, can be registered again, while the deleted
// user's record stays, flagged.
func (w *writer) foldUser(rec domain.Recorded, ev domain.Event) error {
	return foldState(w, rec, ev, domain.KindUser, userKey, domain.ApplyUser,
		func(u domain.User) (uint64, string) { return u.Seq, u.ID },
		func(old, u domain.User) error {
			if was, is := emailOf(old), emailOf(u); was != is {
				if err := w.leave(usersByEmail, was, old.ID); err != nil {
					return err
				}
				return w.join(usersByEmail, is, u.ID)
			}
			return nil
		})
}

// emailOf returns the email u holds in the email index: its normalized
// email while it exists, else "".
func emailOf(u domain.User) string {
	if !u.Exists() {
		return ""
	}
	return domain.NormalizeEmail(u.Email)
}

// foldAuthorization folds a consent event, and files the consent under
// its user. The aggregate id names the user and the client, so a consent
// never moves to another user; a revoked one stays, flagged.
func (w *writer) foldAuthorization(rec domain.Recorded, ev domain.Event) error {
	return foldState(w, rec, ev, domain.KindAuthorization, authorizationKey, domain.ApplyAuthorization,
		func(a domain.Authorization) (uint64, string) { return a.Seq, a.UserID },
		func(old, a domain.Authorization) error {
			if old.UserID == a.UserID {
				return nil
			}
			id := domain.AuthorizationID(a.UserID, a.ClientID)
			if old.UserID != "" {
				if err := w.batch.Delete(authorizationByUserKey(old.UserID, id), nil); err != nil {
					return err
				}
			}
			return w.batch.Set(authorizationByUserKey(a.UserID, id), []byte(id), nil)
		})
}
