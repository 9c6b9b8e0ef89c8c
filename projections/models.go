package projections

import (
	"github.com/stamp-oauth/stamp/domain"
)

// The folds of the three models. Each takes the events of its aggregate
// kind, loads the aggregate's state, applies the pure domain fold with the
// event's sequence and time, and writes the result back. A fold that leaves
// the state as it was (its Seq unchanged) writes nothing, and so does one
// whose result has no id: the aggregate's creating event never reached this
// model, and a record without an id would only mislead a reader.

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

// foldToken also keeps the token's index entries (by client and by user) in
// step with its state: an entry whose owner changed is deleted, a new one
// written. An empty client or user id has no entry.
func (w *writer) foldToken(rec domain.Recorded, ev domain.Event) error {
	agg := ev.AggregateOf()
	if agg.Kind != domain.KindToken {
		return nil
	}
	key := tokenKey(agg.ID)
	var old domain.AccessToken
	if _, err := w.load(key, &old); err != nil {
		return err
	}
	t := domain.ApplyAccessToken(old, ev, rec.Seq, rec.Envelope.Time)
	if t.Seq != rec.Seq || t.ID == "" {
		return nil
	}
	if err := w.reindex(old.ClientID, t.ClientID, old.ID, t.ID, tokenByClientKey); err != nil {
		return err
	}
	if err := w.reindex(old.UserID, t.UserID, old.ID, t.ID, tokenByUserKey); err != nil {
		return err
	}
	return w.store(key, t)
}

// reindex moves the index entry keyed by (owner, jti) from its old to its
// new value; an empty owner or jti means no entry.
func (w *writer) reindex(oldOwner, newOwner, oldJTI, newJTI string, keyOf func(owner, jti string) []byte) error {
	if oldOwner == newOwner && oldJTI == newJTI {
		return nil
	}
	if oldOwner != "" && oldJTI != "" {
		if err := w.unindex(keyOf(oldOwner, oldJTI)); err != nil {
			return err
		}
	}
	if newOwner != "" && newJTI != "" {
		return w.index(keyOf(newOwner, newJTI), newJTI)
	}
	return nil
}
