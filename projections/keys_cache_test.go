package projections

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

// keyStates returns the ids of the signing keys SigningKeys answers, each
// with "-retired" when retired.
func keyStates(t *testing.T, s *Store) []string {
	t.Helper()
	keys, err := s.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, k := range keys {
		id := k.ID
		if k.Retired {
			id += "-retired"
		}
		out = append(out, id)
	}
	return out
}

// TestSigningKeysSeesEveryKeyEvent reads the keys between every applied
// event (so the decoded copy is warm each time) and checks that each key
// event shows at once, that other events leave the copy in place, and
// that a caller changing its slice does not change the next answer.
func TestSigningKeysSeesEveryKeyEvent(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	steps := []struct {
		ev   domain.Event
		want []string
		keys bool // a key event: the generation moves
	}{
		{generated("k1", at(1)), []string{"k1"}, true},
		{registered("c1"), []string{"k1"}, false},
		{created("t1", "c1", "", at(3)), []string{"k1"}, false},
		{generated("k2", at(4)), []string{"k1", "k2"}, true},
		{domain.SigningKeyRetired{KeyID: "k1", RetiredAt: at(5), VerifyUntil: at(5).Add(time.Hour)}, []string{"k1-retired", "k2"}, true},
		{created("t2", "c1", "", at(6)), []string{"k1-retired", "k2"}, false},
	}
	for i, st := range steps {
		gen := s.keyGen.Load()
		applyAll(t, s, []domain.Recorded{h.add(st.ev)})
		if moved := s.keyGen.Load() != gen; moved != st.keys {
			t.Errorf("step %d (%T): generation moved %v; want %v", i, st.ev, moved, st.keys)
		}
		got := keyStates(t, s)
		if d := cmp.Diff(st.want, got); d != "" {
			t.Fatalf("step %d (%T): keys (-want +got):\n%s", i, st.ev, d)
		}
		keys, err := s.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for j := range keys {
			keys[j] = domain.SigningKey{ID: "scribbled"}
		}
		if d := cmp.Diff(st.want, keyStates(t, s)); d != "" {
			t.Fatalf("step %d: a caller's change reached the next answer (-want +got):\n%s", i, d)
		}
	}
}

// TestSigningKeysAfterBatchAndDrop checks a key event inside a batch of
// others, and that Drop of the keys model empties the answer at once.
func TestSigningKeysAfterBatchAndDrop(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(generated("k1", at(1)))
	applyAll(t, s, h.recs)
	if d := cmp.Diff([]string{"k1"}, keyStates(t, s)); d != "" {
		t.Fatalf("keys (-want +got):\n%s", d)
	}
	batch := []domain.Recorded{
		h.add(registered("c1")),
		h.add(generated("k2", at(3))),
		h.add(created("t1", "c1", "", at(4))),
	}
	if err := s.ApplyBatch(batch); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"k1", "k2"}, keyStates(t, s)); d != "" {
		t.Fatalf("keys after a batch (-want +got):\n%s", d)
	}
	if err := s.Drop(ModelKeys); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{}, keyStates(t, s)); d != "" {
		t.Fatalf("keys after Drop (-want +got):\n%s", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SigningKeys(context.Background()); err == nil {
		t.Fatal("SigningKeys after Close: no error")
	}
}
