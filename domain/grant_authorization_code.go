package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AuthorizeRequest is an authorization request (RFC 6749 §4.1.1 and
// §4.2.1, RFC 7636 §4.3), as GET /oauth/authorize receives it.
type AuthorizeRequest struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	// Prompt is Passport 13's prompt: "", "none", "consent" or "login".
	Prompt string
	// Resource is RFC 8707's resource parameter, repeated parameters
	// joined with spaces: the APIs the tokens of this grant are for.
	Resource string

	// ApprovalKey, when set, makes Approve single-use: it is a secret of
	// the approval screen the user answered (its auth_token). The code's
	// id derives from it, so a second approval with the same key mints
	// no second code (see Approve). It is not a request parameter.
	ApprovalKey string
}

// AuthorizePrompt is a validated authorization request: what the approval
// screen shows, and whether it may be skipped.
type AuthorizePrompt struct {
	Request     AuthorizeRequest
	Client      Client
	RedirectURI string
	Scopes      []Scope
	// Resources are the requested resources (RFC 8707), each one of the
	// client's audiences.
	Resources []string
	// Skip is set when the user need not be asked: a first-party client,
	// or scopes the user already approved for the client (a durable
	// consent), unless prompt=consent.
	Skip bool
}

// RedirectError is an error to send back to the client on its redirect
// URI (RFC 6749 §4.1.2.1), once the redirect URI is known to be the
// client's. Every other authorization error must be shown to the user
// and never redirected.
type RedirectError struct {
	Err      *OAuthError
	URL      string
	State    string
	Fragment bool
}

func (e *RedirectError) Error() string { return e.Err.Error() }
func (e *RedirectError) Unwrap() error { return e.Err }

// Location returns the URL to redirect the user agent to.
func (e *RedirectError) Location(issuer string) string {
	v := url.Values{"error": {e.Err.Code}}
	if e.Err.Description != "" {
		v.Set("error_description", e.Err.Description)
	}
	if e.State != "" {
		v.Set("state", e.State)
	}
	v.Set("iss", issuer)
	return appendParams(e.URL, v, e.Fragment)
}

// appendParams adds v to the query of u, or to its fragment.
func appendParams(u string, v url.Values, fragment bool) string {
	if fragment {
		return u + "#" + v.Encode()
	}
	if strings.Contains(u, "?") {
		return u + "&" + v.Encode()
	}
	return u + "?" + v.Encode()
}

