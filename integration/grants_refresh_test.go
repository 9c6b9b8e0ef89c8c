package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// refresh: x/oauth2 refreshes an expired token (rotation; the replaced
// access token is revoked); a narrower scope is allowed, a broader one is
// invalid_scope; the family's live refresh token introspects as active
// for its client. The token Refresh rotated out is presented again by
// RefreshReuse, steps later.
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

	live := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(narrow.RefreshToken, ""))
	g.keepToken(live.AccessToken, live.RefreshToken)
	if live.status != http.StatusOK {
		t.Fatalf("the family's live refresh token: got %d %q; want 200", live.status, live.Error)
	}
	if live.Scope != "read write" {
		t.Errorf("got scope %q after a narrower refresh; want the family's read write", live.Scope)
	}
	if in := g.introspect(t, live.RefreshToken); in["active"] != true || in["token_type"] != "refresh_token" || in["scope"] != "read write" || in["client_id"] != g.conf.ClientID {
		t.Errorf("introspection of the live refresh token: got %v; want active, refresh_token, read write, %s", in, g.conf.ClientID)
	}
	if in := g.introspect(t, fresh.RefreshToken); in["active"] != false {
		t.Errorf("introspection of a rotated-out refresh token: got %v; want inactive", in)
	}
	g.reuse = reuseCheck{rotated: fresh.RefreshToken, live: live}
}

// refreshReuse: the token Refresh rotated out, presented again long after
// its rotation was committed (steps later), is reuse (RFC 9700 §4.14.2):
// invalid_grant, and the family's live tokens are revoked at once.
func (g *grantRun) refreshReuse(t *testing.T) {
	if !g.active(t, g.reuse.live.AccessToken) || !g.active(t, g.reuse.live.RefreshToken) {
		t.Fatal("the family's live tokens are not active before the reuse")
	}
	a := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(g.reuse.rotated, ""))
	wantTokenError(t, "a rotated-out refresh token", a, "invalid_grant")
	if g.active(t, g.reuse.live.AccessToken) {
		t.Error("the family's access token is still active after reuse was detected")
	}
	if g.active(t, g.reuse.live.RefreshToken) {
		t.Error("the family's refresh token still introspects as active after reuse was detected")
	}
	a = mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(g.reuse.live.RefreshToken, ""))
	wantTokenError(t, "the family's live refresh token after reuse", a, "invalid_grant")
}

// refreshRace: 16 concurrent refreshes with one refresh token, 20 times
// over (each round with the last winner's token): exactly one gets
// tokens, the others invalid_grant, and the access token the winner
// replaced is inactive.
//
// With no rotation grace (the default), a loser whose request reached the
// server only after the winner's rotation was committed presents a
// rotated-out token: that is reuse, and revokes the family. Over real
// HTTP on a busy machine that happens in some rounds, so each round
// checks that the answers and the family agree: a loser answered "used
// concurrently" read the family before the rotation was committed; if
// every loser was, the family lives on (the winner's access token is
// active); if any loser was answered as reuse, the family is revoked, and
// the next round starts a new one. The domain's race test, which holds
// the appends until every racer has read, and TestRefreshRotationGrace
// check that the family always lives when no loser came late.
func (g *grantRun) refreshRace(t *testing.T) {
	family := func() (refresh, access string) {
		code, verifier := g.codeWithoutScreen(t, g.conf)
		tok, err := g.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		g.keepToken(tok.AccessToken, tok.RefreshToken)
		return tok.RefreshToken, tok.AccessToken
	}
	rt, prev := family()
	late := 0
	for round := range 20 {
		answers := race(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(rt, ""), 16)
		w := oneWinner(t, fmt.Sprintf("round %d", round), answers)
		g.keepToken(w.AccessToken, w.RefreshToken)
		if g.active(t, prev) {
			t.Errorf("round %d: the access token the winner replaced is still active", round)
		}
		reused := false
		for _, a := range answers {
			if a.status != http.StatusOK && !strings.Contains(a.Description, "concurrently") {
				reused = true
			}
		}
		if !reused {
			if !g.active(t, w.AccessToken) {
				t.Fatalf("round %d: every loser lost the race, yet the winner's access token is not active", round)
			}
			rt, prev = w.RefreshToken, w.AccessToken
			continue
		}
		late++
		if g.active(t, w.AccessToken) {
			t.Fatalf("round %d: a loser was answered as reuse, yet the family's access token is active", round)
		}
		rt, prev = family()
	}
	t.Logf("%d of 20 rounds had a loser arrive after the rotation was committed (reuse)", late)
}
