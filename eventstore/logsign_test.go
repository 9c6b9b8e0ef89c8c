package eventstore

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

func newLogKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

func openWith(tb testing.TB, opts Options) *Store {
	tb.Helper()
	st, err := Open(testContext(tb), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(st.Close)
	return st
}

// publishRaw publishes body on subject with the given headers straight on
// the stream, as anyone allowed to publish could, and returns its sequence.
func publishRaw(tb testing.TB, st *Store, subject string, h nats.Header, body []byte) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range h {
		m.Header[k] = v
	}
	ack, err := st.js.PublishMsg(testContext(tb), m)
	if err != nil {
		tb.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

// forgeries publishes on token t a revocation signed with another key
// under key's id, an unsigned one, and a signed one whose payload was
// altered after signing, and returns their sequences.
func forgeries(tb testing.TB, st *Store, key ed25519.PrivateKey, t string) []uint64 {
	tb.Helper()
	// The per-id subject of logs written before the shards: Load finds
	// events there without a Stamp-Aggregate header.
	subject := token(t).LegacyFilter()[:len(token(t).LegacyFilter())-1] + "AccessTokenRevoked"
	mk := func(id string) []byte {
		e, err := domain.NewEnvelope(id, domain.AccessTokenRevoked{TokenID: t}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
		if err != nil {
			tb.Fatal(err)
		}
		return mustJSON(e)
	}
	kid := domain.LogKeyID(key.Public().(ed25519.PublicKey))
	wrong, unsigned, altered := mk("forged-1"), mk("forged-2"), mk("forged-3")
	h := nats.Header{}
	h.Set(hdrMsgID, "forged-1")
	h.Set(HeaderKey, kid)
	h.Set(HeaderSignature, domain.SignLogEvent(newLogKey(tb), subject, "forged-1", wrong))
	s1 := publishRaw(tb, st, subject, h, wrong)
	h = nats.Header{}
	h.Set(hdrMsgID, "forged-2")
	s2 := publishRaw(tb, st, subject, h, unsigned)
	h = nats.Header{}
	h.Set(hdrMsgID, "forged-3")
	h.Set(HeaderKey, kid)
	h.Set(HeaderSignature, domain.SignLogEvent(key, subject, "forged-3", altered))
	altered[len(altered)-3] ^= 1 // flip one bit of the token id
	s3 := publishRaw(tb, st, subject, h, altered)
	return []uint64{s1, s2, s3}
}

// refusedSeqs replays the whole log through st and returns the sequences
// it refused and those it accepted.
func refusedSeqs(tb testing.TB, st *Store) (refused, accepted []uint64) {
	tb.Helper()
	err := st.Replay(testContext(tb), 0, "", func(r domain.Recorded) error {
		if r.Refused != "" {
			if r.Envelope.ID != "" {
				tb.Errorf("refused %d carries envelope %s; want zero", r.Seq, r.Envelope.ID)
			}
			refused = append(refused, r.Seq)
		} else {
			accepted = append(accepted, r.Seq)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay: %v", err)
	}
	return refused, accepted
}

// The upgrade path: events written without signing are legacy, the first
// Open with a key announces it with adopted_at = the last sequence, and
// from then on every reader refuses unsigned, wrongly signed and altered
// events, also a reader that only trusts the public key.
func TestLogSigningAdoptionAndRefusal(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	legacy := openStore(t, srv)
	mustAppend(t, legacy, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	mustAppend(t, legacy, token("b"), domain.ExpectAny, env("e2", "AccessTokenCreated"))
	legacy.Close()

	key := newLogKey(t)
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	if ls := st.LogSigning(); !ls.Verifying || !ls.Adopted || ls.AdoptedAt != 2 {
		t.Fatalf("LogSigning = %+v; want verifying, adopted at 2", ls)
	}
	recs, err := st.Load(testContext(t), domain.LogKeyAggregate)
	if err != nil || len(recs) != 1 || recs[0].Seq != 3 || recs[0].Refused != "" {
		t.Fatalf("announcement: %+v, %v; want one at sequence 3", recs, err)
	}
	signed := mustAppend(t, st, token("a"), domain.ExpectAny, env("e3", "AccessTokenRevoked"))
	forged := forgeries(t, st, key, "a")

	// A second instance with the same key learns the announcement and
	// does not announce again.
	again := openWith(t, Options{InProcess: srv, LogKey: key})
	if ls := again.LogSigning(); ls.AdoptedAt != 2 {
		t.Errorf("second Open: AdoptedAt = %d; want 2", ls.AdoptedAt)
	}
	// An auditor with the public key only.
	auditor := openWith(t, Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})

	for name, reader := range map[string]*Store{"writer": st, "second": again, "auditor": auditor} {
		refused, accepted := refusedSeqs(t, reader)
		if !slices.Equal(refused, forged) || !slices.Equal(accepted, []uint64{1, 2, 3, signed}) {
			t.Errorf("%s: refused %v, accepted %v; want refused %v, accepted [1 2 3 %d]", name, refused, accepted, forged, signed)
		}
	}
	if n := auditor.LogSigning().Refused; n != 3 {
		t.Errorf("auditor counted %d refusals; want 3", n)
	}
	// Load refuses them too, so no decision is made on them.
	recs, err = st.Load(testContext(t), token("a"))
	if err != nil || len(recs) != 5 || recs[2].Refused == "" || recs[3].Refused == "" || recs[4].Refused == "" {
		t.Errorf("Load(a) = %+v, %v; want e1, e3 and three refused", recs, err)
	}

	// An instance with another key must not write into this log.
	if _, err := Open(testContext(t), Options{InProcess: srv, LogKey: newLogKey(t)}); !errors.Is(err, ErrLogKeyMismatch) {
		t.Errorf("Open with another key: %v; want ErrLogKeyMismatch", err)
	}
}

// On a fresh log the announcement is the first event, adopted at 0, and
// an unsigned event is refused even by a reader that starts after it.
func TestLogSigningFreshLog(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	if ls := st.LogSigning(); !ls.Adopted || ls.AdoptedAt != 0 {
		t.Fatalf("LogSigning = %+v; want adopted at 0", ls)
	}
	h := nats.Header{}
	h.Set(hdrMsgID, "u1")
	seq := publishRaw(t, st, token("a").Subject("AccessTokenCreated"), h, mustJSON(env("u1", "AccessTokenCreated")))
	var got domain.Recorded
	err := st.Replay(testContext(t), seq, "", func(r domain.Recorded) error { got = r; return nil })
	if err != nil || got.Seq != seq || got.Refused == "" {
		t.Errorf("Replay from %d: %+v, %v; want it refused", seq, got, err)
	}
}

// A durable consumer parks forged events without handing them to fn, and
// the revocation feed never tells its sink a forged revocation.
func TestLogSigningDeliverAndFeedRefuse(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	fn, got := recorder(t, ack)
	runDeliver(t, st, "strict", "", deliverOptions{}, fn)
	waitConsumer(t, st, "strict")
	sink := &recordingSink{}
	runFeed(t, st.RevocationFeed(time.Hour), sink)

	forged := forgeries(t, st, key, "t1")
	appendEvent(t, st, "real", domain.AccessTokenRevoked{TokenID: "t2", ExpiresAt: testTime}, testTime)
	last, _ := st.LastSeq(testContext(t))
	expectDeliveries(t, got, delivered{"real", last, 1})

	parked, err := st.Parked(testContext(t), "strict")
	if err != nil {
		t.Fatalf("Parked: %v", err)
	}
	var seqs []uint64
	for _, p := range parked {
		seqs = append(seqs, p.Seq)
	}
	if !slices.Equal(seqs, forged) {
		t.Errorf("parked %v; want %v", seqs, forged)
	}
	pollUntil(t, "the real revocation", func() bool { told, _ := sink.snapshot(); return len(told) > 0 })
	if told, _ := sink.snapshot(); len(told) != 1 || told[0] != "revoked t2 "+testTime.Add(revocationMargin).Format(time.RFC3339) {
		t.Errorf("sink told %v; want only the real revocation of t2", told)
	}

	// A resource server's own feed, trusting the public key, too.
	f, err := OpenRevocationFeed(testContext(t), Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, time.Hour)
	if err != nil {
		t.Fatalf("OpenRevocationFeed: %v", err)
	}
	t.Cleanup(f.Close)
	rs := &recordingSink{}
	runFeed(t, f, rs)
	pollUntil(t, "the resource server's feed to catch up", rs.isCurrent)
	if told, _ := rs.snapshot(); len(told) != 1 {
		t.Errorf("resource server's sink told %v; want only the real revocation", told)
	}
}

// A read-only Store learns the adoption point, verifies, and never appends.
func TestOpenReadOnly(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	ro, err := OpenReadOnly(testContext(t), Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	t.Cleanup(ro.Close)
	if ls := ro.LogSigning(); !ls.Verifying || !ls.Adopted || ls.AdoptedAt != 0 {
		t.Errorf("LogSigning = %+v; want verifying, adopted at 0", ls)
	}
	if _, err := ro.Append(testContext(t), token("b"), domain.ExpectAny, env("e2", "AccessTokenCreated")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append = %v; want ErrReadOnly", err)
	}
	if first, err := ro.FirstSeq(testContext(t)); err != nil || first != 1 {
		t.Errorf("FirstSeq = %d, %v; want 1", first, err)
	}
	if last, _ := ro.LastSeq(testContext(t)); last != 2 {
		t.Errorf("LastSeq = %d; want 2 (announcement and e1; nothing appended)", last)
	}
}
