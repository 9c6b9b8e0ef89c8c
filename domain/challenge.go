package domain

import (
	"encoding/json"
	"time"
)

// Login and consent delegation (Hydra's protocol shape): when stamp is
// configured with a login URL or a consent URL, /oauth/authorize sends
// the browser to the application with a one-time challenge; the
// application answers it through the admin API (accept or reject), and
// the browser comes back to stamp, which goes on with the flow.
//
// A challenge is an aggregate, stamp.challenge.<id>, where id is the
// SHA-256 (hex) of the challenge: the challenge itself acts as a bearer
// value on the browser's return (with the browser's cookie), so it never
// enters the log. The browser a challenge is bound to is named by the
// SHA-256 of a random cookie (BrowserHash): audit can tell which logins
// happened in one browser, never read the cookie. The authorization
// request a challenge continues is kept in its Request (no credential: a
// plain PKCE challenge is kept in its S256 form, see challengeRequest).

// KindChallenge is the aggregate kind of a login or consent challenge.
const KindChallenge = "challenge"

// ChallengeLifetime is how long a challenge may be answered and its
// answer brought back by the browser by default (Config.ChallengeTTL):
// 10 minutes, as Hydra's.
const ChallengeLifetime = 10 * time.Minute

// Challenge kinds.
const (
	ChallengeLogin   = "login"
	ChallengeConsent = "consent"
)

