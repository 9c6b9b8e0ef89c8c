package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrChallengeAnswered: a login or consent challenge was accepted or
// rejected already; it takes one answer (the admin API's 409).
var ErrChallengeAnswered = errors.New("domain: the challenge was answered already")

// MaxExtBytes bounds the extra claims a consent may add to the access
// token (their JSON).
const MaxExtBytes = 4096

// ReservedClaims are the claim names an accepted consent's extra claims
// may not use. The extra claims go under the token's "ext" claim, so they
// can never override a claim of stamp's; these names are refused inside
// "ext" too, so a resource server that flattens "ext" cannot be misled.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "scopes",
	"azp", "act", "may_act", "cnf", "auth_time", "acr", "amr", "typ", "ext"}

// ReservedClaims returns the claim names extra claims may not use.
func ReservedClaims() []string { return append([]string(nil), reservedClaims...) }

// rejectionErrors are the error codes an application may answer a
// rejected challenge with (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
var rejectionErrors = []string{"access_denied", "login_required", "consent_required", "interaction_required",
	"account_selection_required", "temporarily_unavailable"}

// requestChallenge is the command that opens a challenge: the validated
// authorization request, the user (a consent's; "" for a login) and the
// hash of the browser's binding cookie.
type requestChallenge struct {
	Kind        string
	Prompt      AuthorizePrompt
	Subject     string
	BrowserHash string
	// TTL is the challenge's lifetime; 0 means ChallengeLifetime.
	TTL time.Duration
}

// openedChallenge is a decided challenge: the secret to send the browser
// with (never recorded) and the event recording its hash.
type openedChallenge struct {
	Challenge string
	Event     Event
}

// decideRequestChallenge opens a login or consent challenge for a
// validated request, expiring cmd.TTL after now. Errors: a
// *ValidationError for a missing browser binding, a consent without a
// user or an unknown kind; reading rnd fails.
func decideRequestChallenge(_ noState, cmd requestChallenge, now time.Time, rnd io.Reader) (openedChallenge, error) {
	if len(cmd.BrowserHash) != 64 {
		return openedChallenge{}, invalid("browser", "is not bound")
	}
	secret, err := NewSecret(rnd)
	if err != nil {
		return openedChallenge{}, err
	}
	now = now.UTC()
	ttl := cmd.TTL
	if ttl <= 0 {
		ttl = ChallengeLifetime
	}
	p := cmd.Prompt
	id, req, scopes := HashSecret(secret), challengeRequest(p.Request), p.scopeIDs()
	switch cmd.Kind {
	case ChallengeLogin:
		return openedChallenge{Challenge: secret, Event: LoginRequested{ChallengeID: id, ClientID: p.Client.ID, Request: req,
			Scopes: scopes, Audiences: p.Resources, BrowserHash: cmd.BrowserHash, RequestedAt: now, ExpiresAt: now.Add(ttl)}}, nil
	case ChallengeConsent:
		if !ValidID(cmd.Subject) {
			return openedChallenge{}, invalid("subject", "is not a valid user id")
		}
		return openedChallenge{Challenge: secret, Event: ConsentRequested{ChallengeID: id, ClientID: p.Client.ID, Subject: cmd.Subject,
			Request: req, Scopes: scopes, Audiences: p.Resources, BrowserHash: cmd.BrowserHash, RequestedAt: now, ExpiresAt: now.Add(ttl)}}, nil
	}
	return openedChallenge{}, invalid("kind", "must be login or consent")
}

