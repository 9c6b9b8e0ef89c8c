package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// The admin API's side of login and consent delegation (Hydra's routes):
// the application reads a challenge, then accepts or rejects it, and
// sends the browser to the redirect_to of the answer.
const (
	pathAdminLoginRequest   = "/admin/login/requests/:challenge"
	pathAdminLoginAccept    = "/admin/login/requests/:challenge/accept"
	pathAdminLoginReject    = "/admin/login/requests/:challenge/reject"
	pathAdminConsentRequest = "/admin/consent/requests/:challenge"
	pathAdminConsentAccept  = "/admin/consent/requests/:challenge/accept"
	pathAdminConsentReject  = "/admin/consent/requests/:challenge/reject"

	// maxAnswerBytes bounds an answer's body (extra claims are at most
	// domain.MaxExtBytes).
	maxAnswerBytes = 16 << 10
)

// registerDelegation adds the delegation routes of the admin API.
func (s *server) registerDelegation(r *routeTable) {
	r.GET(pathAdminLoginRequest, s.adminAuthed(s.adminChallenge(domain.ChallengeLogin)))
	r.PUT(pathAdminLoginAccept, s.adminAuthed(s.adminAnswer(domain.ChallengeLogin, true)))
	r.PUT(pathAdminLoginReject, s.adminAuthed(s.adminAnswer(domain.ChallengeLogin, false)))
	r.GET(pathAdminConsentRequest, s.adminAuthed(s.adminChallenge(domain.ChallengeConsent)))
	r.PUT(pathAdminConsentAccept, s.adminAuthed(s.adminAnswer(domain.ChallengeConsent, true)))
	r.PUT(pathAdminConsentReject, s.adminAuthed(s.adminAnswer(domain.ChallengeConsent, false)))
}

// challengeView is GET /admin/{login,consent}/requests/{challenge}.
type challengeView struct {
	Challenge string   `json:"challenge"`
	ClientID  string   `json:"client_id"`
	Scopes    []string `json:"requested_scope"`
	Audiences []string `json:"requested_access_token_audience"`
	// Subject is the user a consent is asked of; "" for a login.
	Subject     string    `json:"subject,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Answer is "", "accepted" or "rejected".
	Answer string `json:"answer,omitempty"`
}

// redirectView is the answer to an accept or a reject.
type redirectView struct {
	RedirectTo string `json:"redirect_to"`
}

// loginAnswer is the body of PUT …/login/requests/{challenge}/accept.
type loginAnswer struct {
	Subject  string `json:"subject"`
	Remember bool   `json:"remember"`
	ACR      string `json:"acr"`
}

// consentAnswer is the body of PUT …/consent/requests/{challenge}/accept.
type consentAnswer struct {
	GrantScope    []string       `json:"grant_scope"`
	GrantAudience []string       `json:"grant_access_token_audience"`
	Remember      bool           `json:"remember"`
	Session       consentSession `json:"session"`
}

// consentSession carries the extra claims of the access token.
type consentSession struct {
	AccessToken json.RawMessage `json:"access_token"`
}

// rejection is the body of PUT …/reject.
type rejection struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

var errAdminUnknownChallenge = &adminError{status: http.StatusNotFound, code: adminErrNotFound,
	description: "the challenge is unknown or expired"}

var errAdminAnswered = &adminError{status: http.StatusConflict, code: adminErrConflict,
	description: "the challenge was answered already; it takes one answer"}

// delegationError maps the errors of the delegation routes: an unknown
// challenge 404, an answered one 409; others as renderAdminError.
func delegationError(err error) error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return errAdminUnknownChallenge
	case errors.Is(err, domain.ErrChallengeAnswered):
		return errAdminAnswered
	}
	return err
}

// adminChallenge answers GET …/requests/{challenge}: 200 with the
// challenge, 404 for an unknown, expired or other kind's challenge.
func (s *server) adminChallenge(kind string) adminHandle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
		if s.delegation == nil {
			s.renderAdminError(w, r, errAdminUnknownChallenge)
			return
		}
		id := ps.ByName("challenge")
		c, err := s.delegation.Challenge(r.Context(), kind, id)
		if err != nil {
			s.renderAdminError(w, r, delegationError(err))
			return
		}
		writeJSON(w, http.StatusOK, challengeView{Challenge: id, ClientID: c.ClientID, Scopes: orEmpty(c.Scopes),
			Audiences: orEmpty(c.Audiences), Subject: c.Subject, RequestedAt: c.RequestedAt, ExpiresAt: c.ExpiresAt, Answer: c.Answer})
	}
}

// adminAnswer answers PUT …/accept (accept) and PUT …/reject: 200 with
// redirect_to, where the application sends the browser; 404 for an
// unknown or expired challenge, 409 for one answered already, 422 for a
// bad answer (a subject that is not a user, a scope not requested, …).
func (s *server) adminAnswer(kind string, accept bool) adminHandle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
		if s.delegation == nil {
			s.renderAdminError(w, r, errAdminUnknownChallenge)
			return
		}
		a := domain.ChallengeAnswer{Accept: accept}
		var err error
		switch {
		case !accept:
			var body rejection
			err = readAdminBody(w, r, maxAnswerBytes, &body)
			a.Error, a.Description = body.Error, body.Description
		case kind == domain.ChallengeLogin:
			var body loginAnswer
			err = readAdminBody(w, r, maxAnswerBytes, &body)
			a.Subject, a.Remember, a.ACR = body.Subject, body.Remember, body.ACR
		default:
			var body consentAnswer
			err = readAdminBody(w, r, maxAnswerBytes, &body)
			a.Scopes, a.Audiences, a.Remember, a.Ext = body.GrantScope, body.GrantAudience, body.Remember, body.Session.AccessToken
		}
		if err != nil {
			s.renderAdminError(w, r, err)
			return
		}
		id := ps.ByName("challenge")
		if _, err := s.delegation.AnswerChallenge(r.Context(), actor, kind, id, a); err != nil {
			s.renderAdminError(w, r, delegationError(err))
			return
		}
		writeJSON(w, http.StatusOK, redirectView{RedirectTo: withChallenge(strings.TrimSuffix(s.opts.Issuer, "/")+pathAuthorize, kind+"_challenge", id)})
	}
}
