package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// webHarness is a server over web (knowing testUser's account unless it
// has accounts) and the other fakes.
func webHarness(t *testing.T, web *fakeWeb, opts Options) harness {
	t.Helper()
	if web.accounts == nil {
		web.accounts = map[string]domain.User{testUser.Email: testUser}
	}
	return newHarnessWith(t, Deps{Web: web}, opts)
}

// loggedIn returns a browser logged in as testUser.
func loggedIn(t *testing.T, h harness) *browser {
	t.Helper()
	b := newBrowser(t, h.handler)
	wantStatus(t, b.login(b.get(pathLogin)), http.StatusSeeOther)
	return b
}

func TestLoginSuccess(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{})
	b := newBrowser(t, h.handler)
	const next = "/oauth/device?user_code=ABCD-EFGH"

	p := b.get(pathLogin + "?next=" + url.QueryEscape(next))
	wantStatus(t, p, http.StatusOK)
	guest := sessionCookieOf(p)
	if guest == nil {
		t.Fatal("login page: want a guest session cookie")
	}
	f := mustForm(t, p, pathLogin, "")
	if got := f.fields.Get("next"); got != next {
		t.Errorf("next field: got %q; want %q", got, next)
	}
	guestToken := f.fields.Get("_token")
	if guestToken == "" {
		t.Fatal("login form: want a _token")
	}

	p = b.submit(f, url.Values{"email": {testUser.Email}, "password": {testPassword}})
	wantStatus(t, p, http.StatusSeeOther)
	if got := p.location(); got != next {
		t.Errorf("Location: got %q; want %q", got, next)
	}
	c := sessionCookieOf(p)
	if c == nil {
		t.Fatal("login: want a session cookie")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int(DefaultSessionLifetime/time.Second) {
		t.Errorf("cookie: got %+v; want HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age=%v", c, DefaultSessionLifetime)
	}
	if got, want := h.web.remotes, []string{testRemote}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("remote: got %q; want %q", got, want)
	}

	p = b.follow(p)
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, testUser.Email) {
		t.Errorf("page after login: want it to name %s:\n%s", testUser.Email, p.body)
	}
	if got := mustForm(t, p, pathLogout, "").fields.Get("_token"); got == "" || got == guestToken {
		t.Errorf("CSRF token after login: got %q; want a new one (not the guest's %q)", got, guestToken)
	}
}

func TestLoginFailure(t *testing.T) {
	tests := []struct {
		name, email, password string
		wantCalls             int
	}{
		{name: "unknown account", email: "nobody@example.com", password: testPassword, wantCalls: 1},
		{name: "wrong password", email: testUser.Email, password: "wrong", wantCalls: 1},
		{name: "empty password", email: testUser.Email, password: "", wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webHarness(t, &fakeWeb{}, Options{})
			b := newBrowser(t, h.handler)
			f := mustForm(t, b.get(pathLogin), pathLogin, "")
			p := b.submit(f, url.Values{"email": {tt.email}, "password": {tt.password}})

			wantStatus(t, p, http.StatusUnprocessableEntity)
			if got := strings.Count(p.body, wrongLogin); got != 1 {
				t.Errorf("message %q: got it %d times; want once:\n%s", wrongLogin, got, p.body)
			}
			if got := inputValue(t, p.body, "email"); got != tt.email {
				t.Errorf("email field: got %q; want %q kept", got, tt.email)
			}
			if h.web.logins != tt.wantCalls {
				t.Errorf("AuthenticateUser calls: got %v; want %v", h.web.logins, tt.wantCalls)
			}
			if p := b.get(pathDevice); p.status != http.StatusFound {
				t.Errorf("after a failed login, %s: got %v; want a redirect to log in", pathDevice, p.status)
			}
		})
	}
}

// TestLoginRateLimited: too many failures, or no free hashing slot, show
// the login form again with a message for a person, 429 or 503, with
// Retry-After, and no session.
func TestLoginRateLimited(t *testing.T) {
	for _, tt := range []struct {
		name        string
		web         *fakeWeb
		status      int
		retry, text string
	}{
		{"rate limited", &fakeWeb{rateLimited: true}, http.StatusTooManyRequests, "90", "Too many failed attempts. Wait about 2 minutes, then try again."},
		{"busy", &fakeWeb{busy: true}, http.StatusServiceUnavailable, "1", "The server is busy. Wait a few seconds, then try again."},
	} {
		t.Run(tt.name, func(t *testing.T) { testLoginRefused(t, tt.web, tt.status, tt.retry, tt.text) })
	}
}

func testLoginRefused(t *testing.T, web *fakeWeb, status int, retry, text string) {
	h := webHarness(t, web, Options{})
	b := newBrowser(t, h.handler)
	p := b.login(b.get(pathLogin))

	wantStatus(t, p, status)
	if !strings.Contains(p.body, text) || !strings.Contains(p.body, `name="password"`) {
		t.Errorf("body: want the login form and %q:\n%s", text, p.body)
	}
	if got := p.header.Get("Retry-After"); got != retry {
		t.Errorf("Retry-After: got %q; want %q", got, retry)
	}
	if c := sessionCookieOf(p); c != nil {
		t.Errorf("cookie: got %v; want none", c)
	}
	if got := len(h.logLines()); got != 0 {
		t.Errorf("log records: got %v; want %v", got, 0)
	}
}

