package projections

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/stamp-oauth/stamp/domain"
)

// fakeKeys is a hand-written UserKeys: keys by user id, destroyed ids, and
// a number of passing failures to return first.
type fakeKeys struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed map[string]bool
	failing   int
	calls     int
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{keys: map[string][]byte{}, destroyed: map[string]bool{}}
}

func (k *fakeKeys) UserKey(_ context.Context, id string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	if k.failing > 0 {
		k.failing--
		return nil, errors.New("nats: timeout")
	}
	if key, ok := k.keys[id]; ok {
		return key, nil
	}
	if k.destroyed[id] {
		return nil, domain.ErrUserKeyErased
	}
	return nil, domain.ErrUserKeyMissing
}

func (k *fakeKeys) destroy(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, id)
	k.destroyed[id] = true
}

// sealedUser returns a version 2 registration of id with its email and
// name sealed under a new key, which keys keeps.
func sealedUser(t *testing.T, keys *fakeKeys, id, email string, seq uint64) domain.UserRegistered {
	t.Helper()
	key := make([]byte, domain.UserKeySize)
	rand.Read(key)
	keys.mu.Lock()
	keys.keys[id] = key
	keys.mu.Unlock()
	em, err := domain.SealField(key, id, domain.FieldEmail, email, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nm, _ := domain.SealField(key, id, domain.FieldName, "name "+id, rand.Reader)
	return domain.UserRegistered{UserID: id, EmailSealed: em, NameSealed: nm, EmailKey: "hmac-" + id, PasswordSealed: "sealed-" + id, RegisteredAt: at(seq)}
}

func openWithKeys(t *testing.T, keys UserKeys, logger *slog.Logger) *Store {
	t.Helper()
	s, err := Open("db", Options{FS: vfs.NewMem(), UserKeys: keys, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRevealUsers: the users model opens sealed emails and names with the
// users' keys, so users log in by email; once a user is deleted and its key
// destroyed, a rebuild, which can no longer read the fields, has the
// same bytes as the live store.
func TestRevealUsers(t *testing.T) {
	ctx := context.Background()
	keys := newFakeKeys()
	live := openWithKeys(t, keys, nil)
	h := newHistory(t)
	h.add(sealedUser(t, keys, "ada", "ada@example.com", 1))
	h.add(sealedUser(t, keys, "bob", "bob@example.com", 2))
	applyAll(t, live, h.recs)
	u, err := live.UserByEmail(ctx, "ada@example.com")
	if err != nil || u.ID != "ada" || u.Name != "name ada" || u.EmailKey != "hmac-ada" {
		t.Fatalf("UserByEmail(ada) = %+v, %v; want ada revealed", u, err)
	}

	// Rebuilt while the keys exist: the live store's bytes.
	if got, want := checksum(t, rebuilt(t, keys, h.recs)), checksum(t, live); got != want {
		t.Errorf("rebuilt with the keys: checksum %s; want the live %s", got, want)
	}

	applyAll(t, live, []domain.Recorded{h.add(domain.UserDeleted{UserID: "ada"})})
	keys.destroy("ada")
	if _, err := live.UserByEmail(ctx, "ada@example.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UserByEmail(ada) after deletion = %v; want ErrNotFound", err)
	}
	r := rebuilt(t, keys, h.recs)
	if got, want := checksum(t, r), checksum(t, live); got != want {
		t.Errorf("rebuilt after the erasure: checksum %s; want the live %s", got, want)
	}
	if b, err := r.User(ctx, "bob"); err != nil || b.Email != "bob@example.com" {
		t.Errorf("bob after ada's erasure: %+v, %v", b, err)
	}
	if a, err := r.User(ctx, "ada"); err != nil || !a.Deleted || a.Email != "" || a.Name != "" {
		t.Errorf("ada rebuilt after erasure: %+v, %v; want deleted, no personal fields", a, err)
	}
}

func rebuilt(t *testing.T, keys UserKeys, recs []domain.Recorded) *Store {
	t.Helper()
	s := openWithKeys(t, keys, nil)
	if err := s.ApplyBatch(recs); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRevealMissingKey: a user not deleted whose key is gone (a damaged
// key store) is folded without personal fields and reported; the
// projection goes on.
func TestRevealMissingKey(t *testing.T) {
	ctx := context.Background()
	keys := newFakeKeys()
	var logs bytes.Buffer
	s := openWithKeys(t, keys, slog.New(slog.NewTextHandler(&logs, nil)))
	h := newHistory(t)
	h.add(sealedUser(t, keys, "ada", "ada@example.com", 1))
	keys.mu.Lock()
	delete(keys.keys, "ada")
	keys.mu.Unlock()
	h.add(sealedUser(t, keys, "bob", "bob@example.com", 2))
	applyAll(t, s, h.recs)
	if u, err := s.User(ctx, "ada"); err != nil || !u.Exists() || u.Email != "" || u.Name != "" {
		t.Errorf("ada without key: %+v, %v; want the user, without personal fields", u, err)
	}
	if _, err := s.UserByEmail(ctx, "bob@example.com"); err != nil {
		t.Errorf("bob after ada's missing key: %v", err)
	}
	if !strings.Contains(logs.String(), "unreadable") || !strings.Contains(logs.String(), "ada") {
		t.Errorf("the missing key was not reported; log:\n%s", logs.String())
	}
	if s.Checkpoint() != 2 {
		t.Errorf("checkpoint %d; want 2", s.Checkpoint())
	}
}

// TestRevealRetries: a key store failing for a passing reason is retried;
// one that keeps failing fails the batch, which writes nothing.
func TestRevealRetries(t *testing.T) {
	ctx := context.Background()
	keys := newFakeKeys()
	s := openWithKeys(t, keys, nil)
	h := newHistory(t)
	h.add(sealedUser(t, keys, "ada", "ada@example.com", 1))
	keys.failing = 2
	applyAll(t, s, h.recs)
	if _, err := s.UserByEmail(ctx, "ada@example.com"); err != nil || keys.calls != 3 {
		t.Errorf("after two passing failures: %v after %d calls; want ada, after 3", err, keys.calls)
	}

	h.add(sealedUser(t, keys, "bob", "bob@example.com", 2))
	keys.failing = keyAttempts
	if err := s.Apply(h.recs[1]); err == nil {
		t.Fatalf("with the key store down: got nil; want an error")
	}
	if s.Checkpoint() != 1 {
		t.Errorf("checkpoint %d after a failed batch; want 1", s.Checkpoint())
	}
	if err := s.Apply(h.recs[1]); err != nil {
		t.Fatalf("once the key store is back: %v", err)
	}
	if u, err := s.UserByEmail(ctx, "bob@example.com"); err != nil || u.ID != "bob" {
		t.Errorf("bob once the key store is back: %+v, %v", u, err)
	}
}
