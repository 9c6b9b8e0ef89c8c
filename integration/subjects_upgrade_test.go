package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// TestSubjectsUpgradeFromPerIDLog: a log written before the shards, with a
// refresh family and an access token on their own per-id subjects
// (stamp.refresh.<id>.…, stamp.token.<jti>.…), keeps working without a
// migration: the family rotates (a decision on an old aggregate, whose new
// events go on its shard), its reuse is detected, and `stamp events
// --token` and `stamp audit token` find the token's events on both
// subjects through the event index.
func TestSubjectsUpgradeFromPerIDLog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	srv, err := eventstore.StartServer(eventstore.ServerOptions{StoreDir: filepath.Join(e.dataDir, "jetstream"), Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := eventstore.Open(ctx, eventstore.Options{InProcess: srv})
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	const secret = "upgrade-secret-0123456789"
	const refresh = "upgrade-refresh-token-0123456789-abcdefghij"
	now := time.Now().UTC()
	client := domain.ClientRegistered{ClientID: "legacy", Name: "legacy", SecretHash: domain.HashSecret(secret),
		Grants: []string{domain.GrantClientCredentials, domain.GrantRefreshToken}, RegisteredAt: now}
	env, err := domain.NewEnvelope("up-1", client, now, domain.Actor{Kind: domain.ActorCLI})
	if err == nil {
		_, err = old.Append(ctx, client.AggregateOf(), domain.ExpectAny, env)
	}
	old.Close()
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	// The old subjects, written as the version before the shards did.
	nk, err := nats.NkeyOptionFromSeed(srv.SeedFile(eventstore.RoleWriter))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nk, nats.CustomInboxPrefix(eventstore.RoleWriter.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		subject string
		event   domain.Event
	}{
		{"stamp.token.at-legacy.AccessTokenCreated", domain.AccessTokenCreated{TokenID: "at-legacy", ClientID: "legacy", Scopes: []string{"read"},
			GrantType: domain.GrantRefreshToken, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}},
		{"stamp.refresh.fam-legacy.RefreshTokenCreated", domain.RefreshTokenCreated{FamilyID: "fam-legacy", RefreshTokenID: "rt-1",
			TokenHash: domain.HashSecret(refresh), AccessTokenID: "at-legacy", ClientID: "legacy", Scopes: []string{"read"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}},
	} {
		m := nats.NewMsg(p.subject)
		m.Data = envelopeOf(t, "up-"+p.event.EventType(), p.event)
		if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
			t.Fatalf("publish %s: %v", p.subject, err)
		}
	}
	nc.Close()
	srv.Shutdown()

	n := e.start()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", "legacy", secret, form)
	if status != http.StatusOK {
		t.Fatalf("rotating the old family: %d %s; want 200", status, body)
	}
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", "legacy", secret, form); status != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") {
		t.Errorf("reusing the rotated-out token: %d %s; want invalid_grant", status, body)
	}

	code, out, errOut := e.run("events", "--no-follow", "--token", "at-legacy")
	if code != 0 {
		t.Fatalf("events --token: exit %d %s", code, errOut)
	}
	var subjects []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Subject string
			Event   domain.Envelope
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("events printed %q: %v", line, err)
		}
		subjects = append(subjects, l.Subject)
	}
	tok := domain.Aggregate{Kind: domain.KindToken, ID: "at-legacy"}
	if len(subjects) != 2 || subjects[0] != "stamp.token.at-legacy.AccessTokenCreated" || subjects[1] != tok.Subject("AccessTokenRevoked") {
		t.Errorf("events --token at-legacy on %v; want the old creation and the revocation on the shard", subjects)
	}
	code, out, errOut = e.run("audit", "token", "at-legacy", "--json")
	var a domain.TokenAudit
	if code != 0 || json.Unmarshal([]byte(out), &a) != nil {
		t.Fatalf("audit token: exit %d %s %s", code, out, errOut)
	}
	if a.Token.ID != "at-legacy" || a.Revoked == nil || a.Valid {
		t.Errorf("audit token at-legacy: %+v; want the token, revoked by the rotation", a)
	}
}
