package domain

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse", rand.Reader)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("got %q, %v; want a PHC argon2id hash", h, err)
	}
	if !PasswordMatches("correct horse", h) || PasswordMatches("correct horsE", h) || PasswordMatches("", h) {
		t.Errorf("PasswordMatches disagrees with HashPassword")
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
