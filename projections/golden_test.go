package projections

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

var update = flag.Bool("update", false, "rewrite the golden dump of the read models (only to record a deliberate layout change)")

// goldenHistory is a fixed log that reaches every model, every index and
// every purge rule: the random history (purges included), then ended
// sessions, some forgotten by later ends and by a purge, a future version
// that parks and blocks, and a malformed event.
func goldenHistory(t *testing.T) []domain.Recorded {
	h := newHistory(t)
	h.recs = randomHistory(t, 1500, 13, true)
	for i := range 40 {
		_, now := h.next()
		h.add(domain.SessionEnded{
			SessionID: fmt.Sprintf("sess-%d", i%30), UserID: fmt.Sprintf("user-%d", i%7),
			ExpiresAt: now.Add(time.Duration(5+(i*37)%90) * time.Second),
		})
		if i == 25 {
			_, now := h.next()
			h.add(domain.TokensPurged{PurgeID: "purge-sessions", Before: now.Add(-10 * time.Second), Expired: true})
		}
	}
	h.add(domain.SessionEnded{SessionID: "not/valid", UserID: "user-1", ExpiresAt: epoch.Add(time.Hour)})
	h.addRaw("stamp.token.tok-1.AccessTokenRevoked", "AccessTokenRevoked", 99, `{"token_id":"tok-1"}`)
	h.add(domain.AccessTokenRevoked{TokenID: "tok-1", Reason: domain.ReasonRevokedByUser})
	h.addRaw("stamp.client.client-0.ClientUpdated", "ClientUpdated", 1, `{"client_id":`)
	_, now := h.next()
	h.add(domain.TokensPurged{PurgeID: "purge-last", Before: now.Add(-20 * time.Minute), Expired: true, Revoked: true})
	return h.recs
}

// dump lists every key of s with a digest of its value, one per line in
// key order: equal dumps are equal stores, byte for byte (but for a
// collision of SHA-256), and a diff of two names the keys that differ.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var b strings.Builder
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(v)
		fmt.Fprintf(&b, "%q %s\n", it.Key(), hex.EncodeToString(sum[:8]))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "checksum %s\n", checksum(t, s))
	return b.String()
}

// TestOnDiskFormatUnchanged holds the keys and values the models write to
// those of testdata/golden_dump.txt, recorded before the models were
// declared as data (model_*.go): a store written by an older stamp keeps
// working without a rebuild. Applied one by one and in batches, the dump
// is the same.
func TestOnDiskFormatUnchanged(t *testing.T) {
	recs := goldenHistory(t)
	path := filepath.Join("testdata", "golden_dump.txt")

	one := openMem(t, vfs.NewMem(), "one")
	applyAll(t, one, recs)
	got := dump(t, one)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(want, []byte(`"sessions/id/`)) || !bytes.Contains(want, []byte(`"parked/seq/`)) {
		t.Fatalf("%s reaches no ended session or no parked event: the history lost its reach", path)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("store applied one by one differs from %s (-want +got):\n%s", path, d)
	}

	batched := openMem(t, vfs.NewMem(), "batched")
	for lo := 0; lo < len(recs); lo += 97 {
		if err := batched.ApplyBatch(recs[lo:min(lo+97, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(string(want), dump(t, batched)); d != "" {
		t.Errorf("store applied in batches differs from %s (-want +got):\n%s", path, d)
	}
}
