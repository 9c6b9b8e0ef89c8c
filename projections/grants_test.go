package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

func codeIssued(id string, issued, expires time.Time) domain.AuthCodeIssued {
	return domain.AuthCodeIssued{
		CodeID: id, CodeHash: "hash-" + id, ClientID: "web", UserID: "alice", RedirectURI: "https://web.example/cb",
		Scopes: []string{"read"}, ChallengeS256: "challenge", ChallengeMethod: "S256", IssuedAt: issued, ExpiresAt: expires,
	}
}

func deviceIssued(id string, issued, expires time.Time) domain.DeviceCodeIssued {
	return domain.DeviceCodeIssued{
		DeviceCodeID: id, DeviceCodeHash: "dhash-" + id, UserCodeHash: "uhash-" + id, ClientID: "tv",
		Scopes: []string{"read"}, Interval: 5, IssuedAt: issued, ExpiresAt: expires,
	}
}

func familyStarted(fam, hash string, issued time.Time) domain.RefreshTokenCreated {
	return domain.RefreshTokenCreated{
		FamilyID: fam, RefreshTokenID: fam + "-rt-" + hash, TokenHash: hash, AccessTokenID: fam + "-at-" + hash,
		ClientID: "web", UserID: "alice", Scopes: []string{"read"}, IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
	}
}

func TestApplyAuthCodes(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(codeIssued("c1", at(1), at(1).Add(10*time.Minute)))
	h.add(codeIssued("c2", at(2), at(2).Add(10*time.Minute)))
	h.add(domain.AuthCodeRedeemed{CodeID: "c1", ClientID: "web", UserID: "alice", AccessTokenID: "t1", FamilyID: "f1"})
	h.add(domain.AuthCodeRedeemed{CodeID: "c1", ClientID: "web", UserID: "alice", AccessTokenID: "t2"}) // single use: no effect
	h.add(domain.AuthCodeRedeemed{CodeID: "ghost", AccessTokenID: "t3"})
	applyAll(t, s, h.recs)

	want := domain.AuthCode{
		ID: "c1", Hash: "hash-c1", ClientID: "web", UserID: "alice", RedirectURI: "https://web.example/cb",
		Scopes: []string{"read"}, ChallengeS256: "challenge", ChallengeMethod: "S256",
		IssuedAt: at(1), ExpiresAt: at(1).Add(10 * time.Minute), Redeemed: true, AccessTokenID: "t1", FamilyID: "f1", Seq: 3,
	}
	got, err := s.AuthCodeByHash(ctx, "hash-c1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("AuthCodeByHash(hash-c1) mismatch (-want +got):\n%s", d)
	}
	if got, err := s.AuthCodeByHash(ctx, "hash-c2"); err != nil || got.ID != "c2" || got.Redeemed {
		t.Errorf("AuthCodeByHash(hash-c2) = %+v, %v; want c2, not redeemed", got, err)
	}
	for _, hash := range []string{"hash-ghost", "hash-c", "", "c1"} {
		if _, err := s.AuthCodeByHash(ctx, hash); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("AuthCodeByHash(%q) = %v; want ErrNotFound", hash, err)
		}
	}
}

