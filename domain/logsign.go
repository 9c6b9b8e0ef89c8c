package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Log signing. Every event stamp appends carries an Ed25519 signature made
// with the log-signing key, which only stamp instances hold, so a reader of
// the stream can tell an event a stamp instance wrote from one published
// by anyone else who can reach the stream. The public half is announced in
// the log (LogSigningKeyAnnounced) and served over HTTP; an auditor verifies
// with it alone.
//
// The signature covers the subject, the message id (the Nats-Msg-Id: the
// envelope id, or the slot id of a decision on a sharded aggregate, see
// SlotID) and the payload (the envelope JSON), framed
// unambiguously: a fixed context string, then each part as a big-endian
// uint64 length followed by its bytes. Moving bytes between parts therefore
// changes the signed input.

// KindLogKey is the aggregate kind of the log-signing key announcements.
const KindLogKey = "logkey"

// LogKeyAggregate is the one aggregate every LogSigningKeyAnnounced goes
// on, stamp.logkey.log.LogSigningKeyAnnounced: a single subject, so that
// an append expecting its last sequence to be 0 lets only one instance
// adopt signing, and a reader finds the announcements with one direct get.
var LogKeyAggregate = Aggregate{Kind: KindLogKey, ID: "log"}

// logSigningContext starts every signed input, so a log signature is never
// valid for anything else the key might sign.
const logSigningContext = "stamp log event v1"

// ErrBadLogKey: a log public or private key is not a well-formed Ed25519
// key.
var ErrBadLogKey = errors.New("domain: bad log-signing key")

// LogSigningKeyAnnounced: the log-signing key with this public half signs
// every event appended after stream sequence AdoptedAt. Events at or below
// AdoptedAt were written before signing was adopted and are accepted
// unsigned; every later event must carry a valid signature of a trusted
// key. On a log that was empty when signing was adopted, AdoptedAt is 0 and
// the announcement is the first event.
type LogSigningKeyAnnounced struct {
	KeyID string `json:"key_id"`
	// PublicKey is the raw 32-byte Ed25519 public key, base64url without
	// padding.
	PublicKey string `json:"public_key"`
	AdoptedAt uint64 `json:"adopted_at"`
}

func (LogSigningKeyAnnounced) EventType() string      { return "LogSigningKeyAnnounced" }
func (LogSigningKeyAnnounced) EventVersion() int      { return 1 }
func (LogSigningKeyAnnounced) AggregateOf() Aggregate { return LogKeyAggregate }
func (e LogSigningKeyAnnounced) Key() (ed25519.PublicKey, error) {
	return ParseLogPublicKey(e.PublicKey)
}

// LogKeyID returns the id of a log public key: the first 12 bytes of its
// SHA-256, base64url (16 characters).
func LogKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// EncodeLogPublicKey returns pub as LogSigningKeyAnnounced.PublicKey holds
// it: base64url without padding.
func EncodeLogPublicKey(pub ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub)
}

// ParseLogPublicKey decodes an Ed25519 public key given in base64 (standard
// or URL alphabet, padded or not). It returns ErrBadLogKey (wrapped) when s
// is not 32 bytes of base64.
func ParseLogPublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want %d bytes of base64 for a public key", ErrBadLogKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParseLogPrivateKey decodes an Ed25519 private key given as its 32-byte
// seed in base64 (standard or URL alphabet, padded or not). It returns
// ErrBadLogKey (wrapped) for anything else.
func ParseLogPrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeBase64(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: want a %d-byte seed in base64", ErrBadLogKey, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// logSigningInput frames what a log signature covers.
func logSigningInput(subject, msgID string, payload []byte) []byte {
	b := make([]byte, 0, len(logSigningContext)+3*8+len(subject)+len(msgID)+len(payload))
	return appendLogSigningInput(b, subject, msgID, payload)
}

// appendLogSigningInput appends to b the framed input of a log signature:
// the context string, then each part as a big-endian uint64 length
// followed by its bytes.
func appendLogSigningInput(b []byte, subject, msgID string, payload []byte) []byte {
	b = append(b, logSigningContext...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(subject)))
	b = append(b, subject...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(msgID)))
	b = append(b, msgID...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(payload)))
	return append(b, payload...)
}

// SignLogEvent returns the signature of an event stored on subject with
// message id msgID and body payload, base64url without padding. key must be
// an Ed25519 private key (it panics otherwise, as ed25519.Sign does).
func SignLogEvent(key ed25519.PrivateKey, subject, msgID string, payload []byte) string {
	return base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, logSigningInput(subject, msgID, payload)))
}

// VerifyLogEvent reports whether sig (as SignLogEvent returns it) is pub's
// signature of the event stored on subject with message id msgID and body
// payload.
func VerifyLogEvent(pub ed25519.PublicKey, subject, msgID string, payload []byte, sig string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, logSigningInput(subject, msgID, payload), raw)
}
