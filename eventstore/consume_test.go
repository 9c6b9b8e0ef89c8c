package eventstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// A new consumer delivers only what is appended after it, in order; an
// acked event is not delivered again when Deliver restarts.
func TestDeliverNewEventsInOrderAndResumes(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	mustAppend(t, st, token("a"), domain.ExpectAny, env("old1", "AccessTokenCreated"))
	mustAppend(t, st, token("b"), domain.ExpectAny, env("old2", "AccessTokenCreated"))

	fn, got := recorder(t, ack)
	stop := runDeliver(t, st, "audit", "stamp.token.>", deliverOptions{}, fn)
	waitConsumer(t, st, "audit")

	s3 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e3", "AccessTokenRevoked"))
	mustAppend(t, st, client("c"), domain.ExpectAny, env("c1", "ClientRegistered")) // filtered out
	s5 := mustAppend(t, st, token("b"), domain.ExpectAny, env("e4", "AccessTokenRevoked"), env("e5", "RefreshTokenCreated"))
	expectDeliveries(t, got,
		delivered{"e3", s3, 1},
		delivered{"e4", s5 - 1, 1},
		delivered{"e5", s5, 1},
	)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver after cancel = %v; want context.Canceled", err)
	}

	s6 := mustAppend(t, st, token("c"), domain.ExpectAny, env("e6", "AccessTokenCreated"))
	fn, got = recorder(t, ack)
	runDeliver(t, st, "audit", "stamp.token.>", deliverOptions{}, fn)
	expectDeliveries(t, got, delivered{"e6", s6, 1})

	want := ConsumerState{Name: "audit", Filter: "stamp.token.>", LastDelivered: s6}
	if diff := cmp.Diff(want, waitConsumer(t, st, "audit")); diff != "" {
		t.Errorf("consumer state (-want +got):\n%s", diff)
	}
}

// Stopping Deliver while a message is in flight hands it back: the next
// Deliver gets it at once, not after AckWait, and nothing is lost or
// handled twice.
func TestDeliverRestartsLoseNothing(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	fn, got := recorder(t, ack)
	var want []string
	for i := range 20 {
		stop := runDeliver(t, st, "restarts", "", deliverOptions{}, fn)
		if i == 0 {
			waitConsumer(t, st, "restarts")
		}
		id := fmtID("e", i)
		mustAppend(t, st, token("a"), domain.ExpectAny, env(id, "AccessTokenCreated"))
		want = append(want, id)
		stop()
	}
	runDeliver(t, st, "restarts", "", deliverOptions{}, fn)
	var ids []string
	for range want {
		ids = append(ids, nextDelivery(t, got).id) // within 10s, less than AckWait
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	select {
	case d := <-got:
		t.Errorf("extra delivery %+v", d)
	default:
	}
}

func TestDeliverRetry(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	fn, got := recorder(t, func(d Delivery) error {
		if d.Record().Envelope.ID == "e1" && d.Attempt() < 3 {
			return d.Retry(time.Duration(d.Attempt()-1) * 20 * time.Millisecond) // at once, then later
		}
		return d.Ack()
	})
	runDeliver(t, st, "retry", "", deliverOptions{}, fn)
	waitConsumer(t, st, "retry")
	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	s2 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e2", "AccessTokenRevoked"))
	// e2 waits for e1, however often e1 is retried.
	expectDeliveries(t, got,
		delivered{"e1", s1, 1},
		delivered{"e1", s1, 2},
		delivered{"e1", s1, 3},
		delivered{"e2", s2, 1},
	)
}

// A handler that returns without settling gets the message again, and a
// delivery settles once.
func TestDeliverUnsettledIsRetried(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	settleErrs := make(chan error, 3)
	fn, got := recorder(t, func(d Delivery) error {
		if d.Attempt() == 1 {
			return nil
		}
		if err := d.Ack(); err != nil {
			return err
		}
		settleErrs <- d.Ack()
		settleErrs <- d.Retry(0)
		settleErrs <- d.Park("late")
		return nil
	})
	runDeliver(t, st, "unsettled", "", deliverOptions{retryDelay: 50 * time.Millisecond}, fn)
	waitConsumer(t, st, "unsettled")
	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	expectDeliveries(t, got, delivered{"e1", s1, 1}, delivered{"e1", s1, 2})
	for range 3 {
		if err := <-settleErrs; !errors.Is(err, ErrSettled) {
			t.Errorf("settling twice: err = %v; want ErrSettled", err)
		}
	}
	if parked, _ := st.Parked(testContext(t), ""); len(parked) != 0 {
		t.Errorf("Parked = %+v; want nothing parked by a refused Park", parked)
	}
}

// The default delay for an unsettled delivery is a second.
func TestDeliverUnsettledDefaultDelay(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	var first time.Time
	fn, got := recorder(t, func(d Delivery) error {
		if d.Attempt() == 1 {
			first = time.Now()
			return nil
		}
		if since := time.Since(first); since < 900*time.Millisecond {
			t.Errorf("redelivered after %s; want about %s", since, UnsettledRetryDelay)
		}
		return d.Ack()
	})
	runDeliver(t, st, "unsettled", "", deliverOptions{}, fn)
	waitConsumer(t, st, "unsettled")
	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	expectDeliveries(t, got, delivered{"e1", s1, 1}, delivered{"e1", s1, 2})
}

// A handler stopped by the end of Deliver's context leaves its message to
// the next Deliver.
func TestDeliverCancelledHandlerIsRedelivered(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	started := make(chan delivered, 1)
	stop := runDeliver(t, st, "cancel", "", deliverOptions{}, func(ctx context.Context, d Delivery) {
		started <- delivered{d.Record().Envelope.ID, d.Record().Seq, d.Attempt()}
		<-ctx.Done() // shut down mid-way, without settling
	})
	waitConsumer(t, st, "cancel")
	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	expectDeliveries(t, started, delivered{"e1", s1, 1})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver after cancel = %v; want context.Canceled", err)
	}

	fn, got := recorder(t, ack)
	runDeliver(t, st, "cancel", "", deliverOptions{}, fn)
	expectDeliveries(t, got, delivered{"e1", s1, 2})
}