func TestApplyDeviceCodes(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(deviceIssued("d1", at(1), at(1).Add(10*time.Minute)))
	h.add(deviceIssued("d2", at(2), at(2).Add(10*time.Minute)))
	h.add(domain.DeviceCodeApproved{DeviceCodeID: "d1", ClientID: "tv", UserID: "alice"})
	h.add(domain.DeviceCodeDenied{DeviceCodeID: "d1", ClientID: "tv", UserID: "bob"}) // not pending: no effect
	h.add(domain.DeviceCodeRedeemed{DeviceCodeID: "d1", ClientID: "tv", UserID: "alice", AccessTokenID: "t1"})
	h.add(domain.DeviceCodeDenied{DeviceCodeID: "d2", ClientID: "tv", UserID: "bob"})
	h.add(domain.DeviceCodeApproved{DeviceCodeID: "ghost", UserID: "alice"})
	applyAll(t, s, h.recs)

	want := domain.DeviceCode{
		ID: "d1", DeviceCodeHash: "dhash-d1", UserCodeHash: "uhash-d1", ClientID: "tv", Scopes: []string{"read"},
		Interval: 5, IssuedAt: at(1), ExpiresAt: at(1).Add(10 * time.Minute),
		Status: domain.DeviceRedeemed, UserID: "alice", AccessTokenID: "t1", Seq: 5,
	}
	for name, get := range map[string]func() (domain.DeviceCode, error){
		"DeviceCodeByHash":         func() (domain.DeviceCode, error) { return s.DeviceCodeByHash(ctx, "dhash-d1") },
		"DeviceCodeByUserCodeHash": func() (domain.DeviceCode, error) { return s.DeviceCodeByUserCodeHash(ctx, "uhash-d1") },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, d)
		}
	}
	if got, err := s.DeviceCodeByUserCodeHash(ctx, "uhash-d2"); err != nil || got.Status != domain.DeviceDenied || got.UserID != "bob" {
		t.Errorf("DeviceCodeByUserCodeHash(uhash-d2) = %+v, %v; want d2 denied by bob", got, err)
	}
	// The two hashes are two indexes: neither answers for the other.
	if _, err := s.DeviceCodeByHash(ctx, "uhash-d1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeviceCodeByHash(a user code hash) = %v; want ErrNotFound", err)
	}
	if _, err := s.DeviceCodeByUserCodeHash(ctx, "dhash-d1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeviceCodeByUserCodeHash(a device code hash) = %v; want ErrNotFound", err)
	}
	if _, err := s.DeviceCodeByHash(ctx, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeviceCodeByHash(\"\") = %v; want ErrNotFound", err)
	}
}

func TestApplyAuthorizations(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(domain.ClientAuthorized{UserID: "alice", ClientID: "web", Scopes: []string{"read"}})
	h.add(domain.ClientAuthorized{UserID: "alice", ClientID: "cli", Scopes: []string{"read"}})
	h.add(domain.ClientAuthorized{UserID: "bob", ClientID: "web", Scopes: []string{"read"}})
	h.add(domain.ClientAuthorized{UserID: "alice", ClientID: "web", Scopes: []string{"read", "write"}}) // more scopes
	h.add(domain.ClientAuthorizationRevoked{UserID: "alice", ClientID: "cli"})
	h.add(domain.ClientAuthorizationRevoked{UserID: "carol", ClientID: "web"}) // never authorized
	applyAll(t, s, h.recs)

	web := domain.Authorization{UserID: "alice", ClientID: "web", Scopes: []string{"read", "write"}, UpdatedAt: at(4), Seq: 4}
	cli := domain.Authorization{UserID: "alice", ClientID: "cli", UpdatedAt: at(5), Revoked: true, Seq: 5}
	got, err := s.Authorization(ctx, "alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(web, got); d != "" {
		t.Errorf("Authorization(alice, web) mismatch (-want +got):\n%s", d)
	}
	if !got.Covers([]string{"write"}) {
		t.Error("alice's consent to web does not cover write")
	}
	list, err := s.AuthorizationsByUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]domain.Authorization{cli, web}, list); d != "" {
		t.Errorf("AuthorizationsByUser(alice) mismatch (-want +got):\n%s", d)
	}
	for _, user := range []string{"carol", "", "ali"} {
		if got, err := s.AuthorizationsByUser(ctx, user); err != nil || got == nil || len(got) != 0 {
			t.Errorf("AuthorizationsByUser(%q) = %v, %v; want an empty slice", user, got, err)
		}
	}
	for _, pair := range [][2]string{{"carol", "web"}, {"bob", "cli"}, {"", ""}} {
		if _, err := s.Authorization(ctx, pair[0], pair[1]); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Authorization(%s, %s) = %v; want ErrNotFound", pair[0], pair[1], err)
		}
	}

	// Approving again after a revocation restores the consent.
	applyAll(t, s, []domain.Recorded{h.add(domain.ClientAuthorized{UserID: "alice", ClientID: "cli", Scopes: []string{"read"}})})
	if got, err := s.Authorization(ctx, "alice", "cli"); err != nil || got.Revoked || !got.Covers([]string{"read"}) {
		t.Errorf("Authorization(alice, cli) after approving again = %+v, %v; want it live", got, err)
	}
}

