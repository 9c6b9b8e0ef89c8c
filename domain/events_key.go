package domain

import (
	"encoding/json"
	"time"
)

// Signing key events. A key's aggregate id is its key id (kid). Only the
// public half travels: PublicKey is a public JWK; the private key never
// enters the log.

// SigningKeyGenerated: a signing key was created and its public half
// announced, so every instance serves it in the JWKS.
type SigningKeyGenerated struct {
	KeyID     string          `json:"key_id"`
	Algorithm string          `json:"algorithm"`
	PublicKey json.RawMessage `json:"public_key"`
	CreatedAt time.Time       `json:"created_at"`
}

// SigningKeyRetired: a key signs no more. It stays in the JWKS until
// VerifyUntil, when the last token it signed has expired.
type SigningKeyRetired struct {
	KeyID       string    `json:"key_id"`
	RetiredAt   time.Time `json:"retired_at"`
	VerifyUntil time.Time `json:"verify_until"`
}

func (SigningKeyGenerated) EventType() string { return "SigningKeyGenerated" }
func (SigningKeyRetired) EventType() string   { return "SigningKeyRetired" }

func (SigningKeyGenerated) EventVersion() int { return 1 }
func (SigningKeyRetired) EventVersion() int   { return 1 }

func (e SigningKeyGenerated) AggregateOf() Aggregate { return Aggregate{KindKey, e.KeyID} }
func (e SigningKeyRetired) AggregateOf() Aggregate   { return Aggregate{KindKey, e.KeyID} }
