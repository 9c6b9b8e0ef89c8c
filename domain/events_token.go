package domain

import "time"

// Token events. An access token's aggregate id is its jti.

// AccessTokenCreated: an access token was issued. The token itself (a signed
// JWT) is never in the event; its id, owner, scopes and expiry are.
type AccessTokenCreated struct {
	TokenID   string    `json:"token_id"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	GrantType string    `json:"grant_type"`
	Name      string    `json:"name,omitempty"`
	KeyID     string    `json:"key_id"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Audience is the token's aud when resources were requested (RFC
	// 8707); empty means the client id, as before resource indicators.
	Audience []string `json:"audience,omitempty"`
}

// AccessTokenRevoked: an access token stopped validating before its expiry.
// ClientID, UserID and ExpiresAt repeat the token's, so subscribers can
// filter revocations by client or user without a look-up, and a resource
// server knows how long to remember the revocation.
type AccessTokenRevoked struct {
	TokenID   string    `json:"token_id"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Reason    string    `json:"reason"`
}

// Revocation reasons.
const (
	ReasonRevokedByClient = "revoked_by_client"
	ReasonRevokedByUser   = "revoked_by_user"
	ReasonRevokedByAdmin  = "revoked_by_admin"
)

func (AccessTokenCreated) EventType() string { return "AccessTokenCreated" }
func (AccessTokenRevoked) EventType() string { return "AccessTokenRevoked" }

func (AccessTokenCreated) EventVersion() int { return 1 }
func (AccessTokenRevoked) EventVersion() int { return 1 }

func (e AccessTokenCreated) AggregateOf() Aggregate { return Aggregate{KindToken, e.TokenID} }
func (e AccessTokenRevoked) AggregateOf() Aggregate { return Aggregate{KindToken, e.TokenID} }
