package guardtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/httpapi/guard"
	"github.com/stamp-oauth/stamp/httpapi/guard/guardtest"
)

// serve puts two routes behind g: /me (any token) and /orders (orders:read),
// and /machine (a client token).
func serve(t *testing.T, g *guard.Guard) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := guard.TokenFrom(r.Context())
		w.Header().Set("X-User", tok.UserID)
		w.Header().Set("X-Client", tok.ClientID)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("GET /me", g.Auth(ok))
	mux.Handle("GET /orders", g.Scopes("orders:read")(ok))
	mux.Handle("GET /machine", g.Client()(ok))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		guardtest.Authorize(req, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func wantStatus(t *testing.T, resp *http.Response, want int, what string) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

func TestActingAs(t *testing.T) {
	a := guardtest.New(t)
	srv := serve(t, a.Guard)

	tok := a.ActingAs("user-1", "orders:read")
	resp := get(t, srv.URL+"/orders", tok)
	wantStatus(t, resp, http.StatusNoContent, "user token with the scope")
	if got := resp.Header.Get("X-User"); got != "user-1" {
		t.Errorf("handler saw user %q, want user-1", got)
	}
	if got := resp.Header.Get("X-Client"); got != guardtest.DefaultClientID {
		t.Errorf("handler saw client %q, want %q", got, guardtest.DefaultClientID)
	}
	wantStatus(t, get(t, srv.URL+"/orders", a.ActingAs("user-1", "profile")), http.StatusForbidden, "wrong scope")
	wantStatus(t, get(t, srv.URL+"/orders", a.ActingAs("user-1", "*")), http.StatusNoContent, "wildcard scope")
	wantStatus(t, get(t, srv.URL+"/orders", ""), http.StatusUnauthorized, "no token")
	wantStatus(t, get(t, srv.URL+"/machine", tok), http.StatusUnauthorized, "user token on a client route")
}

func TestActingAsClient(t *testing.T) {
	a := guardtest.New(t)
	srv := serve(t, a.Guard)
	resp := get(t, srv.URL+"/machine", a.ActingAsClient("billing"))
	wantStatus(t, resp, http.StatusNoContent, "client token on a client route")
	if resp.Header.Get("X-User") != "" || resp.Header.Get("X-Client") != "billing" {
		t.Errorf("handler saw user %q client %q, want no user and client billing", resp.Header.Get("X-User"), resp.Header.Get("X-Client"))
	}
	wantStatus(t, get(t, srv.URL+"/orders", a.ActingAsClient("billing")), http.StatusForbidden, "client token without the scope")
}

func TestRevocations(t *testing.T) {
	a := guardtest.New(t)
	srv := serve(t, a.Guard)

	tok, other := a.ActingAs("user-1"), a.ActingAs("user-1")
	wantStatus(t, get(t, srv.URL+"/me", tok), http.StatusNoContent, "before revocation")
	a.Revoke(tok)
	wantStatus(t, get(t, srv.URL+"/me", tok), http.StatusUnauthorized, "revoked token")
	wantStatus(t, get(t, srv.URL+"/me", other), http.StatusNoContent, "another token of the same user")

	a.Feed.DeleteUser("user-1")
	wantStatus(t, get(t, srv.URL+"/me", other), http.StatusUnauthorized, "token of a deleted user")
	wantStatus(t, get(t, srv.URL+"/me", a.ActingAs("user-2")), http.StatusNoContent, "token of another user")

	machine := a.ActingAsClient("billing")
	a.Feed.DeleteClient("billing")
	wantStatus(t, get(t, srv.URL+"/machine", machine), http.StatusUnauthorized, "token of a deleted client")

	// A guard built later learns what was revoked before it started.
	g, err := guard.New(context.Background(), a.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	late := serve(t, g)
	wantStatus(t, get(t, late.URL+"/me", tok), http.StatusUnauthorized, "revoked token at a later guard")
	wantStatus(t, get(t, late.URL+"/me", a.ActingAs("user-3")), http.StatusNoContent, "valid token at a later guard")

	a.Feed.SetCurrent(false)
	wantStatus(t, get(t, srv.URL+"/me", a.ActingAs("user-3")), http.StatusServiceUnavailable, "feed not current")
}

func TestExpiry(t *testing.T) {
	a := guardtest.New(t, guardtest.WithExpiry(time.Minute))
	srv := serve(t, a.Guard)
	wantStatus(t, get(t, srv.URL+"/me", a.Mint(guardtest.Spec{Subject: "u", ExpiresIn: -time.Second})), http.StatusUnauthorized, "expired token")
	wantStatus(t, get(t, srv.URL+"/me", a.ActingAs("u")), http.StatusNoContent, "fresh token")

	// A clock of the test's own moves both the minting and the guard.
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	b := guardtest.New(t, guardtest.WithClock(func() time.Time { return time.Unix(now.Load(), 0) }), guardtest.WithExpiry(time.Minute))
	srv = serve(t, b.Guard)
	tok := b.ActingAs("u")
	wantStatus(t, get(t, srv.URL+"/me", tok), http.StatusNoContent, "at the minting time")
	now.Add(120)
	wantStatus(t, get(t, srv.URL+"/me", tok), http.StatusUnauthorized, "two minutes after a one-minute token")
}

func TestAudienceAndIssuer(t *testing.T) {
	const api = "https://api.example.com"
	a := guardtest.New(t, guardtest.WithAudience(api), guardtest.WithIssuer("https://auth.example.com"))
	srv := serve(t, a.Guard)
	wantStatus(t, get(t, srv.URL+"/me", a.ActingAs("u")), http.StatusNoContent, "token for this API")
	wantStatus(t, get(t, srv.URL+"/me", a.Mint(guardtest.Spec{Subject: "u", Audience: []string{"https://other.example.com"}})), http.StatusUnauthorized, "token for another API")
	wantStatus(t, get(t, srv.URL+"/me", a.Mint(guardtest.Spec{Subject: "u", Issuer: "https://evil.example.com"})), http.StatusUnauthorized, "token from another issuer")

	// Tokens of another Authority are signed with another key.
	b := guardtest.New(t, guardtest.WithAudience(api), guardtest.WithIssuer("https://auth.example.com"))
	wantStatus(t, get(t, srv.URL+"/me", b.ActingAs("u")), http.StatusUnauthorized, "token signed with another key")
}
