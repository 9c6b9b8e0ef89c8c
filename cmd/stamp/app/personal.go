package app

import (
	"context"
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

// loadSealer returns the sealer of the configured sealing key.
func loadSealer(c Config) (*domain.Sealer, error) {
	key, err := loadSealingKey(c)
	if err != nil {
		return nil, err
	}
	return domain.NewSealer(key)
}
