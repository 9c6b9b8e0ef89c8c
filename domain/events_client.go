package domain

import "time"

// Client events. A client's aggregate id is its client id.

// ClientRegistered: a client was created. SecretHash is the hex SHA-256 of
// its secret, empty for a public client.
type ClientRegistered struct {
	ClientID     string    `json:"client_id"`
	Name         string    `json:"name"`
	SecretHash   string    `json:"secret_hash,omitempty"`
	Grants       []string  `json:"grants"`
	RedirectURIs []string  `json:"redirect_uris,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	UserID       string    `json:"user_id,omitempty"`
	FirstParty   bool      `json:"first_party,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
	// Audiences are the resources (RFC 8707) its tokens may be requested
	// for. Absent in events from before resource indicators: none.
	Audiences []string `json:"audiences,omitempty"`
	// WebOrigins are the browser origins (scheme://host[:port]) allowed to
	// call the token and revocation endpoints for it (CORS). Absent in
	// events from before web origins: none.
	WebOrigins []string `json:"web_origins,omitempty"`
}

// ClientUpdated: a client's name, redirect URIs, allowed scopes, resource
// audiences or web origins changed. It carries the whole new value of each
// (an absent audiences or web_origins field, as in events from before
// them, means none).
type ClientUpdated struct {
	ClientID     string   `json:"client_id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audiences    []string `json:"audiences,omitempty"`
	WebOrigins   []string `json:"web_origins,omitempty"`
}

// ClientSecretRegenerated: a client got a new secret; the old one stops
// authenticating.
type ClientSecretRegenerated struct {
	ClientID   string `json:"client_id"`
	SecretHash string `json:"secret_hash"`
}

// ClientDeleted: a client was deleted (Passport's "revoked"). It
// authenticates no more and its tokens stop validating.
type ClientDeleted struct {
	ClientID string `json:"client_id"`
}

func (ClientRegistered) EventType() string        { return "ClientRegistered" }
func (ClientUpdated) EventType() string           { return "ClientUpdated" }
func (ClientSecretRegenerated) EventType() string { return "ClientSecretRegenerated" }
func (ClientDeleted) EventType() string           { return "ClientDeleted" }

func (ClientRegistered) EventVersion() int        { return 1 }
func (ClientUpdated) EventVersion() int           { return 1 }
func (ClientSecretRegenerated) EventVersion() int { return 1 }
func (ClientDeleted) EventVersion() int           { return 1 }

func (e ClientRegistered) AggregateOf() Aggregate        { return Aggregate{KindClient, e.ClientID} }
func (e ClientUpdated) AggregateOf() Aggregate           { return Aggregate{KindClient, e.ClientID} }
func (e ClientSecretRegenerated) AggregateOf() Aggregate { return Aggregate{KindClient, e.ClientID} }
func (e ClientDeleted) AggregateOf() Aggregate           { return Aggregate{KindClient, e.ClientID} }
