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

// Client returns the client with id id, deleted or not. It returns an error
// wrapping domain.ErrNotFound if no such client was registered.
func (s *Store) Client(ctx context.Context, id string) (domain.Client, error) {
	var c domain.Client
	if err := s.get(ctx, clientKey(id), &c); err != nil {
		return domain.Client{}, fmt.Errorf("projections: client %q: %w", id, err)
	}
	return c, nil
}

// Clients returns every client, deleted ones included, sorted by id.
func (s *Store) Clients(ctx context.Context) ([]domain.Client, error) {
	out := []domain.Client{}
	err := s.scan(ctx, []byte(prefixClientsID), func(v []byte) error {
		var c domain.Client
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projections: clients: %w", err)
	}
	return out, nil
}

// AccessToken returns the access token with id jti, revoked or expired or
// not. It returns an error wrapping domain.ErrNotFound if no such token was
// issued.
func (s *Store) AccessToken(ctx context.Context, jti string) (domain.AccessToken, error) {
	var t domain.AccessToken
	if err := s.get(ctx, tokenKey(jti), &t); err != nil {
		return domain.AccessToken{}, fmt.Errorf("projections: access token %q: %w", jti, err)
	}
	return t, nil
}

// AccessTokensByClient returns every access token issued to client
// clientID (revoked and expired ones included), sorted by issue time, then
// id. An unknown client has none. The listing is not bounded: a busy
// machine client can hold many tokens.
func (s *Store) AccessTokensByClient(ctx context.Context, clientID string) ([]domain.AccessToken, error) {
	out, err := s.tokensBy(ctx, tokensByClientPrefix(clientID), func(t domain.AccessToken) bool { return t.ClientID == clientID })
	if err != nil {
		return nil, fmt.Errorf("projections: access tokens of client %q: %w", clientID, err)
	}
	return out, nil
}

// AccessTokensByUser returns every access token issued for user userID
// (revoked and expired ones included), sorted by issue time, then id. An
// unknown user, or the empty id, has none.
func (s *Store) AccessTokensByUser(ctx context.Context, userID string) ([]domain.AccessToken, error) {
	out, err := s.tokensBy(ctx, tokensByUserPrefix(userID), func(t domain.AccessToken) bool { return t.UserID == userID })
	if err != nil {
		return nil, fmt.Errorf("projections: access tokens of user %q: %w", userID, err)
	}
	return out, nil
}

// SigningKeys returns every signing key, retired ones included, sorted by
// creation time, then id.
func (s *Store) SigningKeys(ctx context.Context) ([]domain.SigningKey, error) {
	out := []domain.SigningKey{}
	err := s.scan(ctx, []byte(prefixKeysID), func(v []byte) error {
		var k domain.SigningKey
		if err := json.Unmarshal(v, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projections: signing keys: %w", err)
	}
	slices.SortFunc(out, func(a, b domain.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
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

// tokensBy returns the tokens an index prefix names, which match, sorted by
// issue time, then id. One iterator over the tokens model reads both the
// index and the records, so both come from the same snapshot.
func (s *Store) tokensBy(ctx context.Context, prefix []byte, match func(domain.AccessToken) bool) ([]domain.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	model := []byte(prefixTokens)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: model, UpperBound: prefixEnd(model)})
	if err != nil {
		return nil, err
	}
	out, err := readTokensBy(ctx, it, prefix, match)
	if err := errors.Join(err, it.Close()); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b domain.AccessToken) int {
		return cmp.Or(a.IssuedAt.Compare(b.IssuedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func readTokensBy(ctx context.Context, it *pebble.Iterator, prefix []byte, match func(domain.AccessToken) bool) ([]domain.AccessToken, error) {
	var jtis []string
	for ok := it.SeekGE(prefix); ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		jtis = append(jtis, string(v))
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	out := make([]domain.AccessToken, 0, len(jtis))
	for i, jti := range jtis {
		if i%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		key := tokenKey(jti)
		if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
			if err := it.Error(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("index %s names a missing token %q", prefix, jti)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		var t domain.AccessToken
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, err
		}
		if match(t) {
			out = append(out, t)
		}
	}
	return out, nil
}
