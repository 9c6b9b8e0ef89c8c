package projections

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stamp-oauth/stamp/domain"
)

// maxCachedClients bounds the decoded clients kept per generation; past
// it, Client reads the model without keeping what it read.
const maxCachedClients = 4096

// clientSet holds the decoded clients read as of gen (see keys_cache.go
// for why a copy is never older than its tag). A reader that finds the
// set older than the generation it read replaces it with an empty one; a
// reader that finds it newer (its own generation was read before the
// last move) neither reads nor fills it.
type clientSet struct {
	gen uint64
	n   atomic.Int64
	m   sync.Map // id -> domain.Client
}

// Client returns the client with id id, deleted or not. It returns an error
// wrapping domain.ErrNotFound if no such client was registered, ctx's
// error if ctx has ended, and ErrClosed after Close. The client's slices
// are the caller's.
func (s *Store) Client(ctx context.Context, id string) (domain.Client, error) {
	if err := ctx.Err(); err != nil {
		return domain.Client{}, fmt.Errorf("projections: client %q: %w", id, err)
	}
	if err := s.rlock(); err != nil {
		return domain.Client{}, fmt.Errorf("projections: client %q: %w", id, err)
	}
	s.closeMu.RUnlock()
	gen := s.clientGen.Load()
	set := s.clientSet.Load()
	for set == nil || set.gen < gen {
		if s.clientSet.CompareAndSwap(set, &clientSet{gen: gen}) {
			set = s.clientSet.Load()
			continue
		}
		set = s.clientSet.Load()
	}
	if set.gen == gen {
		if v, ok := set.m.Load(id); ok {
			return cloneClient(v.(domain.Client)), nil
		}
	}
	var c domain.Client
	if err := s.get(ctx, ModelClients.idKey(id), &c); err != nil {
		return domain.Client{}, fmt.Errorf("projections: client %q: %w", id, err)
	}
	// An unknown id is not kept: ids that are none cannot fill the set.
	if set.gen == gen && set.n.Load() < maxCachedClients {
		if _, loaded := set.m.LoadOrStore(id, cloneClient(c)); !loaded {
			set.n.Add(1)
		}
	}
	return c, nil
}

// cloneClient returns c with slices of its own.
func cloneClient(c domain.Client) domain.Client {
	c.Grants = slices.Clone(c.Grants)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.Audiences = slices.Clone(c.Audiences)
	c.WebOrigins = slices.Clone(c.WebOrigins)
	return c
}