// A process that dies mid-handler (its connection closes) leaves the message
// to another Deliver on the same durable once AckWait has passed, though
// it kept the message alive while it ran.
func TestDeliverRedeliversAfterCrash(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	crashing := openStore(t, srv)
	o := deliverOptions{ackWait: time.Second}

	started := make(chan delivered, 1)
	release := make(chan struct{})
	runDeliver(t, crashing, "crash", "", o, func(_ context.Context, d Delivery) {
		started <- delivered{d.Record().Envelope.ID, d.Record().Seq, d.Attempt()}
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before the stop above
	waitConsumer(t, st, "crash")
	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	expectDeliveries(t, started, delivered{"e1", s1, 1})
	crashing.Close()

	fn, got := recorder(t, ack)
	runDeliver(t, st, "crash", "", o, fn)
	expectDeliveries(t, got, delivered{"e1", s1, 2})
}

// Two instances share a durable: while one runs a handler longer than
// AckWait, the other does not get the message, and gets the next one after.
func TestDeliverKeepsSlowHandlersMessage(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st, other := openStore(t, srv), openStore(t, srv)
	const ackWait = 500 * time.Millisecond
	o := deliverOptions{ackWait: ackWait}

	type seen struct {
		who string
		delivered
	}
	got := make(chan seen, 16)
	next := func() seen {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery within 10s")
		}
		return seen{}
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	handler := func(who string) func(context.Context, Delivery) {
		return func(_ context.Context, d Delivery) {
			r := d.Record()
			got <- seen{who, delivered{r.Envelope.ID, r.Seq, d.Attempt()}}
			if r.Envelope.ID == "slow" {
				<-release
			}
			if err := d.Ack(); err != nil {
				t.Errorf("%s: Ack: %v", who, err)
			}
		}
	}
	runDeliver(t, st, "shared", "", o, handler("one"))
	waitConsumer(t, st, "shared")
	runDeliver(t, other, "shared", "", o, handler("two"))
	t.Cleanup(releaseAll) // runs before the stops above

	s1 := mustAppend(t, st, token("a"), domain.ExpectAny, env("slow", "AccessTokenCreated"))
	first := next()
	if first.delivered != (delivered{"slow", s1, 1}) {
		t.Fatalf("first delivery %+v; want slow at %d, attempt 1", first, s1)
	}
	s2 := mustAppend(t, st, token("a"), domain.ExpectAny, env("next", "AccessTokenRevoked"))
	// Nothing may arrive while the slow handler runs for three AckWaits.
	select {
	case s := <-got:
		t.Fatalf("delivery %+v while the slow handler ran", s)
	case <-time.After(3 * ackWait):
	}
	releaseAll()
	s := next()
	if s.delivered != (delivered{"next", s2, 1}) {
		t.Errorf("after the slow handler: %+v; want next at %d, attempt 1", s, s2)
	}
}

func TestDeliverRejectsBadDurable(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	for _, name := range []string{"", "a.b", "a b", ">", "a*", "a/b", strings.Repeat("x", 129)} {
		err := st.Deliver(testContext(t), name, "", func(context.Context, Delivery) {
			t.Errorf("Deliver(%q) delivered", name)
		})
		if !errors.Is(err, ErrInvalidDurable) {
			t.Errorf("Deliver(%q) = %v; want ErrInvalidDurable", name, err)
		}
	}
	if states, err := st.Consumers(testContext(t)); err != nil || len(states) != 0 {
		t.Errorf("Consumers = %+v, %v; want none", states, err)
	}
}

func TestDeliverRejectsBadFilter(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	for _, filter := range []string{"other.>", ">", "stamp", "stamp.", "stamp..x", "stamp.>.x", "stamp.a*", "stamp.a b", "*.token.>"} {
		err := st.Deliver(testContext(t), "bad", filter, func(context.Context, Delivery) {
			t.Errorf("Deliver(filter %q) delivered", filter)
		})
		if !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("Deliver(filter %q) = %v; want ErrInvalidFilter", filter, err)
		}
	}
	for _, filter := range []string{"", "stamp.>", "stamp.token.>", "stamp.*.*.AccessTokenCreated", "stamp.token.a.*"} {
		if !validFilter(filter) {
			t.Errorf("validFilter(%q) = false; want true", filter)
		}
	}
}

// Consumers lists durable consumers only, by name, with their position.
func TestConsumers(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	if states, err := st.Consumers(ctx); err != nil || states == nil || len(states) != 0 {
		t.Fatalf("Consumers of a fresh stream = %#v, %v; want empty, nil", states, err)
	}
	// An ephemeral consumer, as Read creates.
	if _, err := st.js.CreateConsumer(ctx, domain.StreamName, jetstream.ConsumerConfig{InactiveThreshold: time.Minute}); err != nil {
		t.Fatalf("CreateConsumer: %v", err)
	}

	hold := make(chan struct{})
	started := make(chan delivered, 1)
	runDeliver(t, st, "zeta", "stamp.*.*.AccessTokenCreated", deliverOptions{}, func(_ context.Context, d Delivery) {
		started <- delivered{d.Record().Envelope.ID, d.Record().Seq, d.Attempt()}
		<-hold
	})
	t.Cleanup(func() { close(hold) }) // runs before the stop above
	fn, got := recorder(t, ack)
	runDeliver(t, st, "alpha", "", deliverOptions{}, fn)
	waitConsumer(t, st, "zeta")
	waitConsumer(t, st, "alpha")

	mustAppend(t, st, token("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, token("b"), domain.ExpectAny, env("e2", "AccessTokenCreated"))
	last := mustAppend(t, st, token("b"), domain.ExpectAny, env("e3", "AccessTokenRevoked"))
	expectDeliveries(t, started, delivered{"e1", 1, 1})
	expectDeliveries(t, got, delivered{"e1", 1, 1}, delivered{"e2", 2, 1}, delivered{"e3", last, 1})

	// zeta holds e1 and waits to deliver e2.
	consumerState(t, st, "zeta", func(c ConsumerState) bool { return c.Pending == 1 })
	states, err := st.Consumers(ctx)
	if err != nil {
		t.Fatalf("Consumers: %v", err)
	}
	want := []ConsumerState{
		{Name: "alpha", Filter: "stamp.>", LastDelivered: last},
		{Name: "zeta", Filter: "stamp.*.*.AccessTokenCreated", Pending: 1, AckPending: 1, LastDelivered: 1},
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("Consumers (-want +got):\n%s", diff)
	}
}
