package guard

import (
	"crypto/hmac"
	"net/http"
)

// The names stamp gives its cookie token (Passport's CreateFreshApiToken)
// and the CSRF value that goes with it.
const (
	// DefaultTokenCookie holds the cookie token: an access token of the
	// logged-in user, HttpOnly.
	DefaultTokenCookie = "stamp_token"
	// DefaultCSRFCookie holds the CSRF value, readable by the page's
	// scripts, which send it back in X-CSRF-TOKEN or X-XSRF-TOKEN.
	DefaultCSRFCookie = "XSRF-TOKEN"
)

// CookieAuth makes a guard accept, from a request without an
// Authorization header, the access token in a cookie: stamp's cookie
// token, for a first-party single-page app served from the same site as
// stamp and this API (Passport's CreateFreshApiToken). The token is
// checked as a bearer token would be (signature, expiry, audience,
// revocations, scopes); the request must also prove it comes from a page
// of the site, else it is treated as carrying no token (401).
//
// The token has stamp's cookie token's aud (the personal access client's
// id): a guard with Options.Audience refuses it.
type CookieAuth struct {
	// Name is the cookie holding the token; DefaultTokenCookie if empty.
	Name string
	// CSRFCookie is the cookie holding the CSRF value; DefaultCSRFCookie
	// if empty.
	CSRFCookie string
	// CheckCSRF, when set, replaces the default proof, which is the
	// CSRFCookie's value repeated in the X-CSRF-TOKEN (or X-XSRF-TOKEN)
	// header (double submit: another site can neither read the cookie nor
	// set the header). It reports whether r carries a valid proof.
	CheckCSRF func(r *http.Request) bool
}

// token returns the cookie's token when r carries it and the CSRF proof.
func (c *CookieAuth) token(r *http.Request) (string, bool) {
	name := c.Name
	if name == "" {
		name = DefaultTokenCookie
	}
	tok, err := r.Cookie(name)
	if err != nil || tok.Value == "" {
		return "", false
	}
	if c.CheckCSRF != nil {
		if !c.CheckCSRF(r) {
			return "", false
		}
		return tok.Value, true
	}
	csrfName := c.CSRFCookie
	if csrfName == "" {
		csrfName = DefaultCSRFCookie
	}
	want, err := r.Cookie(csrfName)
	got := r.Header.Get("X-CSRF-TOKEN")
	if got == "" {
		got = r.Header.Get("X-XSRF-TOKEN")
	}
	if err != nil || want.Value == "" || !hmac.Equal([]byte(got), []byte(want.Value)) {
		return "", false
	}
	return tok.Value, true
}
