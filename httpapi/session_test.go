package httpapi

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testSessions(now *time.Time, httpsIssuer, trustProxy bool) *sessions {
	return newSessions(testSessionKey, time.Hour, func() time.Time { return *now }, httpsIssuer, func(*http.Request) bool { return trustProxy })
}

func TestSessionRoundTrip(t *testing.T) {
	now := testNow
	m := testSessions(&now, true, false)
	for _, s := range []session{m.guest(), m.login("user-1")} {
		got, ok := m.decode(m.encode(s))
		if !ok || got != s {
			t.Errorf("decode(encode(%+v)): got %+v, %v; want it back", s, got, ok)
		}
	}
	s := m.login("user-1")
	if s.LoginAt != testNow.Unix() || s.Expires != testNow.Add(time.Hour).Unix() || !s.loggedIn() {
		t.Errorf("login: got %+v; want logged in at now, expiring in an hour", s)
	}
	if g := m.guest(); g.loggedIn() || g.CSRF == "" || g.CSRF == s.CSRF {
		t.Errorf("guest: got %+v; want no user and its own CSRF token", g)
	}
}

func TestSessionDecodeRejects(t *testing.T) {
	now := testNow
	m := testSessions(&now, true, false)
	good := m.encode(m.login("user-1"))
	payload, sig, _ := strings.Cut(good, ".")
	forged := func(s session) string {
		b := base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"` + s.UserID + `","exp":` + "9999999999" + `,"csrf":"x"}`))
		return b + "." + sig
	}
	otherKey := newSessions([]byte(strings.Repeat("k", 32)), time.Hour, func() time.Time { return now }, true, nil)
	tests := map[string]string{
		"empty":             "",
		"no signature":      payload,
		"bad signature":     payload + ".AAAA",
		"bad base64":        payload + ".!!!",
		"payload swapped":   forged(session{UserID: "admin"}),
		"another key":       otherKey.encode(otherKey.login("user-1")),
		"too long":          good + strings.Repeat("A", maxCookieLen),
		"signed not json":   signed(m, "bm90IGpzb24"),
		"signed, no csrf":   signed(m, base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"u","exp":9999999999}`))),
		"signed, bad b64":   signed(m, "***"),
		"signed, expired":   m.encode(session{UserID: "u", Expires: testNow.Unix(), CSRF: "x"}),
		"signed, no expiry": m.encode(session{UserID: "u", CSRF: "x"}),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			if s, ok := m.decode(v); ok {
				t.Errorf("decode: got %+v; want rejected", s)
			}
		})
	}
	if _, ok := m.decode(good); !ok {
		t.Fatal("decode of the good cookie: rejected")
	}
	now = testNow.Add(time.Hour)
	if _, ok := m.decode(good); ok {
		t.Error("decode at expiry: accepted; want rejected")
	}
}

// signed returns payload with a valid MAC.
func signed(m *sessions, payload string) string {
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.mac(payload))
}

func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		name        string
		httpsIssuer bool
		trustProxy  bool
		edit        func(*http.Request)
		secure      bool
	}{
		{name: "https issuer", httpsIssuer: true, secure: true},
		{name: "http issuer", secure: false},
		{name: "http issuer over TLS", edit: func(r *http.Request) { r.TLS = &tls.ConnectionState{} }, secure: true},
		{name: "forwarded https, untrusted", edit: func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }, secure: false},
		{name: "forwarded https, trusted", trustProxy: true, edit: func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }, secure: true},
		{name: "forwarded http, trusted", trustProxy: true, edit: func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "http") }, secure: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			m := testSessions(&now, tt.httpsIssuer, tt.trustProxy)
			r := httptest.NewRequest(http.MethodGet, "/login", nil)
			if tt.edit != nil {
				tt.edit(r)
			}
			rec := httptest.NewRecorder()
			s := m.login("user-1")
			m.write(rec, r, s)
			c := rec.Result().Cookies()[0]
			if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 3600 || c.Secure != tt.secure {
				t.Errorf("cookie: got %+v; want %s, HttpOnly, SameSite=Lax, Path=/, Max-Age=3600, Secure=%v", c, sessionCookie, tt.secure)
			}

			r.AddCookie(c)
			if got, ok := m.read(r); !ok || got != s {
				t.Errorf("read: got %+v, %v; want %+v", got, ok, s)
			}

			rec = httptest.NewRecorder()
			m.clear(rec, r)
			if c := rec.Result().Cookies()[0]; c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("clear: got %+v; want an expired empty cookie", c)
			}
		})
	}
}

func TestValidCSRF(t *testing.T) {
	s := session{CSRF: "tok"}
	for token, want := range map[string]bool{"tok": true, "": false, "tok2": false, "to": false} {
		if got := s.validCSRF(token); got != want {
			t.Errorf("validCSRF(%q): got %v; want %v", token, got, want)
		}
	}
	if (session{}).validCSRF("") {
		t.Error("validCSRF of an empty session and token: got true; want false")
	}
}

// TestScreenToken: a screen token holds for its purpose, session and
// parameters only.
func TestScreenToken(t *testing.T) {
	now := testNow
	m := testSessions(&now, true, false)
	s := m.login("user-1")
	params := url.Values{"client_id": {"c"}, "scope": {"read"}}
	tok := m.screenToken(s, screenAuthorize, params)
	if !m.validScreen(s, screenAuthorize, url.Values{"scope": {"read"}, "client_id": {"c"}}, tok) {
		t.Fatal("validScreen of its own token: false")
	}
	other := s
	other.CSRF = "another"
	otherUser := s
	otherUser.UserID = "user-2"
	otherKey := newSessions([]byte(strings.Repeat("k", 32)), time.Hour, func() time.Time { return now }, true, nil)
	tests := []struct {
		name    string
		m       *sessions
		s       session
		purpose string
		params  url.Values
		token   string
	}{
		{name: "empty token", m: m, s: s, purpose: screenAuthorize, params: params, token: ""},
		{name: "other purpose", m: m, s: s, purpose: screenDevice, params: params, token: tok},
		{name: "other session", m: m, s: other, purpose: screenAuthorize, params: params, token: tok},
		{name: "other user", m: m, s: otherUser, purpose: screenAuthorize, params: params, token: tok},
		{name: "other key", m: otherKey, s: s, purpose: screenAuthorize, params: params, token: tok},
		{name: "changed scope", m: m, s: s, purpose: screenAuthorize, params: url.Values{"client_id": {"c"}, "scope": {"read write"}}, token: tok},
		{name: "added parameter", m: m, s: s, purpose: screenAuthorize, params: url.Values{"client_id": {"c"}, "scope": {"read"}, "prompt": {"consent"}}, token: tok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.m.validScreen(tt.s, tt.purpose, tt.params, tt.token) {
				t.Error("validScreen: true; want false")
			}
		})
	}
}
