package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// TestClientSeesEveryClientEvent reads a client between every applied
// event (so its decoded copy is warm each time) and checks that each
// client event shows at once, that other events leave the copies in
// place, and that a caller changing its client's slices does not change
// the next answer.
func TestClientSeesEveryClientEvent(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	if _, err := s.Client(ctx, "c1"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown client: got %v; want not found", err)
	}
	type state struct {
		name, secret string
		deleted      bool
	}
	steps := []struct {
		ev      domain.Event
		want    state
		clients bool // a client event: the generation moves
	}{
		{registered("c1"), state{"app c1", "hash-c1", false}, true},
		{created("t1", "c1", "", at(2)), state{"app c1", "hash-c1", false}, false},
		{domain.ClientUpdated{ClientID: "c1", Name: "renamed", RedirectURIs: []string{"https://c1.example/cb"}}, state{"renamed", "hash-c1", false}, true},
		{domain.ClientSecretRegenerated{ClientID: "c1", SecretHash: "hash-2"}, state{"renamed", "hash-2", false}, true},
		{generated("k1", at(5)), state{"renamed", "hash-2", false}, false},
		{domain.ClientDeleted{ClientID: "c1"}, state{"renamed", "hash-2", true}, true},
	}
	for i, st := range steps {
		gen := s.clientGen.Load()
		applyAll(t, s, []domain.Recorded{h.add(st.ev)})
		if moved := s.clientGen.Load() != gen; moved != st.clients {
			t.Errorf("step %d (%T): generation moved %v; want %v", i, st.ev, moved, st.clients)
		}
		for range 2 { // the second from the copy
			c, err := s.Client(ctx, "c1")
			if err != nil {
				t.Fatalf("step %d (%T): %v", i, st.ev, err)
			}
			if got := (state{c.Name, c.SecretHash, c.Deleted}); got != st.want {
				t.Fatalf("step %d (%T): got %+v; want %+v", i, st.ev, got, st.want)
			}
			if len(c.Grants) != 2 || c.Grants[0] != domain.GrantClientCredentials {
				t.Fatalf("step %d: grants %v", i, c.Grants)
			}
			c.Grants[0] = "scribbled"
		}
	}
	if err := s.Drop(ModelClients); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client(ctx, "c1"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after Drop: got %v; want not found", err)
	}
}

// TestCachesReadYourWritesUnderLoad runs the Runner while readers keep
// the decoded copies busy, and checks that a caller who waited for the
// sequence of a client or key event reads its effect: the copies never
// answer older than what was waited for.
func TestCachesReadYourWritesUnderLoad(t *testing.T) {
	// Readers compete with the Runner for the CPU (under -race, on a
	// loaded machine): a generous bound, and few rounds.
	ctx, cancel := context.WithTimeout(context.Background(), 6*waitTimeout)
	defer cancel()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	log := newFakeLog(h.add(registered("c1")), h.add(generated("k0", at(2))))
	r := NewRunner(s, log, nil)
	startRunner(t, r)
	waitFor(t, r, 2)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Client(ctx, "c1"); err != nil {
					t.Errorf("reader: %v", err)
					return
				}
				if _, err := s.SigningKeys(ctx); err != nil {
					t.Errorf("reader: %v", err)
					return
				}
				runtime.Gosched()
			}
		})
	}
	for i := range 30 {
		hash, kid := fmt.Sprintf("hash-%d", i), fmt.Sprintf("k%d", i+1)
		rec := h.add(domain.ClientSecretRegenerated{ClientID: "c1", SecretHash: hash})
		log.append(rec, h.add(created(fmt.Sprintf("t%d", i), "c1", "", at(rec.Seq))))
		if err := r.WaitFor(ctx, rec.Seq); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Client(ctx, "c1"); err != nil || c.SecretHash != hash {
			t.Fatalf("round %d: secret hash %q, %v; want %q", i, c.SecretHash, err, hash)
		}
		key := h.add(generated(kid, at(uint64(len(h.recs)+1))))
		log.append(key)
		if err := r.WaitFor(ctx, key.Seq); err != nil {
			t.Fatal(err)
		}
		keys, err := s.SigningKeys(ctx)
		if err != nil || len(keys) != i+2 || !slices.ContainsFunc(keys, func(k domain.SigningKey) bool { return k.ID == kid }) {
			t.Fatalf("round %d: %d keys, %v; want %d with %s", i, len(keys), err, i+2, kid)
		}
	}
	close(stop)
	wg.Wait()
}
