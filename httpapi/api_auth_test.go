package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// apiCall sends a JSON API request from b, as the dashboard's script
// would: the browser's cookies, and csrf in X-CSRF-TOKEN ("" for none).
func (b *browser) apiCall(method, target, csrf string) page {
	b.t.Helper()
	return b.apiCallWith(method, target, http.Header{headerCSRF: {csrf}})
}

// apiCallWith is apiCall with the given headers (empty ones left out).
func (b *browser) apiCallWith(method, target string, h http.Header) page {
	b.t.Helper()
	req, err := http.NewRequest(method, testIssuer+target, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, vs := range h {
		if len(vs) > 0 && vs[0] != "" {
			req.Header.Set(k, vs[0])
		}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// cookie returns the value of the browser's cookie name, "" for none.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(testIssuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie sets (or, with "", deletes) the browser's cookie name.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(testIssuer)
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true}
	if value == "" {
		c.MaxAge = -1
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{c})
}

// apiBrowser returns a harness and a browser logged in as testUser.
func apiBrowser(t *testing.T) (harness, *browser) {
	t.Helper()
	h := apiHarness(t)
	h.web.accounts = map[string]domain.User{testUser.Email: testUser}
	return h, loggedIn(t, h)
}

func wantUnauthenticated(t *testing.T, p page) {
	t.Helper()
	wantStatus(t, p, http.StatusUnauthorized)
	if got := strings.TrimSpace(p.body); got != `{"message":"Unauthenticated."}` {
		t.Errorf("body: got %s; want Laravel's Unauthenticated", got)
	}
	if p.header.Get("WWW-Authenticate") == "" {
		t.Error("WWW-Authenticate: want a challenge")
	}
}

func TestSessionAuthentication(t *testing.T) {
	_, b := apiBrowser(t)
	csrf := b.cookie(xsrfCookie)
	if csrf == "" {
		t.Fatal("no XSRF-TOKEN cookie after login")
	}
	b.setCookie(tokenCookie, "") // the session alone

	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, ""))
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, "forged"))
	wantStatus(t, b.apiCall(http.MethodGet, pathClients, csrf), http.StatusOK)
	wantStatus(t, b.apiCallWith(http.MethodGet, pathClients, http.Header{headerXSRF: {csrf}}), http.StatusOK)
}

func TestCookieTokenAuthentication(t *testing.T) {
	h, b := apiBrowser(t)
	csrf := b.cookie(xsrfCookie)
	raw := b.cookie(tokenCookie)
	if raw == "" {
		t.Fatal("no stamp_token cookie after login")
	}
	b.setCookie(sessionCookie, "") // the cookie token alone

	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, ""))
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, "forged"))
	p := b.apiCall(http.MethodGet, pathClients, csrf)
	wantStatus(t, p, http.StatusOK)
	if got := strings.TrimSpace(p.body); got != "[]" {
		t.Errorf("body: got %s; want testUser's clients, []", got)
	}

	b.setCookie(xsrfCookie, "") // the header must match the cookie
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, csrf))
	b.setCookie(xsrfCookie, csrf)

	// Only a session token is a cookie token.
	b.setCookie(tokenCookie, bearerUser)
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, csrf))

	b.setCookie(tokenCookie, raw)
	h.tokens.revoke(raw)
	wantUnauthenticated(t, b.apiCall(http.MethodGet, pathClients, csrf))
}

func TestBearerAuthentication(t *testing.T) {
	tests := []struct {
		name, authorization string
		want                int
		challenge, message  string
	}{
		{name: "user token", authorization: "Bearer " + bearerUser, want: http.StatusOK},
		{name: "scheme in lower case", authorization: "bearer " + bearerUser, want: http.StatusOK},
		{name: "none", want: http.StatusUnauthorized, challenge: "Bearer", message: "Unauthenticated."},
		{name: "basic", authorization: "Basic dTpw", want: http.StatusUnauthorized, challenge: "Bearer", message: "Unauthenticated."},
		{name: "empty", authorization: "Bearer ", want: http.StatusUnauthorized, challenge: `Bearer error="invalid_token"`, message: "Unauthenticated."},
		{name: "unknown", authorization: "Bearer nope", want: http.StatusUnauthorized, challenge: `Bearer error="invalid_token"`, message: "Unauthenticated."},
		{name: "client credentials", authorization: "Bearer " + bearerClient, want: http.StatusForbidden, message: "This action is unauthorized."},
		{name: "without *", authorization: "Bearer " + bearerNarrow, want: http.StatusForbidden,
			challenge: `Bearer error="insufficient_scope", scope="*"`, message: "Invalid scope(s) provided."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodGet, pathClients, "", "")
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			rec := h.do(r)
			wantCode(t, rec, tt.want)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate: got %q; want %q", got, tt.challenge)
			}
			if tt.message != "" {
				if got := decodeJSON[apiMessage](t, rec).Message; got != tt.message {
					t.Errorf("message: got %q; want %q", got, tt.message)
				}
			}
		})
	}
}

func TestBearerValidationFailureIsLogged(t *testing.T) {
	h := apiHarness(t)
	h.tokens.err = errBoom
	rec := h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	wantCode(t, rec, http.StatusInternalServerError)
	if lines := h.logLines(); len(lines) != 1 {
		t.Errorf("log: got %q; want one line", lines)
	}
}

// TestEveryAPIRouteIsGuarded: no route of the JSON API answers a request
// without credentials, whatever its method.
func TestEveryAPIRouteIsGuarded(t *testing.T) {
	h := apiHarness(t)
	routes := []struct{ method, path string }{
		{http.MethodPost, pathTokenRefresh},
		{http.MethodGet, pathClients}, {http.MethodPost, pathClients},
		{http.MethodPut, "/oauth/clients/x"}, {http.MethodDelete, "/oauth/clients/x"},
		{http.MethodGet, pathTokens}, {http.MethodDelete, "/oauth/tokens/x"},
		{http.MethodGet, pathPersonalTokens}, {http.MethodPost, pathPersonalTokens},
		{http.MethodDelete, "/oauth/personal-access-tokens/x"},
	}
	for _, rt := range routes {
		rec := h.do(apiReq(rt.method, rt.path, "", `{"name":"A","redirect":"https://a/cb"}`))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s: got %v; want 401", rt.method, rt.path, rec.Code)
		}
	}
	if n := len(h.api.registered) + len(h.api.issued) + len(h.api.patNames); n != 0 {
		t.Errorf("service calls: got %d; want none", n)
	}
}
