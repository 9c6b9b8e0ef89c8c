package eventstore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// runCheckpoints runs st.WriteCheckpoints until the test ends.
func runCheckpoints(t *testing.T, st *Store, every uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := st.WriteCheckpoints(ctx, every); err != nil {
			t.Errorf("WriteCheckpoints: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitCheckpointed polls until the valid checkpoints cover every sequence
// up to seq, appending a filler event at each poll so that the range in
// progress fills up, and returns the chain.
func waitCheckpointed(t *testing.T, st *Store, seq uint64) checkpointChain {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		chain, err := st.loadCheckpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if chain.next() > seq {
			return chain
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoints cover up to %d; want %d", chain.next()-1, seq)
		}
		mustAppend(t, st, token(fmtID("filler", i)), domain.ExpectAny, env(fmtID("filler-", i), "AccessTokenCreated"))
		time.Sleep(20 * time.Millisecond)
	}
}

// trustedView is viewOf a read with TrustCheckpoints from sequence from.
func trustedView(t *testing.T, st *Store, from uint64) logView {
	t.Helper()
	return viewOf(t, func(fn func(domain.Recorded) error) error {
		return st.Read(testContext(t), ReadOptions{From: from, TrustCheckpoints: true}, fn)
	})
}

// replayView is viewOf a replay verifying every event from sequence from.
func replayView(t *testing.T, st *Store, from uint64) logView {
	t.Helper()
	return viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(testContext(t), from, "", fn) })
}

// signedLog writes a log of legacy unsigned events, the adoption of key,
// signed events and forgeries among them, and returns the store signing
// it and the forged sequences.
func signedLog(t *testing.T, srv *Server, key ed25519.PrivateKey) (*Store, []uint64) {
	t.Helper()
	legacy := openStore(t, srv)
	for i := range 3 {
		mustAppend(t, legacy, token(fmtID("old", i)), domain.ExpectAny, env(fmtID("old-", i), "AccessTokenCreated"))
	}
	legacy.Close()
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	for i := range 20 {
		mustAppend(t, st, token(fmtID("a", i)), domain.ExpectAny, env(fmtID("a-", i), "AccessTokenCreated"))
	}
	forged := forgeries(t, st, key, "a3")
	for i := range 20 {
		mustAppend(t, st, token(fmtID("b", i)), domain.ExpectAny, env(fmtID("b-", i), "AccessTokenCreated"))
	}
	return st, forged
}

// Two instances checkpoint the same log every 10 sequences: the chain is
// linear (each range begins after the last, none written twice), the
// checkpoints list exactly the forged messages as refused, and a read
// trusting them hands on exactly what per-event verification does, to the
// writer and to an auditor holding only the public key, from the start
// and from inside a range, while accepting most messages by digest.
func TestCheckpointsChainAndTrustedReplay(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st, forged := signedLog(t, srv, key)
	other := openWith(t, Options{InProcess: srv, LogKey: key})
	runCheckpoints(t, st, 10)
	runCheckpoints(t, other, 10)
	last, err := st.LastSeq(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	chain := waitCheckpointed(t, st, last)

	if len(chain.Ignored) > 0 {
		t.Errorf("ignored checkpoints: %v", chain.Ignored)
	}
	var refused []uint64
	for i, c := range chain.Valid {
		if want := uint64(1); i > 0 {
			want = chain.Valid[i-1].To + 1
			if c.From != want {
				t.Errorf("checkpoint %d covers %d to %d; want it to begin at %d", i, c.From, c.To, want)
			}
		}
		if c.To-c.From+1 != 10 || c.KeyID != domain.LogKeyID(key.Public().(ed25519.PublicKey)) {
			t.Errorf("checkpoint %d: %+v; want 10 sequences, signed by the log key", i, c.LogCheckpointed)
		}
		refused = append(refused, c.Refused...)
		if want := digestOf(t, st, c.From, c.To, forged, nil); c.Digest != want {
			t.Errorf("checkpoint %d of %d to %d: digest %s; want %s", i, c.From, c.To, c.Digest, want)
		}
	}
	if !slices.Equal(refused, forged) {
		t.Errorf("checkpoints list %v as refused; want the forgeries %v", refused, forged)
	}

	auditor := openWith(t, Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	for name, reader := range map[string]*Store{"writer": st, "auditor": auditor} {
		for _, from := range []uint64{0, 15} {
			before := reader.LogSigning().Hashed
			want, got := replayView(t, reader, from), trustedView(t, reader, from)
			if got != want {
				t.Errorf("%s from %d: trusted read %+v; want %+v (per event)", name, from, got, want)
			}
			if hashed := reader.LogSigning().Hashed - before; hashed < uint64(got.n)/2 {
				t.Errorf("%s from %d: %d of %d messages accepted by digest; want most", name, from, hashed, got.n)
			}
		}
	}
}

// A validly signed checkpoint whose digest does not match the messages of
// its range (as when a message was altered or deleted after it was
// checkpointed: the stream denies both, so the test signs a checkpoint of
// the range with one message altered or left out) stops the trusted read with
// ErrCheckpointMismatch before it hands on the range's last message.
func TestCheckpointMismatchStopsTheRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alter func(seq uint64, body []byte) []byte
	}{
		{"altered message", func(seq uint64, body []byte) []byte {
			if seq == 5 {
				body = slices.Clone(body)
				body[len(body)-3] ^= 1
			}
			return body
		}},
		{"deleted message", func(seq uint64, body []byte) []byte {
			if seq == 5 {
				return nil
			}
			return body
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, ServerOptions{})
			st := openWith(t, Options{InProcess: srv, LogKey: newLogKey(t)})
			for i := range 10 {
				mustAppend(t, st, token(fmtID("a", i)), domain.ExpectAny, env(fmtID("a-", i), "AccessTokenCreated"))
			}
			cp := domain.LogCheckpointed{From: 1, To: 8, Digest: digestOf(t, st, 1, 8, nil, tc.alter), KeyID: st.logKeyID}
			mustAppend(t, st, domain.LogCheckpointAggregate, domain.ExpectSeq(0), mustEnvelope(t, "cp-1", cp))
			assertMismatch(t, st, 8)
		})
	}
}

