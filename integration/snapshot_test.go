package integration

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/eventstore"
)

var fromSnapshotLine = regexp.MustCompile(`(?m)^from snapshot at sequence (\d+) `)

// TestReplayStartsFromSnapshot: a server with --snapshot-interval writes
// signed read-model snapshots; stamp replay starts from the newest one and
// gives the checksum of the live read models, as stamp replay
// --from-scratch does from the first event. A newer snapshot that is not
// signed with the log key (put by anyone with the writer's NATS
// permissions) is ignored with a warning.
func TestReplayStartsFromSnapshot(t *testing.T) {
	e := newEnv(t, "STAMP_SNAPSHOT_INTERVAL", "100ms")
	n := e.start()
	clientID, _ := e.createClient(n, "bulk")
	last := appendTokens(t, n.Store(), clientID, 2000)
	waitApplied(t, n, last)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var snapSeq uint64
	for deadline := time.Now().Add(60 * time.Second); snapSeq < last; time.Sleep(20 * time.Millisecond) {
		list, err := n.Store().Snapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 {
			snapSeq = list[0].Seq
			if !list[0].Signed {
				t.Fatalf("snapshot %+v is not signed", list[0])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the newest snapshot is at %d within 60s; want %d", snapSeq, last)
		}
	}
	tail := appendTokensNamed(t, n.Store(), clientID, "tail", 50)
	waitApplied(t, n, tail)
	// A forged snapshot, newer, unsigned.
	forger, err := eventstore.Open(ctx, eventstore.Options{URL: n.NATSURL(), NkeySeedFile: n.NATSSeedFile(eventstore.RoleWriter)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forger.PutSnapshot(ctx, tail+1000, strings.NewReader("forged")); err != nil {
		t.Fatal(err)
	}
	forger.Close()
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An event after every snapshot, appended with no server running: the
	// replay applies it from the log.
	e.createClient(nil, "late")

	code, out, errOut := e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	got := parseReplay(t, out)
	m := fromSnapshotLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stamp replay printed %q; want a line saying it started from a snapshot", out)
	}
	from, _ := strconv.ParseUint(m[1], 10, 64)
	seq, _ := strconv.ParseUint(got.seq, 10, 64)
	if from < snapSeq || from > tail {
		t.Errorf("stamp replay started from the snapshot at %d; want the newest signed one, %d to %d", from, snapSeq, tail)
	}
	if events, _ := strconv.ParseUint(got.events, 10, 64); seq <= tail || events != seq-from {
		t.Errorf("stamp replay applied %d events up to %d; want the %d after the snapshot, past %d", events, seq, seq-from, tail)
	}
	if got.checksum != got.live {
		t.Errorf("stamp replay: checksum %s, live %s; want them equal", got.checksum, got.live)
	}
	live := got.checksum
	forged := fmt.Sprintf("%020d", tail+1000)
	if !strings.Contains(errOut, "ignoring read-model snapshot "+forged) || !strings.Contains(errOut, "unsigned") {
		t.Errorf("stamp replay's stderr %q; want a warning that the unsigned snapshot %s is ignored", errOut, forged)
	}

	code, out, errOut = e.run("replay", "--from-scratch")
	if code != 0 {
		t.Fatalf("stamp replay --from-scratch: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	got = parseReplay(t, out)
	if fromSnapshotLine.MatchString(out) || got.events != fmt.Sprint(seq) || got.checksum != live {
		t.Errorf("stamp replay --from-scratch printed %q; want %d events from the first, checksum %s", out, seq, live)
	}
}

// TestSnapshotReplayOverArchive: a server's replay starts from a read-model
// snapshot when every event after it has left the hot stream for the
// archive (a short hot window), reads the tail through the archive, and
// gives the live checksum, as --from-scratch does from the first event.
func TestSnapshotReplayOverArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	e := newEnv(t, "STAMP_SNAPSHOT_INTERVAL", "100ms", "STAMP_LOG_HOT_WINDOW", "1s", "STAMP_LOG_ARCHIVE_INTERVAL", "50ms",
		"STAMP_ACCESS_TOKEN_TTL", "1s", "STAMP_REFRESH_TOKEN_TTL", "1s", "STAMP_PERSONAL_ACCESS_TOKEN_TTL", "1s", "STAMP_SESSION_TTL", "1s")
	n := e.start()
	clientID, _ := e.createClient(n, "bulk")
	first := appendTokens(t, n.Store(), clientID, 300)
	waitApplied(t, n, first)
	snapSeq := waitSnapshot(t, n, first)
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// No more snapshots: the tail after snapSeq grows and is archived.
	e.vars["STAMP_SNAPSHOT_INTERVAL"] = "0"
	n = e.start()
	last := appendTokensNamed(t, n.Store(), clientID, "tail", 300)
	waitApplied(t, n, last)
	waitHotFirstPast(t, n, last)

	code, out, errOut := e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	got := parseReplay(t, out)
	m := fromSnapshotLine.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.FormatUint(snapSeq, 10) {
		t.Fatalf("stamp replay printed %q; want it to start from the snapshot at %d", out, snapSeq)
	}
	if events, _ := strconv.ParseUint(got.events, 10, 64); events < last-snapSeq || events >= last {
		t.Errorf("stamp replay applied %d events; want the %d or more after the snapshot at %d, not all %d", events, last-snapSeq, snapSeq, last)
	}
	if got.checksum != got.live {
		t.Errorf("stamp replay: checksum %s, live %s; want them equal", got.checksum, got.live)
	}
	code, out, errOut = e.run("replay", "--from-scratch")
	if code != 0 {
		t.Fatalf("stamp replay --from-scratch: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	scratch := parseReplay(t, out)
	if fromSnapshotLine.MatchString(out) || scratch.checksum != scratch.live || scratch.checksum != got.checksum {
		t.Errorf("stamp replay --from-scratch printed %q; want it from the first event, checksum %s", out, got.checksum)
	}
}