// TestLoginForgery: a login post must carry the CSRF token of the
// session its browser holds (login CSRF).
func TestLoginForgery(t *testing.T) {
	creds := url.Values{"email": {testUser.Email}, "password": {testPassword}}
	tests := []struct {
		name  string
		token func(own string) string
		fresh bool // post from a browser without a session
	}{
		{name: "no token", token: func(string) string { return "" }},
		{name: "wrong token", token: func(string) string { return "forged" }},
		{name: "no session", token: func(own string) string { return own }, fresh: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webHarness(t, &fakeWeb{}, Options{})
			b := newBrowser(t, h.handler)
			f := mustForm(t, b.get(pathLogin), pathLogin, "")
			f.fields.Set("_token", tt.token(f.fields.Get("_token")))
			if tt.fresh {
				b = newBrowser(t, h.handler)
			}
			p := b.submit(f, creds)
			wantStatus(t, p, http.StatusForbidden)
			if h.web.logins != 0 {
				t.Errorf("AuthenticateUser calls: got %v; want %v", h.web.logins, 0)
			}
		})
	}
}

// TestLoginNextOpenRedirect: next is followed only when it is a path on
// this server.
func TestLoginNextOpenRedirect(t *testing.T) {
	tests := []struct{ next, want string }{
		{next: "//evil.com", want: "/"},
		{next: "//evil.com/oauth/authorize", want: "/"},
		{next: "https://evil.com", want: "/"},
		{next: "https:evil.com", want: "/"},
		{next: "/\\evil.com", want: "/"},
		{next: "/\t/evil.com", want: "/"},
		{next: "/%0a/evil.com", want: "/%0a/evil.com"}, // encoded: a path on this server
		{next: "evil.com", want: "/"},
		{next: "javascript:alert(1)", want: "/"},
		{next: "", want: "/"},
		{next: "/oauth/authorize?client_id=c&state=x", want: "/oauth/authorize?client_id=c&state=x"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			h := webHarness(t, &fakeWeb{}, Options{})
			b := newBrowser(t, h.handler)
			f := mustForm(t, b.get(pathLogin+"?next="+url.QueryEscape(tt.next)), pathLogin, "")
			if got := f.fields.Get("next"); got != "" && got != tt.want {
				t.Errorf("next field: got %q; want %q or none", got, tt.want)
			}
			p := b.submit(f, url.Values{"email": {testUser.Email}, "password": {testPassword}, "next": {tt.next}})
			wantStatus(t, p, http.StatusSeeOther)
			if got := p.location(); got != tt.want {
				t.Errorf("Location: got %q; want %q", got, tt.want)
			}
			// Logged in, the login page redirects at once: next is checked there too.
			p = b.get(pathLogin + "?next=" + url.QueryEscape(tt.next))
			wantStatus(t, p, http.StatusFound)
			if got := p.location(); got != tt.want {
				t.Errorf("Location when logged in: got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{})
	b := loggedIn(t, h)
	page := b.get(pathDevice)
	wantStatus(t, page, http.StatusOK)

	forged := b.post(pathLogout, url.Values{"_token": {"forged"}})
	wantStatus(t, forged, http.StatusForbidden)
	wantStatus(t, b.get(pathDevice), http.StatusOK) // still logged in

	p := b.submit(mustForm(t, page, pathLogout, ""), nil)
	wantStatus(t, p, http.StatusSeeOther)
	if got := p.location(); got != pathLogin {
		t.Errorf("Location: got %q; want %q", got, pathLogin)
	}
	if c := sessionCookieOf(p); c == nil || c.MaxAge >= 0 {
		t.Errorf("cookie: got %v; want it deleted", c)
	}
	wantStatus(t, b.get(pathDevice), http.StatusFound)
}

// TestSessionUserGone: a session is void once its user is deleted,
// unknown or has changed its password; a failure to read the user is a
// logged 500.
func TestSessionUserGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*fakeUsers)
		want int
	}{
		{name: "deleted", edit: func(f *fakeUsers) { u := f.byID[testUser.ID]; u.Deleted = true; f.byID[u.ID] = u }, want: http.StatusFound},
		{name: "unknown", edit: func(f *fakeUsers) { delete(f.byID, testUser.ID) }, want: http.StatusFound},
		{name: "password changed", edit: func(f *fakeUsers) {
			u := f.byID[testUser.ID]
			u.UpdatedAt = time.Now().Add(24 * time.Hour)
			f.byID[u.ID] = u
		}, want: http.StatusFound},
		{name: "read fails", edit: func(f *fakeUsers) { f.err = errors.New("pebble: closed") }, want: http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := webHarness(t, &fakeWeb{}, Options{})
			b := loggedIn(t, h)
			tt.edit(h.users)
			p := b.get(pathDevice)
			wantStatus(t, p, tt.want)
			if tt.want == http.StatusFound && !strings.HasPrefix(p.location(), pathLogin+"?") {
				t.Errorf("Location: got %q; want the login page", p.location())
			}
			wantLogs := map[bool]int{true: 1}[tt.want == http.StatusInternalServerError]
			if got := len(h.logLines()); got != wantLogs {
				t.Errorf("log records: got %v; want %v", got, wantLogs)
			}
		})
	}
}

func TestSessionExpires(t *testing.T) {
	now := testNow
	h := webHarness(t, &fakeWeb{}, Options{SessionLifetime: 10 * time.Minute, Now: func() time.Time { return now }})
	b := loggedIn(t, h)

	now = testNow.Add(10*time.Minute - time.Second)
	wantStatus(t, b.get(pathDevice), http.StatusOK)
	now = testNow.Add(10 * time.Minute)
	wantStatus(t, b.get(pathDevice), http.StatusFound)
}
