package integration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/listeners"
	"github.com/stamp-oauth/stamp/projections"
)

// rawPublisher publishes messages straight on the stream through n's NATS,
// bypassing stamp, as a holder of a stolen writer identity could: only the
// log signature tells its messages apart.
type rawPublisher struct {
	t  *testing.T
	nc *nats.Conn
}

func newRawPublisher(t *testing.T, n *app.Node) *rawPublisher {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(n.NATSSeedFile(eventstore.RoleWriter))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(n.NATSURL(), nk, nats.CustomInboxPrefix(eventstore.RoleWriter.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &rawPublisher{t: t, nc: nc}
}

// publish stores body on subject with headers and returns its sequence.
func (p *rawPublisher) publish(subject string, h nats.Header, body []byte) uint64 {
	p.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range h {
		m.Header[k] = v
	}
	resp, err := p.nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		p.t.Fatalf("publish %s: %v", subject, err)
	}
	var ack struct {
		Seq   uint64          `json:"seq"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Seq == 0 {
		p.t.Fatalf("publish %s: %s", subject, resp.Data)
	}
	return ack.Seq
}

// envelopeOf returns the JSON envelope of e as stamp would write it.
func envelopeOf(t *testing.T, id string, e domain.Event) []byte {
	t.Helper()
	env, err := domain.NewEnvelope(id, e, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedHeaders returns the headers of a message signed with key under kid.
func signedHeaders(key ed25519.PrivateKey, kid, subject, id string, body []byte) nats.Header {
	h := nats.Header{}
	h.Set("Nats-Msg-Id", id)
	h.Set(eventstore.HeaderKey, kid)
	h.Set(eventstore.HeaderSignature, domain.SignLogEvent(key, subject, id, body))
	return h
}

// localLogKey reads the node's log-signing key from the data directory.
func localLogKey(t *testing.T, e *env) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dataDir, "keys", "log-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := domain.ParseLogPrivateKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// jtiOf returns the jti claim of a JWT, unverified.
func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("JWT claims %s: %v", b, err)
	}
	return claims.JTI
}

// tokenStatus asks for a client-credentials token and returns the status.
func tokenStatus(t *testing.T, n *app.Node, clientID, secret string) int {
	t.Helper()
	status, _, _ := postForm(t, n.HTTPURL()+"/oauth/token", clientID, secret, url.Values{"grant_type": {"client_credentials"}})
	return status
}

// parkedSeqs returns the sequences of parked events.
func parkedSeqs(parked []projections.ParkedEvent) []uint64 {
	out := make([]uint64, 0, len(parked))
	for _, p := range parked {
		out = append(out, p.Seq)
	}
	return out
}

// TestForgedEventsAreRefused: events published on the stream by someone
// without the log-signing key — signed with another key, unsigned, or a
// signed one with its payload altered — are refused by the read models
// (the forged clients get no token, the forged revocation revokes
// nothing), parked by the listeners, and reported by stamp verify, also
// by an auditor holding only the public key the HTTP API serves.
func TestForgedEventsAreRefused(t *testing.T) {
	e := newEnv(t, "STAMP_LISTENERS", `{"revoke_old_tokens":true}`)
	n := e.start()
	waitSettled(t, n, listeners.RevokeOldTokensName, 0, 15*time.Second)
	realID, realSecret := e.createClient(n, "real")
	token := issueClientToken(t, n, realID, realSecret)
	key := localLogKey(t, e)
	kid := domain.LogKeyID(key.Public().(ed25519.PublicKey))
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	pub := newRawPublisher(t, n)

	const secret = "forged-secret-0123456789"
	client := func(id string, grants ...string) (string, []byte) {
		agg := domain.Aggregate{Kind: domain.KindClient, ID: id}
		return agg.Subject("ClientRegistered"), envelopeOf(t, "forged-"+id, domain.ClientRegistered{
			ClientID: id, Name: id, SecretHash: domain.HashSecret(secret), Grants: grants, RegisteredAt: time.Now(),
		})
	}
	var forged []uint64
	// Signed with another key, under the real key's id.
	subj, body := client("evil-other-key", domain.GrantClientCredentials)
	forged = append(forged, pub.publish(subj, signedHeaders(otherKey, kid, subj, "forged-evil-other-key", body), body))
	// Unsigned.
	subj, body = client("evil-unsigned", domain.GrantClientCredentials)
	h := nats.Header{}
	h.Set("Nats-Msg-Id", "forged-evil-unsigned")
	forged = append(forged, pub.publish(subj, h, body))
	// Signed with the real key, then altered: the grant changed.
	subj, body = client("evil-altered", domain.GrantAuthorizationCode)
	h = signedHeaders(key, kid, subj, "forged-evil-altered", body)
	body = bytes.Replace(body, []byte(domain.GrantAuthorizationCode), []byte(domain.GrantClientCredentials), 1)
	forged = append(forged, pub.publish(subj, h, body))
	// An unsigned revocation of the real token.
	jti := jtiOf(t, token)
	tokAgg := domain.Aggregate{Kind: domain.KindToken, ID: jti}
	body = envelopeOf(t, "forged-revoke", domain.AccessTokenRevoked{TokenID: jti, ClientID: realID, Reason: domain.ReasonRevokedByClient})
	h = nats.Header{}
	h.Set("Nats-Msg-Id", "forged-revoke")
	forged = append(forged, pub.publish(tokAgg.Subject("AccessTokenRevoked"), h, body))
	// An unsigned token for the revoke-old-tokens listener.
	fakeTok := domain.Aggregate{Kind: domain.KindToken, ID: "forged-token"}
	body = envelopeOf(t, "forged-created", domain.AccessTokenCreated{TokenID: "forged-token", ClientID: realID, GrantType: domain.GrantClientCredentials, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	h = nats.Header{}
	h.Set("Nats-Msg-Id", "forged-created")
	listenerForged := pub.publish(fakeTok.Subject("AccessTokenCreated"), h, body)
	forged = append(forged, listenerForged)

	// A real event after them: once it is applied, they were passed.
	e.createClient(n, "after")
	waitApplied(t, n, lastSeq(t, n))

	for _, id := range []string{"evil-other-key", "evil-unsigned", "evil-altered"} {
		if got := tokenStatus(t, n, id, secret); got != http.StatusUnauthorized {
			t.Errorf("token for forged client %s: status %d; want 401", id, got)
		}
	}
	if got := introspect(t, n, realID, realSecret, token); got["active"] != true {
		t.Errorf("the real token after a forged revocation introspects as %v; want active", got)
	}
	parked, err := n.Parked()
	if err != nil {
		t.Fatal(err)
	}
	if got := parkedSeqs(parked); !slices.Equal(got, forged) {
		t.Errorf("read models parked %v (%+v); want %v", got, parked, forged)
	}
	for _, p := range parked {
		if !strings.HasPrefix(p.Reason, "refused: ") {
			t.Errorf("parked %d for %q; want a refusal", p.Seq, p.Reason)
		}
	}
	if ls := n.Store().LogSigning(); ls.Refused < uint64(len(forged)) {
		t.Errorf("the store counted %d refusals; want at least %d", ls.Refused, len(forged))
	}
	select {
	case err := <-n.Err():
		t.Errorf("the read models stopped: %v", err)
	default:
	}

	// The listener parked the forged token instead of handling it.
	waitSettled(t, n, listeners.RevokeOldTokensName, listenerForged, 15*time.Second)
	code, out, errOut := e.run("listeners", "--json")
	if code != 0 {
		t.Fatalf("stamp listeners: exit %d: %s", code, errOut)
	}
	var report struct {
		Parked []struct {
			Listener string `json:"listener"`
			Seq      uint64 `json:"seq"`
			Reason   string `json:"reason"`
		} `json:"parked"`
		ReadModels []projections.ParkedEvent `json:"read_models_parked"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("stamp listeners --json: %v: %s", err, out)
	}
	if len(report.Parked) != 1 || report.Parked[0].Seq != listenerForged || report.Parked[0].Listener != listeners.RevokeOldTokensName || !strings.Contains(report.Parked[0].Reason, "unsigned") {
		t.Errorf("listeners parked %+v; want sequence %d by %s, unsigned", report.Parked, listenerForged, listeners.RevokeOldTokensName)
	}
	if got := parkedSeqs(report.ReadModels); !slices.Equal(got, forged) {
		t.Errorf("stamp listeners shows the read models parked %v; want %v", got, forged)
	}

	// stamp verify reports each, with the local key and with the served one.
	var keys struct {
		Keys []struct {
			KeyID     string `json:"kid"`
			X         string `json:"x"`
			AdoptedAt uint64 `json:"adopted_at"`
		} `json:"keys"`
	}
	getJSON(t, n.HTTPURL()+"/.well-known/stamp-log-keys.json", &keys)
	if len(keys.Keys) != 1 || keys.Keys[0].KeyID != kid || keys.Keys[0].AdoptedAt != 0 {
		t.Fatalf("stamp-log-keys.json = %+v; want the key %s adopted at 0", keys, kid)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--public-key", keys.Keys[0].X}} {
		code, out, errOut := e.run(args...)
		if code != 1 {
			t.Errorf("stamp %v: exit %d; want 1\n%s%s", args, code, out, errOut)
		}
		for _, seq := range forged {
			if !strings.Contains(out, fmt.Sprintf("sequence %d: refused: ", seq)) {
				t.Errorf("stamp %v does not report sequence %d:\n%s", args, seq, out)
			}
		}
		if !strings.Contains(out, fmt.Sprintf(": %d problems", len(forged))) || !strings.Contains(errOut, "verify: ") {
			t.Errorf("stamp %v: stdout %q, stderr %q; want %d problems and progress", args, out, errOut, len(forged))
		}
	}
}

// TestNewerVersionKeepsServing reproduces finding 2: an event of a known
// type at version 99 used to stop the read models, so `stamp serve` exited
// and every restart failed. Now it is parked, blocks the later events of
// its client, the server keeps serving and restarts, stamp verify lists it,
// and a rebuild gives the live checksum.
func TestNewerVersionKeepsServing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	blockedID, blockedSecret := e.createClient(n, "blocked")
	otherID, otherSecret := e.createClient(n, "other")

	agg := domain.Aggregate{Kind: domain.KindClient, ID: blockedID}
	future, err := domain.NewEnvelope("v99", domain.ClientUpdated{ClientID: blockedID, Name: "from the future"}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	future.Version = 99
	seq99, err := n.Store().Append(ctx, agg, domain.ExpectAny, future)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := domain.NewEnvelope("del", domain.ClientDeleted{ClientID: blockedID}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	seqDel, err := n.Store().Append(ctx, agg, domain.ExpectAny, deleted)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, n, seqDel)

	check := func(n *app.Node, when string) {
		t.Helper()
		parked, err := n.Parked()
		if err != nil {
			t.Fatal(err)
		}
		want := []uint64{seq99, seqDel}
		if got := parkedSeqs(parked); !slices.Equal(got, want) || !parked[0].Blocks || parked[1].BlockedBehind != seq99 {
			t.Errorf("%s: parked %+v; want %v, the second blocked behind the first", when, parked, want)
		}
		if got := tokenStatus(t, n, otherID, otherSecret); got != http.StatusOK {
			t.Errorf("%s: token for another client: %d; want 200", when, got)
		}
		// The delete waits behind the newer event: the client is as it was.
		if got := tokenStatus(t, n, blockedID, blockedSecret); got != http.StatusOK {
			t.Errorf("%s: token for the blocked client: %d; want 200 (its delete is parked)", when, got)
		}
		select {
		case err := <-n.Err():
			t.Errorf("%s: the read models stopped: %v", when, err)
		default:
		}
	}
	check(n, "live")
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n = e.start() // used to fail
	check(n, "after a restart")
	live, err := n.Views().Checksum()
	if err != nil {
		t.Fatal(err)
	}
	last := n.Views().Checkpoint()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := e.run("verify")
	if code != 1 || !strings.Contains(out, fmt.Sprintf("sequence %d: ClientUpdated version 99 is newer than this stamp knows", seq99)) {
		t.Errorf("stamp verify: exit %d; want 1 and sequence %d listed\n%s%s", code, seq99, out, errOut)
	}
	code, out, errOut = e.run("listeners")
	if code != 0 || !strings.Contains(out, "blocked behind sequence "+fmt.Sprint(seq99)) {
		t.Errorf("stamp listeners: exit %d; want the parked events listed\n%s%s", code, out, errOut)
	}
	code, out, errOut = e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay: exit %d\n%s%s", code, out, errOut)
	}
	if got := parseReplay(t, out); got.rebuilt != live || got.live != live {
		t.Errorf("stamp replay: live %s, rebuilt %s; want both %s", got.live, got.rebuilt, live)
	}
	if sum, seq := storeChecksum(t, filepath.Join(e.dataDir, "projections")); sum != live || seq != last {
		t.Errorf("after the replay: checksum %s at %d; want %s at %d", sum, seq, live, last)
	}
}

