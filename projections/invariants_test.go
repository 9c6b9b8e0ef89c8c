package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// checkUniqueIndexes checks that every entry of the unique indexes of s
// names a record holding its value, and that every record holding a value
// (a code or family its hashes, a live user its email) is found by it. In
// randomHistory hashes are unique, emails are not: of live users sharing
// an email, at most one holds it (none, after the holder's deletion).
func checkUniqueIndexes(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	liveByEmail := map[string][]string{}
	entries, records := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		key, val := string(it.Key()), append([]byte(nil), it.Value()...)
		for _, x := range []unique{usersByEmail, codesByHash, devicesByHash, devicesByUserCode, familiesByHash} {
			if v, ok := strings.CutPrefix(key, string(x)); ok {
				entries++
				if err := entryHolds(ctx, s, x, v, string(val)); err != nil {
					t.Errorf("entry %s: %v", key, err)
				}
			}
		}
		var found []error
		switch {
		case bytes.HasPrefix([]byte(key), ModelUsers.idPrefix()):
			var u domain.User
			if err := json.Unmarshal(val, &u); err != nil {
				t.Fatal(err)
			}
			if u.Exists() {
				liveByEmail[emailOf(u)] = append(liveByEmail[emailOf(u)], u.ID)
			}
		case bytes.HasPrefix([]byte(key), ModelCodes.idPrefix()):
			var c domain.AuthCode
			if err := json.Unmarshal(val, &c); err != nil {
				t.Fatal(err)
			}
			found = append(found, finds(c.ID, codeID)(s.AuthCodeByHash(ctx, c.Hash)))
		case bytes.HasPrefix([]byte(key), ModelDevices.idPrefix()):
			var d domain.DeviceCode
			if err := json.Unmarshal(val, &d); err != nil {
				t.Fatal(err)
			}
			found = append(found, finds(d.ID, deviceID)(s.DeviceCodeByHash(ctx, d.DeviceCodeHash)))
			found = append(found, finds(d.ID, deviceID)(s.DeviceCodeByUserCodeHash(ctx, d.UserCodeHash)))
		case bytes.HasPrefix([]byte(key), ModelRefreshFamilies.idPrefix()):
			var f domain.RefreshFamily
			if err := json.Unmarshal(val, &f); err != nil {
				t.Fatal(err)
			}
			for _, hash := range familyHashes(f) {
				found = append(found, finds(f.ID, familyID)(s.RefreshFamilyByTokenHash(ctx, hash)))
			}
		default:
			continue
		}
		records++
		if err := errors.Join(found...); err != nil {
			t.Errorf("record %s: %v", key, err)
		}
	}
	for email, ids := range liveByEmail {
		if u, err := s.UserByEmail(ctx, email); err != nil || !contains(ids, u.ID) {
			t.Errorf("UserByEmail(%q) = %s, %v; want one of %v", email, u.ID, err, ids)
		}
		held, closer, err := s.db.Get(usersByEmail.key(email))
		if err != nil {
			t.Fatal(err)
		}
		got := claimants(held)
		closer.Close()
		if !sameSet(got, ids) {
			t.Errorf("the claimants of %q are %v; want the live users %v", email, got, ids)
		}
	}
	if entries == 0 || records == 0 || len(liveByEmail) == 0 {
		t.Errorf("checked %d entries, %d records, %d emails; want some of each", entries, records, len(liveByEmail))
	}
}

// finds returns a check that a lookup found the record id; idOf reads a
// record's id.
func finds[T any](id string, idOf func(T) string) func(T, error) error {
	return func(rec T, err error) error {
		if err == nil && idOf(rec) != id {
			err = errors.New("found " + idOf(rec) + ", not " + id)
		}
		return err
	}
}

func codeID(c domain.AuthCode) string        { return c.ID }
func deviceID(d domain.DeviceCode) string    { return d.ID }
func familyID(f domain.RefreshFamily) string { return f.ID }

// entryHolds checks that the record id, which x's entry for value v names,
// holds v (a user, only while it exists).
func entryHolds(ctx context.Context, s *Store, x unique, v, id string) error {
	var values []string
	switch x {
	case usersByEmail:
		for _, c := range claimants([]byte(id)) {
			u, err := s.User(ctx, c)
			if err != nil {
				return err
			}
			if emailOf(u) != v {
				return errors.New("names user " + c + ", which does not hold the email")
			}
		}
		return nil
	case codesByHash:
		var c domain.AuthCode
		if err := s.get(ctx, ModelCodes.idKey(id), &c); err != nil {
			return err
		}
		values = []string{c.Hash}
	case devicesByHash, devicesByUserCode:
		var d domain.DeviceCode
		if err := s.get(ctx, ModelDevices.idKey(id), &d); err != nil {
			return err
		}
		values = []string{d.DeviceCodeHash, d.UserCodeHash}
	case familiesByHash:
		f, err := s.RefreshFamily(ctx, id)
		if err != nil {
			return err
		}
		values = familyHashes(f)
	}
	if !contains(values, v) {
		return errors.New("names record " + id + ", which does not hold the value")
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
