package clilog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// sliceLog is a log held in a slice; Replay honours the kind of a filter
// stamp.<kind>.> and nothing else of it.
type sliceLog []domain.Recorded

func (l sliceLog) Replay(_ context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	for _, r := range l {
		if r.Seq < from || filter != "" && !strings.HasPrefix(r.Subject, strings.TrimSuffix(filter, ">")) {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// noKeys is a user key store holding no key.
type noKeys struct{ err error }

func (k noKeys) UserKey(context.Context, string) ([]byte, error) { return nil, k.err }

func record(t *testing.T, seq uint64, agg domain.Aggregate, e domain.Event) domain.Recorded {
	t.Helper()
	env, err := domain.NewEnvelope("e", e, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), domain.Actor{Kind: domain.ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	return domain.Recorded{Seq: seq, Subject: agg.Subject(env.Type), Envelope: env}
}

func clientLog(t *testing.T) sliceLog {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c1 := domain.Aggregate{Kind: domain.KindClient, ID: "c1"}
	c2 := domain.Aggregate{Kind: domain.KindClient, ID: "c2"}
	tok := domain.Aggregate{Kind: domain.KindToken, ID: "t1"}
	return sliceLog{
		record(t, 1, c1, domain.ClientRegistered{ClientID: "c1", Name: "one", Grants: []string{domain.GrantPersonalAccess}, RegisteredAt: at}),
		record(t, 2, c2, domain.ClientRegistered{ClientID: "c2", Name: "two", Grants: []string{domain.GrantClientCredentials}, RegisteredAt: at}),
		record(t, 3, tok, domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c2", Reason: domain.ReasonRevokedByClient}),
		record(t, 4, c1, domain.ClientDeleted{ClientID: "c1"}),
	}
}

func TestFold(t *testing.T) {
	ctx := context.Background()
	w, err := Fold(ctx, clientLog(t), noKeys{}, domain.KindClient)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := w.Client(ctx, "c2"); err != nil || c.Name != "two" {
		t.Errorf("Client(c2) = %+v, %v; want client two", c, err)
	}
	if _, err := w.Client(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Client(nope) error %v; want domain.ErrNotFound", err)
	}
	if all, _ := w.Clients(ctx); len(all) != 2 {
		t.Errorf("Clients() = %d clients; want 2 (a deleted one included)", len(all))
	}
	if id := w.LiveClientWith(domain.GrantPersonalAccess); id != "" {
		t.Errorf("LiveClientWith(personal access) = %q; want none: c1 is deleted", id)
	}
	if id := w.LiveClientWith(domain.GrantClientCredentials); id != "c2" {
		t.Errorf("LiveClientWith(client credentials) = %q; want c2", id)
	}
	if _, err := w.User(ctx, "u1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("User(u1) error %v; want domain.ErrNotFound", err)
	}
	if keys, err := (Keys{Log: clientLog(t), UserKeys: noKeys{}}).SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Errorf("SigningKeys of a log without keys = %v, %v; want none", keys, err)
	}
}

func TestRevealFailsOnlyWhenAKeyCannotBeRead(t *testing.T) {
	ctx := context.Background()
	recs := clientLog(t)
	if got, err := Reveal(ctx, noKeys{err: errors.New("down")}, recs); err != nil || len(got) != len(recs) {
		t.Errorf("Reveal of records without sealed users = %d records, %v; want them as they are", len(got), err)
	}
	var rv Revealer
	rv.Keys = noKeys{err: domain.ErrUserKeyErased}
	if got, err := rv.Reveal(ctx, recs[0]); err != nil || got.Seq != 1 {
		t.Errorf("Revealer.Reveal = %+v, %v; want the record", got, err)
	}
}

func TestFilter(t *testing.T) {
	recs := clientLog(t)
	for _, tc := range []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"everything", Filter{}, []uint64{1, 2, 3, 4}},
		{"a type", Filter{Types: []string{"ClientDeleted"}}, []uint64{4}},
		{"a client: its events and those naming it", Filter{Client: "c2"}, []uint64{2, 3}},
		{"a client and a type", Filter{Client: "c2", Types: []string{"AccessTokenRevoked"}}, []uint64{3}},
		{"a user nobody names", Filter{User: "u1"}, nil},
	} {
		var got []uint64
		for _, r := range recs {
			if tc.f.Match(r) {
				got = append(got, r.Seq)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: matched %v; want %v", tc.name, got, tc.want)
		}
	}
	if !KnownType("ClientDeleted") || KnownType("ClientRenamed") {
		t.Errorf("KnownType: ClientDeleted known, ClientRenamed unknown; got otherwise")
	}
}

func TestParseMoment(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "2026-01-02T15:04:05Z", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{in: "2026-01-02 15:04", want: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)},
		{in: "2026-01-02", want: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{in: "-2h", err: "positive duration"},
		{in: "yesterday", err: "neither a duration"},
	} {
		got, err := ParseMoment(tc.in, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMoment(%q) error %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseMoment(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
