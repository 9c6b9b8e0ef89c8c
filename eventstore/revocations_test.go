package eventstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stamp-oauth/stamp/domain"
)

// recordingSink records what a feed tells it.
type recordingSink struct {
	mu      sync.Mutex
	told    []string // "revoked jti until", "client id", "user id"
	current bool
	flips   []bool
}

func (s *recordingSink) Revoked(jti string, until time.Time) {
	s.add("revoked " + jti + " " + until.UTC().Format(time.RFC3339))
}
func (s *recordingSink) ClientDeleted(id string) { s.add("client " + id) }
func (s *recordingSink) UserDeleted(id string)   { s.add("user " + id) }
func (s *recordingSink) Current(c bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = c
	s.flips = append(s.flips, c)
}

func (s *recordingSink) add(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.told = append(s.told, what)
}

func (s *recordingSink) snapshot() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.told...), s.current
}

func (s *recordingSink) isCurrent() bool { _, c := s.snapshot(); return c }

// appendEvent appends e as the log would, at time at.
func appendEvent(tb testing.TB, st *Store, id string, e domain.Event, at time.Time) {
	tb.Helper()
	env, err := domain.NewEnvelope(id, e, at, domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		tb.Fatal(err)
	}
	mustAppend(tb, st, e.AggregateOf(), domain.ExpectAny, env)
}

// runFeed runs f into sink until the test ends and returns Run's error
// channel.
func runFeed(t *testing.T, f *RevocationFeed, sink RevocationSink) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	return done
}

// pollUntil polls cond until it holds, failing the test after 10s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRevocationFeedCatchesUpThenFollows(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	at := time.Now().UTC().Truncate(time.Second)
	const life = time.Hour
	until := func(at time.Time) string { return at.Add(life + revocationMargin).Format(time.RFC3339) }

	appendEvent(t, st, "e1", domain.AccessTokenCreated{TokenID: "t1", ClientID: "c1", Scopes: []string{}}, at)
	appendEvent(t, st, "e2", domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c1", Reason: domain.ReasonRevokedByClient}, at)
	appendEvent(t, st, "e3", domain.ClientRegistered{ClientID: "c2", Name: "x"}, at)
	appendEvent(t, st, "e4", domain.ClientDeleted{ClientID: "c2"}, at)
	appendEvent(t, st, "e5", domain.UserDeleted{UserID: "u1"}, at)
	appendEvent(t, st, "e6", domain.RefreshTokenRevoked{FamilyID: "f1", RefreshTokenID: "r1"}, at)

	sink := &recordingSink{}
	runFeed(t, st.RevocationFeed(life), sink)
	pollUntil(t, "the feed to catch up", sink.isCurrent)
	got, _ := sink.snapshot()
	want := []string{"client c2", "revoked t1 " + until(at), "user u1"}
	// One consumer per event type: the types come in any order.
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("told before Current(true) (-want +got):\n%s", diff)
	}

	later := at.Add(time.Second)
	appendEvent(t, st, "e7", domain.AccessTokenCreated{TokenID: "t2", ClientID: "c1", Scopes: []string{}}, later)
	appendEvent(t, st, "e8", domain.AccessTokenRevoked{TokenID: "t2", ClientID: "c1", Reason: domain.ReasonRevokedByAdmin}, later)
	want = append(want, "revoked t2 "+until(later))
	pollUntil(t, "the new revocation", func() bool { got, _ := sink.snapshot(); return len(got) == len(want) })
	got, current := sink.snapshot()
	if diff := cmp.Diff(want[3:], got[3:]); diff != "" || !current {
		t.Errorf("after a new revocation: current %v, told (-want +got):\n%s", current, diff)
	}
}

func TestRevocationFeedEmptyLogIsCurrent(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	sink := &recordingSink{}
	runFeed(t, st.RevocationFeed(time.Hour), sink)
	pollUntil(t, "an empty log to be current", sink.isCurrent)
	// Only unrelated events: nothing to catch up with either.
	st2 := openStore(t, startServer(t, ServerOptions{}))
	appendEvent(t, st2, "e1", domain.AccessTokenCreated{TokenID: "t1", ClientID: "c1", Scopes: []string{}}, time.Now())
	sink2 := &recordingSink{}
	runFeed(t, st2.RevocationFeed(time.Hour), sink2)
	pollUntil(t, "a log without revocations to be current", sink2.isCurrent)
}

func TestRevocationFeedStartsOneLifetimeAgo(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	appendEvent(t, st, "e1", domain.AccessTokenRevoked{TokenID: "old", ClientID: "c1"}, time.Now())
	// The test is about time passing: the revocation must be older than
	// the lifetime when the feed starts.
	time.Sleep(300 * time.Millisecond)
	appendEvent(t, st, "e2", domain.AccessTokenRevoked{TokenID: "recent", ClientID: "c1"}, time.Now())
	f := st.RevocationFeed(200 * time.Millisecond)
	f.margin = 0 // the margin for clock skew would reach five minutes back
	sink := &recordingSink{}
	runFeed(t, f, sink)
	pollUntil(t, "the feed to catch up", sink.isCurrent)
	got, _ := sink.snapshot()
	if len(got) != 1 || !strings.HasPrefix(got[0], "revoked recent ") {
		t.Errorf("told %q; want only the revocation younger than the lifetime", got)
	}
}

