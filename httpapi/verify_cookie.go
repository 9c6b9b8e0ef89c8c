package httpapi

import (
	"crypto/hmac"
	"fmt"
	"net/http"

	"github.com/stamp-oauth/stamp/domain"
)

// errNotCookieToken: a token in the stamp_token cookie that validates but
// is not a cookie token (domain.GrantSession, of a user). Only cookie
// tokens ride in the cookie; anything else put there is refused as
// invalid.
var errNotCookieToken = fmt.Errorf("%w: not a cookie token", domain.ErrInvalidToken)

// cookieToken returns the request's cookie token when the request proves
// it comes from a page of this site, as the JSON API demands (double
// submit): the XSRF-TOKEN cookie's value repeated in X-CSRF-TOKEN or
// X-XSRF-TOKEN, which another site can neither read nor set. Without that
// proof, or without the cookie, it returns false. The caller still
// validates the token and checks it is a cookie token.
func cookieToken(r *http.Request) (string, bool) {
	raw, xsrf := cookieValue(r, tokenCookie), cookieValue(r, xsrfCookie)
	csrf := r.Header.Get(headerCSRF)
	if csrf == "" {
		csrf = r.Header.Get(headerXSRF)
	}
	if raw == "" || csrf == "" || !hmac.Equal([]byte(csrf), []byte(xsrf)) {
		return "", false
	}
	return raw, true
}
