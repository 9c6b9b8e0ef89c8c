package projections

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/stamp-oauth/stamp/domain"
)

// The signing keys are read on every token check (a verification needs
// the key its kid names) and the client on every client authentication
// and token check; both change rarely (keys a few times a year, clients
// when registered, updated, given a new secret or deleted). So
// SigningKeys answers from a decoded copy of the keys model, and Client
// from decoded copies of the clients it read (clients_cache.go), instead
// of reading and decoding JSON each time.
//
// A copy is tagged with its model's generation (Store.keyGen,
// Store.clientGen) as read before the copy was. The generation moves
// after every commit that wrote under the model's prefix
// (writer.noteChange), and after a Drop or a swap (cachesStale), and
// always before the checkpoints of that commit are published: a caller
// that waited for a sequence (WaitFor, a catch-up) reads a generation at
// least as new as the event at that sequence, so a key announced, rotated
// or retired, or a client changed, is seen at once (read your writes). A
// copy read while the generation moved carries the older generation, so
// the next call reads the model again: a copy may hold newer state than
// its tag says, never older.

// keySet is the signing keys model, decoded and sorted, as of gen.
type keySet struct {
	gen  uint64
	keys []domain.SigningKey
}

// The key prefixes of the cached models.
var (
	keysPrefix    = []byte(prefixOf(idxKeys))
	clientsPrefix = []byte(prefixOf(idxClients))
)

// noteChange notes that the batch writes key, for the caches.
func (w *writer) noteChange(key []byte) {
	w.keysChanged = w.keysChanged || bytes.HasPrefix(key, keysPrefix)
	w.clientsChanged = w.clientsChanged || bytes.HasPrefix(key, clientsPrefix)
}

// cachesStale moves every cached model's generation: the database
// changed other than through a writer's commit (Drop, a swap). The
// caller publishes after it.
func (s *Store) cachesStale() {
	s.keyGen.Add(1)
	s.clientGen.Add(1)
}

// SigningKeys returns every signing key, retired ones included, sorted by
// creation time, then id (an empty slice, not nil, if there is none). The
// slice is the caller's; the keys' PublicKey bytes are shared between
// calls and must not be modified. It returns ctx's error if ctx has
// ended and ErrClosed after Close.
func (s *Store) SigningKeys(ctx context.Context) ([]domain.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("projections: signing keys: %w", err)
	}
	if err := s.rlock(); err != nil {
		return nil, fmt.Errorf("projections: signing keys: %w", err)
	}
	s.closeMu.RUnlock()
	gen := s.keyGen.Load()
	if c := s.keySet.Load(); c != nil && c.gen == gen {
		return slices.Clone(c.keys), nil
	}
	out, err := scanAll[domain.SigningKey](ctx, s, ModelKeys.idPrefix())
	if err != nil {
		return nil, fmt.Errorf("projections: signing keys: %w", err)
	}
	slices.SortFunc(out, func(a, b domain.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	s.keySet.Store(&keySet{gen: gen, keys: slices.Clone(out)})
	return out, nil
}