// challengeRequest returns the parameters of req to keep in a challenge:
// the non-empty ones, with a plain PKCE challenge turned into its S256
// form (the same check at the code exchange, no verifier in the log).
func challengeRequest(req AuthorizeRequest) map[string]string {
	if req.CodeChallenge != "" && req.CodeChallengeMethod != PKCES256 {
		if s, err := challengeS256(req.CodeChallenge, req.CodeChallengeMethod); err == nil {
			req.CodeChallenge, req.CodeChallengeMethod = s, PKCES256
		}
	}
	out := map[string]string{}
	for k, v := range map[string]string{"response_type": req.ResponseType, "client_id": req.ClientID,
		"redirect_uri": req.RedirectURI, "scope": req.Scope, "state": req.State, "code_challenge": req.CodeChallenge,
		"code_challenge_method": req.CodeChallengeMethod, "resource": req.Resource} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// AuthorizeRequest returns the authorization request a challenge
// continues. Its prompt is dropped: the challenge answered it.
func (c Challenge) AuthorizeRequest() AuthorizeRequest {
	r := c.Request
	return AuthorizeRequest{ResponseType: r["response_type"], ClientID: r["client_id"], RedirectURI: r["redirect_uri"],
		Scope: r["scope"], State: r["state"], CodeChallenge: r["code_challenge"], CodeChallengeMethod: r["code_challenge_method"],
		Resource: r["resource"]}
}

// challengeState is what an answer or a return is decided on: the
// challenge loaded from the log (Found), whether the user an accepted
// login names exists, and the client's registered audiences.
type challengeState struct {
	Challenge       Challenge
	Found           bool
	SubjectFound    bool
	ClientAudiences []string
}

// ChallengeAnswer is the application's answer to a challenge through the
// admin API. For a login: Subject (a stamp user id, e.g. created with an
// external id), Remember, ACR. For a consent: Scopes (GrantScope, never
// more than requested), Audiences, Remember, Ext (a JSON object, the
// access token's "ext" claim). A rejection: Error (access_denied when
// empty) and Description.
type ChallengeAnswer struct {
	Accept      bool
	Subject     string
	Remember    bool
	ACR         string
	Scopes      []string
	Audiences   []string
	Ext         json.RawMessage
	Error       string
	Description string
}

// answerChallenge is the command of an answer.
type answerChallenge struct {
	Kind   string
	Answer ChallengeAnswer
}

// errUnknownChallenge is the answer to a challenge that is unknown,
// expired or of the other kind.
var errUnknownChallenge = errors.New("domain: the challenge is unknown or expired")

// decideChallengeAnswer decides an application's answer. Errors: an
// unknown challenge, one of the other kind or expired at now wraps
// ErrNotFound; one answered already is ErrChallengeAnswered; a bad field
// a *ValidationError: a subject that is not a user, a scope not
// requested, an audience not requested (nor, when none was, registered
// for the client), extra claims that are not a JSON object, too large,
// or use a reserved claim name; an unknown rejection error.
func decideChallengeAnswer(st challengeState, cmd answerChallenge, now time.Time, _ io.Reader) ([]Event, error) {
	c, a := st.Challenge, cmd.Answer
	if !st.Found || c.Kind != cmd.Kind || !now.Before(c.ExpiresAt) {
		return nil, errors.Join(errUnknownChallenge, ErrNotFound)
	}
	if c.Answer != "" {
		return nil, ErrChallengeAnswered
	}
	if !a.Accept {
		code := a.Error
		if code == "" {
			code = ErrAccessDenied.Code
		}
		if !contains(rejectionErrors, code) {
			return nil, invalid("error", "must be one of %s", strings.Join(rejectionErrors, ", "))
		}
		if len(a.Description) > 500 || !printable(a.Description) {
			return nil, invalid("error_description", "must be at most 500 printable characters")
		}
		if cmd.Kind == ChallengeLogin {
			return []Event{LoginRejected{ChallengeID: c.ID, ClientID: c.ClientID, Error: code, ErrorDescription: a.Description}}, nil
		}
		return []Event{ConsentRejected{ChallengeID: c.ID, ClientID: c.ClientID, Error: code, ErrorDescription: a.Description}}, nil
	}
	if cmd.Kind == ChallengeLogin {
		switch {
		case !ValidID(a.Subject) || !st.SubjectFound:
			return nil, invalid("subject", "is not a user of stamp (create it first: POST /admin/users with its id)")
		case len(a.ACR) > 256 || !printable(a.ACR):
			return nil, invalid("acr", "must be at most 256 printable characters")
		}
		return []Event{LoginAccepted{ChallengeID: c.ID, ClientID: c.ClientID, Subject: a.Subject, Remember: a.Remember, ACR: a.ACR}}, nil
	}
	for _, s := range a.Scopes {
		if !contains(c.Scopes, s) {
			return nil, invalid("grant_scope", "grants %q, which was not requested (requested: %s)", clipValue(s), FormatScope(c.Scopes))
		}
	}
	allowed := c.Audiences
	if len(allowed) == 0 {
		allowed = st.ClientAudiences
	}
	for _, aud := range a.Audiences {
		if !contains(allowed, aud) {
			return nil, invalid("grant_access_token_audience", "grants %q, which was not requested nor registered for the client", clipValue(aud))
		}
	}
	ext, err := checkExt(a.Ext)
	if err != nil {
		return nil, err
	}
	return []Event{ConsentAccepted{ChallengeID: c.ID, ClientID: c.ClientID, Subject: c.Subject, Scopes: sortedCopy(dedupe(a.Scopes)),
		Audiences: sortedCopy(dedupe(a.Audiences)), Remember: a.Remember, Ext: ext}}, nil
}

// checkExt checks extra claims: empty or null is none; else a JSON
// object of at most MaxExtBytes whose keys are not reserved. It returns
// the object compacted.
func checkExt(raw json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, invalid("session.access_token", "must be a JSON object")
	}
	for k := range m {
		if contains(reservedClaims, k) {
			return nil, invalid("session.access_token", "may not set the reserved claim %q", clipValue(k))
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, t); err != nil || b.Len() > MaxExtBytes {
		return nil, invalid("session.access_token", "must be at most %d bytes of JSON", MaxExtBytes)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return b.Bytes(), nil
}

// returnChallenge is the command of a browser coming back to stamp with
// an answered challenge: its kind and the hash of the browser's cookie.
type returnChallenge struct {
	Kind        string
	BrowserHash string
}

// decideChallengeReturn decides a browser's return with a challenge:
// LoginCompleted or ConsentCompleted, which uses the challenge up. Every
// refusal is ErrInvalidRequest, shown to the user and never redirected:
// an unknown challenge or one of the other kind, one expired at now, one
// bound to another browser, one not answered yet, one used already.
func decideChallengeReturn(st challengeState, cmd returnChallenge, now time.Time, _ io.Reader) (Event, error) {
	c := st.Challenge
	switch {
	case !st.Found || c.Kind != cmd.Kind:
		return nil, ErrInvalidRequest.WithDescription("the %s challenge is unknown; start again from the application", cmd.Kind)
	case c.BrowserHash == "" || cmd.BrowserHash != c.BrowserHash:
		return nil, ErrInvalidRequest.WithDescription("the %s challenge belongs to another browser; start again from the application", cmd.Kind)
	case c.Completed:
		return nil, ErrInvalidRequest.WithDescription("the %s challenge was used already; start again from the application", cmd.Kind)
	case !now.Before(c.ExpiresAt):
		return nil, ErrInvalidRequest.WithDescription("the %s challenge has expired; start again from the application", cmd.Kind)
	case c.Answer == "":
		return nil, ErrInvalidRequest.WithDescription("the %s challenge has not been answered yet", cmd.Kind)
	}
	if cmd.Kind == ChallengeLogin {
		return LoginCompleted{ChallengeID: c.ID, ClientID: c.ClientID}, nil
	}
	return ConsentCompleted{ChallengeID: c.ID, ClientID: c.ClientID}, nil
}

// printable reports whether s holds no control character.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
