package projections

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stamp-oauth/stamp/domain"
)

// The views read committed state; each reads one consistent snapshot. All
// are safe for concurrent use with each other and with writers. They return
// ctx's error if ctx has ended, ErrClosed after Close, and records as the
// folds left them: a deleted client, a revoked or expired token and a
// retired key are returned, flagged; the caller decides what they mean.

// ctxCheckEvery is how many records a listing reads between looks at ctx.
const ctxCheckEvery = 256

// Clients returns every client, deleted ones included, sorted by id (an
// empty slice, not nil, if there is none).
func (s *Store) Clients(ctx context.Context) ([]domain.Client, error) {
	out, err := scanAll[domain.Client](ctx, s, ModelClients.idPrefix())
	if err != nil {
		return nil, fmt.Errorf("projections: clients: %w", err)
	}
	return out, nil
}

// AccessToken returns the access token with id jti, revoked or expired or
// not. It returns an error wrapping domain.ErrNotFound if no such token was
// issued, or it was purged.
func (s *Store) AccessToken(ctx context.Context, jti string) (domain.AccessToken, error) {
	var t domain.AccessToken
	if err := s.get(ctx, ModelTokens.idKey(jti), &t); err != nil {
		return domain.AccessToken{}, fmt.Errorf("projections: access token %q: %w", jti, err)
	}
	return t, nil
}

// AccessTokensByClient returns every access token issued to client
// clientID (revoked and expired ones included, until purged), sorted by
// issue time, then id. An unknown client has none (an empty slice). The
// listing is not bounded: a busy machine client can hold many tokens.
func (s *Store) AccessTokensByClient(ctx context.Context, clientID string) ([]domain.AccessToken, error) {
	out, err := list(ctx, s, s.models.tokens, byClient, clientID, byIssue)
	if err != nil {
		return nil, fmt.Errorf("projections: access tokens of client %q: %w", clientID, err)
	}
	return out, nil
}

// AccessTokensByUser returns every access token issued for user userID
// (revoked and expired ones included, until purged), sorted by issue time,
// then id. An unknown user, or the empty id, has none (an empty slice).
func (s *Store) AccessTokensByUser(ctx context.Context, userID string) ([]domain.AccessToken, error) {
	out, err := list(ctx, s, s.models.tokens, byUser, userID, byIssue)
	if err != nil {
		return nil, fmt.Errorf("projections: access tokens of user %q: %w", userID, err)
	}
	return out, nil
}

// RefreshFamily returns the refresh token family with id id, revoked or
// expired or not. It returns an error wrapping domain.ErrNotFound if no
// such family was started, or it was purged.
func (s *Store) RefreshFamily(ctx context.Context, id string) (domain.RefreshFamily, error) {
	var f domain.RefreshFamily
	if err := s.get(ctx, ModelRefreshFamilies.idKey(id), &f); err != nil {
		return domain.RefreshFamily{}, fmt.Errorf("projections: refresh family %q: %w", id, err)
	}
	return f, nil
}

// RefreshFamiliesByClient returns every refresh token family of client
// clientID (revoked and expired ones included, until purged), sorted by
// creation time, then id. An unknown client has none (an empty slice).
func (s *Store) RefreshFamiliesByClient(ctx context.Context, clientID string) ([]domain.RefreshFamily, error) {
	out, err := list(ctx, s, s.models.families, byClient, clientID, byCreation)
	if err != nil {
		return nil, fmt.Errorf("projections: refresh families of client %q: %w", clientID, err)
	}
	return out, nil
}

// RefreshFamiliesByUser returns every refresh token family of user userID
// (revoked and expired ones included, until purged), sorted by creation
// time, then id. An unknown user, or the empty id, has none (an empty
// slice).
func (s *Store) RefreshFamiliesByUser(ctx context.Context, userID string) ([]domain.RefreshFamily, error) {
	out, err := list(ctx, s, s.models.families, byUser, userID, byCreation)
	if err != nil {
		return nil, fmt.Errorf("projections: refresh families of user %q: %w", userID, err)
	}
	return out, nil
}

func byIssue(a, b domain.AccessToken) int {
	return cmp.Or(a.IssuedAt.Compare(b.IssuedAt), cmp.Compare(a.ID, b.ID))
}

func byCreation(a, b domain.RefreshFamily) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// scanAll decodes every JSON value under prefix, in key order (an empty
// slice, not nil, if there is none).
func scanAll[T any](ctx context.Context, s *Store, prefix []byte) ([]T, error) {
	out := []T{}
	err := s.scan(ctx, prefix, func(v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// get reads the JSON value at key into v; domain.ErrNotFound if absent.
func (s *Store) get(ctx context.Context, key []byte, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	val, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return domain.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return json.Unmarshal(val, v)
}

// scan calls fn with each value under prefix, in key order.
func (s *Store) scan(ctx context.Context, prefix []byte, fn func(v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return errors.Join(err, it.Close())
			}
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(v)
		}
		if err != nil {
			return errors.Join(err, it.Close())
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// list returns the records of m that its listing index named index files
// under owner, sorted by order (an empty slice, not nil, if there is
// none). One iterator over the model reads both the index and the records,
// so both come from the same snapshot. Each record is checked against
// owner, so an owner that is a prefix of another's (ids never hold '/',
// but a stray one might) cannot leak in.
func list[T any](ctx context.Context, s *Store, m *model[T], index, owner string, order func(a, b T) int) ([]T, error) {
	l := m.list(index)
	if l == nil {
		return nil, fmt.Errorf("model %s has no index %s", m.name, index)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	lower := []byte(string(m.name) + "/")
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, err
	}
	out, err := readListed(ctx, it, m, l, owner)
	if err := errors.Join(err, it.Close()); err != nil {
		return nil, err
	}
	slices.SortFunc(out, order)
	return out, nil
}

func readListed[T any](ctx context.Context, it *pebble.Iterator, m *model[T], l *listIndex[T], owner string) ([]T, error) {
	prefix := m.ownedBy(l, owner)
	var ids []string
	for ok := it.SeekGE(prefix); ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		ids = append(ids, string(v))
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for n, id := range ids {
		if n%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v, found, err := seekValue(it, m.name.idKey(id))
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("index %s names a missing record %q", prefix, id)
		}
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, err
		}
		if l.owner(rec) == owner {
			out = append(out, rec)
		}
	}
	return out, nil
}
