package guard

import (
	"context"
	"net/http"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// audienceGuard starts a second guard on f's JWKS and clock with
// Options.Audience set to aud, current at once.
func audienceGuard(t *testing.T, f *fixture, aud string) *Guard {
	t.Helper()
	feed := newFakeFeed()
	g, err := New(context.Background(), Options{Issuer: testIssuer, JWKSURL: f.jwks.URL, Feed: feed, Now: f.clock.Now, Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	feed.sink(t).Current(true)
	return g
}

// TestGuardAudienceOption: a guard configured with an audience accepts
// only tokens whose aud holds it, on every middleware, with 401
// invalid_token as for any token not meant for it (the answer
// /auth/verify?audience= gives too).
func TestGuardAudienceOption(t *testing.T) {
	f := newFixture(t)
	orders := audienceGuard(t, f, "https://orders.example")
	token := func(aud ...string) string {
		return f.sign(f.with(func(c *domain.Claims) { c.Audience = aud }), nil)
	}
	tests := []struct {
		name   string
		mw     func(http.Handler) http.Handler
		token  string
		status int
	}{
		{"aud is the audience", orders.Auth, token("https://orders.example"), 204},
		{"aud holds the audience", orders.Auth, token("https://billing.example", "https://orders.example"), 204},
		{"aud of another API", orders.Auth, token("https://billing.example"), 401},
		{"aud is the client id (no resource requested)", orders.Auth, token("client-1"), 401},
		{"no aud", orders.Auth, token(), 401},
		{"prefix of the audience", orders.Auth, token("https://orders.example/v2"), 401},
		{"case differs", orders.Auth, token("https://ORDERS.example"), 401},
		{"scopes middleware too", orders.Scopes("read"), token("https://billing.example"), 401},
		{"client middleware too", orders.Client(), f.sign(f.with(func(c *domain.Claims) { c.Subject, c.Audience = c.ClientID, domain.Audience{"x"} }), nil), 401},
		{"audience met, scope not", orders.Scopes("write"), token("https://orders.example"), 403},
		{"a guard without an audience accepts any aud", f.g.Auth, token("https://billing.example"), 204},
	}
	for _, tt := range tests {
		got := do(tt.mw, tt.token)
		if got.status != tt.status {
			t.Errorf("%s: got %d %s; want %d", tt.name, got.status, got.body, tt.status)
		}
		if tt.status == 401 && (got.called || got.header.Get("WWW-Authenticate") != invalidToken) {
			t.Errorf("%s: handler ran %v, challenge %q; want %q and no handler", tt.name, got.called, got.header.Get("WWW-Authenticate"), invalidToken)
		}
	}
	got := do(orders.Auth, token("https://billing.example", "https://orders.example"))
	if !got.token.For("https://orders.example") || !got.token.For("https://billing.example") || got.token.For("client-1") {
		t.Errorf("TokenFrom: Audience %q; want both resources", got.token.Audience)
	}
}

// TestGuardAudienceMiddleware: g.Audience checks one route's audience on a
// guard that serves several APIs.
func TestGuardAudienceMiddleware(t *testing.T) {
	f := newFixture(t)
	token := func(aud ...string) string {
		return f.sign(f.with(func(c *domain.Claims) { c.Audience = aud }), nil)
	}
	orders, billing := f.g.Audience("https://orders.example"), f.g.Audience("https://billing.example")
	tests := []struct {
		name   string
		mw     func(http.Handler) http.Handler
		token  string
		status int
	}{
		{"orders token at orders", orders, token("https://orders.example"), 204},
		{"orders token at billing", billing, token("https://orders.example"), 401},
		{"token for both at billing", billing, token("https://orders.example", "https://billing.example"), 204},
		{"client id aud at orders", orders, token("client-1"), 401},
		{"no token", orders, "", 401},
	}
	for _, tt := range tests {
		if got := do(tt.mw, tt.token); got.status != tt.status {
			t.Errorf("%s: got %d %s; want %d", tt.name, got.status, got.body, tt.status)
		}
	}
	// Nested with the scope middleware, the token is checked once and both
	// rules apply.
	nested := func(next http.Handler) http.Handler { return orders(f.g.Scopes("write")(next)) }
	if got := do(nested, token("https://orders.example")); got.status != http.StatusForbidden {
		t.Errorf("audience then scopes: got %d; want 403", got.status)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Audience(\"\") did not panic")
		}
	}()
	f.g.Audience("")
}
