package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// Login and consent delegation (Hydra's protocol shape; see
// domain/challenge.go). With Options.LoginURL set, /oauth/authorize sends
// a browser nobody is logged in with (or a request with prompt=login) to
// LoginURL?login_challenge=…; with Options.ConsentURL set, a request that
// needs the user's consent goes to ConsentURL?consent_challenge=…. The
// application answers through the admin API (delegation_admin.go), whose
// answer names redirect_to, /oauth/authorize?login_challenge=… (or
// consent_challenge=…), where the browser comes back and the flow goes on.
//
// A challenge is bound to the browser by the cookie browserCookie, set
// on the redirect to the application: a challenge brought back by another
// browser is refused. The cookie holds a random value; the log keeps its
// SHA-256.

// browserCookie names the cookie that binds challenges to a browser.
const browserCookie = "stamp_browser"

// Delegation is what login and consent delegation ask of the service
// (*domain.Service). Errors as domain documents them: ErrNotFound for an
// unknown or expired challenge, domain.ErrChallengeAnswered for one
// answered twice, *domain.ValidationError for a bad answer, and
// *domain.OAuthError (ErrInvalidRequest, to show) for a browser's return
// that is refused.
type Delegation interface {
	RequestLogin(ctx context.Context, p domain.AuthorizePrompt, browserHash string) (string, error)
	RequestConsent(ctx context.Context, p domain.AuthorizePrompt, user domain.User, browserHash string) (string, error)
	Challenge(ctx context.Context, kind, challenge string) (domain.Challenge, error)
	AnswerChallenge(ctx context.Context, actor domain.Actor, kind, challenge string, a domain.ChallengeAnswer) (domain.Challenge, error)
	CompleteLogin(ctx context.Context, challenge, browserHash string) (domain.LoginOutcome, error)
	CompleteConsent(ctx context.Context, challenge, browserHash string) (string, error)
}

// validateDelegationURL checks a login or consent URL: empty, or an
// absolute http(s) URL without fragment.
func validateDelegationURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("httpapi: %s %q is not an absolute http(s) URL without fragment", name, raw)
	}
	return nil
}

// withChallenge returns base with the query parameter name=challenge
// added to its own query.
func withChallenge(base, name, challenge string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + url.Values{name: {challenge}}.Encode()
}

// browserHash returns the SHA-256 of the request's binding cookie, or ""
// when it has none.
func browserHash(r *http.Request) string {
	c, err := r.Cookie(browserCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return ""
	}
	return domain.HashSecret(c.Value)
}

// bindBrowser returns the hash of the request's binding cookie, setting a
// new cookie first when the request has none. The cookie lasts as long as
// the browser session (HttpOnly, SameSite=Lax: the application's redirect
// back is a top-level navigation, which carries it).
func (s *server) bindBrowser(w http.ResponseWriter, r *http.Request) string {
	if h := browserHash(r); h != "" {
		return h
	}
	v := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: v, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.sessions.secure(r)})
	return domain.HashSecret(v)
}

// delegateLogin sends the browser to the application's login page when
// a login URL is set and the request needs a login: nobody is logged
// in, or prompt=login. It reports whether it answered.
func (s *server) delegateLogin(w http.ResponseWriter, r *http.Request, v visitor, p domain.AuthorizePrompt) bool {
	if s.opts.LoginURL == "" || s.delegation == nil || (v.user != nil && p.Request.Prompt != "login") {
		return false
	}
	challenge, err := s.delegation.RequestLogin(r.Context(), p, s.bindBrowser(w, r))
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusFound)
		return true
	}
	redirect(w, withChallenge(s.opts.LoginURL, "login_challenge", challenge), http.StatusFound)
	return true
}

// delegateConsent sends the browser to the application's consent page
// for user when a consent URL is set (p needs a consent: the caller has
// checked p.Skip). It reports whether it answered.
func (s *server) delegateConsent(w http.ResponseWriter, r *http.Request, v visitor, p domain.AuthorizePrompt, user domain.User) bool {
	if s.opts.ConsentURL == "" || s.delegation == nil {
		return false
	}
	challenge, err := s.delegation.RequestConsent(r.Context(), p, user, s.bindBrowser(w, r))
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusFound)
		return true
	}
	redirect(w, withChallenge(s.opts.ConsentURL, "consent_challenge", challenge), http.StatusFound)
	return true
}

// delegationReturn answers a browser coming back to /oauth/authorize
// with login_challenge or consent_challenge (the admin API's
// redirect_to), and reports whether the request was one.
//
//   - consent: the client's redirect URI with a code (or the error the
//     application rejected with);
//   - login rejected: the client's redirect URI with the error;
//   - login accepted: with remember, a session starts (a later
//     authorization in this browser skips the login); the request then
//     goes on for the user: approved at once when it may skip the
//     consent, else to the consent page (ConsentURL), else to the
//     built-in approval screen, which works on a session, so one starts
//     then even without remember.
//
// A challenge that is unknown, expired, used, unanswered or another
// browser's is an error page (400), never a redirect.
func (s *server) delegationReturn(w http.ResponseWriter, r *http.Request, v visitor, params map[string]string) bool {
	login, consent := params["login_challenge"], params["consent_challenge"]
	if login == "" && consent == "" {
		return false
	}
	if s.delegation == nil {
		s.renderPageError(w, r, v, domain.ErrInvalidRequest.WithDescription("login and consent delegation is not configured"))
		return true
	}
	if consent != "" {
		loc, err := s.delegation.CompleteConsent(r.Context(), consent, browserHash(r))
		if err != nil {
			s.authorizeError(w, r, v, err, http.StatusFound)
			return true
		}
		redirect(w, loc, http.StatusFound)
		return true
	}
	out, err := s.delegation.CompleteLogin(r.Context(), login, browserHash(r))
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusFound)
		return true
	}
	if out.Location != "" {
		redirect(w, out.Location, http.StatusFound)
		return true
	}
	user := out.User
	if out.Remember {
		s.startSession(w, r, &v, user)
	}
	p, err := s.web.Authorize(r.Context(), out.Request, &user)
	if err != nil {
		s.authorizeError(w, r, v, err, http.StatusFound)
		return true
	}
	switch {
	case p.Skip:
		loc, err := s.web.Approve(r.Context(), out.Request, user)
		if err != nil {
			s.authorizeError(w, r, v, err, http.StatusFound)
			return true
		}
		redirect(w, loc, http.StatusFound)
	case s.delegateConsent(w, r, v, p, user):
	default:
		if v.user == nil || v.user.ID != user.ID {
			s.startSession(w, r, &v, user)
		}
		redirect(w, s.base+pathAuthorize+"?"+fieldValues(authorizeFields(out.Request)).Encode(), http.StatusFound)
	}
	return true
}

// startSession starts a web session for user (a fresh CSRF token, as a
// login does) and makes v its visitor.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, v *visitor, user domain.User) {
	sess := s.sessions.login(user.ID)
	s.sessions.write(w, r, sess)
	*v = visitor{sess: sess, ok: true, user: &user}
}
