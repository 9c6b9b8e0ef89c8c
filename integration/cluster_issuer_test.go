package integration

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
)

// startPlainNATS runs a nats-server with JetStream that no stamp
// instance owns, as an operator's cluster would be, until the test ends.
// It returns its client URL.
func startPlainNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("the external nats-server did not start within 10s")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// clusterInstance returns the environment of one stamp instance on the
// NATS at natsURL: its own data directory, the keys in shared (as the
// instances of a cluster share them), one stream replica.
func clusterInstance(t *testing.T, natsURL, shared string, extra ...string) *env {
	t.Helper()
	e := newEnv(t, append([]string{
		"STAMP_NATS_URL", natsURL, "STAMP_REPLICAS", "1",
		"STAMP_PRIVATE_KEY_FILE", filepath.Join(shared, "private.pem"),
		"STAMP_SEALING_KEY_FILE", filepath.Join(shared, "sealing.key"),
		"STAMP_LOG_SIGNING_KEY_FILE", filepath.Join(shared, "log-signing.key"),
	}, extra...)...)
	return e
}

// lockedBuffer collects a node's log for a test to read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged starts a node with cfg, its log (warn and above) in the
// returned buffer, and closes it when the test ends.
func startLogged(t *testing.T, cfg app.Config) (*app.Node, *lockedBuffer, error) {
	t.Helper()
	var log lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err == nil {
		t.Cleanup(func() { n.Close(context.Background()) })
	}
	return n, &log, err
}

// TestClusterIssuer (finding 5): instances on one NATS must share one
// issuer. Without an explicit issuer a cluster instance refuses to start;
// with another issuer than the cluster's it refuses, naming both; with
// the same one, a token issued on A is active on B and revoked on B is
// revoked on A.
func TestClusterIssuer(t *testing.T) {
	natsURL := startPlainNATS(t)
	shared := t.TempDir()
	const issuer, other = "https://auth.example.test", "https://other.example.test"

	t.Run("no explicit issuer", func(t *testing.T) {
		e := clusterInstance(t, natsURL, shared)
		delete(e.vars, "STAMP_ISSUER")
		code, _, errOut := e.run("serve")
		if code != 1 || !strings.Contains(errOut, "issuer") || !strings.Contains(errOut, "nats_url") {
			t.Errorf("serve --nats-url without an issuer: exit %d, %q; want 1 and a message naming issuer and nats_url", code, errOut)
		}
	})

	a := clusterInstance(t, natsURL, shared, "STAMP_ISSUER", issuer)
	nodeA := a.start()
	clientID, secret := a.createClient(nodeA, "checker")

	t.Run("another issuer", func(t *testing.T) {
		b := clusterInstance(t, natsURL, shared, "STAMP_ISSUER", other)
		_, _, err := startLogged(t, b.config())
		if err == nil || !strings.Contains(err.Error(), issuer) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "--reissue") {
			t.Fatalf("start with issuer %s on a cluster of %s: %v; want a refusal naming both and --reissue", other, issuer, err)
		}
		last, _, err := domain.LastServerSettings(context.Background(), nodeA.Store())
		if err != nil || last.Issuer != issuer {
			t.Errorf("after the refusal the cluster's issuer is %q (%v); want %s still", last.Issuer, err, issuer)
		}
		code, _, errOut := b.run("serve")
		if code != 1 || !strings.Contains(errOut, other) || !strings.Contains(errOut, issuer) {
			t.Errorf("stamp serve with issuer %s: exit %d, %q; want 1, naming both issuers", other, code, errOut)
		}
	})

	b := clusterInstance(t, natsURL, shared, "STAMP_ISSUER", issuer, "STAMP_ACCESS_TOKEN_TTL", "2h")
	nodeB, logB, err := startLogged(t, b.config())
	if err != nil {
		t.Fatalf("start B with the cluster's issuer: %v", err)
	}
	if !strings.Contains(logB.String(), "access_token_ttl 1h0m0s (here 2h0m0s)") {
		t.Errorf("B started with another access token lifetime and logged %q; want a warning naming it", logB.String())
	}
	a.awaitClient(nodeB, clientID)

	token := issueClientToken(t, nodeA, clientID, secret)
	waitFor(t, "B to know the token issued on A", func() bool {
		return introspect(t, nodeB, clientID, secret, token)["active"] == true
	})
	if got := introspect(t, nodeB, clientID, secret, token); got["iss"] != issuer {
		t.Errorf("introspection on B: %v; want iss %s", got, issuer)
	}
	revokeToken(t, nodeB, clientID, secret, token)
	waitFor(t, "A to honour the revocation made on B", func() bool {
		return introspect(t, nodeA, clientID, secret, token)["active"] == false
	})

	t.Run("reissue", func(t *testing.T) {
		c := clusterInstance(t, natsURL, shared, "STAMP_ISSUER", other)
		cfg := c.config()
		cfg.Reissue = true
		_, log, err := startLogged(t, cfg)
		if err != nil {
			t.Fatalf("start with --reissue: %v", err)
		}
		if !strings.Contains(log.String(), "the issuer changed") {
			t.Errorf("a reissue logged %q; want a warning that the issuer changed", log.String())
		}
		last, _, err := domain.LastServerSettings(context.Background(), nodeA.Store())
		if err != nil || last.Issuer != other {
			t.Errorf("after --reissue the cluster's issuer is %q (%v); want %s", last.Issuer, err, other)
		}
		// The instances still running with the old issuer say so.
		waitFor(t, "B to log that the cluster's issuer changed", func() bool {
			out := logB.String()
			return strings.Contains(out, "level=ERROR") && strings.Contains(out, "the cluster's issuer changed") && strings.Contains(out, other)
		})
		// Now an instance still configured with the old issuer is refused.
		_, _, err = startLogged(t, clusterInstance(t, natsURL, shared, "STAMP_ISSUER", issuer).config())
		if err == nil || !strings.Contains(err.Error(), other) {
			t.Errorf("start with the old issuer after a reissue: %v; want a refusal naming %s", err, other)
		}
	})
}

// TestEmbeddedIssuerChange: the embedded mode keeps its default issuer
// and, when the issuer changes, announces it and warns that older tokens
// are no longer valid.
func TestEmbeddedIssuerChange(t *testing.T) {
	e := newEnv(t)
	delete(e.vars, "STAMP_ISSUER")
	n, _, err := startLogged(t, e.config())
	if err != nil {
		t.Fatalf("embedded start with the default issuer: %v", err)
	}
	first, _, err := domain.LastServerSettings(context.Background(), n.Store())
	if err != nil || first.Issuer != "http://127.0.0.1:0" {
		t.Fatalf("announced issuer %q (%v); want the default http://127.0.0.1:0", first.Issuer, err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	e.vars["STAMP_ISSUER"] = "https://moved.example.test"
	n, log, err := startLogged(t, e.config())
	if err != nil {
		t.Fatalf("embedded start with another issuer: %v", err)
	}
	if out := log.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "the issuer changed") ||
		!strings.Contains(out, "http://127.0.0.1:0") || !strings.Contains(out, "https://moved.example.test") {
		t.Errorf("log %q; want a warning naming the old and the new issuer", out)
	}
	last, _, err := domain.LastServerSettings(context.Background(), n.Store())
	if err != nil || last.Issuer != "https://moved.example.test" {
		t.Errorf("announced issuer %q (%v); want the new one", last.Issuer, err)
	}
}
