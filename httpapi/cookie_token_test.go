package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// setCookieOf returns the Set-Cookie of name in p, or nil.
func setCookieOf(p page, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestLoginSetsCookieToken(t *testing.T) {
	h := apiHarness(t)
	h.web.accounts = map[string]domain.User{testUser.Email: testUser}
	b := newBrowser(t, h.handler)
	p := b.login(b.get(pathLogin))
	wantStatus(t, p, http.StatusSeeOther)

	tok := setCookieOf(p, tokenCookie)
	if tok == nil || !slices.Equal(h.api.issued, []string{tok.Value}) {
		t.Fatalf("stamp_token: got %v; want the issued token %q", tok, h.api.issued)
	}
	if !tok.HttpOnly || !tok.Secure || tok.SameSite != http.SameSiteLaxMode || tok.Path != "/" || tok.MaxAge != int(domain.SessionTokenLifetime/time.Second) {
		t.Errorf("stamp_token: got %+v; want HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age=%v", tok, domain.SessionTokenLifetime)
	}
	xsrf := setCookieOf(p, xsrfCookie)
	if xsrf == nil || xsrf.HttpOnly || !xsrf.Secure || xsrf.Path != "/" || xsrf.MaxAge != int(DefaultSessionLifetime/time.Second) {
		t.Fatalf("XSRF-TOKEN: got %+v; want readable by scripts, Secure, Path=/, living as the session", xsrf)
	}
	if got := mustForm(t, b.get(pathDevice), pathLogout, "").fields.Get("_token"); got != xsrf.Value {
		t.Errorf("XSRF-TOKEN: got %q; want the session's CSRF token %q", xsrf.Value, got)
	}
}

func TestLoginWithoutPersonalAccessClient(t *testing.T) {
	h := apiHarness(t)
	h.web.accounts = map[string]domain.User{testUser.Email: testUser}
	h.api.issueErr = domain.ErrNoPersonalAccessClient
	for range 2 {
		b := newBrowser(t, h.handler)
		p := b.login(b.get(pathLogin))
		wantStatus(t, p, http.StatusSeeOther)
		if c := setCookieOf(p, tokenCookie); c == nil || c.Value != "" || c.MaxAge >= 0 {
			t.Errorf("stamp_token: got %v; want it deleted", c)
		}
		if c := setCookieOf(p, xsrfCookie); c == nil || c.Value == "" {
			t.Errorf("XSRF-TOKEN: got %v; want the session's CSRF token", c)
		}
		wantStatus(t, b.apiCall(http.MethodGet, pathClients, b.cookie(xsrfCookie)), http.StatusOK)
	}
	lines := h.logLines()
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"WARN"`) {
		t.Errorf("log: got %q; want one warning for both logins", lines)
	}
}

func TestRefreshCookieToken(t *testing.T) {
	tests := []struct {
		name string
		// edit prepares the browser; it returns the cookie token the
		// refresh must rotate ("" when it must issue a new one).
		edit func(h harness, b *browser) string
	}{
		{name: "session and cookie token", edit: func(_ harness, b *browser) string { return b.cookie(tokenCookie) }},
		{name: "cookie token alone", edit: func(_ harness, b *browser) string {
			b.setCookie(sessionCookie, "")
			return b.cookie(tokenCookie)
		}},
		{name: "session, expired cookie token", edit: func(h harness, b *browser) string {
			h.tokens.revoke(b.cookie(tokenCookie))
			return ""
		}},
		{name: "session, no cookie token", edit: func(_ harness, b *browser) string {
			b.setCookie(tokenCookie, "")
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := apiBrowser(t)
			csrf := b.cookie(xsrfCookie)
			old := tt.edit(h, b)
			issuedBefore := len(h.api.issued)

			p := b.apiCall(http.MethodPost, pathTokenRefresh, csrf)
			wantStatus(t, p, http.StatusOK)
			if !strings.Contains(p.body, `"message":"Refreshed."`) || !strings.Contains(p.body, `"expires_at":"2025-06-01T12:15:00Z"`) {
				t.Errorf("body: got %s; want Refreshed. and the expiry", p.body)
			}
			fresh := setCookieOf(p, tokenCookie)
			if len(h.api.issued) != issuedBefore+1 || fresh == nil || fresh.Value != h.api.issued[len(h.api.issued)-1] {
				t.Fatalf("stamp_token: got %v; want the newly issued token", fresh)
			}
			if c := setCookieOf(p, xsrfCookie); c == nil || c.Value != csrf {
				t.Errorf("XSRF-TOKEN: got %v; want %q again", c, csrf)
			}
			if old != "" {
				if !slices.Contains(h.api.refreshed, old) {
					t.Errorf("RefreshSessionToken: got %q; want %q", h.api.refreshed, old)
				}
				if _, _, err := h.tokens.ValidateAccessToken(t.Context(), old); err == nil {
					t.Error("the old cookie token still validates")
				}
			}
			wantStatus(t, b.apiCall(http.MethodGet, pathClients, csrf), http.StatusOK)
		})
	}
}

func TestRefreshCookieTokenRefused(t *testing.T) {
	h, b := apiBrowser(t)
	wantUnauthenticated(t, b.apiCall(http.MethodPost, pathTokenRefresh, ""))
	if len(h.api.issued) != 1 {
		t.Errorf("IssueSessionToken: %d calls; want the login's only", len(h.api.issued))
	}
	rec := h.do(apiReq(http.MethodPost, pathTokenRefresh, bearerUser, ""))
	wantCode(t, rec, http.StatusForbidden)
}

func TestLogoutEndsCookieToken(t *testing.T) {
	h, b := apiBrowser(t)
	raw, csrf := b.cookie(tokenCookie), b.cookie(xsrfCookie)
	p := b.submit(mustForm(t, b.get(pathDevice), pathLogout, ""), nil)
	wantStatus(t, p, http.StatusSeeOther)

	if !slices.Equal(h.api.ended, []string{raw}) {
		t.Errorf("EndSessionToken: got %q; want %q", h.api.ended, raw)
	}
	for _, name := range []string{sessionCookie, tokenCookie, xsrfCookie} {
		if c := setCookieOf(p, name); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("%s: got %v; want it deleted", name, c)
		}
	}
	// A copy of the cookies made before logging out is worthless.
	b.setCookie(tokenCookie, raw)
	b.setCookie(xsrfCookie, csrf)
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, csrf))
}

func TestLogoutKeepsCookiesWhenRevokingFails(t *testing.T) {
	h, b := apiBrowser(t)
	page := b.get(pathDevice)
	h.api.err = errBoom
	p := b.submit(mustForm(t, page, pathLogout, ""), nil)
	wantStatus(t, p, http.StatusInternalServerError)
	if c := setCookieOf(p, sessionCookie); c != nil {
		t.Errorf("session cookie: got %v; want it kept, so logging out can be retried", c)
	}
	h.api.err = nil
	wantStatus(t, b.submit(mustForm(t, page, pathLogout, ""), nil), http.StatusSeeOther)
}
