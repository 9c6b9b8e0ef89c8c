package eventstore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// A parked message goes to STAMP_PARKED with its headers, is never
// delivered again, and the next one follows.
func TestDeliverPark(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	if parked, err := st.Parked(ctx, ""); err != nil || parked == nil || len(parked) != 0 {
		t.Fatalf("Parked before any park = %#v, %v; want empty, nil", parked, err)
	}

	fn, got := recorder(t, func(d Delivery) error {
		if d.Record().Envelope.ID == "e1" {
			return d.Park("boom\nand more")
		}
		return d.Ack()
	})
	runDeliver(t, st, "parker", "stamp.client.>", deliverOptions{}, fn)
	waitConsumer(t, st, "parker")
	before := time.Now()
	s1 := mustAppend(t, st, client("a"), domain.ExpectAny, env("e1", "AccessTokenCreated"))
	s2 := mustAppend(t, st, client("a"), domain.ExpectAny, env("e2", "AccessTokenRevoked"))
	expectDeliveries(t, got, delivered{"e1", s1, 1}, delivered{"e2", s2, 1})
	after := time.Now()

	want := []Parked{{
		Listener: "parker",
		Seq:      s1,
		Subject:  "stamp.client.a.AccessTokenCreated",
		Reason:   "boom and more",
		Attempts: 1,
		Envelope: env("e1", "AccessTokenCreated"),
	}}
	for _, listener := range []string{"", "parker"} {
		parked, err := st.Parked(ctx, listener)
		if err != nil {
			t.Fatalf("Parked(%q): %v", listener, err)
		}
		if diff := cmp.Diff(want, parked, cmpopts.IgnoreFields(Parked{}, "Time")); diff != "" {
			t.Errorf("Parked(%q) (-want +got):\n%s", listener, diff)
		}
		if len(parked) == 1 && (parked[0].Time.Before(before.Truncate(time.Second)) || parked[0].Time.After(after)) {
			t.Errorf("parked at %s; want between %s and %s", parked[0].Time, before, after)
		}
	}
	if parked, err := st.Parked(ctx, "other"); err != nil || len(parked) != 0 {
		t.Errorf("Parked(other) = %+v, %v; want empty, nil", parked, err)
	}
	if _, err := st.Parked(ctx, "a.b"); !errors.Is(err, ErrInvalidDurable) {
		t.Errorf("Parked(a.b): err = %v; want ErrInvalidDurable", err)
	}

	// The stored copy, as any NATS client sees it.
	stream, err := st.js.Stream(ctx, ParkedStreamName)
	if err != nil {
		t.Fatalf("parked stream: %v", err)
	}
	if cfg := stream.CachedInfo().Config; cfg.Subjects[0] != "stamp_parked.>" || cfg.Replicas != 1 {
		t.Errorf("parked stream subjects %v, replicas %d; want [stamp_parked.>], 1", cfg.Subjects, cfg.Replicas)
	}
	raw, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("GetMsg: %v", err)
	}
	wantHeaders := map[string]string{
		"Nats-Msg-Id":           "parker/" + strconv.FormatUint(s1, 10),
		"Stamp-Parked-Seq":      strconv.FormatUint(s1, 10),
		"Stamp-Parked-Subject":  "stamp.client.a.AccessTokenCreated",
		"Stamp-Parked-Reason":   "boom and more",
		"Stamp-Parked-Attempts": "1",
	}
	for k, v := range wantHeaders {
		if got := raw.Header.Get(k); got != v {
			t.Errorf("header %s = %q; want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339, raw.Header.Get("Stamp-Parked-Time")); err != nil {
		t.Errorf("Stamp-Parked-Time: %v", err)
	}
	if raw.Subject != "stamp_parked.parker" {
		t.Errorf("parked subject %q; want stamp_parked.parker", raw.Subject)
	}
	// Nothing is left for the consumer, and the event log is untouched.
	consumerState(t, st, "parker", func(c ConsumerState) bool { return c.AckPending == 0 && c.LastDelivered == s2 })
	if last, _ := st.LastSeq(ctx); last != s2 {
		t.Errorf("LastSeq = %d; want %d", last, s2)
	}
}

// A message that is not an envelope is parked without reaching fn.
func TestDeliverParksForeignMessage(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	fn, got := recorder(t, ack)
	runDeliver(t, st, "strict", "", deliverOptions{}, fn)
	waitConsumer(t, st, "strict")

	junk, err := st.js.Publish(ctx, "stamp.client.a.Junk", []byte("not json"))
	if err != nil {
		t.Fatalf("publish junk: %v", err)
	}
	s2 := mustAppend(t, st, client("a"), domain.ExpectAny, env("e2", "AccessTokenCreated"))
	expectDeliveries(t, got, delivered{"e2", s2, 1})

	parked, err := st.Parked(ctx, "strict")
	if err != nil {
		t.Fatalf("Parked: %v", err)
	}
	want := []Parked{{Listener: "strict", Seq: junk.Sequence, Subject: "stamp.client.a.Junk", Reason: "not an envelope", Attempts: 1}}
	if diff := cmp.Diff(want, parked, cmpopts.IgnoreFields(Parked{}, "Time")); diff != "" {
		t.Errorf("Parked (-want +got):\n%s", diff)
	}
}

// Parking one message twice (a lost Term, then a redelivery) stores it
// once; a message parked by two listeners is stored for each.
func TestParkTwiceStoresOnce(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	body := []byte(`{"id":"e1"}`)
	a := &consumer{s: st, durable: "a"}
	b := &consumer{s: st, durable: "b"}
	for _, c := range []*consumer{a, a, b, &consumer{s: st, durable: "a"}} {
		if err := c.park(ctx, 7, "stamp.token.x.T", body, 3, "again"); err != nil {
			t.Fatalf("park by %s: %v", c.durable, err)
		}
	}
	parked, err := st.Parked(ctx, "")
	if err != nil {
		t.Fatalf("Parked: %v", err)
	}
	var got []string
	for _, p := range parked {
		got = append(got, p.Listener+"/"+strconv.FormatUint(p.Seq, 10))
	}
	if diff := cmp.Diff([]string{"a/7", "b/7"}, got); diff != "" {
		t.Errorf("parked (-want +got):\n%s", diff)
	}
}

// The parked stream is created again if it was deleted (by an operator:
// stamp's writer may not) while a consumer ran.
func TestParkRecreatesDeletedStream(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	st := openStore(t, srv)
	ctx := testContext(t)
	c := &consumer{s: st, durable: "a"}
	if err := c.park(ctx, 1, "stamp.token.x.T", nil, 1, "first"); err != nil {
		t.Fatalf("park: %v", err)
	}
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, ParkedStreamName); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	if err := c.park(ctx, 2, "stamp.token.x.T", nil, 1, "second"); err != nil {
		t.Fatalf("park after delete: %v", err)
	}
	parked, err := st.Parked(ctx, "a")
	if err != nil || len(parked) != 1 || parked[0].Seq != 2 {
		t.Errorf("Parked = %+v, %v; want the second only", parked, err)
	}
}

// Parked ends with its context.
func TestParkedHonoursContext(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := st.Parked(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Parked with a cancelled context: err = %v; want context.Canceled", err)
	}
}
