package domain

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

// TestAuditAsOf walks a token through issue, key rotation, revocation and
// its client's deletion, and asks the audit about moments in between.
func TestAuditAsOf(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	t0 := h.clock.t
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	_, claims, _ := h.svc.ValidateAccessToken(ctx, resp.AccessToken)

	h.clock.t = t0.Add(5 * time.Minute)
	next, _ := GenerateSigningKey(ES256, rand.Reader)
	newKid, retired, err := h.svc.RotateSigningKey(ctx, Actor{Kind: ActorCLI}, next)
	if err != nil || len(retired) != 1 {
		t.Fatalf("rotate: got %s %v %v; want one retired key", newKid, retired, err)
	}
	// A token signed before the rotation still validates.
	if _, _, err := h.svc.ValidateAccessToken(ctx, resp.AccessToken); err != nil {
		t.Errorf("a token signed before the rotation: got %v; want valid", err)
	}

	h.clock.t = t0.Add(10 * time.Minute)
	if err := h.svc.RevokeAccessToken(ctx, Actor{Kind: ActorUser, ID: "alice"}, claims.ID, ReasonRevokedByAdmin); err != nil {
		t.Fatal(err)
	}
	h.clock.t = t0.Add(20 * time.Minute)
	if err := h.svc.DeleteClient(ctx, Actor{Kind: ActorCLI}, cc.ID, ""); err != nil {
		t.Fatal(err)
	}

	recs := h.log.recs
	tests := []struct {
		at      time.Time
		valid   bool
		reason  string
		revoked bool
	}{
		{t0.Add(-time.Minute), false, "not issued", false},
		{t0.Add(time.Minute), true, "", false},
		{t0.Add(7 * time.Minute), true, "", false},
		{t0.Add(15 * time.Minute), false, "revoked", true},
		{t0.Add(25 * time.Minute), false, "deleted", true},
		{t0.Add(31 * time.Minute), false, "expired", true},
	}
	for _, tt := range tests {
		a, err := AuditToken(recs, claims.ID, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if a.Valid != tt.valid || (tt.reason != "" && !strings.Contains(strings.Join(a.Reasons, ";"), tt.reason)) {
			t.Errorf("at +%v: got valid=%v %v; want valid=%v mentioning %q", tt.at.Sub(t0), a.Valid, a.Reasons, tt.valid, tt.reason)
		}
		if (a.Revoked != nil) != tt.revoked || (a.Revoked != nil && a.Revoked.Actor != (Actor{Kind: ActorUser, ID: "alice"})) {
			t.Errorf("at +%v: got revoked by %+v; want revoked=%v by alice", tt.at.Sub(t0), a.Revoked, tt.revoked)
		}
		if len(a.History) != 2 {
			t.Errorf("at +%v: got %d history entries; want 2 (created, revoked)", tt.at.Sub(t0), len(a.History))
		}
	}

	ca, err := AuditSubject(recs, KindClient, cc.ID, t0.Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if ca.Client == nil || ca.Client.Deleted || len(ca.Tokens) != 1 || !ca.Tokens[0].Revoked {
		t.Errorf("client as of +15m: got %+v; want live client with one revoked token", ca)
	}
	if len(ca.History) != 4 {
		t.Errorf("client history: got %d entries; want 4 (registered, token created, revoked, deleted)", len(ca.History))
	}
}

func TestPurgeDecision(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	p := TokensPurged{Before: now.Add(-168 * time.Hour), Revoked: true, Expired: false}
	old, recent := now.Add(-200*time.Hour), now.Add(-time.Hour)
	if !p.Purges(true, old, now.Add(time.Hour)) || p.Purges(true, recent, now.Add(time.Hour)) || p.Purges(false, time.Time{}, old) {
		t.Errorf("revoked-only purge decides wrongly")
	}
	p.Expired = true
	if !p.Purges(false, time.Time{}, old) || p.Purges(false, time.Time{}, recent) {
		t.Errorf("expired purge decides wrongly")
	}
	h := newHarness(t, EdDSA)
	if _, err := h.svc.Purge(context.Background(), Actor{Kind: ActorCLI}, false, false, time.Hour); err == nil {
		t.Errorf("purge of nothing: got nil; want a validation error")
	}
	e, err := h.svc.Purge(context.Background(), Actor{Kind: ActorCLI}, true, true, 168*time.Hour)
	if err != nil || !e.Before.Equal(h.clock.t.Add(-168*time.Hour)) {
		t.Errorf("purge: got %+v, %v", e, err)
	}
}

func TestRefreshFamilyFold(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var f RefreshFamily
	f = ApplyRefreshFamily(f, RefreshTokenRevoked{FamilyID: "f"}, 1, at)
	if f.ID != "" {
		t.Fatalf("a revocation of an unknown family created %+v", f)
	}
	f = ApplyRefreshFamily(f, RefreshTokenCreated{FamilyID: "f", RefreshTokenID: "r1", TokenHash: "h1", AccessTokenID: "a1", ClientID: "c", UserID: "u", IssuedAt: at, ExpiresAt: at.Add(time.Hour)}, 2, at)
	f = ApplyRefreshFamily(f, RefreshTokenCreated{FamilyID: "f", RefreshTokenID: "r2", ParentID: "r1", TokenHash: "h2", AccessTokenID: "a2", ClientID: "c", UserID: "u", IssuedAt: at.Add(time.Minute), ExpiresAt: at.Add(2 * time.Hour)}, 3, at)
	if f.TokenID != "r2" || f.TokenHash != "h2" || len(f.Rotated) != 1 || f.Rotated[0] != (RotatedToken{ID: "r1", Hash: "h1", RotatedAt: at}) || !f.CreatedAt.Equal(at) || f.Seq != 3 {
		t.Errorf("after rotation: got %+v", f)
	}
	if !f.Live(at.Add(time.Hour)) {
		t.Errorf("want live before expiry")
	}
	f = ApplyRefreshFamily(f, RefreshTokenReuseDetected{FamilyID: "f", RefreshTokenID: "r1"}, 4, at)
	f = ApplyRefreshFamily(f, RefreshTokenRevoked{FamilyID: "f", RefreshTokenID: "r2", Reason: ReasonReuseDetected}, 5, at)
	if !f.Revoked || !f.ReuseDetected || f.Live(at) || f.RevokeReason != ReasonReuseDetected {
		t.Errorf("after reuse: got %+v", f)
	}
}

func TestDerivedIDIsStable(t *testing.T) {
	a, b := DerivedID("evt-1", "token/x"), DerivedID("evt-1", "token/x")
	if a != b || a == DerivedID("evt-2", "token/x") || a == DerivedID("evt-1", "token/y") || !ValidID(a) {
		t.Errorf("DerivedID is not a stable, distinct, valid id: %s", a)
	}
}

// TestAuditAcrossRefresh asks about the access tokens of a refresh token
// family before and after a rotation: the rotated-out token was valid
// until the refresh, revoked by it after, and the family's history names
// both tokens.
func TestAuditAcrossRefresh(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	t0 := h.clock.t
	first, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	_, c1, _ := h.svc.ValidateAccessToken(ctx, first.AccessToken)
	h.clock.t = t0.Add(10 * time.Minute)
	second, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Form: map[string]string{"refresh_token": first.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	_, c2, _ := h.svc.ValidateAccessToken(ctx, second.AccessToken)

	before, err := AuditToken(h.log.recs, c1.ID, t0.Add(5*time.Minute))
	if err != nil || !before.Valid {
		t.Errorf("the first token before the refresh: got %+v, %v; want valid", before.Reasons, err)
	}
	after, _ := AuditToken(h.log.recs, c1.ID, t0.Add(15*time.Minute))
	if after.Valid || after.Revoked == nil || after.Token.RevokeReason != ReasonRotated {
		t.Errorf("the first token after the refresh: got valid=%v %v; want revoked by the rotation", after.Valid, after.Reasons)
	}
	if a, _ := AuditToken(h.log.recs, c2.ID, t0.Add(5*time.Minute)); a.Valid {
		t.Errorf("the second token before it was issued: got valid")
	}
	if a, _ := AuditToken(h.log.recs, c2.ID, t0.Add(15*time.Minute)); !a.Valid {
		t.Errorf("the second token after the refresh: got %v; want valid", a.Reasons)
	}
	ua, err := AuditSubject(h.log.recs, KindUser, u.ID, t0.Add(15*time.Minute))
	if err != nil || len(ua.Tokens) != 2 || len(ua.Families) != 1 || len(ua.Families[0].Rotated) != 1 {
		t.Errorf("the user as of +15m: got %d tokens, %d families, %v; want 2 tokens in one family rotated once", len(ua.Tokens), len(ua.Families), err)
	}
}
