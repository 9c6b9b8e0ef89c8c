package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// appendTokens appends n events straight to the log: access tokens issued
// to clientID, every fourth revoked. It returns the stream's last sequence
// afterwards.
//
// The events go in atomic batches of up to bulkBatchEvents, several
// tokens each (eventstore.Store.AppendAll), from a few writers at once: a
// batch costs the server a few milliseconds whatever its size, so big
// batches make bulk setup cheap and its time follow the number of events,
// not of decisions. Each attempt at a batch has its own deadline, not the
// whole run, and a batch whose attempt timed out is appended again, up to
// batchAttempts times: its envelope ids are fixed, so a retry of a batch
// that was stored after all is recognised, never stored twice. A loaded
// machine makes the run slower, never wrong, and a stuck append still
// fails. Token ids are bulk-<batch>-<i>, so bulk-0-0 always exists.
func appendTokens(tb testing.TB, store *eventstore.Store, clientID string, n int) uint64 {
	tb.Helper()
	return appendTokensNamed(tb, store, clientID, "bulk", n)
}

// appendTokensNamed is appendTokens with token ids <prefix>-<batch>-<i>:
// a second call with the same prefix appends nothing new within the
// duplicate window (the same envelope ids), one with another prefix
// appends n more tokens.
func appendTokensNamed(tb testing.TB, store *eventstore.Store, clientID, prefix string, n int) uint64 {
	tb.Helper()
	const (
		bulkBatchEvents = 500 // half the server's limit of a batch
		bulkWriters     = 4
		batchTimeout    = 30 * time.Second
		batchAttempts   = 4
	)
	issued := time.Now().UTC().Truncate(time.Second)
	actor := domain.Actor{Kind: domain.ActorSystem}
	batches := (n + bulkBatchEvents - 1) / bulkBatchEvents
	var next atomic.Int64 // batches claimed so far
	var wg sync.WaitGroup
	errs := make(chan error, bulkWriters)
	for range bulkWriters {
		wg.Go(func() {
			for {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				size := min(bulkBatchEvents, n-b*bulkBatchEvents)
				batch := make([]domain.Pending, 0, size)
				add := func(jti, suffix string, ev domain.Event) error {
					env, err := domain.NewEnvelope(jti+suffix, ev, issued, actor)
					if err != nil {
						return err
					}
					batch = append(batch, domain.Pending{Aggregate: domain.Aggregate{Kind: domain.KindToken, ID: jti}, Envelope: env})
					return nil
				}
				for i := 0; len(batch) < size; i++ {
					jti := fmt.Sprintf("%s-%d-%d", prefix, b, i)
					err := add(jti, "-c", domain.AccessTokenCreated{
						TokenID: jti, ClientID: clientID, Scopes: []string{"read"},
						GrantType: domain.GrantClientCredentials, KeyID: "bulk",
						IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
					})
					if err == nil && i%4 == 3 && len(batch) < size {
						err = add(jti, "-r", domain.AccessTokenRevoked{
							TokenID: jti, ClientID: clientID, Reason: domain.ReasonRevokedByClient,
						})
					}
					if err != nil {
						errs <- err
						return
					}
				}
				var err error
				for range batchAttempts {
					ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
					_, err = store.AppendAll(ctx, domain.ExpectAny, batch...)
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, domain.ErrTemporarilyUnavailable) {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("batch %d of %d (%d events): %w", b, batches, len(batch), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("append: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	last, err := store.LastSeq(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return last
}

// waitApplied waits until n's read models have applied seq.
func waitApplied(tb testing.TB, n *app.Node, seq uint64) {
	tb.Helper()
	for deadline := time.Now().Add(60 * time.Second); n.Views().Checkpoint() < seq; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the read models applied %d of %d within 60s", n.Views().Checkpoint(), seq)
		}
	}
}

var (
	checksumLine = regexp.MustCompile(`(?m)^checksum ([0-9a-f]{64})$`)
	liveLine     = regexp.MustCompile(`(?m)^live +([0-9a-f]{64}) \(sequence (\d+)\)$`)
	rebuiltLine  = regexp.MustCompile(`(?m)^rebuilt +([0-9a-f]{64}) \(sequence (\d+)\)$`)
	eventsLine   = regexp.MustCompile(`(?m)^events (\d+) in \S+ \((\d+)/s\)$`)
)

// replayOutput is what stamp replay printed.
type replayOutput struct{ checksum, live, rebuilt, seq, events string }

func parseReplay(t *testing.T, out string) replayOutput {
	t.Helper()
	var r replayOutput
	if m := checksumLine.FindStringSubmatch(out); m != nil {
		r.checksum = m[1]
	}
	if m := liveLine.FindStringSubmatch(out); m != nil {
		r.live, r.seq = m[1], m[2]
	}
	if m := rebuiltLine.FindStringSubmatch(out); m != nil {
		r.rebuilt = m[1]
	}
	if m := eventsLine.FindStringSubmatch(out); m != nil {
		r.events = m[1]
	}
	if r.checksum == "" || r.events == "" {
		t.Fatalf("stamp replay printed %q; want checksum and events lines", out)
	}
	return r
}

// storeChecksum opens the read models in dir and returns their checksum.
func storeChecksum(t *testing.T, dir string) (string, uint64) {
	t.Helper()
	s, err := projections.Open(dir, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	return sum, s.Checkpoint()
}

// TestReplayWithoutServer: with no server on the data directory, a replay
// of 50,000 events gives the checksum of the live read models caught up
// to the end of the log, and leaves the rebuilt models in place.
func TestReplayWithoutServer(t *testing.T) {
	// No log checkpoints: the log holds exactly what the test appends.
	e := newEnv(t, "STAMP_LOG_CHECKPOINT_INTERVAL", "0")
	n := e.start()
	clientID, _ := e.createClient(n, "bulk")
	start := time.Now()
	last := appendTokens(t, n.Store(), clientID, 50_000)
	t.Logf("appended 50,000 events in %s", time.Since(start).Round(time.Millisecond))
	waitApplied(t, n, last)
	live, err := n.Views().Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	code, out, errOut := e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	t.Logf("stamp replay took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	got := parseReplay(t, out)
	if got.checksum != live || got.live != live || got.rebuilt != live {
		t.Errorf("stamp replay printed checksum %s, live %s, rebuilt %s; want all %s (the live read models)", got.checksum, got.live, got.rebuilt, live)
	}
	if got.seq != fmt.Sprint(last) || got.events != fmt.Sprint(last) {
		t.Errorf("stamp replay compared at sequence %s after %s events; want %d and %d", got.seq, got.events, last, last)
	}
	if !strings.Contains(errOut, "replay: ") || !strings.Contains(errOut, fmt.Sprintf("%d/%d events (100%%)", last, last)) {
		t.Errorf("stamp replay's progress on stderr: %q; want lines up to %d/%d", errOut, last, last)
	}
	dir := filepath.Join(e.dataDir, "projections")
	if sum, seq := storeChecksum(t, dir); sum != live || seq != last {
		t.Errorf("the read models in place after the replay: checksum %s at %d; want %s at %d", sum, seq, live, last)
	}
	for _, leftover := range []string{dir + ".rebuild", dir + ".old"} {
		if _, err := os.Stat(leftover); err == nil {
			t.Errorf("%s is left behind", filepath.Base(leftover))
		}
	}
}

// TestReplayReplacesDriftedModels: read models holding what the log does
// not explain are replaced by the rebuild, and the command says they had
// drifted (exit 1).
func TestReplayReplacesDriftedModels(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	clientID, _ := e.createClient(n, "bulk")
	waitApplied(t, n, appendTokens(t, n.Store(), clientID, 500))
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dataDir, "projections")
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("clients/id/ghost"), []byte(`{"id":"ghost"}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	drifted, _ := storeChecksum(t, dir)

	code, out, errOut := e.run("replay")
	if code != 1 || !strings.Contains(errOut, "drifted") {
		t.Fatalf("stamp replay over drifted read models: exit %d, stderr %q; want 1 and a word of drift", code, errOut)
	}
	got := parseReplay(t, out)
	if got.live != drifted || got.rebuilt == drifted || got.checksum != got.rebuilt {
		t.Errorf("stamp replay printed live %s, rebuilt %s, checksum %s; want live %s and another rebuilt one", got.live, got.rebuilt, got.checksum, drifted)
	}
	if sum, _ := storeChecksum(t, dir); sum != got.rebuilt {
		t.Errorf("the read models in place: checksum %s; want the rebuilt %s", sum, got.rebuilt)
	}
}

// quietPebble is a pebble.Logger that keeps Pebble's messages out of the
// test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// TestReplayWithServer: with a server running, stamp replay has the server
// rebuild and swap its read models while it keeps issuing and introspecting
// tokens, and the server answers as before afterwards.
func TestReplayWithServer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "billing")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	before, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, n, appendTokens(t, n.Store(), id, 20_000))

	// Clients keep getting and checking tokens all through the replay.
	stop := make(chan struct{})
	var issued atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Errorf("token during the replay: %v", err)
				return
			}
			if got := introspect(t, n, id, secret, tok.AccessToken); got["active"] != true {
				t.Errorf("a token issued during the replay introspects as %v; want active", got)
				return
			}
			issued.Add(1)
		}
	})
	code, out, errOut := e.run("replay")
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("stamp replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	t.Logf("stamp replay with a server (%d tokens issued meanwhile):\n%s%s", issued.Load(), out, errOut)
	got := parseReplay(t, out)
	if got.live == "" || got.live != got.rebuilt || got.checksum != got.rebuilt {
		t.Errorf("stamp replay printed live %s, rebuilt %s, checksum %s; want all equal", got.live, got.rebuilt, got.checksum)
	}
	if !strings.Contains(errOut, "the server is") {
		t.Errorf("stamp replay's stderr %q; want word that the server swapped", errOut)
	}

	for _, tok := range []string{before.AccessToken} {
		if got := introspect(t, n, id, secret, tok); got["active"] != true {
			t.Errorf("a token issued before the replay introspects as %v; want active", got)
		}
	}
	after, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token after the replay: %v", err)
	}
	if got := introspect(t, n, id, secret, after.AccessToken); got["active"] != true {
		t.Errorf("a token issued after the replay introspects as %v; want active", got)
	}
	if _, err := n.Views().AccessToken(ctx, "bulk-0-0"); err != nil {
		t.Errorf("a bulk token after the replay: %v", err)
	}
	select {
	case err := <-n.Err():
		t.Errorf("the server's read models stopped: %v", err)
	default:
	}

	// A second replay finds the first one done.
	if code, _, errOut := e.run("replay"); code != 0 {
		t.Errorf("a second stamp replay: exit %d: %s", code, errOut)
	}
}
