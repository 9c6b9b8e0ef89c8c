package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// RegisterClient is the command to create a client, as passport:client.
// Public clients get no secret; every other client gets one, shown once.
type RegisterClient struct {
	Name         string
	Grants       []string
	RedirectURIs []string
	Scopes       []string
	UserID       string
	Public       bool
	FirstParty   bool
	// Audiences are the resources (RFC 8707 §2: absolute URIs without a
	// fragment) the client's tokens may be requested for; none if empty.
	Audiences []string
	// WebOrigins are the browser origins (scheme://host[:port], as a
	// browser's Origin header has them) allowed to call the token and
	// revocation endpoints for the client (CORS); none if empty.
	WebOrigins []string
}

// knownGrants lists the grant types a client may be given.
var knownGrants = []string{
	GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantPassword,
	GrantPersonalAccess, GrantImplicit, GrantDeviceCode,
}

// registeredClient is the decision of decideRegisterClient: the event and
// the secret in clear (empty for a public client), which exists only here
// (the event keeps its hash).
type registeredClient struct {
	Event  ClientRegistered
	Secret string
}

// decideRegisterClient decides RegisterClient against the scope catalogue
// scopes: a name (at most 255 characters), at least one known grant, no
// client_credentials for a public client (RFC 6749 §4.4: a confidential
// client only), a redirect URI for the authorization code and implicit
// grants, each redirect URI absolute without a fragment (RFC 6749 §3.1.2,
// RFC 8252 §7.1), known scopes, a valid owner id, audiences as RFC
// 8707 §2 wants them, and web origins as validateWebOrigins does. A confidential client gets a new secret from rnd.
// Errors: *ValidationError.
func decideRegisterClient(scopes *Scopes, cmd RegisterClient, now time.Time, rnd io.Reader) (registeredClient, error) {
	if err := validateClientFields(cmd.Name, cmd.RedirectURIs, cmd.Scopes, scopes); err != nil {
		return registeredClient{}, err
	}
	if len(cmd.Grants) == 0 {
		return registeredClient{}, invalid("grants", "at least one grant type is required")
	}
	for _, g := range cmd.Grants {
		if !contains(knownGrants, g) {
			return registeredClient{}, invalid("grants", "unknown grant type %q", g)
		}
		if cmd.Public && g == GrantClientCredentials {
			return registeredClient{}, invalid("grants", "a public client cannot use the %s grant", g)
		}
	}
	needsRedirect := contains(cmd.Grants, GrantAuthorizationCode) || contains(cmd.Grants, GrantImplicit)
	if needsRedirect && len(cmd.RedirectURIs) == 0 {
		return registeredClient{}, invalid("redirect_uris", "a redirect URI is required for the authorization code and implicit grants")
	}
	if cmd.UserID != "" && !ValidID(cmd.UserID) {
		return registeredClient{}, invalid("user_id", "is not a valid id")
	}
	if err := validateAudiences(cmd.Audiences); err != nil {
		return registeredClient{}, err
	}
	if err := validateWebOrigins(cmd.WebOrigins); err != nil {
		return registeredClient{}, err
	}
	id, err := NewID(rnd)
	if err != nil {
		return registeredClient{}, err
	}
	e := ClientRegistered{
		ClientID: id, Name: strings.TrimSpace(cmd.Name), Grants: dedupe(cmd.Grants),
		RedirectURIs: cmd.RedirectURIs, Scopes: cmd.Scopes, UserID: cmd.UserID,
		FirstParty: cmd.FirstParty, RegisteredAt: now.UTC(), Audiences: cmd.Audiences,
		WebOrigins: cmd.WebOrigins,
	}
	var secret string
	if !cmd.Public {
		if secret, err = NewSecret(rnd); err != nil {
			return registeredClient{}, err
		}
		e.SecretHash = HashSecret(secret)
	}
	return registeredClient{Event: e, Secret: secret}, nil
}

func validateClientFields(name string, redirects, wantScopes []string, scopes *Scopes) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(name) > 255:
		return invalid("name", "must be at most 255 characters")
	}
	for _, r := range redirects {
		if err := validateRedirectURI(r); err != nil {
			return err
		}
	}
	for _, s := range wantScopes {
		if !scopes.Has(s) {
			return invalid("scopes", "the scope %q is unknown", s)
		}
	}
	return nil
}

// validateRedirectURI applies RFC 6749 §3.1.2: absolute, no fragment. Plain
// http is allowed (loopback and development); other schemes only as
// private-use schemes of native apps, which RFC 8252 §7.1 wants in
// reverse domain name form, so with a '.' ("com.example.app:/cb"): that
// refuses javascript:, data:, vbscript:, file: and the like, which would
// run or read something in the user's browser instead of reaching a
// client.
func validateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return invalid("redirect_uris", "%q is not an absolute URL", raw)
	}
	if !redirectSchemeAllowed(u.Scheme) {
		return invalid("redirect_uris", "%q: the scheme %q is not http, https or a private-use scheme with a '.' (RFC 8252 §7.1)", raw, u.Scheme)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("redirect_uris", "%q must not have a fragment", raw)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return invalid("redirect_uris", "%q has no host", raw)
	}
	return nil
}

