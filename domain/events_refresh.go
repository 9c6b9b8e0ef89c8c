package domain

import "time"

// Refresh token events. A refresh token family (one authorization's chain
// of rotated refresh tokens) is one aggregate: stamp.refresh.<family>.
// Only the live token of a family is usable; presenting an older one is
// reuse and revokes the whole family (RFC 9700 §4.14.2).

// RefreshTokenCreated: a refresh token was issued, starting a family or
// rotating its live token (ParentID names the token it replaced). The
// token itself is never in the event: TokenHash is its SHA-256.
type RefreshTokenCreated struct {
	FamilyID       string    `json:"family_id"`
	RefreshTokenID string    `json:"refresh_token_id"`
	ParentID       string    `json:"parent_id,omitempty"`
	TokenHash      string    `json:"token_hash"`
	AccessTokenID  string    `json:"access_token_id"`
	ClientID       string    `json:"client_id"`
	UserID         string    `json:"user_id,omitempty"`
	Scopes         []string  `json:"scopes"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	// Resources are the RFC 8707 resources the family is bound to; its
	// access tokens may narrow them, never widen. Empty for none.
	Resources []string `json:"resources,omitempty"`
}

// RefreshTokenRevoked: a family's live refresh token was revoked; the
// family issues no more tokens.
type RefreshTokenRevoked struct {
	FamilyID       string `json:"family_id"`
	RefreshTokenID string `json:"refresh_token_id"`
	ClientID       string `json:"client_id"`
	UserID         string `json:"user_id,omitempty"`
	Reason         string `json:"reason"`
}

// RefreshTokenReuseDetected: a rotated-out refresh token of the family was
// presented again. The family's revocations follow.
type RefreshTokenReuseDetected struct {
	FamilyID       string `json:"family_id"`
	RefreshTokenID string `json:"refresh_token_id"`
	ClientID       string `json:"client_id"`
	UserID         string `json:"user_id,omitempty"`
}

func (RefreshTokenCreated) EventType() string       { return "RefreshTokenCreated" }
func (RefreshTokenRevoked) EventType() string       { return "RefreshTokenRevoked" }
func (RefreshTokenReuseDetected) EventType() string { return "RefreshTokenReuseDetected" }

func (RefreshTokenCreated) EventVersion() int       { return 1 }
func (RefreshTokenRevoked) EventVersion() int       { return 1 }
func (RefreshTokenReuseDetected) EventVersion() int { return 1 }

func (e RefreshTokenCreated) AggregateOf() Aggregate { return Aggregate{KindRefresh, e.FamilyID} }
func (e RefreshTokenRevoked) AggregateOf() Aggregate { return Aggregate{KindRefresh, e.FamilyID} }
func (e RefreshTokenReuseDetected) AggregateOf() Aggregate {
	return Aggregate{KindRefresh, e.FamilyID}
}

// Revocation reasons of listeners and reuse detection.
const (
	ReasonReplacedByNewer = "replaced_by_newer_token"
	ReasonPruned          = "pruned"
	ReasonReuseDetected   = "refresh_token_reuse"
	ReasonRotated         = "rotated"
	ReasonCodeReuse       = "authorization_code_reuse"
)

// RefreshFamily is the state of one refresh token family.
type RefreshFamily struct {
	ID            string   `json:"id"`
	ClientID      string   `json:"client_id"`
	UserID        string   `json:"user_id,omitempty"`
	Scopes        []string `json:"scopes"`
	TokenID       string   `json:"token_id"`
	TokenHash     string   `json:"token_hash"`
	AccessTokenID string   `json:"access_token_id"`
	// Rotated holds the family's rotated-out tokens, so presenting one is
	// recognised as reuse.
	Rotated       []RotatedToken `json:"rotated,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	IssuedAt      time.Time      `json:"issued_at"`
	ExpiresAt     time.Time      `json:"expires_at"`
	Revoked       bool           `json:"revoked,omitempty"`
	RevokedAt     time.Time      `json:"revoked_at,omitzero"`
	RevokeReason  string         `json:"revoke_reason,omitempty"`
	ReuseDetected bool           `json:"reuse_detected,omitempty"`
	Seq           uint64         `json:"seq"`
	// Resources are the RFC 8707 resources the family is bound to.
	Resources []string `json:"resources,omitempty"`
}

// Live reports whether the family's current token is usable at now.
func (f RefreshFamily) Live(now time.Time) bool {
	return f.ID != "" && !f.Revoked && now.Before(f.ExpiresAt)
}

// RotatedToken is a refresh token a family has replaced.
type RotatedToken struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	RotatedAt time.Time `json:"rotated_at"`
}

// ApplyRefreshFamily folds one event into a refresh family's state.
func ApplyRefreshFamily(f RefreshFamily, e Event, seq uint64, at time.Time) RefreshFamily {
	switch e := e.(type) {
	case RefreshTokenCreated:
		if f.ID == "" {
			f = RefreshFamily{ID: e.FamilyID, ClientID: e.ClientID, UserID: e.UserID, CreatedAt: e.IssuedAt}
		} else if f.TokenHash != "" {
			f.Rotated = append(append([]RotatedToken(nil), f.Rotated...), RotatedToken{ID: f.TokenID, Hash: f.TokenHash, RotatedAt: at})
		}
		f.Scopes, f.TokenID, f.TokenHash, f.AccessTokenID = e.Scopes, e.RefreshTokenID, e.TokenHash, e.AccessTokenID
		f.IssuedAt, f.ExpiresAt = e.IssuedAt, e.ExpiresAt
		f.Resources = e.Resources
	case RefreshTokenRevoked:
		if f.ID == "" || f.Revoked {
			return f
		}
		f.Revoked, f.RevokedAt, f.RevokeReason = true, at, e.Reason
	case RefreshTokenReuseDetected:
		if f.ID == "" {
			return f
		}
		f.ReuseDetected = true
	default:
		return f
	}
	f.Seq = seq
	return f
}
