package projections

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

func TestApplyClients(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(registered("web"))
	h.add(registered("cli"))
	h.add(domain.ClientUpdated{ClientID: "web", Name: "Web", RedirectURIs: []string{"https://web.example/cb2"}, Scopes: []string{"read"}})
	h.add(domain.ClientSecretRegenerated{ClientID: "web", SecretHash: "new-hash"})
	h.add(domain.ClientDeleted{ClientID: "cli"})
	h.add(domain.ClientUpdated{ClientID: "ghost", Name: "never registered"})
	applyAll(t, s, h.recs)

	web := domain.Client{
		ID: "web", Name: "Web", SecretHash: "new-hash",
		Grants:       []string{domain.GrantClientCredentials, domain.GrantAuthorizationCode},
		RedirectURIs: []string{"https://web.example/cb2"}, Scopes: []string{"read"},
		CreatedAt: epoch, UpdatedAt: at(4), Seq: 4,
	}
	cli := domain.Client{
		ID: "cli", Name: "app cli", SecretHash: "hash-cli",
		Grants:       []string{domain.GrantClientCredentials, domain.GrantAuthorizationCode},
		RedirectURIs: []string{"https://cli.example/cb"},
		CreatedAt:    epoch, UpdatedAt: at(5), Deleted: true, Seq: 5,
	}
	got, err := s.Client(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(web, got); d != "" {
		t.Errorf("Client(web) mismatch (-want +got):\n%s", d)
	}
	all, err := s.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]domain.Client{cli, web}, all); d != "" {
		t.Errorf("Clients mismatch (-want +got):\n%s", d)
	}
	for _, id := range []string{"ghost", "nope"} {
		if _, err := s.Client(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Client(%s) = %v; want ErrNotFound", id, err)
		}
	}
	if got := s.Checkpoint(); got != 6 {
		t.Errorf("Checkpoint() = %d; want 6", got)
	}
}

