package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/listeners"
	"github.com/stamp-oauth/stamp/projections"
)

// TestWebhookListener runs a webhook against a real receiver: every
// matching event arrives once, signed, in stream order; a failing receiver
// gets the event again until it recovers; one that keeps failing has the
// event parked, the consumer moves on, and `stamp listeners` names it.
func TestWebhookListener(t *testing.T) {
	types := []string{"AccessTokenCreated", "AccessTokenRevoked"}
	hook := newHookReceiver("0123456789abcdef0123", types)
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	cfg, err := json.Marshal(map[string]any{
		"max_attempts": 3,
		"webhooks":     []map[string]any{{"name": "test", "url": srv.URL, "secret": "0123456789abcdef0123", "types": types}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "STAMP_LISTENERS", string(cfg))
	n := e.start()
	// A new consumer starts with the events appended after its creation.
	waitSettled(t, n, "webhook-test", 0, 15*time.Second)
	from := lastSeq(t, n) + 1
	clientID, secret := e.createClient(n, "hooked")

	// Exactly once, signed, in order, only the configured types.
	var tokens []string
	for range 5 {
		tokens = append(tokens, issueClientToken(t, n, clientID, secret))
	}
	for _, tok := range tokens[:2] {
		revokeToken(t, n, clientID, secret, tok)
	}
	want := eventsSince(t, n, from, types...)
	if len(want) != 7 {
		t.Fatalf("the log holds %d matching events; want 5 created and 2 revoked", len(want))
	}
	waitSettled(t, n, "webhook-test", lastSeq(t, n), 15*time.Second)
	got := hook.snapshot()
	for _, r := range want {
		if got.delivered[r.Envelope.ID] != 1 || got.attempts[r.Envelope.ID] != 1 {
			t.Errorf("event %d (%s %s): delivered %d times in %d requests; want once in one",
				r.Seq, r.Envelope.Type, r.Envelope.ID, got.delivered[r.Envelope.ID], got.attempts[r.Envelope.ID])
		}
	}
	if len(got.delivered) != len(want) {
		t.Errorf("the receiver got %d distinct events; want %d", len(got.delivered), len(want))
	}

	// A receiver failing for a while gets the event again (same id) and
	// takes it once it recovers; the next event waits for it.
	hook.fail("AccessTokenRevoked", 2)
	from = lastSeq(t, n) + 1
	revokeToken(t, n, clientID, secret, tokens[2])
	issueClientToken(t, n, clientID, secret)
	retried := eventsSince(t, n, from, "AccessTokenRevoked")[0]
	waitSettled(t, n, "webhook-test", lastSeq(t, n), 15*time.Second)
	got = hook.snapshot()
	if id := retried.Envelope.ID; got.attempts[id] != 3 || got.delivered[id] != 1 {
		t.Errorf("the retried revocation: %d requests, delivered %d times; want 3 requests, delivered once", got.attempts[id], got.delivered[id])
	}
	if parked := parkedBy(t, n, "webhook-test"); len(parked) != 0 {
		t.Errorf("parked %+v; want nothing parked after a recovery", parked)
	}

	// A receiver failing for good: the event is parked after max_attempts
	// and the consumer moves on to the next one.
	hook.fail("AccessTokenRevoked", -1)
	from = lastSeq(t, n) + 1
	revokeToken(t, n, clientID, secret, tokens[3])
	issueClientToken(t, n, clientID, secret)
	lost := eventsSince(t, n, from, "AccessTokenRevoked")[0]
	waitSettled(t, n, "webhook-test", lastSeq(t, n), 15*time.Second)
	hook.fail("AccessTokenRevoked", 0)
	parked := parkedBy(t, n, "webhook-test")
	if len(parked) != 1 {
		t.Fatalf("parked %+v; want the one revocation", parked)
	}
	p := parked[0]
	if p.Seq != lost.Seq || p.Envelope.ID != lost.Envelope.ID || p.Attempts != 3 || !strings.Contains(p.Reason, "500") {
		t.Errorf("parked seq %d id %s after %d attempts (%q); want seq %d id %s after 3 attempts, a reason naming the 500",
			p.Seq, p.Envelope.ID, p.Attempts, p.Reason, lost.Seq, lost.Envelope.ID)
	}
	got = hook.snapshot()
	if id := lost.Envelope.ID; got.attempts[id] != 3 || got.delivered[id] != 0 {
		t.Errorf("the parked revocation: %d requests, delivered %d times; want 3 requests, never delivered", got.attempts[id], got.delivered[id])
	}
	if next := eventsSince(t, n, lost.Seq+1, "AccessTokenCreated"); len(next) != 1 || got.delivered[next[0].Envelope.ID] != 1 {
		t.Errorf("the token issued after the parked event was not delivered once")
	}
	if !slices.IsSorted(got.order) || len(slices.Compact(slices.Clone(got.order))) != len(got.order) {
		t.Errorf("delivered sequences %v; want strictly increasing (stream order, once each)", got.order)
	}
	for _, problem := range got.problems {
		t.Error(problem)
	}

	// The CLI names the parked event and shows the consumer.
	code, out, errOut := e.run("listeners")
	if code != 0 {
		t.Fatalf("stamp listeners: exit %d: %s", code, errOut)
	}
	t.Logf("stamp listeners:\n%s", out)
	for _, s := range []string{"webhook-test", "stamp.>", fmt.Sprint(lost.Seq), "AccessTokenRevoked", lost.Envelope.ID} {
		if !strings.Contains(out, s) {
			t.Errorf("stamp listeners printed %q; want it to contain %q", out, s)
		}
	}
	code, out, errOut = e.run("listeners", "--json")
	if code != 0 {
		t.Fatalf("stamp listeners --json: exit %d: %s", code, errOut)
	}
	var report struct {
		Consumers []struct {
			Name       string `json:"name"`
			Pending    uint64 `json:"pending"`
			AckPending int    `json:"ack_pending"`
		} `json:"consumers"`
		Parked []struct {
			Listener string `json:"listener"`
			Seq      uint64 `json:"seq"`
			Type     string `json:"type"`
			EventID  string `json:"event_id"`
			Attempts int    `json:"attempts"`
		} `json:"parked"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("stamp listeners --json printed %q: %v", out, err)
	}
	// Beside the webhook runs listener-retry, which re-drives parked
	// events on request (see TestListenerRetry).
	hooked := slices.IndexFunc(report.Consumers, func(c struct {
		Name       string `json:"name"`
		Pending    uint64 `json:"pending"`
		AckPending int    `json:"ack_pending"`
	}) bool {
		return c.Name == "webhook-test"
	})
	if len(report.Consumers) != 2 || hooked < 0 || report.Consumers[hooked].Pending != 0 || report.Consumers[hooked].AckPending != 0 {
		t.Errorf("consumers %+v; want webhook-test with nothing pending, and listener-retry", report.Consumers)
	}
	if len(report.Parked) != 1 || report.Parked[0].Listener != "webhook-test" || report.Parked[0].Seq != lost.Seq ||
		report.Parked[0].Type != "AccessTokenRevoked" || report.Parked[0].EventID != lost.Envelope.ID || report.Parked[0].Attempts != 3 {
		t.Errorf("parked %+v; want the revocation at %d", report.Parked, lost.Seq)
	}
}

// TestRevokeOldTokensListener: a user's new token revokes the user's older
// live tokens for the same client, each exactly once, and a redelivery of
// the same events changes nothing.
func TestRevokeOldTokensListener(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "STAMP_LISTENERS", `{"revoke_old_tokens":true}`)
	n := e.start()
	waitSettled(t, n, listeners.RevokeOldTokensName, 0, 15*time.Second)
	clientID, _ := e.createClient(n, "app")
	user, other := newID(t), newID(t)

	issued := time.Now().Add(-time.Minute)
	var mine, others []string
	var last uint64
	for i := range 3 {
		jti, seq := appendUserToken(t, n, clientID, user, issued.Add(time.Duration(i)*time.Second))
		mine, last = append(mine, jti), seq
		if i == 1 {
			// Another user's token of the same client is not replaced.
			jti, _ := appendUserToken(t, n, clientID, other, issued.Add(1500*time.Millisecond))
			others = append(others, jti)
		}
	}
	waitSettled(t, n, listeners.RevokeOldTokensName, last, 15*time.Second)
	checkReplaced(t, n, mine, others)

	// A redelivery of every event decides the same and appends nothing.
	before := lastSeq(t, n)
	l := listeners.NewRevokeOldTokens(checkpointWaiter{n.Views()}, n.Views(), n.Service())
	for _, r := range eventsSince(t, n, 1, "AccessTokenCreated") {
		ev, err := domain.Decode(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Handle(ctx, r, ev); err != nil {
			t.Fatalf("redelivered %d: %v", r.Seq, err)
		}
	}
	if got := lastSeq(t, n); got != before {
		t.Errorf("the redelivery appended events %d to %d; want none", before+1, got)
	}
	checkReplaced(t, n, mine, others)
}

// TestRevokeOldTokensSurvivesCrash stops the node while the listener works
// and starts it again on the same data directory. First mid-handler: a
// user has many live tokens from before the listener was enabled, and the
// node stops once the new token's handler has revoked the first of them.
// Then, round after round, right after the handler's revocation, racing
// its acknowledgement. In the end every older token is revoked exactly once
// and the newest is live.
//
// It does not stop the node while an event is on its way to the handler:
// Deliver then hands the event back with a plain NAK, which the embedded
// server forgets when it shuts down, so after the restart the event waits
// out AckWait (30s) instead of coming back at once.
func TestRevokeOldTokensSurvivesCrash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	clientID, _ := e.createClient(n, "app")
	user := newID(t)
	issued := time.Now().Add(-time.Minute)
	var jtis []string
	for i := range 40 {
		jti, _ := appendUserToken(t, n, clientID, user, issued.Add(time.Duration(i)*time.Millisecond))
		jtis = append(jtis, jti)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Enabled now, the listener reacts to the tokens issued from now on.
	e.vars["STAMP_LISTENERS"] = `{"revoke_old_tokens":true}`
	n = e.start()
	waitSettled(t, n, listeners.RevokeOldTokensName, 0, 15*time.Second)
	jti, last := appendUserToken(t, n, clientID, user, issued.Add(time.Second))
	jtis = append(jtis, jti)
	eventually(t, 10*time.Second, "the handler revokes a first old token", func() bool {
		return revokedCount(t, n, jtis[:40]) > 0
	})
	stopped := time.Now()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n = e.start()
	// The handler was stopped mid-way: its event stays unsettled, and only
	// some old tokens are revoked, until it comes again a second after the
	// stop (unless the restart itself took that long).
	if time.Since(stopped) < eventstore.UnsettledRetryDelay/2 {
		if c, _ := consumer(t, n, listeners.RevokeOldTokensName); c.AckPending != 1 {
			t.Errorf("after the restart the consumer is %+v; want the interrupted event unsettled", c)
		}
		if got := revokedCount(t, n, jtis[:40]); got == 40 {
			t.Errorf("all 40 old tokens were revoked before the stop; want the stop to interrupt the handler")
		}
	}
	waitSettled(t, n, listeners.RevokeOldTokensName, last, 15*time.Second)
	checkReplaced(t, n, jtis, nil)

	for round := 1; round <= 5; round++ {
		if round > 1 {
			n = e.start()
		}
		prev := jtis[len(jtis)-1]
		jti, last = appendUserToken(t, n, clientID, user, issued.Add(time.Duration(round+1)*time.Second))
		jtis = append(jtis, jti)
		eventually(t, 10*time.Second, "the handler revokes the previous token", func() bool {
			return revokedCount(t, n, []string{prev}) == 1
		})
		if err := n.Close(ctx); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
	}
	n = e.start()
	waitSettled(t, n, listeners.RevokeOldTokensName, last, 15*time.Second)
	checkReplaced(t, n, jtis, nil)
}

// revokedCount returns how many of the tokens jtis the read models hold
// revoked.
func revokedCount(t *testing.T, n *app.Node, jtis []string) int {
	t.Helper()
	revoked := 0
	for _, jti := range jtis {
		tok, err := n.Views().AccessToken(context.Background(), jti)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Revoked {
			revoked++
		}
	}
	return revoked
}

// TestPruneOldTokensListener: with prune_old_tokens 2, a user's third and
// fourth refresh token families with a client revoke the oldest ones (and
// their access tokens), each exactly once; a rotation prunes nothing.
func TestPruneOldTokensListener(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "STAMP_LISTENERS", `{"prune_old_tokens":2}`)
	n := e.start()
	waitSettled(t, n, listeners.PruneOldTokensName, 0, 15*time.Second)
	clientID, _ := e.createClient(n, "app")
	user := newID(t)

	issued := time.Now().Add(-time.Minute)
	var families, accessIDs, refreshIDs []string
	var last uint64
	for i := range 4 {
		at := issued.Add(time.Duration(i) * time.Second)
		jti, _ := appendUserToken(t, n, clientID, user, at)
		created := domain.RefreshTokenCreated{
			FamilyID: newID(t), RefreshTokenID: newID(t), TokenHash: randomHash(t), AccessTokenID: jti,
			ClientID: clientID, UserID: user, Scopes: []string{"read"}, IssuedAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour),
		}
		last = appendEvent(t, n, created)
		families, accessIDs, refreshIDs = append(families, created.FamilyID), append(accessIDs, jti), append(refreshIDs, created.RefreshTokenID)
	}
	waitSettled(t, n, listeners.PruneOldTokensName, last, 15*time.Second)
	checkPruned(t, n, families, accessIDs)

	// Rotating the newest family starts none, so nothing more is pruned.
	at := issued.Add(10 * time.Second)
	jti, _ := appendUserToken(t, n, clientID, user, at)
	last = appendEvent(t, n, domain.RefreshTokenCreated{
		FamilyID: families[3], RefreshTokenID: newID(t), ParentID: refreshIDs[3], TokenHash: randomHash(t), AccessTokenID: jti,
		ClientID: clientID, UserID: user, Scopes: []string{"read"}, IssuedAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour),
	})
	waitSettled(t, n, listeners.PruneOldTokensName, last, 15*time.Second)
	checkPruned(t, n, families, accessIDs)
	// The listener settling says nothing of the read models: wait for
	// them to apply the rotation before reading the family.
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := (checkpointWaiter{n.Views()}).WaitFor(wctx, last); err != nil {
		t.Fatalf("read models did not apply %d: %v", last, err)
	}
	if f, err := n.Views().RefreshFamily(ctx, families[3]); err != nil || f.TokenID == refreshIDs[3] {
		t.Errorf("family %s after the rotation: %+v, %v; want its new token", families[3], f, err)
	}
}

// checkReplaced checks that every token of jtis but the last was revoked
// as replaced by a newer one, by exactly one event, that the last one and
// the spared ones are live, and that none was revoked for another reason.
func checkReplaced(t *testing.T, n *app.Node, jtis, spared []string) {
	t.Helper()
	revocations := countByAggregate(t, n, "AccessTokenRevoked")
	for i, jti := range jtis {
		tok, err := n.Views().AccessToken(context.Background(), jti)
		if err != nil {
			t.Fatal(err)
		}
		want, wantEvents := i < len(jtis)-1, 0
		if want {
			wantEvents = 1
		}
		if tok.Revoked != want || revocations[jti] != wantEvents || want && tok.RevokeReason != domain.ReasonReplacedByNewer {
			t.Errorf("token %d of %d: revoked %v (%q) by %d events; want revoked %v by %d", i+1, len(jtis), tok.Revoked, tok.RevokeReason, revocations[jti], want, wantEvents)
		}
	}
	for _, jti := range spared {
		if tok, err := n.Views().AccessToken(context.Background(), jti); err != nil || tok.Revoked || revocations[jti] != 0 {
			t.Errorf("another user's token %s: %+v, %v; want it live", jti, tok, err)
		}
	}
}

// checkPruned checks that of the families started in order, the two
// oldest and their access tokens were revoked once each as pruned and the
// two newest are live.
func checkPruned(t *testing.T, n *app.Node, families, accessIDs []string) {
	t.Helper()
	ctx := context.Background()
	familyRevocations := countByAggregate(t, n, "RefreshTokenRevoked")
	tokenRevocations := countByAggregate(t, n, "AccessTokenRevoked")
	for i, id := range families {
		f, err := n.Views().RefreshFamily(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := n.Views().AccessToken(ctx, accessIDs[i])
		if err != nil {
			t.Fatal(err)
		}
		pruned, events := i < len(families)-2, 0
		if pruned {
			events = 1
		}
		if f.Revoked != pruned || f.Live(time.Now()) == pruned || familyRevocations[id] != events || pruned && f.RevokeReason != domain.ReasonPruned {
			t.Errorf("family %d: revoked %v (%q) by %d events; want revoked %v by %d", i+1, f.Revoked, f.RevokeReason, familyRevocations[id], pruned, events)
		}
		if tok.Revoked != pruned || tokenRevocations[accessIDs[i]] != events {
			t.Errorf("access token of family %d: revoked %v by %d events; want revoked %v by %d", i+1, tok.Revoked, tokenRevocations[accessIDs[i]], pruned, events)
		}
	}
}

// hookReceiver is a webhook endpoint: it verifies every request's
// signature and headers, records what it got, and answers 500 for the
// event types it is told to fail.
type hookReceiver struct {
	secret []byte
	types  []string

	mu      sync.Mutex
	failing map[string]int // event type: 500 answers still to give; <0 forever
	got     hookLog
}

// hookLog is what a hookReceiver got.
type hookLog struct {
	attempts  map[string]int // requests per event id
	delivered map[string]int // 2xx answers per event id
	order     []uint64       // stream sequences answered 2xx, in order
	problems  []string
}

func newHookReceiver(secret string, types []string) *hookReceiver {
	return &hookReceiver{secret: []byte(secret), types: types, failing: map[string]int{},
		got: hookLog{attempts: map[string]int{}, delivered: map[string]int{}}}
}

// fail has the receiver answer 500 to the next times requests of eventType
// (every one when times < 0, none when 0).
func (h *hookReceiver) fail(eventType string, times int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failing[eventType] = times
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	problem := func(format string, args ...any) {
		h.got.problems = append(h.got.problems, fmt.Sprintf(format, args...))
		w.WriteHeader(http.StatusBadRequest)
	}
	if err != nil {
		problem("webhook body: %v", err)
		return
	}
	if err := listeners.VerifyWebhook(h.secret, r.Header.Get(listeners.HeaderSignature), body, time.Now(), 0); err != nil {
		problem("webhook signature: %v", err)
		return
	}
	var posted struct {
		Seq     uint64          `json:"seq"`
		Subject string          `json:"subject"`
		Event   domain.Envelope `json:"event"`
	}
	if err := json.Unmarshal(body, &posted); err != nil {
		problem("webhook body %q: %v", body, err)
		return
	}
	id, typ := r.Header.Get(listeners.HeaderEventID), r.Header.Get(listeners.HeaderEventType)
	if id != posted.Event.ID || typ != posted.Event.Type || !slices.Contains(h.types, typ) || posted.Seq == 0 {
		problem("webhook headers %s %s for event %d %s %s; want matching headers and a configured type", id, typ, posted.Seq, posted.Event.ID, posted.Event.Type)
		return
	}
	h.got.attempts[id]++
	if left := h.failing[typ]; left != 0 {
		if left > 0 {
			h.failing[typ] = left - 1
		}
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.got.delivered[id]++
	h.got.order = append(h.got.order, posted.Seq)
	w.WriteHeader(http.StatusNoContent)
}

// snapshot returns a copy of what the receiver got so far.
func (h *hookReceiver) snapshot() hookLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := hookLog{attempts: map[string]int{}, delivered: map[string]int{},
		order: slices.Clone(h.got.order), problems: slices.Clone(h.got.problems)}
	for k, v := range h.got.attempts {
		s.attempts[k] = v
	}
	for k, v := range h.got.delivered {
		s.delivered[k] = v
	}
	return s
}

// eventually polls cond until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// consumer returns the state of the durable consumer name, if it exists.
func consumer(t *testing.T, n *app.Node, name string) (eventstore.ConsumerState, bool) {
	t.Helper()
	cs, err := n.Store().Consumers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return eventstore.ConsumerState{}, false
}

// waitSettled waits until the durable consumer name exists, has handed out
// the events up to seq (an event it consumes, or 0), and has nothing
// pending or in flight: every event so far was acked or parked.
func waitSettled(t *testing.T, n *app.Node, name string, seq uint64, within time.Duration) {
	t.Helper()
	var c eventstore.ConsumerState
	ok := false
	for deadline := time.Now().Add(within); ; time.Sleep(2 * time.Millisecond) {
		if c, ok = consumer(t, n, name); ok && c.LastDelivered >= seq && c.Pending == 0 && c.AckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s did not settle up to %d within %s: %+v (exists %v)", name, seq, within, c, ok)
		}
	}
}

// checkpointWaiter is a listeners.Waiter over a node's read models.
type checkpointWaiter struct{ views *projections.Store }

func (w checkpointWaiter) WaitFor(ctx context.Context, seq uint64) error {
	for w.views.Checkpoint() < seq {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := domain.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomHash(t *testing.T) string {
	sum := sha256.Sum256([]byte(newID(t)))
	return hex.EncodeToString(sum[:])
}

func lastSeq(t *testing.T, n *app.Node) uint64 {
	t.Helper()
	seq, err := n.Store().LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// appendEvent appends ev to its aggregate, as the service would, and
// returns its stream sequence.
func appendEvent(t *testing.T, n *app.Node, ev domain.Event) uint64 {
	t.Helper()
	env, err := domain.NewEnvelope(newID(t), ev, time.Now(), domain.Actor{Kind: domain.ActorSystem, ID: "listeners-test"})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := n.Store().Append(context.Background(), ev.AggregateOf(), domain.ExpectAny, env)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// appendUserToken appends the AccessTokenCreated of an authorization code
// grant for user and client, issued at at, and returns the token's id and
// stream sequence.
func appendUserToken(t *testing.T, n *app.Node, clientID, userID string, at time.Time) (string, uint64) {
	t.Helper()
	jti := newID(t)
	seq := appendEvent(t, n, domain.AccessTokenCreated{
		TokenID: jti, ClientID: clientID, UserID: userID, Scopes: []string{"read"},
		GrantType: domain.GrantAuthorizationCode, KeyID: "listeners-test", IssuedAt: at, ExpiresAt: at.Add(time.Hour),
	})
	return jti, seq
}

// eventsSince returns the events of the given types from sequence from on.
func eventsSince(t *testing.T, n *app.Node, from uint64, types ...string) []domain.Recorded {
	t.Helper()
	var out []domain.Recorded
	err := n.Store().Replay(context.Background(), from, "", func(r domain.Recorded) error {
		if slices.Contains(types, r.Envelope.Type) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// countByAggregate counts the events of type eventType in the whole log,
// by aggregate id.
func countByAggregate(t *testing.T, n *app.Node, eventType string) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := n.Store().Replay(context.Background(), 0, domain.SubjectRoot+".*.*."+eventType, func(r domain.Recorded) error {
		// Tokens and families share shard subjects: the id is the event's.
		e, err := domain.Decode(r.Envelope)
		if err != nil {
			return fmt.Errorf("subject %q: %w", r.Subject, err)
		}
		out[e.AggregateOf().ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parkedBy returns the events the listener parked.
func parkedBy(t *testing.T, n *app.Node, listener string) []eventstore.Parked {
	t.Helper()
	p, err := n.Store().Parked(context.Background(), listener)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// issueClientToken gets a client credentials token through /oauth/token.
func issueClientToken(t *testing.T, n *app.Node, clientID, secret string) string {
	t.Helper()
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", clientID, secret, url.Values{"grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); status != http.StatusOK || err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", status, body)
	}
	return tok.AccessToken
}

// revokeToken revokes a token through /oauth/revoke.
func revokeToken(t *testing.T, n *app.Node, clientID, secret, token string) {
	t.Helper()
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", clientID, secret, url.Values{"token": {token}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
}
