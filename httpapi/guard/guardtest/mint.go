package guardtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// Spec describes a token to Mint. Its zero fields take the Authority's
// defaults.
type Spec struct {
	// Subject is the user the token acts for; empty for a
	// client-credentials token, which acts for its client.
	Subject string
	// ClientID is the client the token is issued to; the Authority's
	// (DefaultClientID unless WithClient) if empty.
	ClientID string
	// Scopes are the scopes granted; "*" grants every scope.
	Scopes []string
	// Audience is the token's aud; the Authority's audience if set
	// (WithAudience), else the client id, as stamp does.
	Audience []string
	// ExpiresIn is the lifetime from now; the Authority's expiry if zero.
	// A negative one mints a token that has already expired.
	ExpiresIn time.Duration
	// ID is the jti; a fresh one if empty.
	ID string
	// Issuer is the iss; the Authority's if empty (set another to test a
	// token from a foreign server).
	Issuer string
}

// Mint returns a signed access token for spec, failing the test if it
// cannot.
func (a *Authority) Mint(spec Spec) string {
	a.t.Helper()
	c := a.claims(spec)
	raw, err := a.signer.Sign(c)
	if err != nil {
		a.t.Fatalf("guardtest: mint: %v", err)
	}
	return raw
}

func (a *Authority) claims(spec Spec) domain.Claims {
	if spec.ClientID == "" {
		spec.ClientID = a.cfg.client
	}
	if spec.Issuer == "" {
		spec.Issuer = a.cfg.issuer
	}
	if spec.ExpiresIn == 0 {
		spec.ExpiresIn = a.cfg.expiry
	}
	if spec.ID == "" {
		spec.ID = "guardtest-" + strconv.FormatUint(a.seq.Add(1), 10)
	}
	aud := domain.Audience(spec.Audience)
	switch {
	case len(aud) > 0:
	case a.cfg.audience != "":
		aud = domain.Audience{a.cfg.audience}
	default:
		aud = domain.Audience{spec.ClientID}
	}
	sub := spec.Subject
	if sub == "" {
		sub = spec.ClientID
	}
	now := a.cfg.now().Truncate(time.Second)
	exp := now.Add(spec.ExpiresIn)
	issued := now
	if !exp.After(now) {
		issued = exp.Add(-time.Hour) // an expired token was valid once
	}
	scopes := append([]string{}, spec.Scopes...)
	return domain.Claims{
		Issuer: spec.Issuer, Audience: aud, Subject: sub, ClientID: spec.ClientID, ID: spec.ID,
		IssuedAt: issued.Unix(), NotBefore: issued.Unix(), Expiry: exp.Unix(),
		Scopes: scopes, Scope: domain.FormatScope(scopes),
	}
}

// ActingAs returns a bearer token acting for user, issued to the
// Authority's client and granting scopes (Passport::actingAs).
func (a *Authority) ActingAs(user string, scopes ...string) string {
	a.t.Helper()
	return a.Mint(Spec{Subject: user, Scopes: scopes})
}

// ActingAsClient returns a client-credentials bearer token of client,
// granting scopes (Passport::actingAsClient).
func (a *Authority) ActingAsClient(client string, scopes ...string) string {
	a.t.Helper()
	return a.Mint(Spec{ClientID: client, Scopes: scopes})
}

// Revoke makes the token (as Mint returned it) stop validating, through
// the Feed.
func (a *Authority) Revoke(token string) {
	a.t.Helper()
	a.Feed.Revoke(a.ID(token))
}

// ID returns the jti of a token Mint returned, failing the test for
// anything else.
func (a *Authority) ID(token string) string {
	a.t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		a.t.Fatalf("guardtest: %q is not a compact JWS", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c domain.Claims
	if err == nil {
		err = json.Unmarshal(payload, &c)
	}
	if err != nil || c.ID == "" {
		a.t.Fatalf("guardtest: read the jti of a token: %v", err)
	}
	return c.ID
}

// Authorize sets r's Authorization header to carry token as a bearer
// token (RFC 6750 §2.1) and returns r.
func Authorize(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// testCSRF is the CSRF value WithCookieToken sends.
const testCSRF = "guardtest-csrf"

// WithCookieToken makes r carry token the way stamp's dashboard sends its
// cookie token: in the guard.DefaultTokenCookie cookie, with the
// guard.DefaultCSRFCookie cookie and the same value in X-CSRF-TOKEN. A
// guard accepts it only with Options.AcceptCookie (see WithGuardOptions).
// It returns r.
func WithCookieToken(r *http.Request, token string) *http.Request {
	r.AddCookie(&http.Cookie{Name: guard.DefaultTokenCookie, Value: token})
	r.AddCookie(&http.Cookie{Name: guard.DefaultCSRFCookie, Value: testCSRF})
	r.Header.Set("X-CSRF-TOKEN", testCSRF)
	return r
}
