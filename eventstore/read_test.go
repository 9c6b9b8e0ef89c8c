package eventstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// fillLog appends e1..e6 alternating between token a and client c, with
// types AccessTokenCreated, ClientRegistered, AccessTokenRevoked, ...
func fillLog(t *testing.T, st *Store) {
	t.Helper()
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, client("c"), domain.ExpectAny, env("e2", "ClientRegistered"))
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e3", "AccessTokenRevoked"))
	mustAppend(t, st, client("c"), domain.ExpectAny, env("e4", "ClientUpdated"), env("e5", "ClientSecretRegenerated"))
	mustAppend(t, st, token("b"), domain.ExpectAny, env("e6", "AccessTokenCreated"))
}

func client(id string) domain.Aggregate { return domain.Aggregate{Kind: domain.KindClient, ID: id} }

// collect replays and returns the ids delivered.
func collect(t *testing.T, st *Store, from uint64, filter string) []string {
	t.Helper()
	var got []string
	var last uint64
	err := st.Replay(testContext(t), from, filter, func(r domain.Recorded) error {
		if r.Seq <= last {
			t.Errorf("sequence %d after %d", r.Seq, last)
		}
		last = r.Seq
		got = append(got, r.Envelope.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(%d, %q): %v", from, filter, err)
	}
	return got
}

func TestReplay(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	if got := collect(t, st, 0, ""); len(got) != 0 {
		t.Errorf("Replay of empty stream = %v; want nothing", got)
	}
	fillLog(t, st)

	tests := []struct {
		from   uint64
		filter string
		want   []string
	}{
		{0, "", []string{"e1", "e2", "e3", "e4", "e5", "e6"}},
		{1, "stamp.>", []string{"e1", "e2", "e3", "e4", "e5", "e6"}},
		{4, "", []string{"e4", "e5", "e6"}},
		{6, "", []string{"e6"}},
		{7, "", nil},
		{0, "stamp.token.>", []string{"e1", "e3", "e6"}},
		{2, token("a").Filter(), []string{"e3"}}, // a shard filter: b is on another shard
		{0, "stamp.*.*.AccessTokenCreated", []string{"e1", "e6"}},
		{3, "stamp.client.>", []string{"e4", "e5"}},
		{0, "stamp.user.>", nil},
		{6, "stamp.client.>", nil},
	}
	for _, tt := range tests {
		got := collect(t, st, tt.from, tt.filter)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Replay(%d, %q) (-want +got):\n%s", tt.from, tt.filter, diff)
		}
	}
}

func TestReplayStopsAtLastSequenceOfCall(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	fillLog(t, st)
	var got []string
	err := st.Replay(testContext(t), 0, "", func(r domain.Recorded) error {
		got = append(got, r.Envelope.ID)
		if r.Seq == 1 {
			// Appended during the replay: after its stop mark.
			mustAppend(t, st, token("late"), domain.ExpectAny, env("late", "AccessTokenCreated"))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e3", "e4", "e5", "e6"}, got); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
}

func TestReplayReturnsHandlerError(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	fillLog(t, st)
	stop := errors.New("stop here")
	var n int
	err := st.Replay(testContext(t), 0, "", func(r domain.Recorded) error {
		n++
		if r.Seq == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Replay = %v after %d events; want %v after 3", err, n, stop)
	}
}

func TestReadSince(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	mustAppend(t, st, token("a"), domain.ExpectAny, env("old", "AccessTokenCreated"))
	// Storage times come from this clock: make mark later than e1's.
	stored := time.Now()
	for !time.Now().After(stored) {
	}
	mark := time.Now()
	mustAppend(t, st, token("a"), domain.ExpectAny, env("new", "AccessTokenRevoked"))

	var got []string
	err := st.Read(ctx, ReadOptions{Since: mark}, func(r domain.Recorded) error {
		got = append(got, r.Envelope.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if diff := cmp.Diff([]string{"new"}, got); diff != "" {
		t.Errorf("Read since (-want +got):\n%s", diff)
	}
	if err := st.Read(ctx, ReadOptions{From: 2, Since: mark}, func(domain.Recorded) error { return nil }); err == nil {
		t.Error("Read with From and Since: err = nil; want an error")
	}
}

func TestFollowSeesNewEvents(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e2", "AccessTokenRevoked"))

	ctx, cancel := context.WithCancel(testContext(t))
	got := make(chan domain.Recorded, 16)
	done := make(chan error, 1)
	go func() {
		done <- st.Follow(ctx, 2, func(r domain.Recorded) error {
			got <- r
			return nil
		})
	}()
	next := func() domain.Recorded {
		t.Helper()
		select {
		case r := <-got:
			return r
		case err := <-done:
			t.Fatalf("Follow returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return domain.Recorded{}
	}

	if r := next(); r.Envelope.ID != "e2" || r.Seq != 2 {
		t.Fatalf("first event %s at %d; want e2 at 2", r.Envelope.ID, r.Seq)
	}
	mustAppend(t, st, token("b"), domain.ExpectAny, env("e3", "AccessTokenCreated"))
	mustAppend(t, st, client("c"), domain.ExpectAny, env("e4", "ClientRegistered"), env("e5", "ClientUpdated"))
	for _, want := range []string{"e3", "e4", "e5"} {
		if r := next(); r.Envelope.ID != want {
			t.Fatalf("event %s; want %s", r.Envelope.ID, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Follow after cancel = %v; want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return within 10s of cancel")
	}
}

// A message that is not an envelope reaches readers refused, never stopping
// them: Load and Replay hand it on with Refused set and a zero envelope.
func TestReadRefusesForeignMessage(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	if _, err := st.js.Publish(ctx, "stamp.token.a.Junk", []byte("not json")); err != nil {
		t.Fatalf("publish junk: %v", err)
	}
	if _, err := st.js.Publish(ctx, "stamp.token.b.Junk", []byte(`{"hello":"world"}`)); err != nil {
		t.Fatalf("publish junk: %v", err)
	}

	recs, err := st.Load(ctx, token("a"))
	if err != nil || len(recs) != 2 || recs[0].Refused != "" || recs[1].Refused != "not an envelope" || recs[1].Envelope.ID != "" {
		t.Errorf("Load(a) = %+v, %v; want e1 and the refused junk", recs, err)
	}
	if recs, err := st.Load(ctx, token("b")); err != nil || len(recs) != 1 || recs[0].Refused == "" {
		t.Errorf("Load(b) = %+v, %v; want the refused junk", recs, err)
	}
	var refused []uint64
	err = st.Replay(ctx, 0, "", func(r domain.Recorded) error {
		if r.Refused != "" {
			refused = append(refused, r.Seq)
		}
		return nil
	})
	if err != nil || !slices.Equal(refused, []uint64{2, 3}) {
		t.Errorf("Replay: refused %v, err %v; want [2 3], nil", refused, err)
	}
	if n := st.LogSigning().Refused; n < 4 {
		t.Errorf("LogSigning().Refused = %d; want at least 4 (two loads, one replay of two)", n)
	}
}

// The projections runner follows from its checkpoint + 1, which is past the
// end of the log when it is caught up.
func TestFollowFromPastTheEnd(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))

	ctx, cancel := context.WithCancel(testContext(t))
	got := make(chan domain.Recorded, 1)
	done := make(chan error, 1)
	go func() {
		done <- st.Follow(ctx, 2, func(r domain.Recorded) error {
			got <- r
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow = %v; want context.Canceled", err)
		}
	}()
	mustAppend(t, st, token("a"), domain.ExpectAny, env("e2", "AccessTokenRevoked"))
	select {
	case r := <-got:
		if r.Seq != 2 || r.Envelope.ID != "e2" {
			t.Errorf("got %s at %d; want e2 at 2", r.Envelope.ID, r.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
}