// Authorize validates an authorization request for user (nil when nobody
// is logged in). It returns ErrInvalidRequest or ErrInvalidClient (to
// show, not redirect) while the client or redirect URI is in doubt, and a
// *RedirectError after. With prompt=none it answers login_required or
// consent_required instead of asking.
func (s *Service) Authorize(ctx context.Context, req AuthorizeRequest, user *User) (AuthorizePrompt, error) {
	if !ValidID(req.ClientID) {
		return AuthorizePrompt{}, ErrInvalidRequest.WithDescription("the client_id parameter is missing or malformed")
	}
	c, err := lookupFresh(ctx, s, func(ctx context.Context) (Client, error) {
		return s.ports.Clients.Client(ctx, req.ClientID)
	})
	if errors.Is(err, ErrNotFound) || err == nil && !c.Exists() {
		return AuthorizePrompt{}, ErrInvalidClient.WithDescription("the client is unknown")
	}
	if err != nil {
		return AuthorizePrompt{}, err
	}
	redirect := req.RedirectURI
	if redirect == "" && len(c.RedirectURIs) == 1 {
		redirect = c.RedirectURIs[0]
	}
	if redirect == "" || !RedirectMatches(c.RedirectURIs, redirect) {
		return AuthorizePrompt{}, ErrInvalidRequest.WithDescription("the redirect_uri does not match one registered for the client")
	}
	if u, err := url.Parse(redirect); err != nil || !redirectSchemeAllowed(u.Scheme) {
		// Registered before registration refused such schemes.
		return AuthorizePrompt{}, ErrInvalidRequest.WithDescription("the client's redirect_uri has a scheme stamp does not redirect to")
	}
	implicit := req.ResponseType == "token"
	fail := func(e *OAuthError) (AuthorizePrompt, error) {
		return AuthorizePrompt{}, &RedirectError{Err: e, URL: redirect, State: req.State, Fragment: implicit}
	}
	switch {
	case req.ResponseType == "code" && c.HasGrant(GrantAuthorizationCode):
	case implicit && s.cfg.Implicit && c.HasGrant(GrantImplicit):
	case implicit && !s.cfg.Implicit:
		return fail(ErrUnsupportedResponseType.WithDescription("the implicit grant is not enabled"))
	case req.ResponseType == "code" || implicit:
		return fail(ErrUnauthorizedClient.WithDescription("the client may not use the response_type %q", req.ResponseType))
	default:
		return fail(ErrUnsupportedResponseType.WithDescription("the response_type must be code"))
	}
	scopes, err := s.cfg.Scopes.Resolve(ParseScope(req.Scope), false, c.Scopes)
	var oe *OAuthError
	if errors.As(err, &oe) {
		return fail(oe)
	}
	if err != nil {
		return AuthorizePrompt{}, err
	}
	if !implicit {
		switch {
		case req.CodeChallenge != "":
			if _, err := challengeS256(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
				return fail(err.(*OAuthError))
			}
		case req.CodeChallengeMethod != "":
			return fail(ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge"))
		case !c.Confidential():
			return fail(ErrInvalidRequest.WithDescription("a public client must use PKCE (code_challenge)"))
		}
	}
	switch req.Prompt {
	case "", "none", "consent", "login":
	default:
		return fail(ErrInvalidRequest.WithDescription("prompt must be none, consent or login"))
	}
	resources, err := decideResources(c, req.Resource, nil)
	if err != nil {
		return fail(err.(*OAuthError))
	}
	p := AuthorizePrompt{Request: req, Client: c, RedirectURI: redirect, Resources: resources}
	for _, id := range scopes {
		d, _ := s.cfg.Scopes.Describe(id)
		p.Scopes = append(p.Scopes, d)
	}
	if user == nil {
		if req.Prompt == "none" {
			return fail(ErrLoginRequired.WithDescription("the user is not logged in"))
		}
		return p, nil
	}
	if req.Prompt != "consent" {
		p.Skip = c.FirstParty
		if !p.Skip {
			a, err := s.ports.Grants.Authorization(ctx, user.ID, c.ID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return AuthorizePrompt{}, err
			}
			p.Skip = a.Covers(scopes)
		}
	}
	if req.Prompt == "none" && !p.Skip {
		return fail(ErrConsentRequired.WithDescription("the user has not approved these scopes"))
	}
	return p, nil
}

// scopeIDs returns the ids of a prompt's scopes.
func (p AuthorizePrompt) scopeIDs() []string {
	out := make([]string, len(p.Scopes))
	for i, sc := range p.Scopes {
		out[i] = sc.ID
	}
	return out
}

// Approve answers an approved request (user approved it, or it may skip
// the approval): it issues a code (or, for response_type=token, an access
// token) and records the user's consent, and returns where to send the
// user agent. The request is validated again.
//
// With req.ApprovalKey set, the code's id is derived from the key and
// appended as a new aggregate, so the log itself lets one approval mint
// one code, on any instance: a second is ErrInvalidRequest, shown to the
// user and not redirected. (An implicit approval is not keyed.)
func (s *Service) Approve(ctx context.Context, req AuthorizeRequest, user User) (string, error) {
	p, err := s.Authorize(ctx, req, &user)
	if err != nil {
		return "", err
	}
	scopes := p.scopeIDs()
	consent := s.consentEvent(ctx, user.ID, p.Client.ID, scopes)
	actor := Actor{Kind: ActorUser, ID: user.ID}
	if req.ResponseType == "token" {
		resp, events, err := s.tokenSetFor(p.Client, user.ID, GrantImplicit, scopes, p.Resources, s.cfg.AccessToken, false)
		if err != nil {
			return "", err
		}
		if consent != nil {
			events = append(events, consent)
		}
		if _, err := s.record(ctx, ExpectAny, actor, events...); err != nil {
			return "", err
		}
		return implicitRedirect(p.RedirectURI, req.State, resp), nil
	}
	code, err := NewSecret(s.cfg.Random)
	if err != nil {
		return "", err
	}
	id, err := NewID(s.cfg.Random)
	if err != nil {
		return "", err
	}
	if req.ApprovalKey != "" {
		id = DerivedID("approval\x00"+req.ApprovalKey, "code")
	}
	now := s.cfg.Now().UTC()
	e := AuthCodeIssued{CodeID: id, CodeHash: HashSecret(code), ClientID: p.Client.ID, UserID: user.ID, RedirectURI: p.RedirectURI,
		Scopes: scopes, IssuedAt: now, ExpiresAt: now.Add(s.cfg.AuthCode), Resources: p.Resources, RedirectURIGiven: req.RedirectURI != ""}
	if req.CodeChallenge != "" {
		e.ChallengeMethod = req.CodeChallengeMethod
		if e.ChallengeMethod == "" {
			e.ChallengeMethod = PKCEPlain
		}
		if e.ChallengeS256, err = challengeS256(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
			return "", err
		}
	}
	events := []Event{e}
	if consent != nil {
		events = append(events, consent)
	}
	_, err = s.record(ctx, ExpectNew, actor, events...)
	if errors.Is(err, ErrConflict) && req.ApprovalKey != "" {
		return "", ErrInvalidRequest.WithDescription("this approval was already answered; start again from the application")
	}
	if err != nil {
		return "", err
	}
	v := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	return appendParams(p.RedirectURI, v, false), nil
}

// implicitRedirect is the implicit grant's answer (RFC 6749 §4.2.2): the
// access token in the fragment of redirectURI, with state when given.
func implicitRedirect(redirectURI, state string, resp TokenResponse) string {
	v := url.Values{"access_token": {resp.AccessToken}, "token_type": {"Bearer"}, "expires_in": {strconv.FormatInt(resp.ExpiresIn, 10)}, "scope": {resp.Scope}}
	if state != "" {
		v.Set("state", state)
	}
	return appendParams(redirectURI, v, true)
}

// consentEvent returns ClientAuthorized widening the user's consent to
// scopes, or nil when it already covers them (widenConsent on the
// consent the read model holds).
func (s *Service) consentEvent(ctx context.Context, userID, clientID string, scopes []string) Event {
	a, err := s.ports.Grants.Authorization(ctx, userID, clientID)
	return widenConsent(userID, clientID, scopes, a, err == nil)
}

// widenConsent decides the ClientAuthorized that widens a, the user's
// consent to the client (found: it exists), to scopes: nil when a covers
// them; else the union with a's scopes unless a was revoked.
func widenConsent(userID, clientID string, scopes []string, a Authorization, found bool) Event {
	if found && a.Covers(scopes) {
		return nil
	}
	union := append([]string(nil), scopes...)
	if found && !a.Revoked {
		for _, sc := range a.Scopes {
			if !contains(union, sc) {
				union = append(union, sc)
			}
		}
	}
	return ClientAuthorized{UserID: userID, ClientID: clientID, Scopes: sortedCopy(union)}
}

// Deny answers a denied request: the client learns access_denied on its
// redirect URI (RFC 6749 §4.1.2.1).
func (s *Service) Deny(ctx context.Context, req AuthorizeRequest, user User) (string, error) {
	p, err := s.Authorize(ctx, req, &user)
	if err != nil {
		return "", err
	}
	re := &RedirectError{Err: ErrAccessDenied.WithDescription("the user denied the request"), URL: p.RedirectURI, State: req.State, Fragment: req.ResponseType == "token"}
	return re.Location(s.cfg.Issuer), nil
}

// The code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5): the client that
// the code was issued to presents it, with the redirect_uri of the
// authorization request when that carried one, and the PKCE verifier of
// its challenge; a resource parameter (RFC 8707 §2.2) may narrow the
// resources of the authorization request. A code is single-use:
// presenting it again is invalid_grant and revokes every token it
// produced (§4.1.2, §10.5); so does losing a race to redeem it (this
// request's append, expecting the code as read, conflicts: the code was
// redeemed meanwhile).

// errBadCode is the answer to a code that is unknown, another client's,
// expired or used: one answer for all.
var errBadCode = ErrInvalidGrant.WithDescription("the authorization code is invalid, expired or used")

// codeState is what the code exchange decides on: the authenticated
// client, the code the presented one's hash found (Found), whether its
// user is gone, and the issuer's terms.
type codeState struct {
	Client Client
	Code   AuthCode
	Found  bool
	// Reloaded is set when Code was reloaded from the log after this
	// request's redemption conflicted: another request redeemed it.
	Reloaded bool
	UserGone bool
	Issuer   issuerTerms
}

// codeCommand is a code exchange request: the hash of the presented code
// ("" when none was), its redirect_uri, code_verifier and resource
// parameters.
type codeCommand struct {
	CodeHash    string
	RedirectURI string
	Verifier    string
	Resource    string
}

// codeDecision is a token decision that may instead name a reused code,
// whose tokens the shell revokes before it answers invalid_grant.
type codeDecision struct {
	tokenDecision
	// Reused is the code, used again or lost in a race, whose access
	// token and refresh family are to be revoked.
	Reused *AuthCode
}

// checkCodeRequest checks what a code exchange is refused for before any
// code is looked up: a client without the grant (unauthorized_client), no
// code parameter (invalid_request).
func checkCodeRequest(c Client, cmd codeCommand) error {
	if !c.HasGrant(GrantAuthorizationCode) {
		return ErrUnauthorizedClient.WithDescription("the client may not use the authorization_code grant")
	}
	if cmd.CodeHash == "" {
		return ErrInvalidRequest.WithDescription("the code parameter is missing")
	}
	return nil
}

// decideAuthorizationCode decides a code exchange on the code read.
// Errors: unauthorized_client, invalid_request (no code, or no
// redirect_uri where the authorization request carried one);
// invalid_grant for an unknown, another client's, expired or used code,
// a redirect_uri or code_verifier that does not match, a deleted user;
// invalid_target. A used code is a decision naming it (Reused).
func decideAuthorizationCode(st codeState, cmd codeCommand, now time.Time, rnd io.Reader) (codeDecision, error) {
	c, code := st.Client, st.Code
	if err := checkCodeRequest(c, cmd); err != nil {
		return codeDecision{}, err
	}
	if !st.Found || code.ClientID != c.ID {
		return codeDecision{}, errBadCode
	}
	if code.Redeemed || st.Reloaded {
		return codeDecision{tokenDecision: tokenDecision{Answer: errBadCode}, Reused: &code}, nil
	}
	if !now.Before(code.ExpiresAt) {
		return codeDecision{}, errBadCode
	}
	// RFC 6749 §4.1.3: redirect_uri is required, and identical, when the
	// authorization request carried it; otherwise it may be left out.
	switch r := cmd.RedirectURI; {
	case r == "" && code.RedirectURIGiven:
		return codeDecision{}, ErrInvalidRequest.WithDescription("the redirect_uri parameter is required: the authorization request carried one")
	case r != code.RedirectURI && (r != "" || len(c.RedirectURIs) != 1):
		return codeDecision{}, ErrInvalidGrant.WithDescription("the redirect_uri does not match the authorization request")
	}
	switch {
	case code.ChallengeS256 == "" && cmd.Verifier != "":
		return codeDecision{}, ErrInvalidGrant.WithDescription("a code_verifier was sent but the authorization request had no code_challenge")
	case code.ChallengeS256 != "" && !verifierMatches(cmd.Verifier, code.ChallengeS256):
		return codeDecision{}, ErrInvalidGrant.WithDescription("the code_verifier does not match the code_challenge")
	}
	if st.UserGone {
		return codeDecision{}, errBadCode
	}
	resources, err := decideResources(c, cmd.Resource, code.Resources)
	if err != nil {
		return codeDecision{}, err
	}
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, UserID: code.UserID, Grant: GrantAuthorizationCode, Scopes: code.Scopes, Resources: resources, TTL: st.Issuer.AccessToken, Ext: code.Ext}, c.HasGrant(GrantRefreshToken), now, rnd)
	if err != nil {
		return codeDecision{}, err
	}
	redeemed := AuthCodeRedeemed{CodeID: code.ID, ClientID: c.ID, UserID: code.UserID, AccessTokenID: set.Access.TokenID}
	if set.Refresh != nil {
		if len(code.Resources) > 0 {
			set.Refresh.Resources = code.Resources // a narrower token does not narrow the grant
		}
		redeemed.FamilyID = set.Refresh.FamilyID
	}
	return codeDecision{tokenDecision: tokenDecision{Events: append([]Event{redeemed}, set.events()...), Expect: ExpectSeq(code.Seq),
		Actor: actorFor(c.ID, code.UserID), Tokens: &set}}, nil
}