func TestApplyTokens(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(created("t1", "web", "alice", at(1)))
	h.add(created("t2", "web", "bob", at(2)))
	h.add(created("t3", "cli", "", at(3))) // client credentials: no user
	h.add(created("t0", "web", "alice", at(4)))
	h.add(domain.AccessTokenRevoked{TokenID: "t1", Reason: domain.ReasonRevokedByUser})
	h.add(domain.AccessTokenRevoked{TokenID: "t1", Reason: domain.ReasonRevokedByAdmin}) // no effect
	h.add(domain.AccessTokenRevoked{TokenID: "unknown", Reason: domain.ReasonRevokedByAdmin})
	applyAll(t, s, h.recs)

	t1 := domain.AccessToken{
		ID: "t1", ClientID: "web", UserID: "alice", Scopes: []string{"read"},
		GrantType: domain.GrantAuthorizationCode, KeyID: "k1",
		IssuedAt: at(1), ExpiresAt: at(1).Add(time.Hour),
		Revoked: true, RevokedAt: at(5), RevokeReason: domain.ReasonRevokedByUser, Seq: 5,
	}
	got, err := s.AccessToken(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(t1, got); d != "" {
		t.Errorf("AccessToken(t1) mismatch (-want +got):\n%s", d)
	}
	if _, err := s.AccessToken(ctx, "unknown"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AccessToken(unknown) = %v; want ErrNotFound", err)
	}

	ids := func(ts []domain.AccessToken, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, tok := range ts {
			out = append(out, tok.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"by client web", ids(s.AccessTokensByClient(ctx, "web")), []string{"t1", "t2", "t0"}},
		{"by client cli", ids(s.AccessTokensByClient(ctx, "cli")), []string{"t3"}},
		{"by client none", ids(s.AccessTokensByClient(ctx, "nobody")), []string{}},
		{"by client prefix", ids(s.AccessTokensByClient(ctx, "we")), []string{}},
		{"by user alice", ids(s.AccessTokensByUser(ctx, "alice")), []string{"t1", "t0"}},
		{"by user bob", ids(s.AccessTokensByUser(ctx, "bob")), []string{"t2"}},
		{"by user empty", ids(s.AccessTokensByUser(ctx, "")), []string{}},
	} {
		if d := cmp.Diff(tc.want, tc.got); d != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestApplySigningKeys(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(generated("b-old", at(1)))
	h.add(generated("z-new", at(2)))
	h.add(generated("a-new", at(2)))
	h.add(domain.SigningKeyRetired{KeyID: "b-old", RetiredAt: at(4), VerifyUntil: at(4).Add(time.Hour)})
	applyAll(t, s, h.recs)

	keys, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.ID)
	}
	if d := cmp.Diff([]string{"b-old", "a-new", "z-new"}, got); d != "" {
		t.Fatalf("SigningKeys order mismatch (-want +got):\n%s", d)
	}
	want := domain.SigningKey{
		ID: "b-old", Algorithm: "RS256", CreatedAt: at(1),
		PublicKey: json.RawMessage(`{"kty":"RSA","kid":"b-old","n":"AQAB","e":"AQAB"}`),
		Retired:   true, RetiredAt: at(4), VerifyUntil: at(4).Add(time.Hour), Seq: 4,
	}
	if d := cmp.Diff(want, keys[0]); d != "" {
		t.Errorf("retired key mismatch (-want +got):\n%s", d)
	}
}

func TestRedeliveryChangesNothing(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	recs := randomHistory(t, 200, 1, true)
	applyAll(t, s, recs)
	sum := checksum(t, s)
	wal := s.db.Metrics().WAL.BytesIn

	for _, rec := range []domain.Recorded{recs[0], recs[57], recs[199]} {
		if err := s.Apply(rec); err != nil {
			t.Errorf("Apply(redelivered seq %d) = %v; want nil", rec.Seq, err)
		}
	}
	if err := s.ApplyBatch(recs[100:]); err != nil {
		t.Errorf("ApplyBatch(redelivered) = %v; want nil", err)
	}
	if got := checksum(t, s); got != sum {
		t.Errorf("checksum changed by redelivery: got %s; want %s", got, sum)
	}
	if got := s.db.Metrics().WAL.BytesIn; got != wal {
		t.Errorf("redelivery wrote %d bytes; want none", got-wal)
	}
	if got := s.Checkpoint(); got != 200 {
		t.Errorf("Checkpoint() = %d; want 200", got)
	}
}

// TestFutureVersionParksAndBlocks: a known type at a newer version is
// parked and blocks the later events of its aggregate (by subject); other
// aggregates go on; a refused message is parked too. One by one or in one
// batch, the result is the same, byte for byte.
func TestFutureVersionParksAndBlocks(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t)
	h.add(registered("web"))
	h.add(created("t1", "web", "alice", at(2)))
	h.addRaw("stamp.client.web.ClientRegistered", "ClientRegistered", 99, `{"client_id":"web","name":"v99"}`)
	h.add(created("t2", "web", "alice", at(4)))
	h.add(domain.ClientUpdated{ClientID: "web", Name: "renamed"})
	refused := domain.Recorded{Seq: 6, Subject: "stamp.token.t9.AccessTokenCreated", Refused: "bad log signature"}
	recs := append(h.recs[:5:5], refused)

	one := openMem(t, vfs.NewMem(), "db")
	for _, rec := range recs {
		if err := one.Apply(rec); err != nil {
			t.Fatalf("Apply(%d) = %v; want nil (parked)", rec.Seq, err)
		}
	}
	batch := openMem(t, vfs.NewMem(), "db")
	if err := batch.ApplyBatch(recs); err != nil {
		t.Fatalf("ApplyBatch = %v; want nil", err)
	}
	if a, b := checksum(t, one), checksum(t, batch); a != b {
		t.Errorf("one by one %s, in a batch %s; want the same", a, b)
	}
	for _, s := range []*Store{one, batch} {
		if got := s.Checkpoint(); got != 6 {
			t.Errorf("Checkpoint() = %d; want 6", got)
		}
		parked, err := s.Parked()
		if err != nil {
			t.Fatal(err)
		}
		want := []ParkedEvent{
			{Seq: 3, Subject: "stamp.client.web.ClientRegistered", Type: "ClientRegistered", Reason: "domain: event ClientRegistered version 99 is newer than the known version 1", Blocks: true},
			{Seq: 5, Subject: "stamp.client.web.ClientUpdated", Type: "ClientUpdated", Reason: "blocked behind sequence 3", BlockedBehind: 3},
			{Seq: 6, Subject: "stamp.token.t9.AccessTokenCreated", Reason: "refused: bad log signature"},
		}
		if diff := cmp.Diff(want, parked); diff != "" {
			t.Errorf("Parked (-want +got):\n%s", diff)
		}
		if c, err := s.Client(ctx, "web"); err != nil || c.Name == "renamed" || c.Seq != 1 {
			t.Errorf("Client(web) = %+v, %v; want it untouched since sequence 1", c, err)
		}
		if tok, err := s.AccessToken(ctx, "t2"); err != nil || tok.Seq != 4 {
			t.Errorf("Token(t2) = %+v, %v; want applied at 4 (another aggregate)", tok, err)
		}
	}
	// Reopened, the block still holds.
	fs := vfs.NewMem()
	s := openMem(t, fs, "db")
	applyAll(t, s, recs[:4])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openMem(t, fs, "db")
	applyAll(t, s, recs[4:])
	if a, b := checksum(t, s), checksum(t, one); a != b {
		t.Errorf("across a reopen the checksum is %s; want %s", a, b)
	}
}

func TestUnknownEventTypeAdvances(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(registered("web"))
	h.addRaw("stamp.user.u1.UserInvented", "UserInvented", 7, `{"whatever": true}`)
	h.addRaw("not a subject", "SomethingElse", 1, `not even json`)
	applyAll(t, s, h.recs)
	if got := s.Checkpoint(); got != 3 {
		t.Errorf("Checkpoint() = %d; want 3", got)
	}
	c, err := s.Client(ctx, "web")
	if err != nil || c.Seq != 1 {
		t.Errorf("Client(web) = %+v, %v; want seq 1", c, err)
	}
}

// TestMalformedParks: a malformed event is parked, not applied; sequence 0
// still stops the store.
func TestMalformedParks(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  func(h *history) domain.Recorded
	}{
		{"bad json", func(h *history) domain.Recorded {
			return h.addRaw("stamp.client.web.ClientUpdated", "ClientUpdated", 1, `{"client_id":`)
		}},
		{"version 0", func(h *history) domain.Recorded {
			return h.addRaw("stamp.client.web.ClientDeleted", "ClientDeleted", 0, `{"client_id":"web"}`)
		}},
		{"other aggregate's subject", func(h *history) domain.Recorded {
			return h.addRaw("stamp.client.cli.ClientDeleted", "ClientDeleted", 1, `{"client_id":"web"}`)
		}},
		{"other type's subject", func(h *history) domain.Recorded {
			return h.addRaw("stamp.client.web.ClientUpdated", "ClientDeleted", 1, `{"client_id":"web"}`)
		}},
		{"invalid id", func(h *history) domain.Recorded {
			return h.addRaw("", "ClientDeleted", 1, `{"client_id":"a/b"}`)
		}},
		{"sequence 0", func(h *history) domain.Recorded {
			rec := h.add(domain.ClientDeleted{ClientID: "web"})
			rec.Seq = 0
			return rec
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t, vfs.NewMem(), "db")
			h := newHistory(t)
			applyAll(t, s, []domain.Recorded{h.add(registered("web"))})
			sum := checksum(t, s)
			rec := tc.rec(h)
			err := s.Apply(rec)
			if rec.Seq == 0 {
				if !errors.Is(err, ErrMalformed) || checksum(t, s) != sum || s.Checkpoint() != 1 {
					t.Errorf("Apply = %v, checkpoint %d; want ErrMalformed, nothing written", err, s.Checkpoint())
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply = %v; want nil (parked)", err)
			}
			if c, err := s.Client(context.Background(), "web"); err != nil || c.Seq != 1 {
				t.Errorf("Client(web) = %+v, %v; want untouched", c, err)
			}
			parked, err := s.Parked()
			if err != nil || len(parked) != 1 || parked[0].Seq != 2 || parked[0].Reason == "" {
				t.Errorf("Parked = %+v, %v; want sequence 2 with its reason", parked, err)
			}
			if got := s.Checkpoint(); got != 2 {
				t.Errorf("Checkpoint() = %d; want 2", got)
			}
		})
	}
}

// TestConcurrentReads runs the views beside a writer; run it with -race.
func TestConcurrentReads(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	recs := randomHistory(t, 2000, 2, true)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Clients(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.AccessTokensByUser(ctx, "user-1"); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Checksum(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := 0; i < len(recs); i += 50 {
		if err := s.ApplyBatch(recs[i:min(i+50, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
