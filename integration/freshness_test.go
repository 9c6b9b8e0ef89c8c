package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/eventstore"
)

// twoNodes starts instance a (embedded NATS) and instance b on a's
// NATS (--nats-url with the writer identity), with a's signing, sealing
// and log-signing keys and the same issuer, as a cluster's instances run. extra settings
// apply to both. It returns the nodes and a's environment (for the CLI).
func twoNodes(t *testing.T, extra ...string) (a, b *app.Node, ea *env) {
	t.Helper()
	ea = newEnv(t, extra...)
	a = ea.start()
	ac := ea.config()
	eb := newEnv(t, append([]string{
		"STAMP_NATS_URL", a.NATSURL(), "STAMP_NATS_NKEY", a.NATSSeedFile(eventstore.RoleWriter), "STAMP_REPLICAS", "1",
		"STAMP_PRIVATE_KEY_FILE", ac.PrivateKeyFile, "STAMP_SEALING_KEY_FILE", ac.SealingKeyFile,
		"STAMP_LOG_SIGNING_KEY_FILE", ac.LogSigningKeyFile,
	}, extra...)...)
	b = eb.start()
	return a, b, ea
}

// ccToken issues a client-credentials token on n.
func ccToken(t *testing.T, n *app.Node, id, secret string) string {
	t.Helper()
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token on %s: %d %s", n.HTTPURL(), status, body)
	}
	return tok.AccessToken
}

// revokeOn revokes token on n (RFC 7009) and returns the status.
func revokeOn(t *testing.T, n *app.Node, id, secret, token string) int {
	t.Helper()
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", id, secret, url.Values{"token": {token}})
	if status != http.StatusOK {
		t.Logf("revoke on %s: %d %s", n.HTTPURL(), status, body)
	}
	return status
}

// verifyStatus is the status of GET /auth/verify on n with token.
func verifyStatus(t *testing.T, n *app.Node, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.HTTPURL()+"/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// crossInstanceRun is what one run of the cross-instance loop saw.
type crossInstanceRun struct {
	// violations by kind: an answer that disagreed with what the other
	// instance had acknowledged before the request was sent.
	issueThenIntrospect, issueThenVerify, revokeThenIntrospect, revokeThenVerify, revokeOnB, stillActive int
	// revokedOnB are the tokens b acknowledged revoking.
	revokedOnB []string
	// ryw: from a's issuance answer to b's correct introspection answer;
	// revocation: from a's revocation answer to b's correct one (polled
	// until correct when b answered wrong first).
	ryw, revocation []time.Duration
}

func (r crossInstanceRun) total() int {
	return r.issueThenIntrospect + r.issueThenVerify + r.revokeThenIntrospect + r.revokeThenVerify + r.revokeOnB + r.stillActive
}

// untilInactive polls introspection on n until token is inactive and
// returns when that was, or fails the test after 10s.
func untilInactive(t *testing.T, n *app.Node, id, secret, token string) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for introspect(t, n, id, secret, token)["active"] == true {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the token is still active 10s after its revocation", n.HTTPURL())
		}
		time.Sleep(time.Millisecond)
	}
	return time.Now()
}

// runCrossInstance issues, revokes and checks tokens across a and b
// iterations times:
//
//  1. issue on a, then introspect and /auth/verify on b: active, 200;
//  2. revoke on a, then introspect and /auth/verify on b: inactive, 401;
//  3. issue on a, revoke on b: 200, and inactive on both.
func runCrossInstance(t *testing.T, a, b *app.Node, id, secret string, iterations int) crossInstanceRun {
	t.Helper()
	var r crossInstanceRun
	for range iterations {
		tok := ccToken(t, a, id, secret)
		issued := time.Now()
		if introspect(t, b, id, secret, tok)["active"] != true {
			r.issueThenIntrospect++
		}
		r.ryw = append(r.ryw, time.Since(issued))
		if verifyStatus(t, b, tok) != http.StatusOK {
			r.issueThenVerify++
		}

		if s := revokeOn(t, a, id, secret, tok); s != http.StatusOK {
			t.Fatalf("revoke on a: %d", s)
		}
		revoked := time.Now()
		if introspect(t, b, id, secret, tok)["active"] != false {
			r.revokeThenIntrospect++
			r.revocation = append(r.revocation, untilInactive(t, b, id, secret, tok).Sub(revoked))
		} else {
			r.revocation = append(r.revocation, time.Since(revoked))
		}
		if verifyStatus(t, b, tok) != http.StatusUnauthorized {
			r.revokeThenVerify++
		}

		tok2 := ccToken(t, a, id, secret)
		if revokeOn(t, b, id, secret, tok2) != http.StatusOK {
			r.revokeOnB++
		} else {
			r.revokedOnB = append(r.revokedOnB, tok2)
		}
		if introspect(t, a, id, secret, tok2)["active"] != false || introspect(t, b, id, secret, tok2)["active"] != false {
			r.stillActive++
		}
	}
	return r
}