func TestRevocationFeedStopsOnAnEventItCannotRead(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	env, err := domain.NewEnvelope("e1", domain.AccessTokenRevoked{TokenID: "t1"}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	env.Version = 2 // written by a newer stamp
	mustAppend(t, st, token("t1"), domain.ExpectAny, env)
	sink := &recordingSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = st.RevocationFeed(time.Hour).Run(ctx, sink)
	var future *domain.FutureVersionError
	if !errors.As(err, &future) {
		t.Fatalf("Run = %v; want a FutureVersionError", err)
	}
	if sink.flips[len(sink.flips)-1] || len(sink.told) != 0 {
		t.Errorf("after the failure: flips %v, told %v; want not current and nothing told", sink.flips, sink.told)
	}
}

func TestRevocationFeedNotCurrentWhileDisconnected(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, ServerOptions{StoreDir: dir})
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	st := openStore(t, srv)
	appendEvent(t, st, "e1", domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c1"}, time.Now())

	f, err := OpenRevocationFeed(testContext(t), Options{URL: srv.ClientURL(), NkeySeedFile: srv.SeedFile(RoleRevocations), Name: "resource-server"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := &recordingSink{}
	runFeed(t, f, sink)
	pollUntil(t, "the feed to catch up", sink.isCurrent)

	st.Close()
	srv.Shutdown()
	pollUntil(t, "the feed to report the lost connection", func() bool { return !sink.isCurrent() })

	restarted := time.Now()
	srv = startServer(t, ServerOptions{StoreDir: dir, Port: port})
	pollUntil(t, "the feed to catch up after the reconnect", sink.isCurrent)
	t.Logf("current again %s after the restart began", time.Since(restarted))
	st = openStore(t, srv)
	appendEvent(t, st, "e2", domain.UserDeleted{UserID: "u1"}, time.Now())
	pollUntil(t, "the revocation after the reconnect", func() bool { got, _ := sink.snapshot(); return len(got) == 2 })
	got, _ := sink.snapshot()
	if got[1] != "user u1" || !strings.HasPrefix(got[0], "revoked t1 ") {
		t.Errorf("told %q; want t1 once, then u1 (resuming after the last delivered)", got)
	}
}

func TestRevocationFeedOpenIsReadOnly(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	if _, err := OpenRevocationFeed(testContext(t), Options{InProcess: srv}, time.Hour); err == nil {
		t.Error("OpenRevocationFeed without a stream succeeded; want an error")
	}
	st, err := Open(testContext(t), Options{InProcess: srv, MaxAge: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := OpenRevocationFeed(testContext(t), Options{InProcess: srv}, 0); err == nil {
		t.Error("OpenRevocationFeed with no lifetime succeeded; want an error")
	}
	f, err := OpenRevocationFeed(testContext(t), Options{InProcess: srv}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := st.stream.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 48*time.Hour {
		t.Errorf("after OpenRevocationFeed the stream's MaxAge is %s; want the 48h it had", info.Config.MaxAge)
	}
}

// BenchmarkRevocationFeedCatchUp measures the catch-up of a feed over a
// log of mostly issued tokens, through the three filtered consumers, beside a read of
// every event that filters on the client, as a single stamp.> consumer
// would.
func BenchmarkRevocationFeedCatchUp(b *testing.B) {
	st := openStore(b, startServer(b, ServerOptions{}))
	const tokens, every = 20000, 100 // one revocation per 100 tokens
	at := time.Now()
	for i := range tokens {
		id := fmt.Sprintf("t%d", i)
		appendEvent(b, st, "c"+id, domain.AccessTokenCreated{TokenID: id, ClientID: "c1", Scopes: []string{"read"}}, at)
		if i%every == 0 {
			appendEvent(b, st, "r"+id, domain.AccessTokenRevoked{TokenID: id, ClientID: "c1"}, at)
		}
	}
	b.Run("filtered", func(b *testing.B) {
		for b.Loop() {
			sink := &countingSink{current: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- st.RevocationFeed(time.Hour).Run(ctx, sink) }()
			<-sink.current
			cancel()
			<-done
			if sink.n != tokens/every {
				b.Fatalf("told %d revocations; want %d", sink.n, tokens/every)
			}
		}
	})
	b.Run("everything", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := st.Read(context.Background(), ReadOptions{Since: at.Add(-time.Minute)}, func(r domain.Recorded) error {
				if r.Envelope.Type == "AccessTokenRevoked" {
					n++
				}
				return nil
			})
			if err != nil || n != tokens/every {
				b.Fatalf("read: %v, %d revocations; want %d", err, n, tokens/every)
			}
		}
	})
}

type countingSink struct {
	n       int
	current chan struct{}
	once    sync.Once
}

func (s *countingSink) Revoked(string, time.Time) { s.n++ }
func (s *countingSink) ClientDeleted(string)      {}
func (s *countingSink) UserDeleted(string)        {}
func (s *countingSink) Current(c bool) {
	if c {
		s.once.Do(func() { close(s.current) })
	}
}
