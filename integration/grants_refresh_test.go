package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// reuseGrace is domain.Config.RefreshReuseGrace as the node sets it (the
// default; it is not a setting).
const reuseGrace = 5 * time.Second

// refresh: x/oauth2 refreshes an expired token (rotation; the replaced
// access token is revoked); a narrower scope is allowed, a broader one is
// invalid_scope; a rotated-out token presented within the grace period
// is invalid_grant and revokes nothing.
func (g *grantRun) refresh(t *testing.T) {
	old := *g.tok
	old.Expiry = time.Now().Add(-time.Minute) // x/oauth2 refreshes a token it holds expired
	fresh, err := g.conf.TokenSource(context.Background(), &old).Token()
	if err != nil {
		t.Fatalf("refresh through x/oauth2: %v", err)
	}
	g.keepToken(fresh.AccessToken, fresh.RefreshToken)
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == old.RefreshToken {
		t.Fatalf("the refresh returned the old tokens or no refresh token; want both rotated")
	}
	if g.active(t, old.AccessToken) {
		t.Error("the access token a refresh replaced is still active")
	}
	if !g.active(t, fresh.AccessToken) {
		t.Error("the refreshed access token is not active")
	}

	narrow := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(fresh.RefreshToken, "read"))
	rotatedAt := time.Now() // fresh.RefreshToken was rotated out at the latest now
	g.keepToken(narrow.AccessToken, narrow.RefreshToken)
	if narrow.status != http.StatusOK || narrow.Scope != "read" {
		t.Fatalf("narrower scope: got %d %q %s, scope %q; want 200 with scope read", narrow.status, narrow.Error, narrow.Description, narrow.Scope)
	}
	if in := g.introspect(t, narrow.AccessToken); in["active"] != true || in["scope"] != "read" {
		t.Errorf("the narrower token: got %v; want active with scope read", in)
	}

	// The native app's family holds read only.
	broad := mustToken(t, g.tokenURL(), g.pub.ClientID, "", refreshForm(g.pubTok.RefreshToken, "read write"))
	wantTokenError(t, "broader scope", broad, "invalid_scope")

	// Within the grace period a rotated-out token is taken for the loser
	// of a concurrent use: refused, and the family lives on.
	again := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(fresh.RefreshToken, ""))
	wantTokenError(t, "a rotated-out token within the grace period", again, "invalid_grant")
	if !g.active(t, narrow.AccessToken) {
		t.Error("a rotated-out token within the grace period revoked the family's access token")
	}
	live := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(narrow.RefreshToken, ""))
	g.keepToken(live.AccessToken, live.RefreshToken)
	if live.status != http.StatusOK {
		t.Fatalf("the family's live refresh token after a rotated-out one within grace: got %d %q; want 200", live.status, live.Error)
	}
	if live.Scope != "read write" {
		t.Errorf("got scope %q after a narrower refresh; want the family's read write", live.Scope)
	}
	g.reuse = reuseCheck{rotated: fresh.RefreshToken, rotatedAt: rotatedAt, live: live}
}

// refreshReuseAfterGrace: the rotated-out token of Refresh, presented
// after the grace period, is reuse (RFC 9700 §4.14.2): invalid_grant, and
// the family's live tokens are revoked.
func (g *grantRun) refreshReuseAfterGrace(t *testing.T) {
	// The one wait of the test that is not a poll: the grace period is a
	// span of time the server measures, not an effect to poll for. The
	// device flow before this step has usually spent it already.
	time.Sleep(time.Until(g.reuse.rotatedAt.Add(reuseGrace + 500*time.Millisecond)))
	a := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(g.reuse.rotated, ""))
	wantTokenError(t, "a rotated-out token after the grace period", a, "invalid_grant")
	if g.active(t, g.reuse.live.AccessToken) {
		t.Error("the family's access token is still active after reuse was detected")
	}
	a = mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(g.reuse.live.RefreshToken, ""))
	wantTokenError(t, "the family's live refresh token after reuse", a, "invalid_grant")
}

// refreshRace: 16 concurrent refreshes with one refresh token, 20 times
// over (each round with the last winner's token): exactly one gets
// tokens, the others invalid_grant, and the winner's access token is
// active while the one it replaced is not.
func (g *grantRun) refreshRace(t *testing.T) {
	code, verifier := g.codeWithoutScreen(t, g.conf)
	tok, err := g.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	rt, prev := tok.RefreshToken, tok.AccessToken
	for round := range 20 {
		w := oneWinner(t, fmt.Sprintf("round %d", round), race(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(rt, ""), 16))
		g.keepToken(w.AccessToken, w.RefreshToken)
		if !g.active(t, w.AccessToken) {
			t.Fatalf("round %d: the winner's access token is not active", round)
		}
		if g.active(t, prev) {
			t.Errorf("round %d: the access token the winner replaced is still active", round)
		}
		rt, prev = w.RefreshToken, w.AccessToken
	}
}