// p returns the q-quantile of ds.
func p(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (r crossInstanceRun) report(t *testing.T, mode string, iterations int) {
	t.Helper()
	t.Logf("read_consistency=%s, %d iterations: violations: issue→introspect %d, issue→verify %d, revoke→introspect %d, revoke→verify %d, revoke on b 404 %d, still active %d",
		mode, iterations, r.issueThenIntrospect, r.issueThenVerify, r.revokeThenIntrospect, r.revokeThenVerify, r.revokeOnB, r.stillActive)
	t.Logf("read_consistency=%s: read-your-writes a→b p50 %v p99 %v max %v; revocation propagation a→b p50 %v p99 %v max %v",
		mode, p(r.ryw, 0.5), p(r.ryw, 0.99), p(r.ryw, 1), p(r.revocation, 0.5), p(r.revocation, 0.99), p(r.revocation, 1))
}

// crossInstanceIterations is the number of issue/revoke rounds.
const crossInstanceIterations = 200

// TestReadYourWritesAcrossInstances is issue 9's finding 2 with two
// instances on one NATS and read_consistency strong (the default): what a
// acknowledged, b honours at once, every time, and b's answers come no
// later than the one request that asks. The client is registered through
// a and used on b without waiting for b to know it.
func TestReadYourWritesAcrossInstances(t *testing.T) {
	a, b, e := twoNodes(t)
	id, secret := e.createClient(a, "two-instances")
	r := runCrossInstance(t, a, b, id, secret, crossInstanceIterations)
	r.report(t, "strong", crossInstanceIterations)
	if n := r.total(); n != 0 {
		t.Errorf("%d answers of b disagreed with what a had acknowledged; want 0", n)
	}
}

// TestLocalConsistencyConverges is finding 2 as read_consistency local
// keeps it: b answers from its read models as they are, so right after a's
// acknowledgement it may disagree (the counts are logged: what strong
// removes), but it converges: every token a revoked is inactive on b
// within 10 s (untilInactive fails the test otherwise), and every token
// b acknowledged revoking ends inactive on both. (b may answer 404 to a
// token it has not seen yet: with local, that revocation is not made.)
func TestLocalConsistencyConverges(t *testing.T) {
	a, b, e := twoNodes(t, "STAMP_READ_CONSISTENCY", "local")
	id, secret := e.createClient(a, "two-instances")
	waitFor(t, "b to know the client", func() bool {
		_, err := b.Views().Client(context.Background(), id)
		return err == nil
	})
	const iterations = 50
	r := runCrossInstance(t, a, b, id, secret, iterations)
	r.report(t, "local", iterations)
	for _, tok := range r.revokedOnB {
		untilInactive(t, a, id, secret, tok)
		untilInactive(t, b, id, secret, tok)
	}
}

// TestFreshnessUnavailableIs503: an instance that cannot ask the stream
// for its last sequence (its NATS is gone) answers the requests that need
// it 503 temporarily_unavailable with Retry-After within the bound, never
// a stale answer, a 500 or a hang.
func TestFreshnessUnavailableIs503(t *testing.T) {
	a, b, e := twoNodes(t, "STAMP_FRESHNESS_TIMEOUT", "300ms")
	id, secret := e.createClient(a, "two-instances")
	tok := ccToken(t, a, id, secret)
	if introspect(t, b, id, secret, tok)["active"] != true {
		t.Fatal("b: the token is not active")
	}
	if err := a.Close(context.Background()); err != nil { // and with it the NATS server
		t.Fatal(err)
	}
	status, h, body := postForm(t, b.HTTPURL()+"/oauth/introspect", id, secret, url.Values{"token": {tok}})
	var got map[string]any
	_ = json.Unmarshal(body, &got)
	// Either the readiness gate (NATS gone) or the catch-up (no answer
	// within freshness_timeout) refuses; both say when to retry.
	if after, err := strconv.Atoi(h.Get("Retry-After")); status != http.StatusServiceUnavailable || err != nil || after < 1 || got["error"] != "temporarily_unavailable" {
		t.Errorf("introspection on b without NATS: %d, Retry-After %q, %s; want 503 temporarily_unavailable with a Retry-After", status, h.Get("Retry-After"), body)
	}
	if s := verifyStatus(t, b, tok); s != http.StatusServiceUnavailable {
		t.Errorf("/auth/verify on b without NATS: %d; want 503", s)
	}
}
