package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
)

// Two stamp instances on one stream (README "Rate limits"): A runs the
// embedded NATS, B is started with --nats-url at A's and shares A's
// sealing key. The rate limits and the device polls are one for both.

// twoInstances starts A (with extra settings, the password grant, a user
// and a password client) and B on A's NATS, and waits until B knows the
// user and the client.
func twoInstances(t *testing.T, extra ...string) (a, b *app.Node, e *env, email, clientID, secret string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	shared := append([]string{"STAMP_SEALING_KEY", hex.EncodeToString(key), "STAMP_TRUSTED_PROXIES", "127.0.0.1"}, extra...)
	a, e, email, clientID, secret = limitNode(t, shared...)
	// B uses A's writer identity (README "NATS identities") and A's
	// log-signing key: instances of one log share it.
	eb := newEnv(t, append([]string{"STAMP_PASSWORD_GRANT", "true", "STAMP_NATS_URL", a.NATSURL(), "STAMP_REPLICAS", "1",
		"STAMP_NATS_NKEY", filepath.Join(e.dataDir, "keys", "nats-writer.nk"),
		"STAMP_LOG_SIGNING_KEY_FILE", filepath.Join(e.dataDir, "keys", "log-signing.key")}, shared...)...)
	b = eb.start()
	e.awaitClient(b, clientID)
	waitFor(t, "B to know the user", func() bool {
		_, err := b.Views().UserByEmail(context.Background(), email)
		return err == nil
	})
	return a, b, e, email, clientID, secret
}

// TestRateLimitsSharedAcrossInstances: wrong client secrets on A spend
// the address's 20 on B too (even the right secret is 429 on B), and
// wrong passwords on A spend the login pair's 10 on B. With limits per
// process, B would allow 20 and 10 more.
func TestRateLimitsSharedAcrossInstances(t *testing.T) {
	a, b, _, email, id, secret := twoInstances(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	const x = "203.0.113.20"
	for i := range 20 {
		wantStatus(t, fmt.Sprint("wrong secret on A ", i+1), postFrom(t, a, "/oauth/introspect", id, "wrong", x, url.Values{"token": {"t"}}), http.StatusUnauthorized, "invalid_client")
	}
	wantLimited(t, "A after 20 wrong secrets", postFrom(t, a, "/oauth/token", id, secret, x, cc))
	// The right secret on B: 429 once B has A's failures (a success
	// does not reset the address's bucket, so polling counts nothing).
	var last answer
	waitFor(t, "B to refuse the address A limited", func() bool {
		last = postFrom(t, b, "/oauth/introspect", id, secret, x, url.Values{"token": {"t"}})
		return last.status == http.StatusTooManyRequests
	})
	wantLimited(t, "the right secret on B", last)
	wantStatus(t, "another address on B", postFrom(t, b, "/oauth/introspect", id, secret, "203.0.113.21", url.Values{"token": {"t"}}), http.StatusOK, "")

	const y = "203.0.113.30"
	for i := range 10 {
		wantStatus(t, fmt.Sprint("wrong password on A ", i+1), passwordGrant(t, a, id, secret, y, email, "guess"), http.StatusBadRequest, "invalid_grant")
	}
	// Wrong passwords on B: limited at once (a few tries at most, while
	// A's last failures reach B), not after another 10.
	limited := false
	for i := range 3 {
		got := passwordGrant(t, b, id, secret, y, email, "guess")
		if got.status == http.StatusTooManyRequests {
			wantLimited(t, fmt.Sprint("wrong password on B ", i+1), got)
			limited = true
			break
		}
		wantStatus(t, fmt.Sprint("wrong password on B ", i+1), got, http.StatusBadRequest, "invalid_grant")
	}
	if !limited {
		t.Fatal("B allowed 3 more wrong passwords after A's 10; want 429 (the limit is per cluster)")
	}
	wantLimited(t, "the right password on B from the limited address", passwordGrant(t, b, id, secret, y, email, ownerPassword))
	wantStatus(t, "the owner on B from elsewhere", passwordGrant(t, b, id, secret, "198.51.100.7", email, ownerPassword), http.StatusOK, "")
}

// TestDevicePollingSharedAcrossInstances: a device that polls A and at
// once B gets slow_down from B (RFC 8628 §3.5): the interval holds for
// the cluster.
func TestDevicePollingSharedAcrossInstances(t *testing.T) {
	a, b, e, _, _, _ := twoInstances(t)
	id, _ := e.newClient(a, "--device", "--public", "--name", "TV")
	e.awaitClient(b, id)
	da := postFrom(t, a, "/oauth/device/code", "", "", "", url.Values{"client_id": {id}, "scope": {"read"}})
	code, _ := da.body["device_code"].(string)
	if da.status != http.StatusOK || code == "" {
		t.Fatalf("device authorization: %d %s", da.status, da.raw)
	}
	waitFor(t, "B to know the device code", func() bool {
		_, err := b.Views().DeviceCodeByHash(context.Background(), domain.HashSecret(code))
		return err == nil
	})
	poll := url.Values{"grant_type": {deviceGrant}, "device_code": {code}, "client_id": {id}}
	wantStatus(t, "the first poll, on A", postFrom(t, a, "/oauth/token", "", "", "", poll), http.StatusBadRequest, "authorization_pending")
	wantStatus(t, "a poll at once on B", postFrom(t, b, "/oauth/token", "", "", "", poll), http.StatusBadRequest, "slow_down")
	wantStatus(t, "and again on A", postFrom(t, a, "/oauth/token", "", "", "", poll), http.StatusBadRequest, "slow_down")
}
