package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// guardLifetime covers every token stamp issues by default: personal access
// tokens last a year.
const guardLifetime = 366 * 24 * time.Hour

// startGuard starts a guard the way a separately deployed resource server
// would: the JWKS over HTTP from the node, revocations over its own
// read-only NATS connection, as the revocations identity. It is current when it returns.
func startGuard(tb testing.TB, n *app.Node, issuer string) *guard.Guard {
	tb.Helper()
	return newGuard(tb, n, issuer, openFeed(tb, n))
}

// openFeed opens a revocation feed on n's NATS, closed when the test ends.
func openFeed(tb testing.TB, n *app.Node) *eventstore.RevocationFeed {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed, err := eventstore.OpenRevocationFeed(ctx, eventstore.Options{URL: n.NATSURL(), NkeySeedFile: n.NATSSeedFile(eventstore.RoleRevocations), Name: "resource-server"}, guardLifetime)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(feed.Close)
	return feed
}

// newGuard starts a guard on feed with n's JWKS, closed when the test ends,
// and waits until it is current.
func newGuard(tb testing.TB, n *app.Node, issuer string, feed guard.Feed) *guard.Guard {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := guard.New(ctx, guard.Options{Issuer: issuer, JWKSURL: n.HTTPURL() + "/.well-known/jwks.json", Feed: feed})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close) // before the feed's Close: cleanups run last first
	if err := g.WaitCurrent(ctx); err != nil {
		tb.Fatal(err)
	}
	return g
}

// resourceServer serves the guard's middleware over real HTTP.
func resourceServer(tb testing.TB, g *guard.Guard) *httptest.Server {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := guard.TokenFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tok)
	})
	mux := http.NewServeMux()
	mux.Handle("/me", g.Auth(ok))
	mux.Handle("/read", g.Scopes("read")(ok))
	mux.Handle("/write", g.Scope("write", "admin")(ok))
	mux.Handle("/machine", g.Client()(ok))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

// call GETs path on srv with token and returns the status.
func call(t *testing.T, srv *httptest.Server, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// awaitRefused polls until srv answers path with 401, failing after 5s:
// how long a revocation may take to reach a resource server.
func awaitRefused(t *testing.T, srv *httptest.Server, path, token, what string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for {
		status := call(t, srv, path, token)
		if status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("%s: the resource server answers %d after %s; want 401 within 5s", what, status, time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGuardLearnsRevocationsFromTheStream runs a real node and, beside
// it, a guard as a resource server would run it; tokens from the node pass
// the guard until they are revoked over HTTP, their client is deleted or
// their user is deleted with the CLI.
func TestGuardLearnsRevocationsFromTheStream(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "Machine", "--scopes", "read")
	g := startGuard(t, n, e.getenv("STAMP_ISSUER"))
	rs := resourceServer(t, g)

	first := issueClientToken(t, n, id, secret)
	for path, want := range map[string]int{"/me": 200, "/read": 200, "/write": 403, "/machine": 200} {
		if got := call(t, rs, path, first); got != want {
			t.Errorf("GET %s with a client token: %d; want %d", path, got, want)
		}
	}

	revokeToken(t, n, id, secret, first)
	took := awaitRefused(t, rs, "/machine", first, "after POST /oauth/revoke")
	t.Logf("the revocation reached the guard within %s of the revoke's answer", took)

	second := issueClientToken(t, n, id, secret)
	if got := call(t, rs, "/machine", second); got != http.StatusOK {
		t.Fatalf("a new token of the client: %d; want 200", got)
	}
	if code, _, errOut := e.run("client", "delete", id); code != 0 {
		t.Fatalf("client delete: exit %d: %s", code, errOut)
	}
	awaitRefused(t, rs, "/machine", second, "after stamp client delete")

	// A personal access token, until its user is deleted.
	if code, _, errOut := e.run("install"); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	email := "ada@example.test"
	userID := e.createUser(n, email, "correct horse battery staple")
	code, out, errOut := e.run("token", "create", "--user", email, "--name", "cli", "--scopes", "read", "--json")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	var pat struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(out), &pat); err != nil || pat.AccessToken == "" {
		t.Fatalf("token create printed %q (%v); want JSON with the token", out, err)
	}
	if got := call(t, rs, "/read", pat.AccessToken); got != http.StatusOK {
		t.Fatalf("a personal access token: %d; want 200", got)
	}
	if got := call(t, rs, "/machine", pat.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("a user's token on a client-only route: %d; want 401", got)
	}
	if code, _, errOut := e.run("user", "delete", email); code != 0 {
		t.Fatalf("user delete: exit %d: %s", code, errOut)
	}
	awaitRefused(t, rs, "/read", pat.AccessToken, "after stamp user delete "+userID)
}

// TestGuardRefusesAnotherIssuer: a guard set up for another issuer accepts
// none of the node's tokens.
func TestGuardRefusesAnotherIssuer(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "Machine")
	rs := resourceServer(t, startGuard(t, n, "https://elsewhere.test"))
	if got := call(t, rs, "/me", issueClientToken(t, n, id, secret)); got != http.StatusUnauthorized {
		t.Errorf("a token of another issuer: %d; want 401", got)
	}
}