// authorizationCode answers a code exchange of the authenticated client
// c: it loads the code the presented one's hash names (from the read
// model, caught up if it does not know it) and its user, decides
// (decideAuthorizationCode) and issues; a redemption that conflicts
// reloads the code from the log and decides again. A reused code's
// tokens are revoked before the answer.
func (s *Service) authorizationCode(ctx context.Context, call grantCall) (TokenResponse, error) {
	c, req, is, signer := call.Client, call.Req, call.Issuer, call.Signer
	cmd := codeCommand{RedirectURI: req.Form["redirect_uri"], Verifier: req.Form["code_verifier"], Resource: req.Form["resource"]}
	if raw := req.Form["code"]; raw != "" {
		cmd.CodeHash = HashSecret(raw)
	}
	if err := checkCodeRequest(c, cmd); err != nil {
		return TokenResponse{}, err
	}
	st := codeState{Client: c, Issuer: is}
	code, err := lookupFresh(ctx, s, func(ctx context.Context) (AuthCode, error) {
		return s.ports.Grants.AuthCodeByHash(ctx, cmd.CodeHash)
	})
	switch {
	case err == nil:
		st.Code, st.Found = code, true
		if code.ClientID == c.ID && !code.Redeemed {
			st.UserGone = s.userGone(ctx, code.UserID)
		}
	case !errors.Is(err, ErrNotFound):
		return TokenResponse{}, err
	}
	for {
		d, err := decideAuthorizationCode(st, cmd, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return TokenResponse{}, err
		}
		if d.Reused != nil {
			if err := s.revokeCodeTokens(ctx, *d.Reused); err != nil {
				return TokenResponse{}, err
			}
			return TokenResponse{}, d.Answer
		}
		resp, err := s.issue(ctx, signer, d.tokenDecision)
		if !errors.Is(err, ErrConflict) {
			return resp, err
		}
		if st.Code, err = load(ctx, s.ports.Log, Aggregate{KindCode, st.Code.ID}, ApplyAuthCode); err != nil {
			return TokenResponse{}, err
		}
		st.Reloaded = true
	}
}

// revokeCodeTokens revokes what a redeemed code produced: its access
// token and its refresh token family.
func (s *Service) revokeCodeTokens(ctx context.Context, code AuthCode) error {
	actor := Actor{Kind: ActorSystem, ID: "code-reuse"}
	if code.FamilyID != "" {
		if err := s.RevokeRefreshFamily(ctx, actor, code.FamilyID, ReasonCodeReuse, ""); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("domain: revoke after code reuse: %w", err)
		}
	}
	if code.AccessTokenID != "" {
		if err := s.RevokeAccessToken(ctx, actor, code.AccessTokenID, ReasonCodeReuse); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("domain: revoke after code reuse: %w", err)
		}
	}
	return nil
}
