package domain

import (
	"encoding/json"
	"time"
)

// Authorization code and consent events.
//
// A code's aggregate is stamp.code.<code id>. The code itself never enters
// the log: CodeHash is its SHA-256. PKCE challenges are kept in their S256
// form only: a "plain" challenge is stored as BASE64URL(SHA256(challenge)),
// so the log never holds a verifier and one comparison serves both
// methods (RFC 7636 §4.6).
//
// A user's consent to a client is the aggregate
// stamp.authorization.<user id>_<client id>.

// AuthCodeIssued: the user approved a client and a code was issued.
type AuthCodeIssued struct {
	CodeID          string    `json:"code_id"`
	CodeHash        string    `json:"code_hash"`
	ClientID        string    `json:"client_id"`
	UserID          string    `json:"user_id"`
	RedirectURI     string    `json:"redirect_uri"`
	Scopes          []string  `json:"scopes"`
	ChallengeS256   string    `json:"challenge_s256,omitempty"`
	ChallengeMethod string    `json:"challenge_method,omitempty"`
	IssuedAt        time.Time `json:"issued_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	// Resources are the RFC 8707 resources of the authorization request;
	// the code's tokens may narrow them. Empty for none.
	Resources []string `json:"resources,omitempty"`

	// RedirectURIGiven: the authorization request carried redirect_uri,
	// so the code exchange must send the same (RFC 6749 §4.1.3). Absent
	// from codes issued before it existed.
	RedirectURIGiven bool `json:"redirect_uri_given,omitempty"`

	// Ext are the extra claims of the code's access token (its "ext"
	// claim), set by a delegated consent (ConsentAccepted); absent for
	// none.
	Ext json.RawMessage `json:"ext,omitempty"`
}

// AuthCodeRedeemed: a code was exchanged for tokens (it is single-use).
type AuthCodeRedeemed struct {
	CodeID        string `json:"code_id"`
	ClientID      string `json:"client_id"`
	UserID        string `json:"user_id"`
	AccessTokenID string `json:"access_token_id"`
	FamilyID      string `json:"family_id,omitempty"`
}

// ClientAuthorized: a user approved scopes for a client. Scopes is the
// union of everything the user has approved for it, so a later request
// within them skips the approval screen.
type ClientAuthorized struct {
	UserID   string   `json:"user_id"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// ClientAuthorizationRevoked: a user revoked an application: its consent
// is gone and the tokens it held for the user are revoked after it.
type ClientAuthorizationRevoked struct {
	UserID   string `json:"user_id"`
	ClientID string `json:"client_id"`
}

func (AuthCodeIssued) EventType() string             { return "AuthCodeIssued" }
func (AuthCodeRedeemed) EventType() string           { return "AuthCodeRedeemed" }
func (ClientAuthorized) EventType() string           { return "ClientAuthorized" }
func (ClientAuthorizationRevoked) EventType() string { return "ClientAuthorizationRevoked" }

func (AuthCodeIssued) EventVersion() int             { return 1 }
func (AuthCodeRedeemed) EventVersion() int           { return 1 }
func (ClientAuthorized) EventVersion() int           { return 1 }
func (ClientAuthorizationRevoked) EventVersion() int { return 1 }

func (e AuthCodeIssued) AggregateOf() Aggregate   { return Aggregate{KindCode, e.CodeID} }
func (e AuthCodeRedeemed) AggregateOf() Aggregate { return Aggregate{KindCode, e.CodeID} }
func (e ClientAuthorized) AggregateOf() Aggregate {
	return Aggregate{KindAuthorization, AuthorizationID(e.UserID, e.ClientID)}
}
func (e ClientAuthorizationRevoked) AggregateOf() Aggregate {
	return Aggregate{KindAuthorization, AuthorizationID(e.UserID, e.ClientID)}
}

// AuthorizationID is the aggregate id of a user's consent to a client.
func AuthorizationID(userID, clientID string) string { return userID + "_" + clientID }

// AuthCode is the state of one authorization code.
type AuthCode struct {
	ID              string    `json:"id"`
	Hash            string    `json:"hash"`
	ClientID        string    `json:"client_id"`
	UserID          string    `json:"user_id"`
	RedirectURI     string    `json:"redirect_uri"`
	Scopes          []string  `json:"scopes"`
	ChallengeS256   string    `json:"challenge_s256,omitempty"`
	ChallengeMethod string    `json:"challenge_method,omitempty"`
	IssuedAt        time.Time `json:"issued_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	Redeemed        bool      `json:"redeemed,omitempty"`
	AccessTokenID   string    `json:"access_token_id,omitempty"`
	FamilyID        string    `json:"family_id,omitempty"`
	Seq             uint64    `json:"seq"`
	// Resources are the RFC 8707 resources of the authorization request.
	Resources []string `json:"resources,omitempty"`

	// RedirectURIGiven: see AuthCodeIssued.
	RedirectURIGiven bool `json:"redirect_uri_given,omitempty"`
	// Ext: see AuthCodeIssued.
	Ext json.RawMessage `json:"ext,omitempty"`
}

// ApplyAuthCode folds one event into a code's state.
func ApplyAuthCode(c AuthCode, e Event, seq uint64, at time.Time) AuthCode {
	switch e := e.(type) {
	case AuthCodeIssued:
		c = AuthCode{ID: e.CodeID, Hash: e.CodeHash, ClientID: e.ClientID, UserID: e.UserID, RedirectURI: e.RedirectURI,
			Scopes: e.Scopes, ChallengeS256: e.ChallengeS256, ChallengeMethod: e.ChallengeMethod, IssuedAt: e.IssuedAt, ExpiresAt: e.ExpiresAt,
			Resources: e.Resources}
		c.RedirectURIGiven, c.Ext = e.RedirectURIGiven, e.Ext
	case AuthCodeRedeemed:
		if c.ID == "" || c.Redeemed {
			return c
		}
		c.Redeemed, c.AccessTokenID, c.FamilyID = true, e.AccessTokenID, e.FamilyID
	default:
		return c
	}
	c.Seq = seq
	return c
}

// Authorization is a user's standing consent to a client.
type Authorization struct {
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	UpdatedAt time.Time `json:"updated_at"`
	Revoked   bool      `json:"revoked,omitempty"`
	Seq       uint64    `json:"seq"`
}

// Covers reports whether the consent includes every scope of want.
func (a Authorization) Covers(want []string) bool {
	if a.UserID == "" || a.Revoked {
		return false
	}
	for _, s := range want {
		if !contains(a.Scopes, s) {
			return false
		}
	}
	return true
}

// ApplyAuthorization folds one event into a consent's state.
func ApplyAuthorization(a Authorization, e Event, seq uint64, at time.Time) Authorization {
	switch e := e.(type) {
	case ClientAuthorized:
		a = Authorization{UserID: e.UserID, ClientID: e.ClientID, Scopes: e.Scopes, UpdatedAt: at}
	case ClientAuthorizationRevoked:
		if a.UserID == "" {
			return a
		}
		a.Revoked, a.Scopes, a.UpdatedAt = true, nil, at
	default:
		return a
	}
	a.Seq = seq
	return a
}
