package projections

import (
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

func (w *writer) foldClient(rec domain.Recorded, ev domain.Event) error {
	agg := ev.AggregateOf()
	if agg.Kind != domain.KindClient {
		return nil
	}
	key := clientKey(agg.ID)
	var c domain.Client
	if _, err := w.load(key, &c); err != nil {
		return err
	}
	c = domain.ApplyClient(c, ev, rec.Seq, rec.Envelope.Time)
	if c.Seq != rec.Seq || c.ID == "" {
		return nil
	}
	return w.store(key, c)
}

func (w *writer) foldSigningKey(rec domain.Recorded, ev domain.Event) error {
	agg := ev.AggregateOf()
	if agg.Kind != domain.KindKey {
		return nil
	}
	key := signingKeyKey(agg.ID)
	var k domain.SigningKey
	if _, err := w.load(key, &k); err != nil {
		return err
	}
	k = domain.ApplySigningKey(k, ev, rec.Seq, rec.Envelope.Time)
	if k.Seq != rec.Seq || k.ID == "" {
		return nil
	}
	return w.store(key, k)
}

// foldUser folds a user event, and keeps the email index: a user not
// deleted claims its normalized email, and the first claimant holds it
// (see join: two racing registrations of one email may both reach the
// log); a deleted user leaves it, so the email passes to the next
// claimant or, with none, can be registered again, while the deleted
// user's record stays, flagged.
func (w *writer) foldUser(rec domain.Recorded, ev domain.Event) error {
	agg := ev.AggregateOf()
	if agg.Kind != domain.KindUser {
		return nil
	}
	key := userKey(agg.ID)
	var old domain.User
	if _, err := w.load(key, &old); err != nil {
		return err
	}
	u := domain.ApplyUser(old, ev, rec.Seq, rec.Envelope.Time)
	if u.Seq != rec.Seq || u.ID == "" {
		return nil
	}
	if was, is := emailOf(old), emailOf(u); was != is {
		if err := w.leave(usersByEmail, was, old.ID); err != nil {
			return err
		}
		if err := w.join(usersByEmail, is, u.ID); err != nil {
			return err
		}
	}
	return w.store(key, u)
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
	agg := ev.AggregateOf()
	if agg.Kind != domain.KindAuthorization {
		return nil
	}
	key := authorizationKey(agg.ID)
	var old domain.Authorization
	if _, err := w.load(key, &old); err != nil {
		return err
	}
	a := domain.ApplyAuthorization(old, ev, rec.Seq, rec.Envelope.Time)
	if a.Seq != rec.Seq || a.UserID == "" {
		return nil
	}
	if old.UserID != a.UserID {
		if old.UserID != "" {
			if err := w.batch.Delete(authorizationByUserKey(old.UserID, agg.ID), nil); err != nil {
				return err
			}
		}
		if err := w.batch.Set(authorizationByUserKey(a.UserID, agg.ID), []byte(agg.ID), nil); err != nil {
			return err
		}
	}
	return w.store(key, a)
}