// LoginRequested: /oauth/authorize sent the browser to the application's
// login page with a challenge.
type LoginRequested struct {
	ChallengeID string            `json:"challenge_id"`
	ClientID    string            `json:"client_id"`
	Request     map[string]string `json:"request"`
	Scopes      []string          `json:"scopes"`
	Audiences   []string          `json:"audiences,omitempty"`
	BrowserHash string            `json:"browser_hash"`
	RequestedAt time.Time         `json:"requested_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

// LoginAccepted: the application (the actor, an admin client) logged the
// user Subject in. Remember: stamp starts a session, so a later
// authorization in that browser skips the login. ACR is the
// application's authentication context class, recorded for audit.
type LoginAccepted struct {
	ChallengeID string `json:"challenge_id"`
	ClientID    string `json:"client_id"`
	Subject     string `json:"subject"`
	Remember    bool   `json:"remember,omitempty"`
	ACR         string `json:"acr,omitempty"`
}

// LoginRejected: the application refused the login; the client learns
// Error (an RFC 6749 §4.1.2.1 code) on its redirect URI.
type LoginRejected struct {
	ChallengeID      string `json:"challenge_id"`
	ClientID         string `json:"client_id"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// LoginCompleted: the browser the challenge is bound to came back with
// the answer; the challenge is used up.
type LoginCompleted struct {
	ChallengeID string `json:"challenge_id"`
	ClientID    string `json:"client_id"`
}

// ConsentRequested: /oauth/authorize sent the browser to the
// application's consent page for the user Subject.
type ConsentRequested struct {
	ChallengeID string            `json:"challenge_id"`
	ClientID    string            `json:"client_id"`
	Subject     string            `json:"subject"`
	Request     map[string]string `json:"request"`
	Scopes      []string          `json:"scopes"`
	Audiences   []string          `json:"audiences,omitempty"`
	BrowserHash string            `json:"browser_hash"`
	RequestedAt time.Time         `json:"requested_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

// ConsentAccepted: the application granted Scopes (never more than
// requested) and Audiences, with Ext the extra claims of the access
// token (under its "ext" claim). Remember records a durable consent
// (ClientAuthorized) when the browser comes back.
type ConsentAccepted struct {
	ChallengeID string          `json:"challenge_id"`
	ClientID    string          `json:"client_id"`
	Subject     string          `json:"subject"`
	Scopes      []string        `json:"scopes"`
	Audiences   []string        `json:"audiences,omitempty"`
	Remember    bool            `json:"remember,omitempty"`
	Ext         json.RawMessage `json:"ext,omitempty"`
}

// ConsentRejected: the application refused the consent.
type ConsentRejected struct {
	ChallengeID      string `json:"challenge_id"`
	ClientID         string `json:"client_id"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// ConsentCompleted: the browser came back with the consent's answer; the
// challenge is used up.
type ConsentCompleted struct {
	ChallengeID string `json:"challenge_id"`
	ClientID    string `json:"client_id"`
}

func (LoginRequested) EventType() string   { return "LoginRequested" }
func (LoginAccepted) EventType() string    { return "LoginAccepted" }
func (LoginRejected) EventType() string    { return "LoginRejected" }
func (LoginCompleted) EventType() string   { return "LoginCompleted" }
func (ConsentRequested) EventType() string { return "ConsentRequested" }
func (ConsentAccepted) EventType() string  { return "ConsentAccepted" }
func (ConsentRejected) EventType() string  { return "ConsentRejected" }
func (ConsentCompleted) EventType() string { return "ConsentCompleted" }

func (LoginRequested) EventVersion() int   { return 1 }
func (LoginAccepted) EventVersion() int    { return 1 }
func (LoginRejected) EventVersion() int    { return 1 }
func (LoginCompleted) EventVersion() int   { return 1 }
func (ConsentRequested) EventVersion() int { return 1 }
func (ConsentAccepted) EventVersion() int  { return 1 }
func (ConsentRejected) EventVersion() int  { return 1 }
func (ConsentCompleted) EventVersion() int { return 1 }

func (e LoginRequested) AggregateOf() Aggregate   { return Aggregate{KindChallenge, e.ChallengeID} }
func (e LoginAccepted) AggregateOf() Aggregate    { return Aggregate{KindChallenge, e.ChallengeID} }
func (e LoginRejected) AggregateOf() Aggregate    { return Aggregate{KindChallenge, e.ChallengeID} }
func (e LoginCompleted) AggregateOf() Aggregate   { return Aggregate{KindChallenge, e.ChallengeID} }
func (e ConsentRequested) AggregateOf() Aggregate { return Aggregate{KindChallenge, e.ChallengeID} }
func (e ConsentAccepted) AggregateOf() Aggregate  { return Aggregate{KindChallenge, e.ChallengeID} }
func (e ConsentRejected) AggregateOf() Aggregate  { return Aggregate{KindChallenge, e.ChallengeID} }
func (e ConsentCompleted) AggregateOf() Aggregate { return Aggregate{KindChallenge, e.ChallengeID} }

// Challenge answers.
const (
	ChallengeAccepted = "accepted"
	ChallengeRejected = "rejected"
)

// Challenge is the state of one login or consent challenge.
type Challenge struct {
	ID          string            `json:"id"` // SHA-256 of the challenge
	Kind        string            `json:"kind"`
	ClientID    string            `json:"client_id"`
	Subject     string            `json:"subject,omitempty"` // a consent's user; a login's once accepted
	Request     map[string]string `json:"request"`
	Scopes      []string          `json:"scopes"`
	Audiences   []string          `json:"audiences,omitempty"`
	BrowserHash string            `json:"browser_hash"`
	RequestedAt time.Time         `json:"requested_at"`
	ExpiresAt   time.Time         `json:"expires_at"`

	// Answer is "", ChallengeAccepted or ChallengeRejected.
	Answer           string          `json:"answer,omitempty"`
	Remember         bool            `json:"remember,omitempty"`
	ACR              string          `json:"acr,omitempty"`
	GrantedScopes    []string        `json:"granted_scopes,omitempty"`
	GrantedAudiences []string        `json:"granted_audiences,omitempty"`
	Ext              json.RawMessage `json:"ext,omitempty"`
	Error            string          `json:"error,omitempty"`
	ErrorDescription string          `json:"error_description,omitempty"`
	Completed        bool            `json:"completed,omitempty"`
	Seq              uint64          `json:"seq"`
}

// ApplyChallenge folds one event into a challenge's state. An answer to a
// challenge not requested, or answered already, and a completion of one
// not answered, change nothing (the decisions never append them).
func ApplyChallenge(c Challenge, e Event, seq uint64, _ time.Time) Challenge {
	switch e := e.(type) {
	case LoginRequested:
		c = Challenge{ID: e.ChallengeID, Kind: ChallengeLogin, ClientID: e.ClientID, Request: e.Request, Scopes: e.Scopes,
			Audiences: e.Audiences, BrowserHash: e.BrowserHash, RequestedAt: e.RequestedAt, ExpiresAt: e.ExpiresAt}
	case ConsentRequested:
		c = Challenge{ID: e.ChallengeID, Kind: ChallengeConsent, ClientID: e.ClientID, Subject: e.Subject, Request: e.Request,
			Scopes: e.Scopes, Audiences: e.Audiences, BrowserHash: e.BrowserHash, RequestedAt: e.RequestedAt, ExpiresAt: e.ExpiresAt}
	case LoginAccepted:
		if c.Kind != ChallengeLogin || c.Answer != "" {
			return c
		}
		c.Answer, c.Subject, c.Remember, c.ACR = ChallengeAccepted, e.Subject, e.Remember, e.ACR
	case ConsentAccepted:
		if c.Kind != ChallengeConsent || c.Answer != "" {
			return c
		}
		c.Answer, c.GrantedScopes, c.GrantedAudiences, c.Remember, c.Ext = ChallengeAccepted, e.Scopes, e.Audiences, e.Remember, e.Ext
	case LoginRejected:
		if c.Kind != ChallengeLogin || c.Answer != "" {
			return c
		}
		c.Answer, c.Error, c.ErrorDescription = ChallengeRejected, e.Error, e.ErrorDescription
	case ConsentRejected:
		if c.Kind != ChallengeConsent || c.Answer != "" {
			return c
		}
		c.Answer, c.Error, c.ErrorDescription = ChallengeRejected, e.Error, e.ErrorDescription
	case LoginCompleted, ConsentCompleted:
		if c.Answer == "" {
			return c
		}
		c.Completed = true
	default:
		return c
	}
	c.Seq = seq
	return c
}
