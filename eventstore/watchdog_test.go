package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// TestFollowWatchdogRecreatesStalledConsumer pauses a following read's
// ordered consumer on the server, so that it delivers nothing while the
// stream grows: the watchdog must notice, recreate the consumer after the
// last delivered event and count it, and the read must catch up without a
// gap.
func TestFollowWatchdogRecreatesStalledConsumer(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	st, err := Open(ctx, Options{InProcess: srv, StallAfter: 300 * time.Millisecond, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	agg := domain.Aggregate{Kind: "client", ID: "c1"}
	if _, err := st.Append(ctx, agg, domain.ExpectAny, env("e1", "ClientRegistered")); err != nil {
		t.Fatalf("Append: %v", err)
	}

	var got atomic.Uint64
	var gap atomic.Value
	followCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- st.Follow(followCtx, 1, func(r domain.Recorded) error {
			if prev := got.Load(); r.Seq != prev+1 {
				gap.Store(fmt.Sprintf("got sequence %d after %d", r.Seq, prev))
			}
			got.Store(r.Seq)
			return nil
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	eventually(t, "the first event delivered", func() bool { return got.Load() == 1 })

	// Pause every consumer on the stream, as an administrator: the read's
	// ordered consumer is the only one.
	stream, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	names := stream.ConsumerNames(ctx)
	paused := 0
	for name := range names.Name() {
		if _, err := js.PauseConsumer(ctx, domain.StreamName, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("PauseConsumer %s: %v", name, err)
		}
		paused++
	}
	if paused != 1 {
		t.Fatalf("paused %d consumers; want 1", paused)
	}
	var last uint64
	for i := 2; i <= 4; i++ {
		if last, err = st.Append(ctx, agg, domain.ExpectAny, env(fmt.Sprintf("e%d", i), "ClientUpdated")); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	eventually(t, "the read caught up after the stall", func() bool { return got.Load() == last })
	if g := gap.Load(); g != nil {
		t.Fatalf("gap in delivery: %v", g)
	}
	if ws := st.Watchdog(); ws.Recreated < 1 || ws.LastSeq < last || ws.Followers != 1 {
		t.Fatalf("Watchdog() = %+v; want Recreated >= 1, LastSeq >= %d, 1 follower", ws, last)
	}
}

// TestFollowWatchdogLeavesIdleAndBusyReadsAlone: a caught-up read that
// waits for news, and one whose fn is slow, are not stalls.
func TestFollowWatchdogLeavesIdleAndBusyReadsAlone(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	ctx := testContext(t)
	st, err := Open(ctx, Options{InProcess: srv, StallAfter: 100 * time.Millisecond, WatchEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	agg := domain.Aggregate{Kind: "client", ID: "c1"}
	for i := 1; i <= 2; i++ {
		if _, err := st.Append(ctx, agg, domain.ExpectAny, env(fmt.Sprintf("e%d", i), "ClientRegistered")); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	release := make(chan struct{})
	var got atomic.Uint64
	followCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- st.Follow(followCtx, 1, func(r domain.Recorded) error {
			if r.Seq == 1 {
				<-release // busy far longer than StallAfter, with sequence 2 waiting
			}
			got.Store(r.Seq)
			return nil
		})
	}()
	// Let the watchdog look many times while fn is busy.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if ws := st.Watchdog(); ws.Recreated != 0 {
			t.Fatalf("Watchdog() = %+v while fn was busy; want no recreation", ws)
		}
		time.Sleep(20 * time.Millisecond) // observing over time, not waiting for an event
	}
	close(release)
	eventually(t, "both events delivered", func() bool { return got.Load() == 2 })
	deadline = time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if ws := st.Watchdog(); ws.Recreated != 0 {
			t.Fatalf("Watchdog() = %+v while idle and caught up; want no recreation", ws)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow = %v; want context.Canceled", err)
	}
}

// TestDeliverWatchdogRefetchesStalledDurable pauses a listener's durable
// consumer on the server while an event waits: the watchdog must notice
// the stall and pull anew (counted), and once the consumer is resumed the
// listener gets the event, exactly once.
func TestDeliverWatchdogRefetchesStalledDurable(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	st, err := Open(ctx, Options{InProcess: srv, StallAfter: 300 * time.Millisecond, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	agg := domain.Aggregate{Kind: "client", ID: "c1"}
	fn, got := recorder(t, ack)
	runDeliver(t, st, "stall-test", "", deliverOptions{}, fn)
	eventually(t, "the durable to exist", func() bool {
		_, err := js.Consumer(ctx, domain.StreamName, "stall-test")
		return err == nil
	})
	if _, err := js.PauseConsumer(ctx, domain.StreamName, "stall-test", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("PauseConsumer: %v", err)
	}
	if _, err := st.Append(ctx, agg, domain.ExpectAny, env("e1", "ClientRegistered")); err != nil {
		t.Fatalf("Append: %v", err)
	}
	eventually(t, "the watchdog to recreate the stalled pull", func() bool { return st.Watchdog().Recreated >= 1 })
	if _, err := js.ResumeConsumer(ctx, domain.StreamName, "stall-test"); err != nil {
		t.Fatalf("ResumeConsumer: %v", err)
	}
	if d := nextDelivery(t, got); d.id != "e1" || d.attempt != 1 {
		t.Fatalf("delivery = %+v; want e1, attempt 1", d)
	}
}

// TestRevocationFeedWatchdogRecreatesStalledConsumers pauses the feed's
// consumers on the server: a new revocation is then pending but never
// delivered, until the watchdog ends the session and the feed resumes with
// fresh consumers, which deliver it.
func TestRevocationFeedWatchdogRecreatesStalledConsumers(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	st, err := Open(ctx, Options{InProcess: srv, StallAfter: 300 * time.Millisecond, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	at := time.Now().UTC().Truncate(time.Second)
	appendEvent(t, st, "e1", domain.AccessTokenCreated{TokenID: "t1", ClientID: "c1", Scopes: []string{}}, at)
	feed := st.RevocationFeed(time.Hour)
	sink := &recordingSink{}
	runFeed(t, feed, sink)
	pollUntil(t, "the feed to catch up", sink.isCurrent)

	stream, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	names := stream.ConsumerNames(ctx)
	for name := range names.Name() {
		if _, err := js.PauseConsumer(ctx, domain.StreamName, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("PauseConsumer %s: %v", name, err)
		}
	}
	appendEvent(t, st, "e2", domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c1", Reason: domain.ReasonRevokedByClient}, at)
	pollUntil(t, "the revocation despite the paused consumers", func() bool {
		got, _ := sink.snapshot()
		return len(got) == 1
	})
	if feed.Recreated() == 0 {
		t.Fatal("Recreated() = 0; want the stalled consumer counted")
	}
	pollUntil(t, "the feed to be current again", sink.isCurrent)
}
