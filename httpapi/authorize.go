package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// Screen token purposes: a token shown on one screen is worthless on the
// other.
const (
	screenAuthorize = "authorize"
	screenDevice    = "device"
)

// authorizeParams are the parameters of an authorization request, in the
// order the approval screen carries them.
var authorizeParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "prompt", paramResource,
}

// authorizeRequest takes an authorization request out of parsed
// parameters; others are ignored.
func authorizeRequest(p map[string]string) domain.AuthorizeRequest {
	return domain.AuthorizeRequest{
		ResponseType: p["response_type"], ClientID: p["client_id"], RedirectURI: p["redirect_uri"],
		Scope: p["scope"], State: p["state"], CodeChallenge: p["code_challenge"],
		CodeChallengeMethod: p["code_challenge_method"], Prompt: p["prompt"], Resource: p[paramResource],
	}
}

// authorizeFields returns the non-empty parameters of req in
// authorizeParams order: the approval screen's hidden fields, and what
// its screen token signs.
func authorizeFields(req domain.AuthorizeRequest) []field {
	values := []string{req.ResponseType, req.ClientID, req.RedirectURI, req.Scope, req.State,
		req.CodeChallenge, req.CodeChallengeMethod, req.Prompt, req.Resource}
	var out []field
	for i, v := range values {
		if v != "" {
			out = append(out, field{authorizeParams[i], v})
		}
	}
	return out
}

// fieldValues returns fields as url.Values.
func fieldValues(fields []field) url.Values {
	v := url.Values{}
	for _, f := range fields {
		v.Set(f.Name, f.Value)
	}
	return v
}

// authorizeView is the data of authorize.html.
type authorizeView struct {
	Client      string
	Scopes      []string
	Destination string
	Hidden      []field
}

// authorize answers GET /oauth/authorize (RFC 6749 §4.1.1, §4.2.1), as
// Passport does:
//
//   - a request the service refuses: a *domain.RedirectError is sent to
//     the client (302 to its redirect URI, with iss per RFC 9207); any
//     other error is an HTML page and never a redirect, since the
//     redirect URI is not known to be the client's;
//   - nobody logged in: 302 to the login page, which comes back here;
//   - prompt=login: the session ends and the user logs in again, coming
//     back without prompt=login so the login is forced once;
//   - a request that may skip approval (first-party client, or scopes
//     already approved): approved at once, 302 to the client;
//   - otherwise the approval screen, whose forms carry the request, the
//     session's CSRF token (_token) and a screen token (auth_token).
func (s *server) authorize(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, err := s.visit(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	params, err := readQuery(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	if s.delegationReturn(w, r, v, params) { // see delegation.go
		return
	}
	req := authorizeRequest(params)
	p, err := s.web.Authorize(r.Context(), req, v.user)
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusFound)
		return
	}
	if s.delegateLogin(w, r, v, p) {
		return
	}
	switch {
	case v.user == nil:
		s.toLogin(w, s.authorizeAgain(r, req))
		return
	case req.Prompt == "login":
		s.sessions.clear(w, r)
		s.toLogin(w, s.authorizeAgain(r, req))
		return
	case p.Skip:
		loc, err := s.web.Approve(r.Context(), req, *v.user)
		if err != nil {
			s.authorizeError(w, r, v, err, http.StatusFound)
			return
		}
		redirect(w, loc, http.StatusFound)
		return
	case s.delegateConsent(w, r, v, p, *v.user):
		return
	}
	fields := authorizeFields(req)
	token := s.sessions.screenToken(v.sess, screenAuthorize, fieldValues(fields))
	name := p.Client.Name
	if name == "" {
		name = p.Client.ID
	}
	s.render(w, r, http.StatusOK, pageAuthorize, "Authorization request", v, authorizeView{
		Client:      name,
		Scopes:      scopeLabels(p.Scopes, nil),
		Destination: destination(p.RedirectURI),
		Hidden:      append(fields, field{"_token", v.sess.CSRF}, field{"auth_token", token}),
	})
}

// decideAuthorization answers the approval screen's forms:
// POST /oauth/authorize approves, DELETE /oauth/authorize denies, and so
// does a POST whose form has _method=DELETE (HTML forms cannot send
// DELETE; the override is read only here and only from the body). It
// needs a logged-in session, its CSRF token (_token) and the screen token
// (auth_token) of the same request; any check failing is 403.
//
// An approval is single-use (domain.AuthorizeRequest.ApprovalKey): the
// same form posted again is an error page, not a second code.
//
// The answer is 303 to where the service says (the client's redirect URI
// with a code, a token or access_denied): 303 rather than 302 so the
// browser follows with GET, never re-sending the form or a DELETE to the
// client (RFC 9700 §4.12).
func (s *server) decideAuthorization(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, form, ok := s.pageForm(w, r)
	if !ok {
		return
	}
	deny := r.Method == http.MethodDelete
	if r.Method == http.MethodPost {
		switch strings.ToUpper(form["_method"]) {
		case "", http.MethodPost:
		case http.MethodDelete:
			deny = true
		default:
			s.renderPageError(w, r, v, domain.ErrInvalidRequest.WithDescription("_method must be DELETE"))
			return
		}
	}
	req := authorizeRequest(form)
	if v.user == nil || !v.sess.validCSRF(form["_token"]) ||
		!s.sessions.validScreen(v.sess, screenAuthorize, fieldValues(authorizeFields(req)), form["auth_token"]) {
		s.forbidden(w, r, v)
		return
	}
	decide := s.web.Approve
	if deny {
		decide = s.web.Deny
	} else {
		// One screen, one code: a form posted twice (a double click, a
		// replay) mints no second code; the second post is an error page.
		req.ApprovalKey = form["auth_token"]
	}
	loc, err := decide(r.Context(), req, *v.user)
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusSeeOther)
		return
	}
	redirect(w, loc, http.StatusSeeOther)
}

// authorizeError redirects a *domain.RedirectError to the client with
// code, and renders any other error as a page.
func (s *server) authorizeError(w http.ResponseWriter, r *http.Request, v visitor, err error, code int) {
	var re *domain.RedirectError
	if errors.As(err, &re) {
		redirect(w, re.Location(s.opts.Issuer), code)
		return
	}
	s.renderPageError(w, r, v, err)
}

// authorizeAgain returns the path and query of r to come back to after
// logging in, without prompt=login, so the login it forced is not forced
// again.
func (s *server) authorizeAgain(r *http.Request, req domain.AuthorizeRequest) string {
	q := r.URL.Query()
	if req.Prompt == "login" {
		q.Del("prompt")
	}
	back := s.base + r.URL.Path
	if len(q) > 0 {
		back += "?" + q.Encode()
	}
	return back
}

// scopeLabels returns what a screen shows for each scope: its
// description, else its id, else ids[i] (the id a scope no longer in the
// catalogue had).
func scopeLabels(scopes []domain.Scope, ids []string) []string {
	out := make([]string, 0, len(scopes))
	for i, sc := range scopes {
		label := sc.Description
		if label == "" {
			label = sc.ID
		}
		if label == "" && i < len(ids) {
			label = ids[i]
		}
		if label != "" {
			out = append(out, label)
		}
	}
	return out
}

// destination names where a redirect URI leads, for the user: the scheme
// and host of a web address, else the URI without query or fragment (an
// app's custom scheme).
func destination(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	before, _, _ := strings.Cut(redirectURI, "?")
	before, _, _ = strings.Cut(before, "#")
	return before
}
