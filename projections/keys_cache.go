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
// the key its kid names) and change a few times a year, so SigningKeys
// answers from a decoded copy of the keys model instead of scanning and
// decoding it each time.
//
// The copy is tagged with the keys generation (Store.keyGen) it was read
// at. The generation moves after every commit that wrote under the keys
// prefix (writer.keysChanged), and after a Drop or a swap, and always
// before the checkpoints of that commit are published: a caller that
// waited for a sequence (WaitFor, a catch-up) reads a generation at least
// as new as the keys event at that sequence, so a key announced, rotated
// or retired is seen at once (read your writes). A copy read while the
// generation moved carries the older generation, so the next call reads
// the model again: it may hold newer keys than its tag says, never older.

// keySet is the signing keys model, decoded and sorted, as of gen.
type keySet struct {
	gen  uint64
	keys []domain.SigningKey
}

// keysPrefix is the key prefix of the signing keys model.
var keysPrefix = []byte(string(ModelKeys) + "/")

// isKeysKey reports whether key belongs to the signing keys model.
func isKeysKey(key []byte) bool { return bytes.HasPrefix(key, keysPrefix) }

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
