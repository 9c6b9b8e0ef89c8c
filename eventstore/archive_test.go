package eventstore

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// logView is what readers see of the log, summed up for comparison: a
// checksum of every event a read delivered (sequence, subject, id,
// refusal) and how many.
type logView struct {
	sum string
	n   int
}

func viewOf(t *testing.T, read func(fn func(domain.Recorded) error) error) logView {
	t.Helper()
	h := sha256.New()
	n := 0
	if err := read(func(r domain.Recorded) error {
		fmt.Fprintf(h, "%d %s %s %q\n", r.Seq, r.Subject, r.Envelope.ID, r.Refused)
		n++
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	return logView{sum: fmt.Sprintf("%x", h.Sum(nil)), n: n}
}

// views are the reads the CLI's audit, events and replay make.
func views(t *testing.T, st *Store, since time.Time) map[string]logView {
	t.Helper()
	ctx := testContext(t)
	out := map[string]logView{}
	out["replay all"] = viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 0, "", fn) })
	out["replay from 3"] = viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 3, "", fn) })
	out["replay tokens"] = viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 0, "stamp.token.>", fn) })
	out["events since"] = viewOf(t, func(fn func(domain.Recorded) error) error {
		return st.Read(ctx, ReadOptions{Since: since}, fn)
	})
	out["audit client"] = viewOf(t, func(fn func(domain.Recorded) error) error {
		recs, err := st.Load(ctx, client("c1"))
		for _, r := range recs {
			if err == nil {
				err = fn(r)
			}
		}
		return err
	})
	return out
}

