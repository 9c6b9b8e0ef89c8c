package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// Secrets (client secrets now; refresh tokens, codes and device codes later)
// are 256 random bits, shown once as unpadded base64url and stored only as
// the hex SHA-256 of that text. A high-entropy secret needs no slow hash:
// SHA-256 cannot be brute-forced over 2^256 inputs, and it keeps client
// authentication at microseconds per request.

const secretBytes = 32

// NewSecret reads 256 bits from random and returns them as text.
func NewSecret(random io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("domain: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret returns the hex SHA-256 of secret, the only form stored.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports, in constant time, whether secret hashes to hash.
func SecretMatches(secret, hash string) bool {
	got := HashSecret(secret)
	return len(hash) == len(got) && subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// NewID returns a random identifier of 128 bits in UUID form (version 4),
// usable as a client id, token id or event id.
func NewID(random io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("domain: read random: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:]), nil
}