// TestRefreshFamilyByTokenHash: a family is found by its live token's hash
// and by every one it rotated out, and a purge drops every such entry.
func TestRefreshFamilyByTokenHash(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	h.add(familyStarted("f1", "h1", at(1)))
	h.add(familyStarted("f2", "g1", at(2)))
	applyAll(t, s, h.recs)
	find := func(hash string) (domain.RefreshFamily, error) {
		t.Helper()
		return s.RefreshFamilyByTokenHash(ctx, hash)
	}
	if f, err := find("h1"); err != nil || f.ID != "f1" || f.TokenHash != "h1" {
		t.Errorf("by the live hash h1: %+v, %v; want f1 with h1 live", f, err)
	}

	rotate := func(hash string) domain.Recorded {
		e := familyStarted("f1", hash, at(uint64(len(h.recs)+1)))
		e.ParentID = "parent"
		return h.add(e)
	}
	applyAll(t, s, []domain.Recorded{rotate("h2")})
	applyAll(t, s, []domain.Recorded{rotate("h3"), rotate("h4")}) // in one batch
	for _, hash := range []string{"h1", "h2", "h3", "h4"} {
		f, err := find(hash)
		if err != nil || f.ID != "f1" {
			t.Errorf("RefreshFamilyByTokenHash(%s) = %+v, %v; want f1", hash, f, err)
			continue
		}
		if live := f.TokenHash == hash; live != (hash == "h4") {
			t.Errorf("hash %s: live %v; want only h4 live", hash, live)
		}
	}
	if f, err := find("g1"); err != nil || f.ID != "f2" {
		t.Errorf("RefreshFamilyByTokenHash(g1) = %+v, %v; want f2", f, err)
	}
	for _, hash := range []string{"h5", "h", ""} {
		if _, err := find(hash); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("RefreshFamilyByTokenHash(%q) = %v; want ErrNotFound", hash, err)
		}
	}

	// f1 is revoked and purged: every hash of it is gone, f2's stays.
	applyAll(t, s, []domain.Recorded{
		h.add(domain.RefreshTokenRevoked{FamilyID: "f1", Reason: domain.ReasonRevokedByUser}),
		h.add(domain.TokensPurged{PurgeID: "p1", Before: at(uint64(len(h.recs) + 2)), Revoked: true}),
	})
	for _, hash := range []string{"h1", "h2", "h3", "h4"} {
		if _, err := find(hash); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("RefreshFamilyByTokenHash(%s) after the purge = %v; want ErrNotFound", hash, err)
		}
	}
	if n := keysMentioning(t, s, "f1"); n != 0 {
		t.Errorf("%d keys still mention the purged family f1", n)
	}
	if f, err := find("g1"); err != nil || f.ID != "f2" {
		t.Errorf("RefreshFamilyByTokenHash(g1) after the purge = %+v, %v; want f2", f, err)
	}
}

