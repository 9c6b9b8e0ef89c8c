package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// wrongLogin is the one message a failed login shows, whether the account
// does not exist or the password is wrong.
const wrongLogin = "The email or password is wrong."

// visitor is who sent a browser request: the session it presented and
// the user that session is for.
type visitor struct {
	sess session      // zero when ok is false
	ok   bool         // the request carried a valid session cookie
	user *domain.User // nil for a guest
}

// visit resolves the session of r. A session whose user is unknown or
// deleted, or whose user changed since the login (a new password: a
// user's record changes only with its password or its deletion), or that
// was ended by a logout (in any browser holding a copy), or a login
// without a session id (written before sessions had one, so it cannot be
// ended), is void: the visitor is then a stranger (ok false). An error is
// a failure to read the user or the ended sessions, to render as
// unexpected.
func (s *server) visit(r *http.Request) (visitor, error) {
	sess, ok := s.sessions.read(r)
	if !ok {
		return visitor{}, nil
	}
	if !sess.loggedIn() {
		return visitor{sess: sess, ok: true}, nil
	}
	u, err := s.users.User(r.Context(), sess.UserID)
	if errors.Is(err, domain.ErrNotFound) || err == nil && (!u.Exists() || u.UpdatedAt.Unix() > sess.LoginAt) {
		return visitor{}, nil
	}
	if err != nil {
		return visitor{}, fmt.Errorf("httpapi: session user %s: %w", sess.UserID, err)
	}
	if sess.ID == "" {
		return visitor{}, nil
	}
	switch err := s.web.CheckSession(r.Context(), sess.ID); {
	case errors.Is(err, domain.ErrSessionEnded):
		return visitor{}, nil
	case err != nil:
		return visitor{}, fmt.Errorf("httpapi: session %s: %w", sess.ID, err)
	}
	return visitor{sess: sess, ok: true, user: &u}, nil
}

// loginView is the data of login.html.
type loginView struct {
	Next, Email, Message string
}

// loginPage answers GET /login?next=…: the login form, or, for a user
// already logged in, a redirect to next. A visitor without a session gets
// a guest session, whose CSRF token the form carries.
func (s *server) loginPage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, err := s.visit(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	next := localPath(r.URL.Query().Get("next"))
	if v.user != nil {
		redirect(w, s.orHome(next), http.StatusFound)
		return
	}
	if !v.ok {
		v.sess, v.ok = s.sessions.guest(), true
		s.sessions.write(w, r, v.sess)
	}
	s.render(w, r, http.StatusOK, pageLogin, "Log in", v, loginView{Next: next})
}

// login answers POST /login (email, password, _token, next). Success
// starts a new session (a fresh CSRF token), sets the cookie token and
// XSRF-TOKEN (startCookieToken) and redirects to next when it is a local
// path, else to the issuer's root, with 303 so the browser GETs it. A wrong email or password shows the form again (422) with one
// message that does not tell whether the account exists; too many failed
// attempts show it with a message and 429, no free password hashing slot
// with 503, both with Retry-After; a missing session or wrong _token 403.
func (s *server) login(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, form, ok := s.pageForm(w, r)
	if !ok {
		return
	}
	next := localPath(form["next"])
	if !v.ok || !v.sess.validCSRF(form["_token"]) {
		s.forbidden(w, r, v)
		return
	}
	view := loginView{Next: next, Email: form["email"], Message: wrongLogin}
	if form["email"] == "" || form["password"] == "" {
		s.render(w, r, http.StatusUnprocessableEntity, pageLogin, "Log in", v, view)
		return
	}
	u, err := s.web.AuthenticateUser(r.Context(), form["email"], form["password"], s.clientAddr(r))
	switch {
	case errors.Is(err, domain.ErrAccessDenied):
		s.render(w, r, http.StatusUnprocessableEntity, pageLogin, "Log in", v, view)
		return
	case errors.Is(err, domain.ErrRateLimited):
		view.Message = "Too many failed attempts. Wait " + waitText(setRetryAfter(w, err)) + ", then try again."
		s.render(w, r, http.StatusTooManyRequests, pageLogin, "Log in", v, view)
		return
	case errors.Is(err, domain.ErrTemporarilyUnavailable):
		view.Message = "The server is busy. Wait " + waitText(setRetryAfter(w, err)) + ", then try again."
		s.render(w, r, http.StatusServiceUnavailable, pageLogin, "Log in", v, view)
		return
	case err != nil:
		s.renderPageError(w, r, v, err)
		return
	}
	sess := s.sessions.login(u.ID)
	s.sessions.write(w, r, sess)
	s.startCookieToken(w, r, sess)
	redirect(w, s.orHome(next), http.StatusSeeOther)
}

// logout answers POST /logout (_token): it ends the session and revokes
// the cookie token (so, unlike Passport's, both fail at once, wherever
// they were copied), deletes the session cookie, the cookie token and
// XSRF-TOKEN, and redirects to the login page. A logged-in session must
// present its CSRF token (403 otherwise), so another site cannot log the
// user out. If the session cannot be ended or the cookie token revoked,
// the answer is an error page and every cookie stays, so that logging out
// again retries.
func (s *server) logout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, form, ok := s.pageForm(w, r)
	if !ok {
		return
	}
	if v.user != nil && !v.sess.validCSRF(form["_token"]) {
		s.forbidden(w, r, v)
		return
	}
	if v.user != nil {
		if err := s.web.EndSession(r.Context(), v.sess.ID, v.user.ID, time.Unix(v.sess.Expires, 0)); err != nil {
			s.renderPageError(w, r, v, err)
			return
		}
	}
	if err := s.endCookieToken(r); err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	s.sessions.clear(w, r)
	s.clearTokenCookies(w, r)
	redirect(w, s.base+pathLogin, http.StatusSeeOther)
}

// toLogin redirects to the login page, which sends the user to back
// after logging in.
func (s *server) toLogin(w http.ResponseWriter, back string) {
	redirect(w, s.base+pathLogin+"?"+url.Values{"next": {back}}.Encode(), http.StatusFound)
}

// orHome returns next, or the issuer's root when next is "".
func (s *server) orHome(next string) string {
	if next == "" {
		return s.base + "/"
	}
	return next
}

// localPath returns p when it is a path on this server, and "" otherwise,
// so a login can never redirect to another site. It must start with one
// "/" ("//host" is another host) and hold no control character or
// backslash: browsers drop tabs and newlines and read "\" as "/", so
// "/\evil.com" and "/\t/evil.com" both mean "//evil.com".
func localPath(p string) string {
	if len(p) > 4096 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return ""
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return p
}