// waitArchived polls until the archive holds the hot stream's last event.
func waitArchived(t *testing.T, srv *Server, st *Store) ArchivePass {
	t.Helper()
	ctx := testContext(t)
	last, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A window of a day purges nothing.
		pass, err := srv.Archive(ctx, 24*time.Hour, time.Now())
		if err == nil && pass.Archived == last {
			return pass
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive holds up to %d (%v); want %d", pass.Archived, err, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storedTime is when the hot stream stored seq.
func storedTime(t *testing.T, st *Store, seq uint64) time.Time {
	t.Helper()
	m, err := st.stream.GetMsg(testContext(t), seq)
	if err != nil {
		t.Fatalf("GetMsg %d: %v", seq, err)
	}
	return m.Time
}

// Events older than the window leave the hot stream once archived, and
// every read (replay, by time, by filter, Load, a follower from 0, a fresh
// read-only Store learning the log-signing adoption) answers as before,
// signatures checked as before.
func TestArchiveKeepsEveryEventReadable(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st, err := Open(testContext(t), Options{InProcess: srv, LogKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := testContext(t)
	mustAppend(t, st, client("c1"), domain.ExpectNew, env("c1-reg", "ClientRegistered"))
	for i := range 10 {
		mustAppend(t, st, token(fmtID("t", i)), domain.ExpectNew, env(fmtID("at", i), "AccessTokenCreated"))
	}
	// The archive stores a copy when it makes it, within milliseconds of
	// the original; a time between two batches is in the same place in
	// both streams.
	waitArchived(t, srv, st)
	since := time.Now()
	clientSeq := mustAppend(t, st, client("c1"), domain.ExpectAny, env("c1-upd", "ClientUpdated"))
	for i := 10; i < 20; i++ {
		mustAppend(t, st, token(fmtID("t", i)), domain.ExpectNew, env(fmtID("at", i), "AccessTokenCreated"))
	}
	waitArchived(t, srv, st)
	before := views(t, st, since)
	if before["events since"].n != 11 {
		t.Fatalf("events since: %d; want 11", before["events since"].n)
	}

	// Drop everything stored before event 15 (the window's edge).
	pass, err := srv.Archive(ctx, time.Hour, storedTime(t, st, 15).Add(time.Hour))
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	if hf, _ := st.HotFirstSeq(ctx); pass.HotFirst != 15 || hf != 15 || pass.Purged == 0 {
		t.Fatalf("after the pass: %+v, hot stream starts at %d; want 15", pass, hf)
	}
	after := views(t, st, since)
	for name, v := range before {
		if after[name] != v {
			t.Errorf("%s: %+v after archiving; want %+v", name, after[name], v)
		}
	}
	if first, err := st.FirstSeq(ctx); first != 1 || err != nil {
		t.Errorf("FirstSeq = %d, %v; want 1 (the archive's)", first, err)
	}

	// A decision on an aggregate whose last event left the hot stream.
	if _, err := st.Append(ctx, client("c1"), domain.ExpectSeq(clientSeq), env("c1-upd2", "ClientUpdated")); err != nil {
		t.Fatalf("append expecting an archived sequence: %v", err)
	}
	if _, err := st.Append(ctx, client("c1"), domain.ExpectSeq(clientSeq), env("c1-upd3", "ClientUpdated")); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("a stale expectation: %v; want ErrConflict", err)
	}

	// Everything archived and dropped, the announcement with it.
	waitArchived(t, srv, st)
	before = views(t, st, since)
	if _, err := srv.Archive(ctx, time.Nanosecond, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	last, _ := st.LastSeq(ctx)
	if hf, _ := st.HotFirstSeq(ctx); hf != last+1 {
		t.Fatalf("hot stream starts at %d; want %d (empty)", hf, last+1)
	}
	after = views(t, st, since)
	for name, v := range before {
		if after[name] != v {
			t.Errorf("%s, all archived: %+v; want %+v", name, after[name], v)
		}
	}

	// A follower from 0 reads the archive, then waits on the hot stream.
	fctx, cancel := context.WithCancel(ctx)
	got := 0
	go func() {
		_, _ = st.Append(ctx, token("late"), domain.ExpectNew, env("late", "AccessTokenCreated"))
	}()
	err = st.Follow(fctx, 0, func(r domain.Recorded) error {
		got++
		if r.Refused != "" {
			t.Errorf("refused %d: %s", r.Seq, r.Refused)
		}
		if r.Envelope.ID == "late" {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || got != int(last)+1 {
		t.Errorf("Follow from 0: %d events, %v; want %d then cancel", got, err, last+1)
	}

	// A reader opening now learns the adoption from the archive.
	ro, err := OpenReadOnly(ctx, Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ls := ro.LogSigning(); !ls.Adopted || ls.AdoptedAt != st.LogSigning().AdoptedAt {
		t.Errorf("read-only Store: %+v; want adopted at %d", ls, st.LogSigning().AdoptedAt)
	}
	if v := viewOf(t, func(fn func(domain.Recorded) error) error { return ro.Replay(ctx, 0, "", fn) }); v.n != int(last)+1 {
		t.Errorf("read-only replay: %d events; want %d", v.n, last+1)
	}
	// So does a resource server's revocation feed, as RoleRevocations.
	feed, err := OpenRevocationFeed(ctx, Options{InProcess: srv, TrustedLogKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if ls := feed.verify.state(); !ls.Adopted || ls.AdoptedAt != st.LogSigning().AdoptedAt {
		t.Errorf("revocation feed: %+v; want adopted at %d", ls, st.LogSigning().AdoptedAt)
	}
	if st.LogSigning().Refused != 0 || ro.LogSigning().Refused != 0 {
		t.Errorf("refused: %d, %d; want none", st.LogSigning().Refused, ro.LogSigning().Refused)
	}
}

// The archiver never drops what the archive does not hold yet, and a
// crash between archiving and purging loses nothing.
func TestArchiverWaitsForTheArchive(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, ServerOptions{StoreDir: dir})
	st := openStore(t, srv)
	ctx := testContext(t)
	for i := range 5 {
		mustAppend(t, st, token(fmtID("t", i)), domain.ExpectNew, env(fmtID("at", i), "AccessTokenCreated"))
	}
	waitArchived(t, srv, st)
	// The archive stops copying (as if it lagged).
	cfg := Options{}.withDefaults().archiveConfig()
	cfg.Sources = nil
	if _, err := st.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("stop the archive: %v", err)
	}
	for i := 5; i < 10; i++ {
		mustAppend(t, st, token(fmtID("t", i)), domain.ExpectNew, env(fmtID("at", i), "AccessTokenCreated"))
	}
	want := viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 0, "", fn) })
	pass, err := srv.Archive(ctx, time.Nanosecond, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if pass.Archived != 5 || pass.HotFirst != 6 {
		t.Fatalf("pass with a lagging archive: %+v; want archived 5, hot from 6", pass)
	}
	if got := viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 0, "", fn) }); got != want {
		t.Fatalf("replay after the pass: %+v; want %+v", got, want)
	}

	// Crash before the next pass; the restarted server archives the rest.
	st.Close()
	srv.Shutdown()
	srv = startServer(t, ServerOptions{StoreDir: dir})
	st = openStore(t, srv) // restores the archive's source
	pass = waitArchived(t, srv, st)
	if pass.HotFirst != 6 {
		t.Errorf("after the restart the hot stream starts at %d; want 6", pass.HotFirst)
	}
	if _, err := srv.Archive(ctx, time.Nanosecond, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := viewOf(t, func(fn func(domain.Recorded) error) error { return st.Replay(ctx, 0, "", fn) }); got != want || got.n != 10 {
		t.Fatalf("replay after everything was archived: %+v; want %+v", got, want)
	}
}

// A log created before the archive denies purges: the archiver says so
// and drops nothing; the archive still receives every event.
func TestArchiverOnALogThatDeniesPurges(t *testing.T) {
	ctx := testContext(t)
	// As an earlier stamp created it.
	srv2, admin := startServerWithAdmin(t)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	old := Options{}.withDefaults().streamConfig()
	old.DenyPurge = true
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	st2 := openStore(t, srv2)
	mustAppend(t, st2, token("a"), domain.ExpectNew, env("a", "AccessTokenCreated"))
	info, err := st2.stream.Info(ctx)
	if err != nil || !info.Config.DenyPurge || info.Config.Compression != jetstream.S2Compression {
		t.Fatalf("the old stream after Open: deny purge %v, compression %v, %v; want kept, S2", info.Config.DenyPurge, info.Config.Compression, err)
	}
	waitArchived(t, srv2, st2)
	if _, err := srv2.Archive(ctx, time.Nanosecond, time.Now().Add(time.Hour)); !errors.Is(err, ErrPurgeDenied) {
		t.Fatalf("Archive: %v; want ErrPurgeDenied", err)
	}
	if hf, _ := st2.HotFirstSeq(ctx); hf != 1 {
		t.Errorf("hot stream starts at %d; want 1", hf)
	}
}
