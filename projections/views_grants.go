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

// The views of users and of the grant state (codes, device codes, refresh
// families by token hash, consents), as views.go. Errors name ids but
// never an email or a hash: those are what a caller looked up, not what
// it found, and an email is personal data.

// User returns the user with id id, deleted or not (Deleted is set). It
// returns an error wrapping domain.ErrNotFound if no such user was
// registered.
func (s *Store) User(ctx context.Context, id string) (domain.User, error) {
	var u domain.User
	if err := s.get(ctx, ModelUsers.idKey(id), &u); err != nil {
		return domain.User{}, fmt.Errorf("projections: user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user not deleted whose email is email, compared
// normalized (domain.NormalizeEmail). It returns an error wrapping
// domain.ErrNotFound if there is none: a deleted user's email is free.
// Should two live users have registered one email (two registrations
// racing), the first holds it, and the second once the first is deleted.
func (s *Store) UserByEmail(ctx context.Context, email string) (domain.User, error) {
	var u domain.User
	norm := domain.NormalizeEmail(email)
	err := s.lookup(ctx, usersByEmail, norm, ModelUsers.idKey, &u)
	if err == nil && emailOf(u) != norm {
		err = domain.ErrNotFound // a stray entry; the index holds live users only
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("projections: user by email: %w", err)
	}
	return u, nil
}

// Users returns every user, deleted ones included (flagged), sorted by
// creation time, then id (an empty slice, not nil, if there is none).
func (s *Store) Users(ctx context.Context) ([]domain.User, error) {
	out, err := scanAll[domain.User](ctx, s, ModelUsers.idPrefix())
	if err != nil {
		return nil, fmt.Errorf("projections: users: %w", err)
	}
	slices.SortFunc(out, func(a, b domain.User) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AuthCodeByHash returns the authorization code whose hash is hash,
// redeemed or expired or not. It returns an error wrapping
// domain.ErrNotFound if no code has that hash, or it was purged.
func (s *Store) AuthCodeByHash(ctx context.Context, hash string) (domain.AuthCode, error) {
	var c domain.AuthCode
	err := s.lookup(ctx, codesByHash, hash, ModelCodes.idKey, &c)
	if err == nil && c.Hash != hash {
		err = domain.ErrNotFound
	}
	if err != nil {
		return domain.AuthCode{}, fmt.Errorf("projections: auth code by hash: %w", err)
	}
	return c, nil
}

// DeviceCodeByHash returns the device authorization whose device code
// hash is hash, in whatever status, expired or not. It returns an error
// wrapping domain.ErrNotFound if there is none, or it was purged.
func (s *Store) DeviceCodeByHash(ctx context.Context, hash string) (domain.DeviceCode, error) {
	var d domain.DeviceCode
	err := s.lookup(ctx, devicesByHash, hash, ModelDevices.idKey, &d)
	if err == nil && d.DeviceCodeHash != hash {
		err = domain.ErrNotFound
	}
	if err != nil {
		return domain.DeviceCode{}, fmt.Errorf("projections: device code by hash: %w", err)
	}
	return d, nil
}

// DeviceCodeByUserCodeHash returns the device authorization whose user
// code hash is hash, as DeviceCodeByHash.
func (s *Store) DeviceCodeByUserCodeHash(ctx context.Context, hash string) (domain.DeviceCode, error) {
	var d domain.DeviceCode
	err := s.lookup(ctx, devicesByUserCode, hash, ModelDevices.idKey, &d)
	if err == nil && d.UserCodeHash != hash {
		err = domain.ErrNotFound
	}
	if err != nil {
		return domain.DeviceCode{}, fmt.Errorf("projections: device code by user code hash: %w", err)
	}
	return d, nil
}

// RefreshFamilyByTokenHash returns the refresh token family that issued
// the refresh token whose hash is hash: its live token (hash equals the
// family's TokenHash) or one it has rotated out (hash is among Rotated,
// whose presentation is reuse), revoked or expired or not. It returns an
// error wrapping domain.ErrNotFound if no family issued it, or the family
// was purged.
func (s *Store) RefreshFamilyByTokenHash(ctx context.Context, hash string) (domain.RefreshFamily, error) {
	var f domain.RefreshFamily
	err := s.lookup(ctx, familiesByHash, hash, ModelRefreshFamilies.idKey, &f)
	if err == nil && !slices.Contains(familyHashes(f), hash) {
		err = domain.ErrNotFound
	}
	if err != nil {
		return domain.RefreshFamily{}, fmt.Errorf("projections: refresh family by token hash: %w", err)
	}
	return f, nil
}

// Authorization returns user userID's consent to client clientID, revoked
// or not (Revoked is set). It returns an error wrapping domain.ErrNotFound
// if the user never authorized the client.
func (s *Store) Authorization(ctx context.Context, userID, clientID string) (domain.Authorization, error) {
	var a domain.Authorization
	err := s.get(ctx, ModelAuthorizations.idKey(domain.AuthorizationID(userID, clientID)), &a)
	if err == nil && (a.UserID != userID || a.ClientID != clientID) {
		err = domain.ErrNotFound // another pair with the same aggregate id
	}
	if err != nil {
		return domain.Authorization{}, fmt.Errorf("projections: authorization of client %q by user %q: %w", clientID, userID, err)
	}
	return a, nil
}

// AuthorizationsByUser returns every consent of user userID, revoked ones
// included (flagged), sorted by client id. An unknown user, or the empty
// id, has none (an empty slice).
func (s *Store) AuthorizationsByUser(ctx context.Context, userID string) ([]domain.Authorization, error) {
	out, err := list(ctx, s, s.models.authorizations, byUser, userID, func(a, b domain.Authorization) int {
		return cmp.Compare(a.ClientID, b.ClientID)
	})
	if err != nil {
		return nil, fmt.Errorf("projections: authorizations of user %q: %w", userID, err)
	}
	return out, nil
}

// lookup reads the record that holds value v in the unique index x (an
// empty v names none) into rec, both from one snapshot: the entry, then
// the record at idKey(holder). It returns domain.ErrNotFound if there is
// no entry.
func (s *Store) lookup(ctx context.Context, x unique, v string, idKey func(string) []byte, rec any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v == "" {
		return domain.ErrNotFound
	}
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	err = lookupIn(it, x.key(v), idKey, rec)
	return errors.Join(err, it.Close())
}

func lookupIn(it *pebble.Iterator, entry []byte, idKey func(string) []byte, rec any) error {
	held, found, err := seekValue(it, entry)
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrNotFound
	}
	id := holder(held)
	val, found, err := seekValue(it, idKey(id))
	if err != nil {
		return err
	}
	if !found { // a record and its entries go in one batch: never
		return fmt.Errorf("index entry %s names a missing record %q", entry, id)
	}
	return json.Unmarshal(val, rec)
}

// seekValue positions it at key and returns its value (valid until it
// moves), and whether key exists.
func seekValue(it *pebble.Iterator, key []byte) ([]byte, bool, error) {
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		return nil, false, it.Error()
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
