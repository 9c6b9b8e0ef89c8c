package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestArchiveBytesPerToken measures the disk an issued token costs, hot
// and archived (README "Measuring"). Every run measures 2,000
// tokens; STAMP_BENCH_ARCHIVE_TOKENS=<N> measures N: client-credentials AccessTokenCreated
// events, signed, appended by 16 writers through the group commit, once
// with S2 compression and once without. It prints, per token, the stream
// info's bytes (what JetStream counts, uncompressed) and the bytes of each
// stream's directory on disk, before and after an archiver pass that drops
// every event from the hot stream.
func TestArchiveBytesPerToken(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STAMP_BENCH_ARCHIVE_TOKENS"))
	if n <= 0 {
		n = 2000 // every run checks the measurement works; the figures want more
	}
	for _, noCompression := range []bool{false, true} {
		name := "s2"
		if noCompression {
			name = "none"
		}
		t.Run(name, func(t *testing.T) { measureBytesPerToken(t, n, noCompression) })
	}
}

func measureBytesPerToken(t *testing.T, n int, noCompression bool) {
	dir := t.TempDir()
	srv := startServer(t, ServerOptions{StoreDir: dir})
	st, err := Open(testContext(t), Options{InProcess: srv, LogKey: newLogKey(t), NoCompression: noCompression})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	now := time.Now().UTC()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				id := fmt.Sprintf("tok-%010d-%s", i, "Zq3xT9LmP0aBcDeF")
				e := domain.AccessTokenCreated{TokenID: id, ClientID: "0190b6b2-6a8e-7c4e-9a53-3c1d2e4f5a6b", Scopes: []string{"read", "write"},
					GrantType: domain.GrantClientCredentials, KeyID: "key-2026-01", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				env, err := domain.NewEnvelope("evt-"+id, e, now, domain.Actor{Kind: domain.ActorClient, ID: e.ClientID})
				if err == nil {
					_, err = st.Append(ctx, e.AggregateOf(), domain.ExpectAny, env)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("append: %v", err)
	}
	waitArchivedWithin(t, srv, st, 10*time.Minute)
	type sizes struct{ hot, arch, hotDisk, archDisk uint64 }
	measure := func() sizes {
		hot, err := st.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		arch, err := st.archive.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return sizes{hot: hot.State.Bytes, arch: arch.State.Bytes}
	}
	report := func(when string, z sizes) {
		per := func(b uint64) string { return fmt.Sprintf("%7.1f", float64(b)/float64(n)) }
		t.Logf("%-32s hot: %s B/token counted, %s B/token on disk | archive: %s B/token counted, %s B/token on disk",
			when, per(z.hot), per(z.hotDisk), per(z.arch), per(z.archDisk))
	}
	t.Logf("%d tokens, compression %s", n, map[bool]string{false: "s2", true: "none"}[noCompression])
	z := measure()
	z.hotDisk, z.archDisk = streamDirBytes(t, dir, "STAMP"), streamDirBytes(t, dir, ArchiveStreamName)
	report("before archiving (running)", z)
	if _, err := srv.Archive(ctx, time.Nanosecond, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	z = measure()
	// The server removes purged blocks in the background: wait until the
	// hot stream's directory stops shrinking.
	for prev, deadline := uint64(1<<63), time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		now := streamDirBytes(t, dir, "STAMP")
		if now >= prev {
			break
		}
		prev = now
	}
	st.Close()
	srv.Shutdown() // the purged blocks are gone, the last one written out
	z.hotDisk, z.archDisk = streamDirBytes(t, dir, "STAMP"), streamDirBytes(t, dir, ArchiveStreamName)
	report("after archiving all (stopped)", z)
}

// waitArchivedWithin is waitArchived with a longer deadline.
func waitArchivedWithin(t *testing.T, srv *Server, st *Store, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	last, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		pass, err := srv.Archive(ctx, 24*time.Hour, time.Now())
		if err == nil && pass.Archived == last {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("archive holds up to %d (%v); want %d", pass.Archived, err, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// streamDirBytes sums the sizes of the files of stream's directory under
// the server's store directory dir.
func streamDirBytes(t *testing.T, dir, stream string) uint64 {
	t.Helper()
	var total uint64
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == stream && filepath.Base(filepath.Dir(path)) == "streams" {
			found = true
			return filepath.WalkDir(path, func(_ string, f fs.DirEntry, err error) error {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err != nil || f.IsDir() {
					return err
				}
				info, err := f.Info()
				if err == nil {
					total += uint64(info.Size())
				}
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed meanwhile
				}
				return err
			})
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("stream directory of %s under the store: found %v, %v", stream, found, err)
	}
	return total
}
