package rebuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/projections"
)

// sliceLog is a log held in a slice.
type sliceLog struct {
	recs []domain.Recorded
	err  error // returned by Replay after the records, when set
}

func (l sliceLog) LastSeq(context.Context) (uint64, error) {
	if len(l.recs) == 0 {
		return 0, nil
	}
	return l.recs[len(l.recs)-1].Seq, nil
}

func (l sliceLog) Replay(_ context.Context, from uint64, _ string, fn func(domain.Recorded) error) error {
	for _, r := range l.recs {
		if r.Seq >= from {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return l.err
}

// clients returns a log registering n clients.
func clients(t *testing.T, n int) sliceLog {
	t.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var l sliceLog
	for i := range n {
		id := domain.Aggregate{Kind: domain.KindClient, ID: "c" + string(rune('a'+i))}
		env, err := domain.NewEnvelope("e"+id.ID, domain.ClientRegistered{ClientID: id.ID, Name: id.ID, Grants: []string{domain.GrantClientCredentials}, RegisteredAt: at}, at, domain.Actor{Kind: domain.ActorCLI})
		if err != nil {
			t.Fatal(err)
		}
		l.recs = append(l.recs, domain.Recorded{Seq: uint64(i + 1), Subject: id.Subject(env.Type), Envelope: env})
	}
	return l
}

// checksumOf opens the store in dir and returns its checkpoint and
// checksum.
func checksumOf(t *testing.T, dir string) (uint64, string) {
	t.Helper()
	s, err := projections.Open(dir, projections.Options{})
	if err != nil {
		t.Fatalf("open the installed store: %v", err)
	}
	defer s.Close()
	sum, err := s.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	return s.Checkpoint(), sum
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestFreshAndInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "projections")
	if err := os.MkdirAll(FreshDir(dir), 0o755); err != nil { // a stale rebuild
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(FreshDir(dir), "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var last uint64
	fresh, st, err := Fresh(context.Background(), clients(t, 3), dir, projections.Options{}, func(done, total uint64) { last = done })
	if err != nil {
		t.Fatalf("Fresh: %v", err)
	}
	if st.Events != 3 || last != 3 {
		t.Errorf("Fresh applied %d events, progress ended at %d; want 3 and 3", st.Events, last)
	}
	seq, sum, err := Install(fresh, dir, false)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if exists(FreshDir(dir)) {
		t.Errorf("%s is left behind", FreshDir(dir))
	}
	if gotSeq, gotSum := checksumOf(t, dir); seq != 3 || gotSeq != seq || gotSum != sum {
		t.Errorf("installed store at %d with %s; Install said %d with %s, want sequence 3", gotSeq, gotSum, seq, sum)
	}

	// Over read models of an older layout (here: anything in dir).
	fresh, _, err = Fresh(context.Background(), clients(t, 4), dir, projections.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _, err = Install(fresh, dir, true); err != nil || seq != 4 {
		t.Fatalf("Install replacing the old = %d, %v; want 4, nil", seq, err)
	}
	if exists(dir+".old") || exists(FreshDir(dir)) {
		t.Errorf("the old or the fresh directory is left behind")
	}
	if gotSeq, _ := checksumOf(t, dir); gotSeq != 4 {
		t.Errorf("installed store at %d; want 4", gotSeq)
	}
}

func TestFreshFailureRemovesTheRebuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "projections")
	down := errors.New("the log went away")
	log := clients(t, 2)
	log.err = down
	if _, _, err := Fresh(context.Background(), log, dir, projections.Options{}, nil); !errors.Is(err, down) {
		t.Fatalf("Fresh error %v; want the log's", err)
	}
	if exists(FreshDir(dir)) {
		t.Errorf("a failed rebuild left %s", FreshDir(dir))
	}
}

func TestReplaceMovesTheOldAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "projections")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "damaged"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	fresh, _, err := Fresh(context.Background(), clients(t, 2), dir, projections.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq, _, aside, err := Replace(fresh, dir, now)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if want := dir + ".corrupt-20260203T040506Z"; aside != want || !exists(filepath.Join(aside, "damaged")) {
		t.Errorf("old models moved to %q; want %q, holding them", aside, want)
	}
	if gotSeq, _ := checksumOf(t, dir); seq != 2 || gotSeq != 2 {
		t.Errorf("Replace put a store at %d in place (said %d); want 2", gotSeq, seq)
	}
	// A second one within the same second gets a suffix.
	again, err := MoveAside(dir, now)
	if err != nil || !strings.HasSuffix(again, ".corrupt-20260203T040506Z-2") {
		t.Errorf("MoveAside within the same second = %q, %v; want the -2 name", again, err)
	}
	if none, err := MoveAside(dir, now); none != "" || err != nil {
		t.Errorf("MoveAside of a missing dir = %q, %v; want nothing", none, err)
	}
}
