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
}

// knownGrants lists the grant types a client may be given.
var knownGrants = []string{
	GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantPassword,
	GrantPersonalAccess, GrantImplicit, GrantDeviceCode,
}

// decideRegisterClient validates cmd and returns the event and the secret
// in clear (empty for a public client).
func decideRegisterClient(cmd RegisterClient, scopes *Scopes, now time.Time, random io.Reader) (ClientRegistered, string, error) {
	if err := validateClientFields(cmd.Name, cmd.RedirectURIs, cmd.Scopes, scopes); err != nil {
		return ClientRegistered{}, "", err
	}
	if len(cmd.Grants) == 0 {
		return ClientRegistered{}, "", invalid("grants", "at least one grant type is required")
	}
	for _, g := range cmd.Grants {
		if !contains(knownGrants, g) {
			return ClientRegistered{}, "", invalid("grants", "unknown grant type %q", g)
		}
		if cmd.Public && g == GrantClientCredentials {
			return ClientRegistered{}, "", invalid("grants", "a public client cannot use the %s grant", g)
		}
	}
	needsRedirect := contains(cmd.Grants, GrantAuthorizationCode) || contains(cmd.Grants, GrantImplicit)
	if needsRedirect && len(cmd.RedirectURIs) == 0 {
		return ClientRegistered{}, "", invalid("redirect_uris", "a redirect URI is required for the authorization code and implicit grants")
	}
	if cmd.UserID != "" && !ValidID(cmd.UserID) {
		return ClientRegistered{}, "", invalid("user_id", "is not a valid id")
	}
	if err := validateAudiences(cmd.Audiences); err != nil {
		return ClientRegistered{}, "", err
	}
	id, err := NewID(random)
	if err != nil {
		return ClientRegistered{}, "", err
	}
	e := ClientRegistered{
		ClientID: id, Name: strings.TrimSpace(cmd.Name), Grants: dedupe(cmd.Grants),
		RedirectURIs: cmd.RedirectURIs, Scopes: cmd.Scopes, UserID: cmd.UserID,
		FirstParty: cmd.FirstParty, RegisteredAt: now.UTC(), Audiences: cmd.Audiences,
	}
	var secret string
	if !cmd.Public {
		if secret, err = NewSecret(random); err != nil {
			return ClientRegistered{}, "", err
		}
		e.SecretHash = HashSecret(secret)
	}
	return e, secret, nil
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
	e, secret, err := decideRegisterClient(cmd, s.cfg.Scopes, now, s.cfg.Random)
	if err != nil {
		return Client{}, "", err
	}
	seq, err := s.record(ctx, ExpectNew, actor, e)
	if err != nil {
		return Client{}, "", err
	}
	return ApplyClient(Client{}, e, seq, now), secret, nil
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
	// UserID, when set, requires the client to belong to that user.
	UserID string
}

// UpdateClient applies cmd. Errors: ErrNotFound for an unknown, deleted or
// someone else's client; *ValidationError.
func (s *Service) UpdateClient(ctx context.Context, actor Actor, cmd UpdateClient) (Client, error) {
	var out Client
	err := retry(ctx, func() error {
		c, err := s.ownedClient(ctx, cmd.ClientID, cmd.UserID)
		if err != nil {
			return err
		}
		if cmd.Scopes == nil {
			cmd.Scopes = c.Scopes
		}
		if cmd.Audiences == nil {
			cmd.Audiences = c.Audiences
		}
		if err := validateAudiences(cmd.Audiences); err != nil {
			return err
		}
		if err := validateClientFields(cmd.Name, cmd.RedirectURIs, cmd.Scopes, s.cfg.Scopes); err != nil {
			return err
		}
		if (c.HasGrant(GrantAuthorizationCode) || c.HasGrant(GrantImplicit)) && len(cmd.RedirectURIs) == 0 {
			return invalid("redirect_uris", "a redirect URI is required for this client")
		}
		e := ClientUpdated{ClientID: c.ID, Name: strings.TrimSpace(cmd.Name), RedirectURIs: cmd.RedirectURIs, Scopes: cmd.Scopes, Audiences: cmd.Audiences}
		seq, err := s.record(ctx, ExpectSeq(c.Seq), actor, e)
		if err != nil {
			return err
		}
		out = ApplyClient(c, e, seq, s.cfg.Now())
		return nil
	})
	return out, err
}

// RegenerateSecret gives a confidential client a new secret and returns it
// in clear, once. Errors: ErrNotFound; *ValidationError for a public client.
func (s *Service) RegenerateSecret(ctx context.Context, actor Actor, clientID, userID string) (Client, string, error) {
	var out Client
	var secret string
	err := retry(ctx, func() error {
		c, err := s.ownedClient(ctx, clientID, userID)
		if err != nil {
			return err
		}
		if !c.Confidential() {
			return invalid("client_id", "a public client has no secret")
		}
		if secret, err = NewSecret(s.cfg.Random); err != nil {
			return err
		}
		e := ClientSecretRegenerated{ClientID: c.ID, SecretHash: HashSecret(secret)}
		seq, err := s.record(ctx, ExpectSeq(c.Seq), actor, e)
		if err != nil {
			return err
		}
		out = ApplyClient(c, e, seq, s.cfg.Now())
		return nil
	})
	return out, secret, err
}

// DeleteClient deletes a client: it authenticates no more and its tokens
// stop validating. Errors: ErrNotFound for an unknown, already deleted or
// someone else's client.
func (s *Service) DeleteClient(ctx context.Context, actor Actor, clientID, userID string) error {
	return retry(ctx, func() error {
		c, err := s.ownedClient(ctx, clientID, userID)
		if err != nil {
			return err
		}
		e := ClientDeleted{ClientID: c.ID}
		_, err = s.record(ctx, ExpectSeq(c.Seq), actor, e)
		return err
	})
}

// ownedClient loads a live client from the log; when userID is set it must
// be the owner (someone else's client reads as not found).
func (s *Service) ownedClient(ctx context.Context, id, userID string) (Client, error) {
	c, err := load(ctx, s.ports.Log, Aggregate{KindClient, id}, ApplyClient)
	if err != nil {
		return Client{}, err
	}
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
