package integration

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// stampCluster is n stamp instances on one NATS cluster: instance i
// prefers node i (its URL is the only one it is given; the client learns
// the other nodes from the cluster and reconnects to them), the stream has
// three replicas, one explicit issuer and one set of key files.
type stampCluster struct {
	t        *testing.T
	nats     *natsCluster
	envs     []*env
	nodes    []*app.Node
	clientID string
	secret   string
}

func startStampCluster(t *testing.T, nc *natsCluster, n int) *stampCluster {
	t.Helper()
	keys := t.TempDir()
	sc := &stampCluster{t: t, nats: nc}
	for i := range n {
		vars := []string{
			"STAMP_NATS_URL", nc.URL(i % nc.opts.Nodes),
			"STAMP_REPLICAS", "3",
			"STAMP_ISSUER", "http://stamp.test",
			"STAMP_PRIVATE_KEY_FILE", filepath.Join(keys, "private.pem"),
			"STAMP_SEALING_KEY_FILE", filepath.Join(keys, "sealing.key"),
			"STAMP_LOG_SIGNING_KEY_FILE", filepath.Join(keys, "log-signing.key"),
		}
		sc.envs = append(sc.envs, newEnv(t, append(vars, nc.opts.clientEnv...)...))
	}
	// The first instance creates the stream and the shared key files; the
	// others start on them.
	sc.nodes = append(sc.nodes, sc.startInstance(0))
	var wg sync.WaitGroup
	rest := make([]*app.Node, n-1)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rest[i-1] = sc.startInstance(i)
		}()
	}
	wg.Wait()
	for _, nd := range rest {
		if nd == nil {
			t.FailNow() // startInstance reported why
		}
	}
	sc.nodes = append(sc.nodes, rest...)
	sc.clientID, sc.secret = sc.envs[0].createClient(sc.nodes[0], "cluster-load")
	for _, nd := range sc.nodes[1:] {
		waitUntil(t, 10*time.Second, "every instance knows the client", func() bool {
			_, err := nd.Views().Client(context.Background(), sc.clientID)
			return err == nil
		})
	}
	return sc
}

// startInstance starts instance i; it logs only errors (a failover makes
// many warnings) and closes when the test ends. It may run on another
// goroutine than the test's: it reports a failure with Errorf and returns
// nil.
func (sc *stampCluster) startInstance(i int) *app.Node {
	e := sc.envs[i]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testWriter{sc.t}, &slog.HandlerOptions{Level: slog.LevelError})).With("instance", i)
	c, err := app.LoadConfig(nil, e.getenv)
	if err != nil {
		sc.t.Errorf("instance %d: config: %v", i, err)
		return nil
	}
	n, err := app.Start(ctx, c, logger)
	if err != nil {
		sc.t.Errorf("instance %d: start: %v", i, err)
		return nil
	}
	sc.t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

// connectedNode returns the index of the NATS node instance i's
// connection is on, waiting (bounded) while it reconnects.
func (sc *stampCluster) connectedNode(i int) int {
	sc.t.Helper()
	node := -1
	waitUntil(sc.t, 30*time.Second, "instance connected to a node", func() bool {
		node = sc.nats.NodeNamed(sc.nodes[i].Store().ConnectedServer())
		return node >= 0
	})
	return node
}

// waitUntil polls cond until it holds or timeout passes, then fails the test.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
