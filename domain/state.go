package domain

import (
	"encoding/json"
	"time"
)

// The states below are folded from events by pure functions: a type switch,
// no errors, no I/O. Read models store them as they are; the Service decides
// on them. Seq is the stream sequence of the last event folded in, which is
// what an append on the aggregate expects.

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantPersonalAccess    = "personal_access"
	GrantImplicit          = "implicit"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client is the state of one OAuth client.
type Client struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	SecretHash   string    `json:"secret_hash,omitempty"`
	Grants       []string  `json:"grants"`
	RedirectURIs []string  `json:"redirect_uris,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	UserID       string    `json:"user_id,omitempty"`
	FirstParty   bool      `json:"first_party,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Deleted      bool      `json:"deleted,omitempty"`
	Seq          uint64    `json:"seq"`
	// Audiences are the resources (RFC 8707) the client's tokens may be
	// requested for; see decideResources.
	Audiences []string `json:"audiences,omitempty"`
	// WebOrigins are the browser origins allowed to read its token and
	// revocation answers (CORS); see AllowsWebOrigin.
	WebOrigins []string `json:"web_origins,omitempty"`
}

// Exists reports whether the client was registered and not deleted.
func (c Client) Exists() bool { return c.ID != "" && !c.Deleted }

// Confidential reports whether the client has a secret.
func (c Client) Confidential() bool { return c.SecretHash != "" }

// HasGrant reports whether the client may use grant.
func (c Client) HasGrant(grant string) bool {
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}

// ApplyClient folds one event into a client's state. Events of other
// aggregates leave it unchanged. at is the event's time.
func ApplyClient(c Client, e Event, seq uint64, at time.Time) Client {
	switch e := e.(type) {
	case ClientRegistered:
		c = Client{
			ID: e.ClientID, Name: e.Name, SecretHash: e.SecretHash,
			Grants: e.Grants, RedirectURIs: e.RedirectURIs, Scopes: e.Scopes,
			UserID: e.UserID, FirstParty: e.FirstParty, Audiences: e.Audiences,
			WebOrigins: e.WebOrigins,
			CreatedAt:  e.RegisteredAt, UpdatedAt: e.RegisteredAt,
		}
	case ClientUpdated, ClientSecretRegenerated, ClientDeleted:
		if c.ID == "" {
			return c
		}
		c = applyClientChange(c, e, at)
	default:
		return c
	}
	c.Seq = seq
	return c
}

func applyClientChange(c Client, e Event, at time.Time) Client {
	switch e := e.(type) {
	case ClientUpdated:
		c.Name, c.RedirectURIs, c.Scopes, c.Audiences = e.Name, e.RedirectURIs, e.Scopes, e.Audiences
		c.WebOrigins = e.WebOrigins
		c.UpdatedAt = at
	case ClientSecretRegenerated:
		c.SecretHash = e.SecretHash
		c.UpdatedAt = at
	case ClientDeleted:
		c.Deleted = true
		c.UpdatedAt = at
	}
	return c
}

// AccessToken is the state of one issued access token, keyed by jti.
type AccessToken struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	UserID       string    `json:"user_id,omitempty"`
	Scopes       []string  `json:"scopes"`
	GrantType    string    `json:"grant_type"`
	Name         string    `json:"name,omitempty"`
	KeyID        string    `json:"key_id"`
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	Seq          uint64    `json:"seq"`
	// Audience is the resources the token was requested for (RFC 8707);
	// empty when none was, and its aud is the client id.
	Audience []string `json:"audience,omitempty"`
}

// Active reports whether the token validates at now: known, not revoked,
// not expired.
func (t AccessToken) Active(now time.Time) bool {
	return t.ID != "" && !t.Revoked && now.Before(t.ExpiresAt)
}

// ApplyAccessToken folds one event into an access token's state.
func ApplyAccessToken(t AccessToken, e Event, seq uint64, at time.Time) AccessToken {
	switch e := e.(type) {
	case AccessTokenCreated:
		t = AccessToken{
			ID: e.TokenID, ClientID: e.ClientID, UserID: e.UserID, Scopes: e.Scopes,
			GrantType: e.GrantType, Name: e.Name, KeyID: e.KeyID,
			IssuedAt: e.IssuedAt, ExpiresAt: e.ExpiresAt, Audience: e.Audience,
		}
	case AccessTokenRevoked:
		if t.ID == "" || t.Revoked {
			return t
		}
		t.Revoked, t.RevokedAt, t.RevokeReason = true, at, e.Reason
	default:
		return t
	}
	t.Seq = seq
	return t
}

// SigningKey is the public state of one signing key.
type SigningKey struct {
	ID          string          `json:"id"`
	Algorithm   string          `json:"algorithm"`
	PublicKey   json.RawMessage `json:"public_key"`
	CreatedAt   time.Time       `json:"created_at"`
	Retired     bool            `json:"retired,omitempty"`
	RetiredAt   time.Time       `json:"retired_at,omitzero"`
	VerifyUntil time.Time       `json:"verify_until,omitzero"`
	Seq         uint64          `json:"seq"`
}

// Verifies reports whether tokens signed by k still verify at now: the key
// is current, or retired with tokens that have not all expired.
func (k SigningKey) Verifies(now time.Time) bool {
	return k.ID != "" && (!k.Retired || now.Before(k.VerifyUntil))
}

// ApplySigningKey folds one event into a signing key's state.
func ApplySigningKey(k SigningKey, e Event, seq uint64, at time.Time) SigningKey {
	switch e := e.(type) {
	case SigningKeyGenerated:
		k = SigningKey{ID: e.KeyID, Algorithm: e.Algorithm, PublicKey: e.PublicKey, CreatedAt: e.CreatedAt}
	case SigningKeyRetired:
		if k.ID == "" {
			return k
		}
		k.Retired, k.RetiredAt, k.VerifyUntil = true, e.RetiredAt, e.VerifyUntil
	default:
		return k
	}
	k.Seq = seq
	return k
}