// digestOf computes the digest of the range from to to of st's log from
// the stored messages, independently of the writer: refused lists the
// sequences to judge refused, the others count as signed when they carry
// a signature; alter may change a message's body (nil: the message is
// left out).
func digestOf(t *testing.T, st *Store, from, to uint64, refused []uint64, alter func(uint64, []byte) []byte) string {
	t.Helper()
	d := domain.NewLogDigest()
	for seq := from; seq <= to; seq++ {
		m, err := st.stream.GetMsg(testContext(t), seq)
		if err != nil {
			t.Fatalf("GetMsg %d: %v", seq, err)
		}
		body := m.Data
		if alter != nil {
			if body = alter(seq, body); body == nil {
				continue
			}
		}
		status := domain.LogEntryUnsigned
		switch {
		case slices.Contains(refused, seq):
			status = domain.LogEntryRefused
		case m.Header.Get(HeaderSignature) != "":
			status = domain.LogEntrySigned
		}
		d.Add(domain.LogEntryHash(seq, status, m.Subject, m.Header.Get(hdrMsgID), body))
	}
	return d.Sum()
}

// assertMismatch reads st trusting checkpoints and wants ErrCheckpointMismatch
// before the record at sequence to.
func assertMismatch(t *testing.T, st *Store, to uint64) {
	t.Helper()
	var seen uint64
	err := st.Read(testContext(t), ReadOptions{TrustCheckpoints: true}, func(r domain.Recorded) error {
		seen = r.Seq
		return nil
	})
	if !errors.Is(err, ErrCheckpointMismatch) {
		t.Fatalf("trusted read: %v; want ErrCheckpointMismatch", err)
	}
	if seen >= to {
		t.Errorf("the read handed on sequence %d; want it stopped before %d", seen, to)
	}
	if err := st.Replay(testContext(t), 0, "", func(domain.Recorded) error { return nil }); err != nil {
		t.Errorf("per-event replay: %v; want no error", err)
	}
}

// A checkpoint that is not validly signed (published by an identity that
// may write the stream but holds no log key) is ignored: its range,
// whatever digest it claims, is verified per event, and the trusted read
// hands on what per-event verification does, the forgery refused.
func TestForgedCheckpointIsIgnored(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st, _ := signedLog(t, srv, key)
	body := mustJSON(mustEnvelope(t, "cp-forged", domain.LogCheckpointed{From: 1, To: 30, Digest: "AAAA", KeyID: st.logKeyID}))
	h := nats.Header{}
	h.Set(hdrMsgID, "cp-forged")
	h.Set(HeaderKey, st.logKeyID)
	h.Set(HeaderSignature, domain.SignLogEvent(newLogKey(t), checkpointSubject, "cp-forged", body))
	seq := publishRaw(t, st, checkpointSubject, h, body)

	chain, err := st.loadCheckpoints(testContext(t))
	if err != nil || len(chain.Valid) != 0 || len(chain.Ignored) != 1 || chain.LastSeq != seq {
		t.Fatalf("chain %+v, %v; want the forged checkpoint at %d ignored", chain, err, seq)
	}
	if got, want := trustedView(t, st, 0), replayView(t, st, 0); got != want {
		t.Errorf("trusted read %+v; want %+v (per event)", got, want)
	}
	// The writer goes on from the last valid checkpoint, after the forgery.
	runCheckpoints(t, st, 10)
	chain = waitCheckpointed(t, st, seq)
	if chain.Valid[0].From != 1 || len(chain.Ignored) != 1 || !slices.ContainsFunc(chain.Valid, func(c checkpoint) bool { return c.refused[seq] }) {
		t.Errorf("chain %+v; want valid checkpoints from 1 listing the forgery %d as refused", chain, seq)
	}
	if got, want := trustedView(t, st, 0), replayView(t, st, 0); got != want {
		t.Errorf("after checkpointing: trusted read %+v; want %+v (per event)", got, want)
	}
}

// Archived ranges read the same: with every event archived and dropped
// from the hot stream, a trusted read takes the archive's messages by the
// checkpoints (by STAMP sequence) and hands on what per-event verification
// does.
func TestCheckpointsOverTheArchive(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st, _ := signedLog(t, srv, key)
	runCheckpoints(t, st, 10)
	last, _ := st.LastSeq(testContext(t))
	waitCheckpointed(t, st, last)
	waitArchived(t, srv, st)
	if _, err := srv.Archive(testContext(t), time.Nanosecond, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if hf, _ := st.HotFirstSeq(testContext(t)); hf <= last {
		t.Fatalf("hot stream begins at %d; want everything up to %d archived and dropped", hf, last)
	}
	before := st.LogSigning().Hashed
	if got, want := trustedView(t, st, 0), replayView(t, st, 0); got != want {
		t.Errorf("trusted read %+v; want %+v (per event)", got, want)
	}
	if st.LogSigning().Hashed-before < last/2 {
		t.Errorf("%d messages accepted by digest; want most of %d", st.LogSigning().Hashed-before, last)
	}
}

func mustEnvelope(t *testing.T, id string, e domain.Event) domain.Envelope {
	t.Helper()
	out, err := domain.NewEnvelope(id, e, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