// redirectSchemeAllowed reports whether a redirect URI may have scheme:
// http, https, or a private-use scheme in reverse domain name form (RFC
// 8252 §7.1), which has a '.'. The comparison ignores case.
func redirectSchemeAllowed(scheme string) bool {
	scheme = strings.ToLower(scheme)
	return scheme == "http" || scheme == "https" || strings.Contains(scheme, ".")
}

func dedupe(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// RegisterClient creates a client and returns it with its secret in clear
// (empty for a public client). The secret exists only in this return
// value; the log keeps its hash. Errors: *ValidationError.
func (s *Service) RegisterClient(ctx context.Context, actor Actor, cmd RegisterClient) (Client, string, error) {
	now := s.cfg.Now()
	d, err := decideRegisterClient(s.cfg.Scopes, cmd, now, s.cfg.Random)
	if err != nil {
		return Client{}, "", err
	}
	seq, err := s.record(ctx, ExpectNew, actor, d.Event)
	if err != nil {
		return Client{}, "", err
	}
	return ApplyClient(Client{}, d.Event, seq, now), d.Secret, nil
}

// UpdateClient is the command to rename a client or change its redirect
// URIs or allowed scopes (the whole new value of each; nil Scopes keeps
// the client's, as Passport's update names only the name and redirect).
type UpdateClient struct {
	ClientID     string
	Name         string
	RedirectURIs []string
	Scopes       []string
	// Audiences is the whole new list of resource audiences; nil keeps
	// the client's, an empty non-nil list removes them all.
	Audiences []string
	// WebOrigins is the whole new list of web origins; nil keeps the
	// client's, an empty non-nil list removes them all.
	WebOrigins []string
	// UserID, when set, requires the client to belong to that user.
	UserID string
}

// UpdateClient applies cmd. Errors: ErrNotFound for an unknown, deleted or
// someone else's client; *ValidationError.
func (s *Service) UpdateClient(ctx context.Context, actor Actor, cmd UpdateClient) (Client, error) {
	var out Client
	err := retry(ctx, func() error {
		c, err := s.loadClient(ctx, cmd.ClientID)
		if err != nil {
			return err
		}
		e, err := decideUpdateClient(clientState{Client: c, Scopes: s.cfg.Scopes}, cmd, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		seq, err := s.record(ctx, ExpectSeq(c.Seq), actor, e)
		if err != nil {
			return err
		}
		out = ApplyClient(c, e, seq, s.cfg.Now())
		return nil
	})
	return out, err
}

// clientState is what a command on one client decides on: the client as
// the log has it (the zero Client when it has none) and the scope
// catalogue.
type clientState struct {
	Client Client
	Scopes *Scopes
}

// decideUpdateClient decides UpdateClient: the client must be live and,
// when cmd.UserID is set, that user's (else ErrNotFound); nil Scopes,
// Audiences and WebOrigins keep the client's; the new fields are validated as at
// registration, and a client of the authorization code or implicit grant
// keeps at least one redirect URI (RFC 6749 §3.1.2). Errors: ErrNotFound,
// *ValidationError.
func decideUpdateClient(state clientState, cmd UpdateClient, _ time.Time, _ io.Reader) (ClientUpdated, error) {
	c, err := ownedClient(state.Client, cmd.ClientID, cmd.UserID)
	if err != nil {
		return ClientUpdated{}, err
	}
	if cmd.Scopes == nil {
		cmd.Scopes = c.Scopes
	}
	if cmd.Audiences == nil {
		cmd.Audiences = c.Audiences
	}
	if cmd.WebOrigins == nil {
		cmd.WebOrigins = c.WebOrigins
	}
	if err := validateAudiences(cmd.Audiences); err != nil {
		return ClientUpdated{}, err
	}
	if err := validateWebOrigins(cmd.WebOrigins); err != nil {
		return ClientUpdated{}, err
	}
	if err := validateClientFields(cmd.Name, cmd.RedirectURIs, cmd.Scopes, state.Scopes); err != nil {
		return ClientUpdated{}, err
	}
	if (c.HasGrant(GrantAuthorizationCode) || c.HasGrant(GrantImplicit)) && len(cmd.RedirectURIs) == 0 {
		return ClientUpdated{}, invalid("redirect_uris", "a redirect URI is required for this client")
	}
	return ClientUpdated{ClientID: c.ID, Name: strings.TrimSpace(cmd.Name), RedirectURIs: cmd.RedirectURIs, Scopes: cmd.Scopes, Audiences: cmd.Audiences, WebOrigins: cmd.WebOrigins}, nil
}

// ClientRef names one client, and, when UserID is set, requires it to
// belong to that user: the command of RegenerateSecret and DeleteClient.
type ClientRef struct {
	ClientID string
	UserID   string
}

// RegenerateSecret gives a confidential client a new secret and returns it
// in clear, once. Errors: ErrNotFound; *ValidationError for a public client.
func (s *Service) RegenerateSecret(ctx context.Context, actor Actor, clientID, userID string) (Client, string, error) {
	var out Client
	var secret string
	err := retry(ctx, func() error {
		c, err := s.loadClient(ctx, clientID)
		if err != nil {
			return err
		}
		d, err := decideRegenerateSecret(c, ClientRef{ClientID: clientID, UserID: userID}, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		seq, err := s.record(ctx, ExpectSeq(c.Seq), actor, d.Event)
		if err != nil {
			return err
		}
		out, secret = ApplyClient(c, d.Event, seq, s.cfg.Now()), d.Secret
		return nil
	})
	return out, secret, err
}

// regeneratedSecret is the decision of decideRegenerateSecret: the event
// and the new secret in clear, which exists only here.
type regeneratedSecret struct {
	Event  ClientSecretRegenerated
	Secret string
}

// decideRegenerateSecret decides a new secret for state, which must be
// live and, when cmd.UserID is set, that user's (else ErrNotFound), and
// confidential (a public client has no secret: *ValidationError). The
// secret comes from rnd; the event keeps only its hash.
func decideRegenerateSecret(state Client, cmd ClientRef, _ time.Time, rnd io.Reader) (regeneratedSecret, error) {
	c, err := ownedClient(state, cmd.ClientID, cmd.UserID)
	if err != nil {
		return regeneratedSecret{}, err
	}
	if !c.Confidential() {
		return regeneratedSecret{}, invalid("client_id", "a public client has no secret")
	}
	secret, err := NewSecret(rnd)
	if err != nil {
		return regeneratedSecret{}, err
	}
	return regeneratedSecret{Event: ClientSecretRegenerated{ClientID: c.ID, SecretHash: HashSecret(secret)}, Secret: secret}, nil
}

// DeleteClient deletes a client: it authenticates no more and its tokens
// stop validating. Errors: ErrNotFound for an unknown, already deleted or
// someone else's client.
func (s *Service) DeleteClient(ctx context.Context, actor Actor, clientID, userID string) error {
	return retry(ctx, func() error {
		c, err := s.loadClient(ctx, clientID)
		if err != nil {
			return err
		}
		e, err := decideDeleteClient(c, ClientRef{ClientID: clientID, UserID: userID}, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		_, err = s.record(ctx, ExpectSeq(c.Seq), actor, e)
		return err
	})
}

// decideDeleteClient decides the deletion of state, which must be live
// and, when cmd.UserID is set, that user's: deleting an unknown, deleted
// or someone else's client is ErrNotFound.
func decideDeleteClient(state Client, cmd ClientRef, _ time.Time, _ io.Reader) (ClientDeleted, error) {
	c, err := ownedClient(state, cmd.ClientID, cmd.UserID)
	if err != nil {
		return ClientDeleted{}, err
	}
	return ClientDeleted{ClientID: c.ID}, nil
}

// loadClient loads client id from the log; an unknown one is the zero
// Client, for the decision to refuse.
func (s *Service) loadClient(ctx context.Context, id string) (Client, error) {
	c, err := load(ctx, s.ports.Log, Aggregate{KindClient, id}, ApplyClient)
	if errors.Is(err, ErrNotFound) {
		return Client{}, nil
	}
	return c, err
}

// ownedClient returns c when it is live and, when userID is set, owned by
// userID; else (someone else's client reads as not found) ErrNotFound.
func ownedClient(c Client, id, userID string) (Client, error) {
	if !c.Exists() || (userID != "" && c.UserID != userID) {
		return Client{}, fmt.Errorf("domain: client %q: %w", id, ErrNotFound)
	}
	return c, nil
}

// FoldClients folds a replay of client events into the clients they
// describe, in order of registration. Unknown event types are skipped;
// any other decoding error is returned.
func FoldClients(recs []Recorded) ([]Client, error) {
	byID := map[string]int{}
	var out []Client
	for _, r := range recs {
		e, err := Decode(r.Envelope)
		if errors.Is(err, ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("domain: event at %d: %w", r.Seq, err)
		}
		agg := e.AggregateOf()
		if agg.Kind != KindClient {
			continue
		}
		i, ok := byID[agg.ID]
		if !ok {
			i = len(out)
			byID[agg.ID] = i
			out = append(out, Client{})
		}
		out[i] = ApplyClient(out[i], e, r.Seq, r.Envelope.Time)
	}
	return out, nil
}
