package clilog

import (
	"context"
	"errors"

	"github.com/stamp-oauth/stamp/domain"
)

// KeyReader reads users' keys: the key stores of server and CLI.
type KeyReader interface {
	UserKey(ctx context.Context, userID string) ([]byte, error)
}

// readableKey returns a user's key, or nil (and no error) when its
// personal fields are unreadable: erased, missing or sealed under another
// sealing key. Other errors (the server unreachable) are returned.
func readableKey(ctx context.Context, keys KeyReader, userID string) ([]byte, error) {
	key, err := keys.UserKey(ctx, userID)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, domain.ErrUserKeyErased), errors.Is(err, domain.ErrUserKeyMissing), errors.Is(err, domain.ErrUnseal):
		return nil, nil
	}
	return nil, err
}

// Reveal returns recs with the personal fields of every sealed
// UserRegistered opened with its user's key, or shown as domain.Erased.
// It fails when a key cannot be read (not when it is erased).
func Reveal(ctx context.Context, keys KeyReader, recs []domain.Recorded) ([]domain.Recorded, error) {
	ids := domain.SealedUsers(recs)
	if len(ids) == 0 {
		return recs, nil
	}
	m := make(map[string][]byte, len(ids))
	for _, id := range ids {
		key, err := readableKey(ctx, keys, id)
		if err != nil {
			return nil, err
		}
		if key != nil {
			m[id] = key
		}
	}
	return domain.RevealRecords(recs, m), nil
}

// Revealer reveals records one at a time (a tail of the stream), reading
// each user's key once.
type Revealer struct {
	Keys  KeyReader
	cache map[string][]byte
}

// Reveal returns rec with its personal fields opened or erased, as the
// package-level Reveal does.
func (r *Revealer) Reveal(ctx context.Context, rec domain.Recorded) (domain.Recorded, error) {
	ids := domain.SealedUsers([]domain.Recorded{rec})
	if len(ids) == 0 {
		return rec, nil
	}
	if r.cache == nil {
		r.cache = map[string][]byte{}
	}
	key, ok := r.cache[ids[0]]
	if !ok {
		var err error
		if key, err = readableKey(ctx, r.Keys, ids[0]); err != nil {
			return rec, err
		}
		r.cache[ids[0]] = key
	}
	rec.Envelope = domain.RevealEnvelope(rec.Envelope, key)
	return rec, nil
}
