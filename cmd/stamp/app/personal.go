package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// Personal data: the users' keys live in the STAMP_USER_KEYS bucket (see
// eventstore.UserKeys), sealed under the sealing key. The server opens it
// at start and hands it to the service (which creates and destroys keys)
// and to the read models (which reveal emails to log in by); CLI commands
// open it on first use, to reveal what they show.

// openUserKeys opens the user key store on store, sealed under the
// configured sealing key.
func openUserKeys(ctx context.Context, c Config, store *eventstore.Store) (*eventstore.UserKeys, error) {
	sealer, err := loadSealer(c)
	if err != nil {
		return nil, err
	}
	return store.UserKeys(ctx, sealer)
}

// cliUserKeys is the user key store of a CLI command: opened on its first
// use, so that commands that never need it never touch the bucket. Safe
// for concurrent use.
type cliUserKeys struct {
	c     Config
	store *eventstore.Store

	mu   sync.Mutex
	keys *eventstore.UserKeys
}

func (k *cliUserKeys) open(ctx context.Context) (*eventstore.UserKeys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil {
		return k.keys, nil
	}
	keys, err := openUserKeys(ctx, k.c, k.store)
	if err != nil {
		return nil, fmt.Errorf("the user key store: %w", err)
	}
	k.keys = keys
	return keys, nil
}

func (k *cliUserKeys) CreateUserKey(ctx context.Context, userID string) ([]byte, error) {
	keys, err := k.open(ctx)
	if err != nil {
		return nil, err
	}
	return keys.CreateUserKey(ctx, userID)
}

func (k *cliUserKeys) UserKey(ctx context.Context, userID string) ([]byte, error) {
	keys, err := k.open(ctx)
	if err != nil {
		return nil, err
	}
	return keys.UserKey(ctx, userID)
}

func (k *cliUserKeys) DestroyUserKey(ctx context.Context, userID string) error {
	keys, err := k.open(ctx)
	if err != nil {
		return err
	}
	return keys.DestroyUserKey(ctx, userID)
}

// keyReader reads users' keys: the key stores of server and CLI.
type keyReader interface {
	UserKey(ctx context.Context, userID string) ([]byte, error)
}

// readableKey returns a user's key, or nil (and no error) when its
// personal fields are unreadable: erased, missing or sealed under another
// sealing key. Other errors (the server unreachable) are returned.
func readableKey(ctx context.Context, keys keyReader, userID string) ([]byte, error) {
	key, err := keys.UserKey(ctx, userID)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, domain.ErrUserKeyErased), errors.Is(err, domain.ErrUserKeyMissing), errors.Is(err, domain.ErrUnseal):
		return nil, nil
	}
	return nil, err
}

// revealRecords returns recs with the personal fields of every sealed
// UserRegistered opened with its user's key, or shown as domain.Erased.
func revealRecords(ctx context.Context, keys keyReader, recs []domain.Recorded) ([]domain.Recorded, error) {
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

// recordRevealer reveals records one at a time (a tail of the stream),
// reading each user's key once.
type recordRevealer struct {
	keys  keyReader
	cache map[string][]byte
}

func (r *recordRevealer) reveal(ctx context.Context, rec domain.Recorded) (domain.Recorded, error) {
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
		if key, err = readableKey(ctx, r.keys, ids[0]); err != nil {
			return rec, err
		}
		r.cache[ids[0]] = key
	}
	rec.Envelope = domain.RevealEnvelope(rec.Envelope, key)
	return rec, nil
}

// loadSealer returns the sealer of the configured sealing key.
func loadSealer(c Config) (*domain.Sealer, error) {
	key, err := loadSealingKey(c)
	if err != nil {
		return nil, err
	}
	return domain.NewSealer(key)
}
