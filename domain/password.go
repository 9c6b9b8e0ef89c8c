package domain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the production cost (RFC 9106 §4, second
// recommended option: 64 MiB, 3 passes; see DefaultPasswordHashing),
// stored in each hash so they can be changed later.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// HashPassword returns the argon2id hash of password at the production
// cost (DefaultPasswordHashing) in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash); see PasswordHashing.Hash.
func HashPassword(password string, random io.Reader) (string, error) {
	return DefaultPasswordHashing().Hash(password, random)
}

// PasswordMatches reports, in constant time, whether password hashes to
// the PHC-format argon2id hash.
func PasswordMatches(password, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version, memory, time, threads int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil || memory <= 0 || memory > MaxPasswordHashMemoryKiB || time <= 0 || time > MaxPasswordHashTime || threads <= 0 || threads > 255 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(time), uint32(memory), uint8(threads), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Sealer encrypts password hashes for the log with AES-256-GCM. The key
// never enters the log. It is safe for concurrent use.
type Sealer struct {
	aead     cipher.AEAD
	emailMAC []byte // the key of EmailKey, derived from the sealing key
}

// SealingKeySize is the length of a sealing key.
const SealingKeySize = 32

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealingKeySize {
		return nil, fmt.Errorf("domain: sealing key must be %d bytes, got %d", SealingKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(emailKeyLabel))
	return &Sealer{aead: aead, emailMAC: mac.Sum(nil)}, nil
}

// Seal encrypts plaintext, bound to aad (the user id), and returns
// base64url(nonce || ciphertext).
func (s *Sealer) Seal(plaintext, aad string, random io.Reader) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return "", fmt.Errorf("domain: read random: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// ErrUnseal: a sealed value does not open with this key and aad.
var ErrUnseal = errors.New("domain: sealed value does not open (wrong sealing key?)")

// Open decrypts what Seal returned for the same aad.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", ErrUnseal
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return "", ErrUnseal
	}
	return string(out), nil
}
