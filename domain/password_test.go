package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse", rand.Reader)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("got %q, %v; want a PHC argon2id hash", h, err)
	}
	if !PasswordMatches("correct horse", h) {
		t.Errorf("PasswordMatches disagrees with HashPassword")
	}
	// The wrong passwords, at a cheap cost: a hash at production cost
	// takes a second of a loaded machine, and the comparison does not
	// depend on the cost.
	cheap, err := testPasswordHashing().Hash("correct horse", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !PasswordMatches("correct horse", cheap) || PasswordMatches("correct horsE", cheap) || PasswordMatches("", cheap) {
		t.Errorf("PasswordMatches disagrees with PasswordHashing.Hash")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=999999999,t=1,p=1$AA$AA", h[:len(h)-4]} {
		if PasswordMatches("correct horse", bad) {
			t.Errorf("%q matched", bad)
		}
	}
}

func TestSealer(t *testing.T) {
	key := make([]byte, SealingKeySize)
	rand.Read(key)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("$argon2id$secret", "u1", rand.Reader)
	if err != nil || strings.Contains(sealed, "argon2id") {
		t.Fatalf("got %q, %v; want ciphertext", sealed, err)
	}
	if got, err := s.Open(sealed, "u1"); err != nil || got != "$argon2id$secret" {
		t.Errorf("Open: got %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "u2"); !errors.Is(err, ErrUnseal) {
		t.Errorf("another user's aad: got %v; want ErrUnseal", err)
	}
	other := make([]byte, SealingKeySize)
	rand.Read(other)
	s2, _ := NewSealer(other)
	if _, err := s2.Open(sealed, "u1"); !errors.Is(err, ErrUnseal) {
		t.Errorf("another key: got %v; want ErrUnseal", err)
	}
	if _, err := NewSealer(key[:16]); err == nil {
		t.Errorf("a short key: got nil; want an error")
	}
}

// TestPasswordHashingCost: the cost is configuration with the production
// default, Validate only checks bounds, and a hash carries its cost, so
// it verifies whatever cost the service is configured with now.
func TestPasswordHashingCost(t *testing.T) {
	c := Config{Issuer: "https://auth.example", Lifetimes: Lifetimes{AccessToken: time.Hour}}
	if err := c.Validate(); err != nil || c.PasswordHashing != DefaultPasswordHashing() {
		t.Fatalf("zero cost: got %+v, %v; want the default", c.PasswordHashing, err)
	}
	if d := DefaultPasswordHashing(); d != (PasswordHashing{MemoryKiB: 64 * 1024, Time: 3, Threads: 2}) {
		t.Errorf("default: got %+v; want RFC 9106's 64 MiB, t=3, p=2", d)
	}
	for _, tt := range []struct {
		p  PasswordHashing
		ok bool
	}{
		{PasswordHashing{MemoryKiB: 8, Time: 1, Threads: 1}, true},
		{PasswordHashing{MemoryKiB: MaxPasswordHashMemoryKiB, Time: MaxPasswordHashTime, Threads: 255}, true},
		{PasswordHashing{MemoryKiB: 8, Time: 1, Threads: 0}, false},
		{PasswordHashing{MemoryKiB: 15, Time: 1, Threads: 2}, false},
		{PasswordHashing{MemoryKiB: MaxPasswordHashMemoryKiB + 1, Time: 1, Threads: 1}, false},
		{PasswordHashing{MemoryKiB: 64, Time: 0, Threads: 1}, false},
		{PasswordHashing{MemoryKiB: 64, Time: MaxPasswordHashTime + 1, Threads: 1}, false},
	} {
		before := tt.p
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: got %v; want ok=%t", tt.p, err, tt.ok)
		}
		c := Config{Issuer: "https://auth.example", Lifetimes: Lifetimes{AccessToken: time.Hour}, PasswordHashing: tt.p}
		if err := c.Validate(); (err == nil) != tt.ok || c.PasswordHashing != before {
			t.Errorf("Config with %+v: got %+v, %v; want ok=%t and the cost unchanged", before, c.PasswordHashing, err, tt.ok)
		}
	}

	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	// The same log, served with another cost: the old hash still verifies,
	// and a new one is made at the new cost.
	cfg := h.svc.cfg
	cfg.PasswordHashing = PasswordHashing{MemoryKiB: 16, Time: 2, Threads: 2}
	svc, err := NewService(cfg, h.svc.ports, h.svc.Signer())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.AuthenticateUser(ctx, "ada@example.com", "correct horse", ""); err != nil || got.ID != u.ID {
		t.Errorf("a hash made at another cost: got %+v, %v; want the user", got, err)
	}
	if _, err := svc.AuthenticateUser(ctx, "ada@example.com", "wrong horse", ""); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("a wrong password: got %v; want access_denied", err)
	}
	if err := svc.ChangePassword(ctx, Actor{Kind: ActorCLI}, u.ID, "new password!"); err != nil {
		t.Fatal(err)
	}
	sealed := h.log.world.Users[u.ID].PasswordSealed
	hash, err := cfg.Sealer.Open(sealed, u.ID)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=16,t=2,p=2$") {
		t.Errorf("the new hash: got %q, %v; want one at the configured cost", hash, err)
	}
	if _, err := h.svc.AuthenticateUser(ctx, "ada@example.com", "new password!", ""); err != nil {
		t.Errorf("the new hash under the first cost: %v", err)
	}
}
