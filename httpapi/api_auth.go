package httpapi

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// The JSON API's CSRF headers: Passport's X-CSRF-TOKEN, and X-XSRF-TOKEN,
// which axios and Angular send on their own with the XSRF-TOKEN cookie's
// value.
const (
	headerCSRF = "X-CSRF-TOKEN"
	headerXSRF = "X-XSRF-TOKEN"
)

// authVia says how a JSON API request authenticated.
type authVia int

const (
	viaSession     authVia = iota + 1 // the session cookie and its CSRF token
	viaCookieToken                    // the cookie token and the XSRF-TOKEN value
	viaBearer                         // Authorization: Bearer
)

// principal is the user a JSON API request acts for, and how it proved it.
type principal struct {
	userID string
	via    authVia
	sess   session // viaSession: the session
	token  string  // viaCookieToken: the cookie token
}

// actor is the principal as the events record it.
func (p principal) actor() domain.Actor { return domain.Actor{Kind: domain.ActorUser, ID: p.userID} }

// apiHandle is a JSON API handler, called once the request authenticated.
type apiHandle func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, p principal)

// authed wraps h in the JSON API's authentication, which is Passport's
// TokenGuard plus the session:
//
//   - Authorization: Bearer: the token must validate (401 invalid_token
//     otherwise), belong to a user (a client credentials token is 403) and
//     carry "*" (403 insufficient_scope otherwise). The JSON API manages a
//     user's clients and tokens, so an application that was granted, say,
//     "orders" must not reach it; first-party tokens (password, personal
//     access, cookie) can carry "*".
//   - otherwise the session cookie of a logged-in user, with its CSRF
//     token in X-CSRF-TOKEN (or X-XSRF-TOKEN);
//   - otherwise the cookie token (stamp_token), a valid session token,
//     with the XSRF-TOKEN cookie's value in the header (double submit;
//     another site can neither read that cookie nor set the header).
//
// The cookie paths need the header on every method, GET included, as
// Passport does; without it the answer is 401 {"message":"Unauthenticated."}.
// Every answer is marked no-store.
func (s *server) authed(h apiHandle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		noStore(w)
		p, err := s.authenticate(r)
		if err != nil {
			s.renderAPIError(w, r, err)
			return
		}
		h(w, r, ps, p)
	}
}

// authenticate returns the principal of a JSON API request, an *apiError
// refusing it, or a failure to check.
func (s *server) authenticate(r *http.Request) (principal, error) {
	if raw, ok := bearerToken(r); ok {
		return s.bearerPrincipal(r, raw)
	}
	csrf := r.Header.Get(headerCSRF)
	if csrf == "" {
		csrf = r.Header.Get(headerXSRF)
	}
	v, err := s.visit(r)
	if err != nil {
		return principal{}, err
	}
	if v.user != nil {
		if !v.sess.validCSRF(csrf) {
			return principal{}, errUnauthenticated
		}
		return principal{userID: v.user.ID, via: viaSession, sess: v.sess}, nil
	}
	raw, xsrf := cookieValue(r, tokenCookie), cookieValue(r, xsrfCookie)
	if raw == "" || csrf == "" || !hmac.Equal([]byte(csrf), []byte(xsrf)) {
		return principal{}, errUnauthenticated
	}
	if err := s.staleGate(); err != nil {
		return principal{}, err
	}
	t, _, err := s.validator.ValidateAccessToken(r.Context(), raw)
	switch {
	case errors.Is(err, domain.ErrInvalidToken):
		return principal{}, errUnauthenticated
	case err != nil:
		return principal{}, err
	case t.GrantType != domain.GrantSession || t.UserID == "":
		return principal{}, errUnauthenticated
	}
	return principal{userID: t.UserID, via: viaCookieToken, token: raw}, nil
}

// bearerPrincipal checks a bearer token for the JSON API.
func (s *server) bearerPrincipal(r *http.Request, raw string) (principal, error) {
	if raw == "" {
		return principal{}, errInvalidBearer
	}
	if err := s.staleGate(); err != nil {
		return principal{}, err
	}
	t, _, err := s.validator.ValidateAccessToken(r.Context(), raw)
	switch {
	case errors.Is(err, domain.ErrInvalidToken):
		return principal{}, errInvalidBearer
	case err != nil:
		return principal{}, err
	case t.UserID == "":
		return principal{}, errNoUser
	case !domain.ScopesAllow(t.Scopes, domain.WildcardScope):
		return principal{}, errNeedsWildcard
	}
	return principal{userID: t.UserID, via: viaBearer}, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header
// (RFC 6750 §2.1; the scheme is case-insensitive), and false when the
// request has no such header. The token may be "" (a malformed header).
// It does not allocate.
func bearerToken(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer"
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", false
	}
	rest := auth[len(prefix):]
	if rest != "" && rest[0] != ' ' {
		return "", false // another scheme, such as "Bearerx"
	}
	return strings.TrimSpace(rest), true
}

// maxCookieToken bounds a cookie token read: a JWT of stamp's is under a
// kilobyte, and browsers keep no cookie over 4 KiB.
const maxCookieToken = 4096

// cookieValue returns the value of the named cookie, or "" when there is
// none or it is too long to be ours.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > maxCookieToken {
		return ""
	}
	return c.Value
}
