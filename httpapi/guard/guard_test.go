package guard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

func TestGuardAcceptsValidToken(t *testing.T) {
	f := newFixture(t)
	got := do(f.g.Auth, f.sign(f.claims(), nil))
	if got.status != http.StatusNoContent || !got.called {
		t.Fatalf("got %d %q; want the handler to run", got.status, got.body)
	}
	want := Token{ID: "jti-1", ClientID: "client-1", UserID: "user-1", Scopes: []string{"read"}, Audience: []string{"client-1"}, ExpiresAt: f.clock.Now().Add(time.Hour).Truncate(time.Second)}
	if diff := cmp.Diff(want, got.token); diff != "" {
		t.Errorf("TokenFrom (-want +got):\n%s", diff)
	}

	// A token with only the space-separated "scope" claim.
	got = do(f.g.Auth, f.sign(f.with(func(c *domain.Claims) { c.Scopes, c.Scope = nil, "read write" }), nil))
	if diff := cmp.Diff([]string{"read", "write"}, got.token.Scopes); diff != "" {
		t.Errorf("scopes from the scope claim (-want +got):\n%s", diff)
	}
}

func TestGuardRefusesInvalidTokens(t *testing.T) {
	f := newFixture(t)
	other := newKey(t, domain.EdDSA)
	noTyp := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: f.key, KeyID: f.g.keysKID(t)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(f.claims())
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := jws.CompactSerialize()
		return raw
	}
	tests := []struct {
		name, token, challenge string
	}{
		{"no token", "", `Bearer`},
		{"garbage", "not-a-jwt", `Bearer error="invalid_token"`},
		{"expired", f.sign(f.with(func(c *domain.Claims) { c.Expiry = f.clock.unix(-time.Second) }), nil), `Bearer error="invalid_token"`},
		{"expires now", f.sign(f.with(func(c *domain.Claims) { c.Expiry = f.clock.unix(0) }), nil), `Bearer error="invalid_token"`},
		{"not valid yet", f.sign(f.with(func(c *domain.Claims) { c.NotBefore = f.clock.unix(time.Minute) }), nil), `Bearer error="invalid_token"`},
		{"other issuer", f.sign(f.with(func(c *domain.Claims) { c.Issuer = "https://evil.test" }), nil), `Bearer error="invalid_token"`},
		{"no jti", f.sign(f.with(func(c *domain.Claims) { c.ID = "" }), nil), `Bearer error="invalid_token"`},
		{"not an access token (typ)", noTyp(), `Bearer error="invalid_token"`},
		{"signed by an unknown key", f.sign(f.claims(), other), `Bearer error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(f.g.Auth, tt.token)
			if got.called || got.status != http.StatusUnauthorized {
				t.Fatalf("got %d (handler ran: %v); want 401", got.status, got.called)
			}
			if h := got.header.Get("WWW-Authenticate"); h != tt.challenge {
				t.Errorf("WWW-Authenticate %q; want %q", h, tt.challenge)
			}
			if got.body != `{"message":"Unauthenticated."}` {
				t.Errorf("body %q; want Laravel's Unauthenticated.", got.body)
			}
		})
	}
	// A tampered signature.
	raw := f.sign(f.claims(), nil)
	if got := do(f.g.Auth, raw[:len(raw)-4]+"AAAA"); got.status != http.StatusUnauthorized {
		t.Errorf("a tampered token: got %d; want 401", got.status)
	}
}

// keysKID returns the kid of the guard's only key.
func (g *Guard) keysKID(t *testing.T) string {
	t.Helper()
	for kid := range *g.keys.current() {
		return kid
	}
	t.Fatal("no key")
	return ""
}

func TestGuardLeeway(t *testing.T) {
	f := newFixture(t)
	g, err := New(context.Background(), Options{Issuer: testIssuer, JWKSURL: f.jwks.URL, Feed: newFakeFeed(), Now: f.clock.Now, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.setCurrent(true)
	expired := f.sign(f.with(func(c *domain.Claims) { c.Expiry = f.clock.unix(-10 * time.Second) }), nil)
	if got := do(g.Auth, expired); got.status != http.StatusNoContent {
		t.Errorf("a token expired 10s ago with 30s of leeway: got %d; want it accepted", got.status)
	}
	if got := do(f.g.Auth, expired); got.status != http.StatusUnauthorized {
		t.Errorf("a token expired 10s ago without leeway: got %d; want 401", got.status)
	}
}

func TestGuardRefetchesJWKSForUnknownKid(t *testing.T) {
	f := newFixture(t)
	if n := f.jwks.requests.Load(); n != 1 {
		t.Fatalf("New made %d JWKS requests; want 1", n)
	}
	// The server rotates to a new key and keeps the old one.
	rotated := newKey(t, domain.RS256)
	f.jwks.serve(t, f.key, rotated)
	f.clock.advance(RefetchInterval) // the fetch of New counts too
	tok := f.sign(f.claims(), rotated)
	if got := do(f.g.Auth, tok); got.status != http.StatusNoContent {
		t.Fatalf("a token of the rotated key: got %d %s; want it accepted after a refetch", got.status, got.body)
	}
	if n := f.jwks.requests.Load(); n != 2 {
		t.Errorf("after an unknown kid: %d JWKS requests; want 2", n)
	}
	if got := do(f.g.Auth, tok); got.status != http.StatusNoContent || f.jwks.requests.Load() != 2 {
		t.Errorf("again: got %d after %d JWKS requests; want it accepted without a request", got.status, f.jwks.requests.Load())
	}

	// Unknown kids within RefetchInterval cost nothing more.
	stranger := newKey(t, domain.ES256)
	for range 5 {
		if got := do(f.g.Auth, f.sign(f.claims(), stranger)); got.status != http.StatusUnauthorized {
			t.Fatalf("a token of an unknown key: got %d; want 401", got.status)
		}
	}
	if n := f.jwks.requests.Load(); n != 2 {
		t.Errorf("5 unknown kids within %s made %d JWKS requests in all; want 2", RefetchInterval, n)
	}
	// After it, one more; the old keys stay when the JWKS is broken.
	f.clock.advance(RefetchInterval)
	f.jwks.mu.Lock()
	f.jwks.body = []byte(`{"keys":[]}`)
	f.jwks.mu.Unlock()
	if got := do(f.g.Auth, f.sign(f.claims(), stranger)); got.status != http.StatusUnauthorized {
		t.Fatalf("a token of an unknown key: got %d; want 401", got.status)
	}
	if n := f.jwks.requests.Load(); n != 3 {
		t.Errorf("an unknown kid after %s: %d JWKS requests in all; want 3", RefetchInterval, n)
	}
	if got := do(f.g.Auth, tok); got.status != http.StatusNoContent {
		t.Errorf("after an empty JWKS: got %d; want the old keys kept", got.status)
	}
}

func TestGuardRefetchIsSingleFlight(t *testing.T) {
	f := newFixture(t)
	rotated := newKey(t, domain.EdDSA)
	f.jwks.serve(t, f.key, rotated)
	f.clock.advance(RefetchInterval)
	tok := f.sign(f.claims(), rotated)
	const n = 16
	codes := make(chan int, n)
	for range n {
		go func() { codes <- do(f.g.Auth, tok).status }()
	}
	accepted := 0
	for range n {
		if <-codes == http.StatusNoContent {
			accepted++
		}
	}
	if got := f.jwks.requests.Load(); got != 2 {
		t.Errorf("%d concurrent requests with a new kid made %d JWKS requests in all; want 2", n, got)
	}
	if accepted != n {
		t.Errorf("%d of %d concurrent requests accepted; want all (they wait for the one refetch)", accepted, n)
	}
}

func TestGuardRevocations(t *testing.T) {
	f := newFixture(t)
	token := func(jti, client, sub string) string {
		return f.sign(f.with(func(c *domain.Claims) { c.ID, c.ClientID, c.Subject = jti, client, sub }), nil)
	}
	revoked := token("jti-revoked", "client-1", "user-1")
	ofDeletedClient := token("jti-2", "client-gone", "user-1")
	machineOfDeletedClient := token("jti-3", "client-gone", "client-gone")
	ofDeletedUser := token("jti-4", "client-1", "user-gone")
	fine := token("jti-5", "client-1", "user-1")
	machine := token("jti-6", "client-1", "client-1")

	for _, tok := range []string{revoked, ofDeletedClient, machineOfDeletedClient, ofDeletedUser, fine, machine} {
		if got := do(f.g.Auth, tok); got.status != http.StatusNoContent {
			t.Fatalf("before any revocation: got %d; want every token accepted", got.status)
		}
	}
	f.sink.Revoked("jti-revoked", f.clock.Now().Add(time.Hour))
	f.sink.ClientDeleted("client-gone")
	f.sink.UserDeleted("user-gone")
	for _, tt := range []struct {
		name   string
		token  string
		status int
	}{
		{"revoked", revoked, http.StatusUnauthorized},
		{"user token of a deleted client", ofDeletedClient, http.StatusUnauthorized},
		{"client token of a deleted client", machineOfDeletedClient, http.StatusUnauthorized},
		{"token of a deleted user", ofDeletedUser, http.StatusUnauthorized},
		{"another token of the same client and user", fine, http.StatusNoContent},
		{"client token of a live client", machine, http.StatusNoContent},
	} {
		got := do(f.g.Auth, tt.token)
		if got.status != tt.status {
			t.Errorf("%s: got %d; want %d", tt.name, got.status, tt.status)
		}
		if tt.status == http.StatusUnauthorized && got.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q; want invalid_token", tt.name, got.header.Get("WWW-Authenticate"))
		}
	}
}

func TestGuardPrunesExpiredRevocations(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	f.sink.Revoked("soon", now.Add(time.Minute))
	f.sink.Revoked("later", now.Add(time.Hour))
	f.sink.Revoked("moved", now.Add(time.Minute))
	f.sink.Revoked("moved", now.Add(2*time.Hour)) // revoked again with a later expiry
	f.sink.Revoked("moved", now.Add(time.Second)) // an earlier one changes nothing
	f.sink.ClientDeleted("c")
	f.sink.UserDeleted("u")

	if n := f.g.revs.prune(now.Add(time.Minute)); n != 0 {
		t.Errorf("prune at the first expiry dropped %d; want 0 (a token is rejected up to its expiry)", n)
	}
	if n := f.g.revs.prune(now.Add(time.Minute + time.Second)); n != 1 {
		t.Errorf("prune after the first expiry dropped %d; want 1", n)
	}
	if f.g.revs.rejects("soon", "x", "") || !f.g.revs.rejects("later", "x", "") || !f.g.revs.rejects("moved", "x", "") {
		t.Errorf("after pruning: want soon forgotten, later and moved kept")
	}
	f.g.revs.prune(now.Add(24 * time.Hour))
	if tokens, clients, users := f.g.revs.size(); tokens != 0 || clients != 1 || users != 1 {
		t.Errorf("after every expiry: %d tokens, %d clients, %d users; want 0, 1, 1 (deletions are forever)", tokens, clients, users)
	}
}

func TestGuardScopeMiddleware(t *testing.T) {
	f := newFixture(t)
	tokenWith := func(scopes ...string) string {
		return f.sign(f.with(func(c *domain.Claims) { c.Scopes, c.Scope = scopes, domain.FormatScope(scopes) }), nil)
	}
	type mw = func(http.Handler) http.Handler
	tests := []struct {
		name   string
		mw     mw
		scopes []string
		status int
	}{
		{"scopes: all held", f.g.Scopes("read", "write"), []string{"read", "write", "admin"}, 204},
		{"scopes: one missing", f.g.Scopes("read", "write"), []string{"read"}, 403},
		{"scopes: star", f.g.Scopes("read", "write"), []string{"*"}, 204},
		{"scopes: none asked", f.g.Scopes(), nil, 204},
		{"scope: one of them", f.g.Scope("read", "write"), []string{"write"}, 204},
		{"scope: none of them", f.g.Scope("read", "write"), []string{"admin"}, 403},
		{"scope: no scopes at all", f.g.Scope("read"), nil, 403},
		{"scope: star", f.g.Scope("admin"), []string{"*"}, 204},
	}
	for _, tt := range tests {
		got := do(tt.mw, tokenWith(tt.scopes...))
		if got.status != tt.status {
			t.Errorf("%s: got %d; want %d", tt.name, got.status, tt.status)
		}
		if tt.status == 403 {
			if got.body != `{"message":"Invalid scope(s) provided."}` {
				t.Errorf("%s: body %q; want Laravel's missing scope message", tt.name, got.body)
			}
			if h := got.header.Get("WWW-Authenticate"); h != `Bearer error="insufficient_scope", scope="read write"` && h != `Bearer error="insufficient_scope", scope="read"` {
				t.Errorf("%s: WWW-Authenticate %q; want insufficient_scope with the scopes", tt.name, h)
			}
		}
	}
	if got := do(f.g.Scopes("read"), ""); got.status != http.StatusUnauthorized {
		t.Errorf("scopes without a token: got %d; want 401", got.status)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Scope() without scopes did not panic")
			}
		}()
		f.g.Scope()
	}()
}

func TestGuardClientMiddleware(t *testing.T) {
	f := newFixture(t)
	machine := func(scopes ...string) string {
		return f.sign(f.with(func(c *domain.Claims) { c.Subject, c.Scopes = c.ClientID, scopes }), nil)
	}
	user := f.sign(f.claims(), nil)
	tests := []struct {
		name   string
		mw     func(http.Handler) http.Handler
		token  string
		status int
	}{
		{"client token", f.g.Client(), machine(), 204},
		{"user token", f.g.Client(), user, 401},
		{"client token with the scopes", f.g.Client("read", "jobs"), machine("read", "jobs"), 204},
		{"client token without one", f.g.Client("read", "jobs"), machine("read"), 403},
		{"client token with star", f.g.Client("read", "jobs"), machine("*"), 204},
		{"no token", f.g.Client(), "", 401},
	}
	for _, tt := range tests {
		got := do(tt.mw, tt.token)
		if got.status != tt.status {
			t.Errorf("%s: got %d; want %d", tt.name, got.status, tt.status)
		}
	}
	if got := do(f.g.Client(), machine()); got.token.UserID != "" || got.token.ClientID != "client-1" || !got.token.IsClient() {
		t.Errorf("client token: TokenFrom = %+v; want client-1 and no user", got.token)
	}
}

func TestGuardTokenCan(t *testing.T) {
	if TokenCan(context.Background(), "read") {
		t.Error("TokenCan outside of the middleware = true; want false")
	}
	if _, ok := TokenFrom(context.Background()); ok {
		t.Error("TokenFrom outside of the middleware found a token")
	}
	for _, tt := range []struct {
		scopes []string
		scope  string
		want   bool
	}{
		{[]string{"read"}, "read", true},
		{[]string{"read"}, "write", false},
		{[]string{"*"}, "anything", true},
		{nil, "read", false},
	} {
		ctx := context.WithValue(context.Background(), ctxKey{}, &authed{tok: Token{Scopes: tt.scopes}})
		if got := TokenCan(ctx, tt.scope); got != tt.want {
			t.Errorf("TokenCan(%v, %q) = %v; want %v", tt.scopes, tt.scope, got, tt.want)
		}
	}
	// Through the middleware.
	f := newFixture(t)
	var can, cannot bool
	h := f.g.Auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		can, cannot = TokenCan(r.Context(), "read"), TokenCan(r.Context(), "write")
	}))
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "bearer "+f.sign(f.claims(), nil))
	h.ServeHTTP(discard{}, req)
	if !can || cannot {
		t.Errorf("TokenCan read, write = %v, %v; want true, false", can, cannot)
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestGuardFailsClosedWhileNotCurrent(t *testing.T) {
	f := newFixture(t)
	tok := f.sign(f.claims(), nil)
	f.sink.Current(false)
	for _, tt := range []struct {
		name  string
		mw    func(http.Handler) http.Handler
		token string
	}{
		{"auth with a valid token", f.g.Auth, tok},
		{"auth without a token", f.g.Auth, ""},
		{"scopes", f.g.Scopes("read"), tok},
		{"client", f.g.Client(), tok},
	} {
		got := do(tt.mw, tt.token)
		if got.called || got.status != http.StatusServiceUnavailable {
			t.Errorf("%s while not current: got %d; want 503", tt.name, got.status)
		}
		if got.header.Get("Retry-After") != "1" || got.body != `{"message":"Authorization unavailable."}` {
			t.Errorf("%s: Retry-After %q, body %q; want 1 and Authorization unavailable.", tt.name, got.header.Get("Retry-After"), got.body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.g.WaitCurrent(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCurrent while not current = %v; want the deadline", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- f.g.WaitCurrent(context.Background()) }()
	f.sink.Current(true)
	if err := <-waited; err != nil {
		t.Errorf("WaitCurrent = %v; want nil once current", err)
	}
	if got := do(f.g.Auth, tok); got.status != http.StatusNoContent {
		t.Errorf("current again: got %d; want the token accepted", got.status)
	}
}

func TestGuardStartsNotCurrentAndRestartsItsFeed(t *testing.T) {
	feed := newFakeFeed()
	key := newKey(t, domain.EdDSA)
	jwks := newJWKSServer(t, key)
	g, err := New(context.Background(), Options{Issuer: testIssuer, JWKSURL: jwks.URL, Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Current() {
		t.Fatal("a new guard is current before its feed said so")
	}
	sink := feed.sink(t)
	sink.Current(true)
	feed.fail <- errors.New("lost the stream")
	sink = feed.sink(t) // run again
	if g.Current() {
		t.Error("after its feed failed the guard is still current")
	}
	if feed.runs.Load() != 2 {
		t.Errorf("feed ran %d times; want 2", feed.runs.Load())
	}
	sink.Current(true)
	if !g.Current() {
		t.Error("the restarted feed's Current(true) did not count")
	}
	g.Close()
	if g.Current() {
		t.Error("a closed guard is current")
	}
}

func TestGuardOptions(t *testing.T) {
	key := newKey(t, domain.EdDSA)
	jwks := newJWKSServer(t, key)
	feed := newFakeFeed()
	tests := []struct {
		name string
		opts Options
	}{
		{"no issuer", Options{JWKSURL: jwks.URL, Feed: feed}},
		{"no feed", Options{Issuer: testIssuer, JWKSURL: jwks.URL}},
		{"negative leeway", Options{Issuer: testIssuer, JWKSURL: jwks.URL, Feed: feed, Leeway: -time.Second}},
		{"JWKS URL not http", Options{Issuer: testIssuer, JWKSURL: "file:///keys.json", Feed: feed}},
		{"JWKS unreachable", Options{Issuer: testIssuer, JWKSURL: "http://127.0.0.1:1/jwks.json", Feed: feed}},
		{"JWKS without keys", Options{Issuer: testIssuer, JWKSURL: newJWKSServer(t).URL, Feed: feed}},
		{"audience with spaces", Options{Issuer: testIssuer, JWKSURL: jwks.URL, Feed: feed, Audience: " https://api.example"}},
	}
	for _, tt := range tests {
		if g, err := New(context.Background(), tt.opts); err == nil {
			g.Close()
			t.Errorf("%s: New succeeded; want an error", tt.name)
		}
	}
	if got := (Options{Issuer: "https://auth.test/"}).withDefaults().JWKSURL; got != "https://auth.test/.well-known/jwks.json" {
		t.Errorf("default JWKSURL = %q; want the issuer's well-known path", got)
	}
}

func TestGuardParsesJWKS(t *testing.T) {
	rsaKey, ecKey := newKey(t, domain.RS256), newKey(t, domain.ES256)
	_, _, rsaJWK, _ := domain.PublicJWK(rsaKey)
	_, _, ecJWK, _ := domain.PublicJWK(ecKey)
	body := `{"keys":[` + string(rsaJWK) + `,` + string(ecJWK) + `,
		{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
		{"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
		{"kty":"WHAT","kid":"future"}]}`
	set, err := parseJWKS([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range set {
		got = append(got, k.alg)
	}
	if len(set) != 2 {
		t.Errorf("parsed %d keys (%v); want the RSA and the EC signing keys only", len(set), got)
	}
	if _, err := parseJWKS([]byte(`{"keys":[{"kty":"oct","kid":"x","k":"c2VjcmV0"}]}`)); !errors.Is(err, errNoKeys) {
		t.Errorf("a JWKS of a symmetric key: %v; want errNoKeys", err)
	}
}
