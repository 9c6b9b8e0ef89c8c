package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionCookie names the browser session cookie.
const sessionCookie = "stamp_session"

// maxCookieLen bounds the cookie value decoded; a real one is ~200 bytes.
const maxCookieLen = 1024

// session is what the session cookie holds: nothing secret, but signed,
// so only this server can have written it. A guest session (no UserID)
// carries just the CSRF token of the login form.
//
// A login's session has a random ID. Logging out records the end of that
// ID in the log (Sessions.EndSession), so every copy of the cookie is
// refused from then on, on every instance; a copy is also void once it
// expires, its user's password changes or its user is deleted, or the
// session key changes.
type session struct {
	ID      string `json:"sid,omitempty"` // a login's id; "" for a guest
	UserID  string `json:"uid,omitempty"`
	LoginAt int64  `json:"iat,omitempty"` // unix seconds of the login
	Expires int64  `json:"exp"`           // unix seconds
	CSRF    string `json:"csrf"`
}

// loggedIn reports whether s names a user.
func (s session) loggedIn() bool { return s.UserID != "" }

// validCSRF reports whether token is s's CSRF token, in constant time.
func (s session) validCSRF(token string) bool {
	return token != "" && s.CSRF != "" && hmac.Equal([]byte(token), []byte(s.CSRF))
}

// sessions creates, signs, reads and writes session cookies, and derives
// the screen tokens that bind a form to the page that showed it. It is
// immutable and safe for concurrent use.
type sessions struct {
	cookieKey   []byte // HMAC key of the cookie
	screenKey   []byte // HMAC key of screen tokens
	lifetime    time.Duration
	now         func() time.Time
	httpsIssuer bool
	// fromProxy reports whether a request's X-Forwarded-Proto may be
	// believed; nil: never.
	fromProxy func(*http.Request) bool
}

// newSessions returns the session manager for key (at least 32 bytes).
// Two keys are derived from it, one per use, so a cookie MAC can never
// be replayed as a screen token or the other way round.
func newSessions(key []byte, lifetime time.Duration, now func() time.Time, httpsIssuer bool, fromProxy func(*http.Request) bool) *sessions {
	return &sessions{
		cookieKey:   deriveKey(key, "stamp session cookie v1"),
		screenKey:   deriveKey(key, "stamp screen token v1"),
		lifetime:    lifetime,
		now:         now,
		httpsIssuer: httpsIssuer,
		fromProxy:   fromProxy,
	}
}

func deriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// guest returns a new session for a visitor who is not logged in.
func (m *sessions) guest() session {
	return session{Expires: m.now().Add(m.lifetime).Unix(), CSRF: rand.Text()}
}

// login returns a new session for userID. Its CSRF token is fresh: the
// guest session's token is never carried over (session fixation).
func (m *sessions) login(userID string) session {
	now := m.now()
	return session{ID: rand.Text(), UserID: userID, LoginAt: now.Unix(), Expires: now.Add(m.lifetime).Unix(), CSRF: rand.Text()}
}

// encode returns the cookie value of s: base64url(JSON) "." base64url(MAC).
func (m *sessions) encode(s session) string {
	b, _ := json.Marshal(s) // strings and integers always encode
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.mac(payload))
}

func (m *sessions) mac(payload string) []byte {
	h := hmac.New(sha256.New, m.cookieKey)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// decode returns the session of a cookie value, and false when the value
// is malformed, not signed by this key, or expired.
func (m *sessions) decode(v string) (session, bool) {
	if len(v) > maxCookieLen {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, m.mac(payload)) {
		return session{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil || s.CSRF == "" || m.now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// read returns the request's session, and false when it has no valid one.
func (m *sessions) read(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return m.decode(c.Value)
}

// write sets the cookie of s, expiring with it.
func (m *sessions) write(w http.ResponseWriter, r *http.Request, s session) {
	maxAge := int(s.Expires - m.now().Unix())
	if maxAge <= 0 {
		m.clear(w, r)
		return
	}
	http.SetCookie(w, m.cookie(r, m.encode(s), maxAge))
}

// clear deletes the session cookie.
func (m *sessions) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, m.cookie(r, "", -1))
}

func (m *sessions) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: m.secure(r),
	}
}

// secure reports whether the cookie must be Secure: the issuer is https,
// or the request came over TLS (or, behind a trusted proxy, said so).
func (m *sessions) secure(r *http.Request) bool {
	if m.httpsIssuer || r.TLS != nil {
		return true
	}
	if m.fromProxy == nil || !m.fromProxy(r) {
		return false
	}
	protos := strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}

// screenToken returns the token a page puts in its form (Passport's
// auth_token): an HMAC of the purpose, the session (user and CSRF token)
// and the parameters the page showed. A form posted back must carry it,
// so a decision applies to the screen the user saw, in this session, with
// exactly those parameters (a changed scope or redirect_uri fails).
func (m *sessions) screenToken(s session, purpose string, params url.Values) string {
	h := hmac.New(sha256.New, m.screenKey)
	for _, part := range []string{purpose, s.UserID, s.CSRF, params.Encode()} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// validScreen reports whether token is the screen token of s, purpose and
// params, in constant time.
func (m *sessions) validScreen(s session, purpose string, params url.Values, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(m.screenToken(s, purpose, params)))
}
