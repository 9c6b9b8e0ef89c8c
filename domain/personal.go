package domain

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Personal data and crypto-shredding. A user's personal fields (email and
// name) enter the log only encrypted with AES-256-GCM under a key of that
// user alone (UserKeySize random bytes), kept outside the log in a key
// store (UserKeys). Deleting the user destroys the key, and from then on
// every copy of those events, in the stream, in archives and in backups,
// is unreadable: the data is erased though the log is immutable. What
// stays readable is what the rest of the log needs: ids, timestamps, token
// metadata, hashes and the email's keyed hash (EmailKey of a Sealer), which
// keeps emails unique without revealing them.

// UserKeySize is the length of a user's personal-data key.
const UserKeySize = 32

// Erased stands for a personal field whose key is destroyed (or lost) in
// what the CLI shows: audits, event listings, user lists.
const Erased = "[erased]"

// Field names bound into each sealed field's additional data.
const (
	FieldEmail = "email"
	FieldName  = "name"
)

// ErrUserKeyErased: the user's key was destroyed (the user was deleted);
// its personal fields are erased.
var ErrUserKeyErased = errors.New("domain: the user's key is destroyed: personal data erased")

// ErrUserKeyMissing: the key store holds no key for the user and never
// did as far as it can tell (a damaged or wrong key store). Readers treat
// the personal fields as unreadable, as if erased.
var ErrUserKeyMissing = errors.New("domain: the user has no key in the key store")

// ErrUserKeyNotDestroyed: a user was deleted, but its key could not be
// destroyed yet; deleting the user again retries.
var ErrUserKeyNotDestroyed = errors.New("domain: the user's key was not destroyed")

// UserKeys is the per-user key store as the Service needs it. The keys
// never enter the log.
//
// CreateUserKey makes a fresh random key for userID, stores it durably and
// returns it; for a user that has a live key already it returns that key.
// UserKey returns the user's key, an error wrapping ErrUserKeyErased when it
// was destroyed, or one wrapping ErrUserKeyMissing when there is none.
// DestroyUserKey destroys the key so that no revision of it remains; it is
// idempotent (destroying a destroyed or absent key succeeds).
type UserKeys interface {
	CreateUserKey(ctx context.Context, userID string) ([]byte, error)
	UserKey(ctx context.Context, userID string) ([]byte, error)
	DestroyUserKey(ctx context.Context, userID string) error
}

// fieldAAD binds a sealed field to its user and field name, so a
// ciphertext moved to another user or field does not open.
func fieldAAD(userID, field string) []byte {
	return []byte("stamp/user/" + userID + "/" + field)
}

func userAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != UserKeySize {
		return nil, fmt.Errorf("domain: user key must be %d bytes, got %d", UserKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealField encrypts one personal field of userID with the user's key
// (AES-256-GCM, a fresh nonce from random, the user id and field name as
// additional data) and returns base64url(nonce || ciphertext).
func SealField(key []byte, userID, field, plaintext string, random io.Reader) (string, error) {
	aead, err := userAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return "", fmt.Errorf("domain: read random: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), fieldAAD(userID, field))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenField decrypts what SealField returned for the same key, user and
// field; ErrUnseal when it does not open.
func OpenField(key []byte, userID, field, sealed string) (string, error) {
	aead, err := userAEAD(key)
	if err != nil {
		return "", err
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize() {
		return "", ErrUnseal
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, b[:n], b[n:], fieldAAD(userID, field))
	if err != nil {
		return "", ErrUnseal
	}
	return string(out), nil
}

// Sealed reports whether e carries sealed personal fields (version 2 on),
// which Reveal must open before e.Email and e.Name mean anything.
func (e UserRegistered) Sealed() bool { return e.EmailSealed != "" || e.NameSealed != "" }

// Reveal returns e with Email and Name opened from the sealed fields with
// the user's key. An event without sealed fields (version 1) is returned
// as it is. On failure (a wrong key, a tampered field) it returns e
// unchanged, with Email and Name empty, and ErrUnseal.
func (e UserRegistered) Reveal(key []byte) (UserRegistered, error) {
	if !e.Sealed() {
		return e, nil
	}
	email, err := OpenField(key, e.UserID, FieldEmail, e.EmailSealed)
	if err != nil {
		return e, err
	}
	name, err := OpenField(key, e.UserID, FieldName, e.NameSealed)
	if err != nil {
		return e, err
	}
	e.Email, e.Name = email, name
	return e, nil
}

// LegacyEmailKey is the aggregate id of the claim of an email registered
// by version 1 of UserRegistered: the hex SHA-256 of the normalised email.
// New claims use Sealer.EmailKey, a keyed hash, since an unkeyed hash of an
// email is guessable; legacy claims stay valid until their user is deleted.
func LegacyEmailKey(email string) string {
	sum := sha256.Sum256([]byte(NormalizeEmail(email)))
	return hex.EncodeToString(sum[:])
}

// emailKeyLabel derives the email-hashing key from the sealing key.
const emailKeyLabel = "stamp/email-key/v1"

// EmailKey is the aggregate id of an email's claim: the hex HMAC-SHA256 of
// the normalised email under a key derived from the sealing key. Without
// the sealing key it reveals nothing of the email, and every instance
// sharing the sealing key derives the same id. Safe for concurrent use.
func (s *Sealer) EmailKey(email string) string {
	m := hmac.New(sha256.New, s.emailMAC)
	m.Write([]byte(NormalizeEmail(email)))
	return hex.EncodeToString(m.Sum(nil))
}

// RevealEnvelope returns env with the personal fields of a sealed
// UserRegistered opened for display: "email" and "name" in clear (Erased
// when key is nil or does not open them) in place of "email_sealed" and
// "name_sealed". Any other envelope is returned as it is. The result is
// for people and audits, never for the log.
func RevealEnvelope(env Envelope, key []byte) Envelope {
	if env.Type != "UserRegistered" {
		return env
	}
	e, err := Decode(env)
	if err != nil {
		return env
	}
	u := e.(UserRegistered)
	if !u.Sealed() {
		return env
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(env.Data, &m) != nil {
		return env
	}
	email, name := Erased, Erased
	if key != nil {
		if r, err := u.Reveal(key); err == nil {
			email, name = r.Email, r.Name
		}
	}
	delete(m, "email_sealed")
	delete(m, "name_sealed")
	m["email"], _ = json.Marshal(email)
	m["name"], _ = json.Marshal(name)
	data, err := json.Marshal(m)
	if err != nil {
		return env
	}
	env.Data = data
	return env
}

// SealedUsers returns the ids of the users whose sealed personal fields
// recs hold, each once, in order of first appearance: the keys a reader
// needs to reveal them.
func SealedUsers(recs []Recorded) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Envelope.Type != "UserRegistered" {
			continue
		}
		e, err := Decode(r.Envelope)
		if err != nil {
			continue
		}
		if u := e.(UserRegistered); u.Sealed() && !seen[u.UserID] {
			seen[u.UserID] = true
			out = append(out, u.UserID)
		}
	}
	return out
}

// RevealRecords returns a copy of recs with every sealed UserRegistered
// revealed by RevealEnvelope with keys[user id] (a user missing from keys
// shows Erased). recs is not changed.
func RevealRecords(recs []Recorded, keys map[string][]byte) []Recorded {
	out := make([]Recorded, len(recs))
	for i, r := range recs {
		if r.Envelope.Type == "UserRegistered" {
			r.Envelope = RevealEnvelope(r.Envelope, keys[DataField(r.Envelope.Data, "user_id")])
		}
		out[i] = r
	}
	return out
}
