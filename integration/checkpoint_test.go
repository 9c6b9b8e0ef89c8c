package integration

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// checkpointSubject is where the server writes its log checkpoints.
var checkpointSubject = domain.LogCheckpointAggregate.Subject(domain.LogCheckpointed{}.EventType())

// checkpoints returns the log checkpoints n's log holds, in order.
func checkpoints(t *testing.T, n *app.Node) []domain.LogCheckpointed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []domain.LogCheckpointed
	err := n.Store().Read(ctx, eventstore.ReadOptions{Filter: checkpointSubject}, func(r domain.Recorded) error {
		e, err := domain.Decode(r.Envelope)
		if err != nil {
			return err
		}
		out = append(out, e.(domain.LogCheckpointed))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitCheckpoints polls until n's checkpoints cover the log up to seq.
func waitCheckpoints(t *testing.T, n *app.Node, seq uint64) []domain.LogCheckpointed {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cps := checkpoints(t, n)
		if len(cps) > 0 && cps[len(cps)-1].To >= seq {
			return cps
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoints %+v within 60s; want them to cover sequence %d", cps, seq)
		}
	}
}

// byCheckpointLine is stamp replay's count of events it accepted by their
// signed log checkpoints.
var byCheckpointLine = regexp.MustCompile(`(?m)^of which (\d+) accepted by their signed log checkpoints`)

// byCheckpoint returns the count stamp replay printed (0: none printed).
func byCheckpoint(t *testing.T, out string) uint64 {
	t.Helper()
	m := byCheckpointLine.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRebuildTrustsCheckpoints: the server checkpoints its log every
// log_checkpoint_interval events, in a linear chain, and `stamp replay`
// rebuilds by them (accepting most events by digest, not by signature)
// into read models with the live ones' checksum; without a server, the
// CLI's own replay and replay --force read it the same way. A forged
// event inside a checkpointed range stops the replay exactly as per-event
// verification does (the log is damaged; the same sequence and reason
// stamp verify reports), and a validly signed checkpoint that does not
// match its range stops it with the checkpoint's error; neither swaps
// anything.
func TestRebuildTrustsCheckpoints(t *testing.T) {
	t.Run("clean log", func(t *testing.T) {
		e := newEnv(t, "STAMP_LOG_CHECKPOINT_INTERVAL", "500")
		n := e.start()
		id, _ := e.createClient(n, "billing")
		last := appendTokens(t, n.Store(), id, 2_000)
		waitApplied(t, n, last)
		cps := waitCheckpoints(t, n, 1_500)
		for i, c := range cps {
			if want := uint64(1); i > 0 {
				want = cps[i-1].To + 1
				if c.From != want {
					t.Errorf("checkpoint %d covers %d to %d; want it to begin at %d", i, c.From, c.To, want)
				}
			}
			if c.To-c.From+1 != 500 || len(c.Refused) != 0 {
				t.Errorf("checkpoint %d: %+v; want 500 sequences, none refused", i, c)
			}
		}

		before := n.Store().LogSigning().Hashed
		code, out, errOut := e.run("replay")
		if code != 0 {
			t.Fatalf("stamp replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		got := parseReplay(t, out)
		if got.live == "" || got.live != got.rebuilt || got.checksum != got.rebuilt {
			t.Errorf("stamp replay printed live %s, rebuilt %s, checksum %s; want all equal", got.live, got.rebuilt, got.checksum)
		}
		// Every sequence the checkpoints seen above cover is accepted by
		// its digest, but the signing-key announcement (sequence 1),
		// which is always checked by its signature; more checkpoints may
		// have come since.
		want := cps[len(cps)-1].To - 1
		if hashed := n.Store().LogSigning().Hashed - before; hashed < want {
			t.Errorf("the rebuild accepted %d events by their checkpoint; want at least %d", hashed, want)
		}
		if by := byCheckpoint(t, out); by < want {
			t.Errorf("stamp replay printed %d events accepted by their checkpoints; want at least %d\n%s", by, want, out)
		}

		// Without a server, the CLI's own replay (and --force) reads the
		// log the same way.
		if err := n.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"replay"}, {"replay", "--force"}} {
			code, out, errOut := e.run(args...)
			if code != 0 {
				t.Fatalf("stamp %s without a server: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
			}
			if got := parseReplay(t, out); got.live != got.rebuilt {
				t.Errorf("stamp %s without a server: live %s, rebuilt %s; want equal", strings.Join(args, " "), got.live, got.rebuilt)
			}
			if by := byCheckpoint(t, out); by < want {
				t.Errorf("stamp %s without a server printed %d events accepted by their checkpoints; want at least %d\n%s", strings.Join(args, " "), by, want, out)
			}
		}
	})

	t.Run("forged event", func(t *testing.T) {
		e := newEnv(t, "STAMP_LOG_CHECKPOINT_INTERVAL", "500")
		n := e.start()
		id, _ := e.createClient(n, "billing")
		agg := domain.Aggregate{Kind: domain.KindClient, ID: "evil"}
		body := envelopeOf(t, "forged-evil", domain.ClientRegistered{ClientID: "evil", Name: "evil", SecretHash: domain.HashSecret("evil-secret-0123456789"), Grants: []string{domain.GrantClientCredentials}, RegisteredAt: time.Now()})
		h := nats.Header{}
		h.Set("Nats-Msg-Id", "forged-evil")
		forged := newRawPublisher(t, n).publish(agg.Subject("ClientRegistered"), h, body)
		waitApplied(t, n, appendTokens(t, n.Store(), id, 1_000))
		cps := waitCheckpoints(t, n, forged)
		if c := cps[0]; len(c.Refused) != 1 || c.Refused[0] != forged {
			t.Errorf("first checkpoint %+v; want the forgery %d listed as refused", c, forged)
		}

		_, verifyOut, _ := e.run("verify")
		i := strings.Index(verifyOut, fmt.Sprintf("sequence %d: refused: ", forged))
		if i < 0 {
			t.Fatalf("stamp verify does not report the forgery %d:\n%s", forged, verifyOut)
		}
		reason := verifyOut[i:]
		reason = reason[:strings.IndexByte(reason, '\n')]
		code, out, errOut := e.run("replay")
		if code == 0 || !strings.Contains(errOut, reason) || !strings.Contains(errOut, "nothing was swapped") {
			t.Errorf("stamp replay: exit %d\nstdout: %s\nstderr: %s\nwant a failure naming %q, nothing swapped", code, out, errOut, reason)
		}
	})

	t.Run("checkpoint mismatch", func(t *testing.T) {
		e := newEnv(t, "STAMP_LOG_CHECKPOINT_INTERVAL", "0")
		n := e.start()
		id, _ := e.createClient(n, "billing")
		last := appendTokens(t, n.Store(), id, 1_000)
		waitApplied(t, n, last)
		// A checkpoint signed with the real key over a digest that is not
		// the range's, as if a message had changed since.
		key := localLogKey(t, e)
		kid := domain.LogKeyID(key.Public().(ed25519.PublicKey))
		d := domain.NewLogDigest()
		d.Add(domain.LogEntryHash(1, domain.LogEntrySigned, "stamp.client.x.ClientRegistered", "x", []byte("{}")))
		body := envelopeOf(t, "cp-bogus", domain.LogCheckpointed{From: 1, To: last - 10, Digest: d.Sum(), KeyID: kid})
		waitApplied(t, n, newRawPublisher(t, n).publish(checkpointSubject, signedHeaders(key, kid, checkpointSubject, "cp-bogus", body), body))

		sum, _ := n.Views().Checksum()
		code, out, errOut := e.run("replay")
		if code == 0 || !strings.Contains(errOut, "differs from its signed checkpoint") {
			t.Errorf("stamp replay: exit %d\nstdout: %s\nstderr: %s\nwant the checkpoint mismatch", code, out, errOut)
		}
		if after, _ := n.Views().Checksum(); after != sum {
			t.Errorf("the live read models changed: checksum %s; want %s", after, sum)
		}
	})
}
