package projections

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// TestWebOriginIndex: a web origin is registered while a live client has
// it; two clients may share one; an update or a deletion takes a client's
// origins out; incremental and one-batch application give the same bytes.
func TestWebOriginIndex(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	const app, shop, other = "https://app.example", "https://shop.example", "https://other.example"
	reg := func(id string, origins ...string) domain.ClientRegistered {
		return domain.ClientRegistered{ClientID: id, Name: id, Grants: []string{domain.GrantAuthorizationCode}, WebOrigins: origins}
	}
	registered := func(origin string) bool {
		t.Helper()
		ok, err := s.WebOriginRegistered(ctx, origin)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		for origin, w := range want {
			if got := registered(origin); got != w {
				t.Errorf("%s: WebOriginRegistered(%q) = %v; want %v", when, origin, got, w)
			}
		}
	}
	applyAll(t, s, []domain.Recorded{h.add(reg("c1", app, shop)), h.add(reg("c2", app)), h.add(reg("c3"))})
	check("registered", map[string]bool{app: true, shop: true, other: false, "": false, "https://app.example:443": false})

	applyAll(t, s, []domain.Recorded{h.add(domain.ClientUpdated{ClientID: "c1", Name: "c1", WebOrigins: []string{other}})})
	check("c1 updated", map[string]bool{app: true, shop: false, other: true})

	applyAll(t, s, []domain.Recorded{h.add(domain.ClientDeleted{ClientID: "c2"})})
	check("c2 deleted", map[string]bool{app: false, other: true})

	applyAll(t, s, []domain.Recorded{h.add(domain.ClientDeleted{ClientID: "c1"})})
	check("c1 deleted", map[string]bool{app: false, shop: false, other: false})

	b := openMem(t, vfs.NewMem(), "db")
	if err := b.ApplyBatch(h.recs); err != nil {
		t.Fatal(err)
	}
	if got, want := checksum(t, b), checksum(t, s); got != want {
		t.Errorf("one batch: checksum %s; want %s", got, want)
	}
}