// TestLogSigningUpgrade: a log written before signing existed (no
// signatures) is adopted at the first start: the announcement records the
// last sequence, the old events stay valid, and stamp verify finds the log
// clean.
func TestLogSigningUpgrade(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	srv, err := eventstore.StartServer(eventstore.ServerOptions{StoreDir: filepath.Join(e.dataDir, "jetstream"), Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := eventstore.Open(ctx, eventstore.Options{InProcess: srv}) // no LogKey: an old stamp
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	const secret = "legacy-secret-0123456789"
	env, err := domain.NewEnvelope("legacy-1", domain.ClientRegistered{
		ClientID: "legacy", Name: "legacy", SecretHash: domain.HashSecret(secret),
		Grants: []string{domain.GrantClientCredentials}, RegisteredAt: time.Now(),
	}, time.Now(), domain.Actor{Kind: domain.ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	legacySeq, err := old.Append(ctx, domain.Aggregate{Kind: domain.KindClient, ID: "legacy"}, domain.ExpectAny, env)
	old.Close()
	srv.Shutdown()
	if err != nil {
		t.Fatal(err)
	}

	n := e.start()
	if ls := n.Store().LogSigning(); !ls.Adopted || ls.AdoptedAt != legacySeq {
		t.Errorf("LogSigning = %+v; want adopted at %d", ls, legacySeq)
	}
	if got := tokenStatus(t, n, "legacy", secret); got != http.StatusOK {
		t.Errorf("token for the legacy client: %d; want 200", got)
	}
	if parked, err := n.Parked(); err != nil || len(parked) != 0 {
		t.Errorf("parked %+v, %v; want none", parked, err)
	}
	// An unsigned event after the adoption is refused.
	h := nats.Header{}
	h.Set("Nats-Msg-Id", "late")
	late := newRawPublisher(t, n).publish("stamp.client.late.ClientRegistered", h, envelopeOf(t, "late", domain.ClientRegistered{ClientID: "late", Name: "late", RegisteredAt: time.Now()}))
	waitApplied(t, n, late)
	if parked, err := n.Parked(); err != nil || len(parked) != 1 || parked[0].Seq != late {
		t.Errorf("parked %+v, %v; want the late unsigned event", parked, err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.run("verify")
	if code != 1 || !strings.Contains(out, fmt.Sprintf("adopted at sequence %d", legacySeq)) || !strings.Contains(out, fmt.Sprintf("sequence %d: refused: unsigned event after log signing was adopted", late)) || !strings.Contains(out, ": 1 problems") {
		t.Errorf("stamp verify: exit %d; want 1, adopted at %d, only %d reported\n%s%s", code, legacySeq, late, out, errOut)
	}
}
