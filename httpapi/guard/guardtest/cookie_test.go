package guardtest_test

import (
	"net/http"
	"testing"

	"github.com/stamp-oauth/stamp/httpapi/guard"
	"github.com/stamp-oauth/stamp/httpapi/guard/guardtest"
)

// doCookie sends GET url with token as a cookie token (WithCookieToken) after
// change (nil for none) alters the request.
func doCookie(t *testing.T, url, token string, change func(*http.Request)) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	guardtest.WithCookieToken(req, token)
	if change != nil {
		change(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCookieTokenOptIn(t *testing.T) {
	off := guardtest.New(t)
	srv := serve(t, off.Guard)
	if got := doCookie(t, srv.URL+"/me", off.ActingAs("u", "*"), nil); got != http.StatusUnauthorized {
		t.Errorf("cookie token at a guard without AcceptCookie: %d, want 401", got)
	}

	on := guardtest.New(t, guardtest.WithGuardOptions(func(o *guard.Options) { o.AcceptCookie = &guard.CookieAuth{} }))
	srv = serve(t, on.Guard)
	tok := on.ActingAs("u", "*")
	if got := doCookie(t, srv.URL+"/orders", tok, nil); got != http.StatusNoContent {
		t.Errorf("cookie token with its CSRF header: %d, want 204", got)
	}
	for _, c := range []struct {
		name   string
		change func(*http.Request)
		want   int
	}{
		{"no CSRF header", func(r *http.Request) { r.Header.Del("X-CSRF-TOKEN") }, http.StatusUnauthorized},
		{"wrong CSRF header", func(r *http.Request) { r.Header.Set("X-CSRF-TOKEN", "other") }, http.StatusUnauthorized},
		{"X-XSRF-TOKEN instead", func(r *http.Request) {
			r.Header.Set("X-XSRF-TOKEN", r.Header.Get("X-CSRF-TOKEN"))
			r.Header.Del("X-CSRF-TOKEN")
		}, http.StatusNoContent},
		{"no CSRF cookie", func(r *http.Request) {
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: guard.DefaultTokenCookie, Value: tok})
		}, http.StatusUnauthorized},
		{"an Authorization header decides", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
	} {
		if got := doCookie(t, srv.URL+"/orders", tok, c.change); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if got := doCookie(t, srv.URL+"/orders", on.ActingAs("u", "profile"), nil); got != http.StatusForbidden {
		t.Errorf("cookie token without the scope: %d, want 403", got)
	}
	on.Revoke(tok)
	if got := doCookie(t, srv.URL+"/orders", tok, nil); got != http.StatusUnauthorized {
		t.Errorf("revoked cookie token: %d, want 401", got)
	}

	// A CSRF check of the app's own replaces the double submit.
	custom := guardtest.New(t, guardtest.WithGuardOptions(func(o *guard.Options) {
		o.AcceptCookie = &guard.CookieAuth{Name: "app_token", CheckCSRF: func(r *http.Request) bool { return r.Header.Get("X-Requested-With") == "XMLHttpRequest" }}
	}))
	srv = serve(t, custom.Guard)
	tok = custom.ActingAs("u")
	appCookie := func(r *http.Request) {
		r.Header.Del("Cookie")
		r.AddCookie(&http.Cookie{Name: "app_token", Value: tok})
	}
	if got := doCookie(t, srv.URL+"/me", tok, appCookie); got != http.StatusUnauthorized {
		t.Errorf("custom cookie without the app's CSRF proof: %d, want 401", got)
	}
	if got := doCookie(t, srv.URL+"/me", tok, func(r *http.Request) { appCookie(r); r.Header.Set("X-Requested-With", "XMLHttpRequest") }); got != http.StatusNoContent {
		t.Errorf("custom cookie with the app's CSRF proof: %d, want 204", got)
	}
}