// TestPurgeDropsExpiredCodes: a purge of expired tokens drops the codes and
// device codes that expired before it, with their index entries; one of
// revoked tokens only drops none.
func TestPurgeDropsExpiredCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expired bool
		gone    []string
	}{
		{"expired", true, []string{"c-old", "c-redeemed", "d-old"}},
		{"revoked only", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openMem(t, vfs.NewMem(), "db")
			h := newHistory(t)
			h.add(codeIssued("c-old", at(1), at(3)))
			h.add(codeIssued("c-redeemed", at(2), at(4)))
			h.add(domain.AuthCodeRedeemed{CodeID: "c-redeemed", AccessTokenID: "t1"})
			h.add(codeIssued("c-edge", at(4), at(10))) // expires at Before: kept
			h.add(codeIssued("c-new", at(5), at(100)))
			h.add(deviceIssued("d-old", at(6), at(8)))
			h.add(deviceIssued("d-new", at(7), at(100)))
			h.add(domain.DeviceCodeApproved{DeviceCodeID: "d-old", UserID: "alice"})
			h.add(domain.TokensPurged{PurgeID: "p1", Before: at(10), Expired: tc.expired, Revoked: true})
			// Later events about a purged code change nothing.
			h.add(domain.AuthCodeRedeemed{CodeID: "c-old", AccessTokenID: "t2"})
			h.add(domain.DeviceCodeRedeemed{DeviceCodeID: "d-old", AccessTokenID: "t3"})
			applyAll(t, s, h.recs)

			for _, id := range []string{"c-old", "c-redeemed", "c-edge", "c-new"} {
				gone := contains(tc.gone, id)
				_, err := s.AuthCodeByHash(ctx, "hash-"+id)
				if gone != errors.Is(err, domain.ErrNotFound) || !gone && err != nil {
					t.Errorf("AuthCodeByHash(hash-%s) = %v; want gone %v", id, err, gone)
				}
				if n := keysMentioning(t, s, id); gone && n != 0 {
					t.Errorf("%d keys still mention the purged code %s", n, id)
				}
			}
			for _, id := range []string{"d-old", "d-new"} {
				gone := contains(tc.gone, id)
				_, err1 := s.DeviceCodeByHash(ctx, "dhash-"+id)
				_, err2 := s.DeviceCodeByUserCodeHash(ctx, "uhash-"+id)
				for _, err := range []error{err1, err2} {
					if gone != errors.Is(err, domain.ErrNotFound) || !gone && err != nil {
						t.Errorf("device code %s: %v; want gone %v", id, err, gone)
					}
				}
				if n := keysMentioning(t, s, id); gone && n != 0 {
					t.Errorf("%d keys still mention the purged device code %s", n, id)
				}
			}
			if d, err := s.DeviceCodeByHash(ctx, "dhash-d-new"); err != nil || d.Seq != 7 {
				t.Errorf("DeviceCodeByHash(dhash-d-new) = %+v, %v; want it untouched", d, err)
			}

			// The same events in one batch give the same bytes.
			b := openMem(t, vfs.NewMem(), "db")
			if err := b.ApplyBatch(h.recs); err != nil {
				t.Fatal(err)
			}
			if got, want := checksum(t, b), checksum(t, s); got != want {
				t.Errorf("one batch: checksum %s; want %s", got, want)
			}
		})
	}
}

// TestGrantModelsRebuild: the new models give the same bytes however the
// events are batched, and each rebuilds alone after a Drop; their unique
// indexes agree with their records throughout.
func TestGrantModelsRebuild(t *testing.T) {
	recs := randomHistory(t, 4000, 21, true)
	want := openMem(t, vfs.NewMem(), "want")
	applyAll(t, want, recs)
	sum := checksum(t, want)
	checkUniqueIndexes(t, want)
	for _, size := range []int{2, 3, 64, 1024, len(recs)} {
		s := openMem(t, vfs.NewMem(), "db")
		for i := 0; i < len(recs); i += size {
			if err := s.ApplyBatch(recs[i:min(i+size, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
		if got := checksum(t, s); got != sum {
			t.Errorf("batches of %d: checksum %s; want %s", size, got, sum)
		}
	}
	log := newFakeLog(recs...)
	for _, m := range []Model{ModelUsers, ModelCodes, ModelAuthorizations, ModelDevices, ModelRefreshFamilies} {
		if err := want.Drop(m); err != nil {
			t.Fatal(err)
		}
		if err := want.CatchUp(context.Background(), log, nil); err != nil {
			t.Fatal(err)
		}
		if got := checksum(t, want); got != sum {
			t.Errorf("Drop(%s) and CatchUp: checksum %s; want %s", m, got, sum)
		}
	}
}

func TestGrantViewsClosedAndContext(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	views := func(ctx context.Context) map[string]error {
		return map[string]error{
			"User":                     errOf(s.User(ctx, "u")),
			"UserByEmail":              errOf(s.UserByEmail(ctx, "a@example.com")),
			"Users":                    errOf(s.Users(ctx)),
			"AuthCodeByHash":           errOf(s.AuthCodeByHash(ctx, "h")),
			"DeviceCodeByHash":         errOf(s.DeviceCodeByHash(ctx, "h")),
			"DeviceCodeByUserCodeHash": errOf(s.DeviceCodeByUserCodeHash(ctx, "h")),
			"RefreshFamilyByTokenHash": errOf(s.RefreshFamilyByTokenHash(ctx, "h")),
			"Authorization":            errOf(s.Authorization(ctx, "u", "c")),
			"AuthorizationsByUser":     errOf(s.AuthorizationsByUser(ctx, "u")),
		}
	}
	for name, err := range views(ended) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with an ended ctx = %v; want context.Canceled", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range views(context.Background()) {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}
