package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// waitSnapshot polls until n has written a read-model snapshot at seq or
// later, and returns the newest one's sequence.
func waitSnapshot(t *testing.T, n *app.Node, seq uint64) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		list, err := n.Store().Snapshots(ctx)
		if err != nil {
			t.Fatalf("the newest snapshot at %d or later: %v", seq, err)
		}
		if len(list) > 0 && list[0].Seq >= seq {
			return list[0].Seq
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no snapshot at %d or later within 60s (%d written)", seq, len(list))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// seeded is the node's "read models seeded" log record.
type seeded struct {
	Msg          string `json:"msg"`
	Sequence     uint64 `json:"sequence"`
	FromSnapshot uint64 `json:"from_snapshot"`
	Events       uint64 `json:"events"`
	ByCheckpoint uint64 `json:"by_checkpoint"`
}

// seededRecord returns the "read models seeded" record of a node's JSON
// log, and whether there was one.
func seededRecord(t *testing.T, log string) (seeded, bool) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r seeded
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg == "read models seeded" {
			return r, true
		}
	}
	return seeded{}, false
}

// reseed removes the read models of e's data directory and starts a node
// on it, returning the node and its "read models seeded" record.
func reseed(t *testing.T, e *env) (*app.Node, seeded) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(e.dataDir, "projections")); err != nil {
		t.Fatal(err)
	}
	n, log := e.startAccessLogged()
	rec, ok := seededRecord(t, log.String())
	if !ok {
		t.Fatalf("the node did not seed its read models; its log:\n%s", log.String())
	}
	t.Logf("%+v", rec)
	return n, rec
}

// TestNewInstanceSeedsItsReadModels: a node that finds no read models in
// its data directory (a new instance on a long log, a replacement host)
// builds them before it serves as stamp replay does: from the newest
// read-model snapshot, then only the events after it, accepting those of
// checkpointed ranges by their signed checkpoint. The result is what a
// rebuild from the first event gives (stamp replay --from-scratch finds
// no drift), tokens issued before answer as before, and the node goes on
// applying the log. Without a snapshot the seed starts from the first
// event, still by the checkpoints.
func TestNewInstanceSeedsItsReadModels(t *testing.T) {
	ctx := context.Background()
	// check is what holds after any seed: tokens issued before answer, new
	// ones are issued and revoked, and the seeded models are a rebuild's.
	check := func(t *testing.T, e *env, n *app.Node, id, secret, kept string) {
		if got := introspect(t, n, id, secret, kept); got["active"] != true {
			t.Errorf("a token issued before introspects as %v; want active", got)
		}
		issueAndRevoke(t, n, id, secret)
		if code, out, errOut := e.run("replay", "--from-scratch"); code != 0 {
			t.Errorf("stamp replay --from-scratch after the seed: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	}
	// history starts a node on e, issues one token through HTTP and
	// appends tokens, and returns the client, the token and the last
	// sequence, with the node running.
	history := func(t *testing.T, e *env, tokens int) (n *app.Node, id, secret, kept string, last uint64) {
		n = e.start()
		id, secret = e.createClient(n, "billing")
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last = appendTokens(t, n.Store(), id, tokens)
		waitApplied(t, n, last)
		return n, id, secret, tok.AccessToken, last
	}

	t.Run("from the snapshot", func(t *testing.T) {
		e := newEnv(t, "STAMP_SNAPSHOT_INTERVAL", "100ms", "STAMP_LOG_CHECKPOINT_INTERVAL", "500")
		n, id, secret, kept, first := history(t, e, 1_000)
		waitSnapshot(t, n, first)
		if err := n.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// A tail after the snapshot, checkpointed in part.
		e.vars["STAMP_SNAPSHOT_INTERVAL"] = "0"
		n = e.start()
		snapSeq := waitSnapshot(t, n, first) // the newest, written before the close
		last := appendTokensNamed(t, n.Store(), id, "tail", 1_500)
		waitApplied(t, n, last)
		waitCheckpoints(t, n, snapSeq+1_000)
		if err := n.Close(ctx); err != nil {
			t.Fatal(err)
		}

		n, rec := reseed(t, e)
		if rec.FromSnapshot != snapSeq || rec.Events > last-snapSeq+10 {
			t.Errorf("seeded from the snapshot at %d with %d events; want from %d, about the %d after it", rec.FromSnapshot, rec.Events, snapSeq, last-snapSeq)
		}
		if rec.Sequence < last || rec.ByCheckpoint < 500 {
			t.Errorf("seeded up to %d with %d events by their checkpoints; want up to %d, at least 500 by checkpoint", rec.Sequence, rec.ByCheckpoint, last)
		}
		check(t, e, n, id, secret, kept)
	})

	t.Run("without a snapshot", func(t *testing.T) {
		e := newEnv(t, "STAMP_LOG_CHECKPOINT_INTERVAL", "500")
		n, id, secret, kept, last := history(t, e, 1_500)
		waitCheckpoints(t, n, 1_000)
		if err := n.Close(ctx); err != nil {
			t.Fatal(err)
		}

		n, rec := reseed(t, e)
		if rec.FromSnapshot != 0 || rec.Events < last || rec.Sequence < last || rec.ByCheckpoint < 999 {
			t.Errorf("seeded from %d up to %d, %d events, %d by their checkpoints; want from the first event up to %d, at least 999 by checkpoint", rec.FromSnapshot, rec.Sequence, rec.Events, rec.ByCheckpoint, last)
		}
		check(t, e, n, id, secret, kept)
	})
}
