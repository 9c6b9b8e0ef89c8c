package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

func userRegistered(id, email string, seq uint64) domain.UserRegistered {
	return domain.UserRegistered{UserID: id, Email: email, Name: "name " + id, PasswordSealed: "sealed-" + id, RegisteredAt: at(seq)}
}

func TestApplyUsers(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(userRegistered("alice", "alice@example.com", 1))
	h.add(userRegistered("bob", "bob@example.com", 2))
	h.add(domain.UserPasswordChanged{UserID: "alice", PasswordSealed: "sealed-2"})
	h.add(domain.UserPasswordChanged{UserID: "ghost", PasswordSealed: "x"}) // never registered
	h.add(domain.UserDeleted{UserID: "ghost"})
	applyAll(t, s, h.recs)

	alice := domain.User{
		ID: "alice", Email: "alice@example.com", Name: "name alice", PasswordSealed: "sealed-2",
		CreatedAt: at(1), UpdatedAt: at(3), Seq: 3,
	}
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(alice, got); d != "" {
		t.Errorf("User(alice) mismatch (-want +got):\n%s", d)
	}
	for _, email := range []string{"alice@example.com", "  ALICE@Example.COM "} {
		got, err := s.UserByEmail(ctx, email)
		if err != nil {
			t.Fatalf("UserByEmail(%q) = %v", email, err)
		}
		if d := cmp.Diff(alice, got); d != "" {
			t.Errorf("UserByEmail(%q) mismatch (-want +got):\n%s", email, d)
		}
	}
	for _, email := range []string{"carol@example.com", ""} {
		if _, err := s.UserByEmail(ctx, email); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("UserByEmail(%q) = %v; want ErrNotFound", email, err)
		}
	}
	for _, id := range []string{"ghost", "nobody"} {
		if _, err := s.User(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("User(%s) = %v; want ErrNotFound", id, err)
		}
	}
}

// TestUserEmailReregistration: deleting a user frees its email for a new
// registration while its record stays; of two live users registered with
// one email, the first holds it, then the second.
func TestUserEmailReregistration(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(userRegistered("u1", "Alice@Example.com", 1))
	h.add(userRegistered("u2", "alice@example.com", 2)) // a racing duplicate
	applyAll(t, s, h.recs)
	byEmail := func() string {
		t.Helper()
		u, err := s.UserByEmail(ctx, "alice@example.com")
		if errors.Is(err, domain.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	if got := byEmail(); got != "u1" {
		t.Errorf("UserByEmail with two registrations = %q; want the first, u1", got)
	}

	// The holder's deletion passes the email to the next live claimant.
	applyAll(t, s, []domain.Recorded{h.add(domain.UserDeleted{UserID: "u1"})})
	if got := byEmail(); got != "u2" {
		t.Errorf("UserByEmail after the holder's deletion = %q; want the other claimant, u2", got)
	}
	u1, err := s.User(ctx, "u1")
	if err != nil || !u1.Deleted || u1.Exists() || u1.Email != "" || u1.Name != "" {
		t.Errorf("User(u1) after deletion = %+v, %v; want the record, deleted, without personal fields", u1, err)
	}

	// With no live user left, the email is free, and a new user takes it.
	applyAll(t, s, []domain.Recorded{h.add(domain.UserDeleted{UserID: "u2"})})
	if got := byEmail(); got != "" {
		t.Errorf("UserByEmail after every claimant's deletion = %q; want ErrNotFound", got)
	}
	applyAll(t, s, []domain.Recorded{
		h.add(userRegistered("u3", "ALICE@example.com", 5)),
		h.add(domain.UserDeleted{UserID: "u1"}), // deleted again: the email stays u3's
	})
	if got := byEmail(); got != "u3" {
		t.Errorf("UserByEmail after re-registration = %q; want u3", got)
	}

	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	if d := cmp.Diff([]string{"u1", "u2", "u3"}, ids); d != "" {
		t.Errorf("Users mismatch (-want +got):\n%s", d)
	}

	// The same events in one batch give the same bytes.
	b := openMem(t, vfs.NewMem(), "db")
	if err := b.ApplyBatch(h.recs); err != nil {
		t.Fatal(err)
	}
	if got, want := checksum(t, b), checksum(t, s); got != want {
		t.Errorf("one batch: checksum %s; want %s", got, want)
	}
}

func TestUsersOrder(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(userRegistered("zed", "z@example.com", 5))
	h.add(userRegistered("bea", "b@example.com", 1))
	h.add(userRegistered("amy", "a@example.com", 5))
	applyAll(t, s, h.recs)
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	if d := cmp.Diff([]string{"bea", "amy", "zed"}, ids); d != "" {
		t.Errorf("Users order mismatch (-want +got):\n%s", d)
	}
	empty := openMem(t, vfs.NewMem(), "empty")
	if got, err := empty.Users(ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Users of an empty store = %v, %v; want an empty slice", got, err)
	}
}
