package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// The cookies of Passport's CreateFreshApiToken, as stamp sets them.
const (
	// tokenCookie holds the cookie token: a real access token of the
	// logged-in user (domain.GrantSession, scope "*"), HttpOnly, living
	// domain.SessionTokenLifetime; POST /oauth/token/refresh renews it.
	tokenCookie = "stamp_token"
	// xsrfCookie holds the CSRF value JavaScript sends back in
	// X-CSRF-TOKEN (or X-XSRF-TOKEN): the session's CSRF token. It is
	// readable by scripts on purpose, as Laravel's XSRF-TOKEN is.
	xsrfCookie = "XSRF-TOKEN"
)

// pathTokenRefresh is Passport's route renewing the cookie token.
const pathTokenRefresh = "/oauth/token/refresh"

// setTokenCookies sets the cookie token raw (none when raw is "") and the
// XSRF-TOKEN cookie csrf. XSRF-TOKEN lives as long as the longer of the
// session (expires, unix seconds; 0 for none) and the cookie token, so
// the value stays readable while either can be used.
func (s *server) setTokenCookies(w http.ResponseWriter, r *http.Request, raw, csrf string, expires int64) {
	tokenAge := int(domain.SessionTokenLifetime / time.Second)
	if raw != "" {
		http.SetCookie(w, s.apiCookie(r, tokenCookie, raw, tokenAge, true))
	}
	xsrfAge := max(int(expires-s.opts.Now().Unix()), tokenAge)
	http.SetCookie(w, s.apiCookie(r, xsrfCookie, csrf, xsrfAge, false))
}

// clearTokenCookies deletes both cookies.
func (s *server) clearTokenCookies(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.apiCookie(r, tokenCookie, "", -1, true))
	http.SetCookie(w, s.apiCookie(r, xsrfCookie, "", -1, false))
}

// apiCookie returns a cookie for the whole site, SameSite=Lax and Secure
// as the session cookie is.
func (s *server) apiCookie(r *http.Request, name, value string, maxAge int, httpOnly bool) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: httpOnly, SameSite: http.SameSiteLaxMode, Secure: s.sessions.secure(r),
	}
}

// startCookieToken runs after a successful login: it issues the user's
// cookie token and sets it with XSRF-TOKEN (the new session's CSRF
// token). The login stands whatever happens here: without a token
// (no personal access client, or a failure) the dashboard still works
// with the session and XSRF-TOKEN, and a stale cookie token of an
// earlier login is deleted. A missing personal access client is logged
// once per process, any other failure each time, both as warnings.
func (s *server) startCookieToken(w http.ResponseWriter, r *http.Request, sess session) {
	raw, _, err := s.api.IssueSessionToken(r.Context(), sess.UserID)
	if err != nil {
		if errors.Is(err, domain.ErrNoPersonalAccessClient) {
			if !s.noPersonalClientLogged.Swap(true) {
				s.log.WarnContext(r.Context(), "httpapi: logins get no cookie token until a personal access client exists", "error", err)
			}
		} else {
			s.log.WarnContext(r.Context(), "httpapi: issue cookie token", "user", sess.UserID, "error", err)
		}
		http.SetCookie(w, s.apiCookie(r, tokenCookie, "", -1, true))
	}
	s.setTokenCookies(w, r, raw, sess.CSRF, sess.Expires)
}

// endCookieToken revokes the request's cookie token, if any, at logout.
// An invalid token is not an error; a failure to revoke is.
func (s *server) endCookieToken(r *http.Request) error {
	raw := cookieValue(r, tokenCookie)
	if raw == "" {
		return nil
	}
	return s.api.EndSessionToken(r.Context(), raw)
}

// refreshed is the answer of POST /oauth/token/refresh.
type refreshed struct {
	Message   string    `json:"message"`
	ExpiresAt time.Time `json:"expires_at"`
}

// refreshCookieToken answers POST /oauth/token/refresh (Passport's
// TransientTokenController): a new cookie token replaces the request's.
//
// Authenticated by the cookie token, that token is rotated
// (RefreshSessionToken: revoked, successor issued). Authenticated by the
// session, the cookie token is rotated when it still validates, and
// otherwise (expired, absent) a new one is issued, so a dashboard left
// idle longer than the token lives recovers while its session lasts. A
// bearer token has no cookie to refresh: 403.
//
// Success is 200 {"message": "Refreshed.", "expires_at"} with the new
// stamp_token and XSRF-TOKEN cookies.
func (s *server) refreshCookieToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	var (
		raw     string
		t       domain.AccessToken
		err     error
		csrf    string
		expires int64
	)
	switch p.via {
	case viaCookieToken:
		raw, t, err = s.api.RefreshSessionToken(r.Context(), p.token)
		csrf = cookieValue(r, xsrfCookie)
	case viaSession:
		raw, t, err = s.renewForSession(r, p.userID)
		csrf, expires = p.sess.CSRF, p.sess.Expires
	default:
		err = errNoUser
	}
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	s.setTokenCookies(w, r, raw, csrf, expires)
	s.respond(w, r, http.StatusOK, refreshed{Message: "Refreshed.", ExpiresAt: t.ExpiresAt})
}

// renewForSession rotates the request's cookie token if it still
// validates, and otherwise issues userID a new one.
func (s *server) renewForSession(r *http.Request, userID string) (string, domain.AccessToken, error) {
	if old := cookieValue(r, tokenCookie); old != "" {
		raw, t, err := s.api.RefreshSessionToken(r.Context(), old)
		if err == nil && t.UserID == userID {
			return raw, t, nil
		}
		if err == nil {
			// Another user's token in this browser: retire it too.
			if err := s.api.EndSessionToken(r.Context(), raw); err != nil {
				return "", domain.AccessToken{}, err
			}
		} else if !errors.Is(err, domain.ErrInvalidToken) {
			return "", domain.AccessToken{}, err
		}
	}
	return s.api.IssueSessionToken(r.Context(), userID)
}
