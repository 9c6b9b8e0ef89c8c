package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// forged is an event nobody stamp-made would publish.
func forged(t *testing.T) *nats.Msg {
	t.Helper()
	e, err := domain.NewEnvelope("forged-1", domain.ClientRegistered{ClientID: "evil", Name: "evil"}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(domain.SubjectRoot + "." + domain.KindClient + ".evil." + e.Type)
	m.Data = b
	return m
}

// lastSeq reads the stream's last sequence as the writer.
func lastSeq(t *testing.T, st *Store) uint64 {
	t.Helper()
	seq, err := st.LastSeq(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestReaderReadsButCannotWrite(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	mustAppend(t, st, client("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, client("b"), domain.ExpectNew, env("e2", "AccessTokenCreated"))

	rc := connectAs(t, srv, RoleReader)
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)

	// Replay and tail with an ordered consumer.
	cons, err := js.OrderedConsumer(ctx, domain.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	next := func() jetstream.Msg {
		t.Helper()
		m, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		return m
	}
	for _, want := range []string{"e1", "e2"} {
		if m := next(); !json.Valid(m.Data()) || m.Headers().Get("Nats-Msg-Id") != want {
			t.Errorf("replay: got %s (id %q); want %s", m.Data(), m.Headers().Get("Nats-Msg-Id"), want)
		}
	}
	// And as the nats CLI does: a push consumer with flow control (the
	// legacy API), and a core subscription on stamp.>.
	legacy, err := rc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := legacy.SubscribeSync(domain.SubjectRoot+".>", nats.OrderedConsumer(), nats.BindStream(domain.StreamName))
	if err != nil {
		t.Fatalf("push ordered consumer: %v", err)
	}
	live, err := rc.SubscribeSync(domain.SubjectRoot + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Flush(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, st, client("c"), domain.ExpectNew, env("e3", "AccessTokenCreated"))
	if m := next(); m.Headers().Get("Nats-Msg-Id") != "e3" {
		t.Errorf("tail: got id %q; want e3", m.Headers().Get("Nats-Msg-Id"))
	}
	for _, want := range []string{"e1", "e2", "e3"} {
		m, err := pushed.NextMsg(10 * time.Second)
		if err != nil || m.Header.Get("Nats-Msg-Id") != want {
			t.Fatalf("push consumer: %v, %v; want %s", m, err, want)
		}
	}
	if m, err := live.NextMsg(10 * time.Second); err != nil || m.Header.Get("Nats-Msg-Id") != "e3" {
		t.Errorf("core subscription: %v, %v; want e3", m, err)
	}

	// Direct get and message get.
	stream, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if m, err := stream.GetMsg(ctx, 2); err != nil || m.Sequence != 2 {
		t.Errorf("direct get: %+v, %v; want sequence 2", m, err)
	}
	resp, err := rc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+domain.StreamName, []byte(`{"seq":1}`))
	if err != nil || !json.Valid(resp.Data) || string(resp.Data) == "" {
		t.Errorf("msg get: %v", err)
	} else {
		var r struct {
			Message *struct{ Seq uint64 } `json:"message"`
		}
		if json.Unmarshal(resp.Data, &r); r.Message == nil || r.Message.Seq != 1 {
			t.Errorf("msg get: %s; want message 1", resp.Data)
		}
	}

	// Nothing that writes.
	before := lastSeq(t, st)
	rc.refused(t, "JetStream publish of a forged event", forged(t).Subject, func(ctx context.Context) error {
		_, err := js.PublishMsg(ctx, forged(t))
		return err
	})
	if err := rc.PublishMsg(forged(t)); err != nil {
		t.Fatal(err)
	}
	rc.refused(t, "delete stream", "$JS.API.STREAM.DELETE.STAMP", func(ctx context.Context) error {
		return js.DeleteStream(ctx, domain.StreamName)
	})
	rc.refused(t, "purge stream", "$JS.API.STREAM.PURGE.STAMP", func(ctx context.Context) error { return stream.Purge(ctx) })
	rc.refused(t, "delete message", "$JS.API.STREAM.MSG.DELETE.STAMP", func(ctx context.Context) error { return stream.DeleteMsg(ctx, 1) })
	rc.refused(t, "create stream", "$JS.API.STREAM.CREATE.EVIL", func(ctx context.Context) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}})
		return err
	})
	rc.refused(t, "update stream", "$JS.API.STREAM.UPDATE.STAMP", func(ctx context.Context) error {
		cfg := stream.CachedInfo().Config
		cfg.MaxAge = time.Second
		_, err := js.UpdateStream(ctx, cfg)
		return err
	})
	rc.refused(t, "delete a consumer", "$JS.API.CONSUMER.DELETE.STAMP.x", func(ctx context.Context) error {
		return js.DeleteConsumer(ctx, domain.StreamName, "x")
	})
	rc.refused(t, "key-value bucket", "$JS.API.STREAM.INFO.KV_STAMP_USER_KEYS", func(ctx context.Context) error {
		_, err := js.KeyValue(ctx, "STAMP_USER_KEYS")
		return err
	})
	if _, err := rc.Subscribe(WriterInboxPrefix+".>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	rc.violated(t, "Subscription", WriterInboxPrefix+".>")
	rc.violated(t, "Publish", forged(t).Subject) // the core publish too

	if after := lastSeq(t, st); after != before {
		t.Errorf("the stream went from %d to %d events; want no change", before, after)
	}
	if _, err := st.stream.Info(testContext(t)); err != nil {
		t.Errorf("the stream is gone: %v", err)
	}
}

func TestRevocationsIdentityRunsTheFeedOnly(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	at := time.Now().UTC().Truncate(time.Second)
	appendEvent(t, st, "e1", domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c1", ExpiresAt: at.Add(time.Hour)}, at)
	appendEvent(t, st, "e2", domain.ClientDeleted{ClientID: "c2"}, at)

	// The real feed, over TCP, as the revocations identity.
	f, err := OpenRevocationFeed(testContext(t), Options{URL: srv.ClientURL(), NkeySeedFile: srv.SeedFile(RoleRevocations)}, time.Hour)
	if err != nil {
		t.Fatalf("OpenRevocationFeed: %v", err)
	}
	defer f.Close()
	sink := &recordingSink{}
	runFeed(t, f, sink)
	pollUntil(t, "the feed to catch up", sink.isCurrent)
	appendEvent(t, st, "e3", domain.UserDeleted{UserID: "u1"}, at)
	pollUntil(t, "the user's deletion", func() bool { told, _ := sink.snapshot(); return len(told) == 3 })
	told, _ := sink.snapshot()
	slices.Sort(told[:2]) // the event types come in any order
	if told[0] != "client c2" || told[1] != "revoked t1 "+at.Add(time.Hour+revocationMargin).Format(time.RFC3339) || told[2] != "user u1" {
		t.Errorf("feed told %q", told)
	}

	rc := connectAs(t, srv, RoleRevocations)
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	before := lastSeq(t, st)
	rc.refused(t, "publish", forged(t).Subject, func(ctx context.Context) error {
		_, err := js.PublishMsg(ctx, forged(t))
		return err
	})
	rc.refused(t, "direct get", "$JS.API.DIRECT.GET.STAMP", func(ctx context.Context) error {
		_, err := rc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.STAMP", []byte(`{"seq":1}`))
		return err
	})
	rc.refused(t, "msg get", "$JS.API.STREAM.MSG.GET.STAMP", func(ctx context.Context) error {
		_, err := rc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.STAMP", []byte(`{"seq":1}`))
		return err
	})
	// Only consumers filtered to one revocation subject: not another
	// filter, not several, not none.
	rc.refused(t, "consumer on the tokens issued", "$JS.API.CONSUMER.CREATE.STAMP.x.stamp.token.*.AccessTokenCreated", func(ctx context.Context) error {
		_, err := js.CreateConsumer(ctx, domain.StreamName, jetstream.ConsumerConfig{Name: "x", FilterSubject: "stamp.token.*.AccessTokenCreated"})
		return err
	})
	rc.refused(t, "consumer on two subjects", "$JS.API.CONSUMER.CREATE.STAMP.y", func(ctx context.Context) error {
		_, err := js.CreateConsumer(ctx, domain.StreamName, jetstream.ConsumerConfig{Name: "y", FilterSubjects: []string{revocationSubjects[0], "stamp.token.*.AccessTokenCreated"}})
		return err
	})
	rc.refused(t, "consumer on everything", "$JS.API.CONSUMER.CREATE.STAMP.z", func(ctx context.Context) error {
		_, err := js.CreateConsumer(ctx, domain.StreamName, jetstream.ConsumerConfig{Name: "z"})
		return err
	})
	rc.refused(t, "ephemeral consumer", "$JS.API.CONSUMER.CREATE.STAMP", func(ctx context.Context) error {
		_, err := rc.RequestWithContext(ctx, "$JS.API.CONSUMER.CREATE.STAMP", []byte(`{"stream_name":"STAMP","config":{"ack_policy":"none"}}`))
		return err
	})
	// The server holds a filtered creation to its subject's filter.
	ctx := testContext(t)
	resp, err := rc.RequestWithContext(ctx, "$JS.API.CONSUMER.CREATE.STAMP.w."+revocationSubjects[0],
		[]byte(`{"stream_name":"STAMP","config":{"name":"w","ack_policy":"none","filter_subject":"stamp.>"}}`))
	if err != nil || !strings.Contains(string(resp.Data), `"error"`) {
		t.Errorf("a creation whose filter is not its subject's: %v, %s; want the server's refusal", err, resp.Data)
	}
	rc.refused(t, "delete stream", "$JS.API.STREAM.DELETE.STAMP", func(ctx context.Context) error {
		return js.DeleteStream(ctx, domain.StreamName)
	})
	for _, subject := range []string{domain.SubjectRoot + ".>", "_INBOX.>", WriterInboxPrefix + ".>"} {
		if _, err := rc.Subscribe(subject, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		rc.violated(t, "Subscription", subject)
	}
	if after := lastSeq(t, st); after != before {
		t.Errorf("the stream went from %d to %d events; want no change", before, after)
	}
}

func TestWriterCannotDeleteOrPurgeTheLog(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	mustAppend(t, st, token("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	c := &consumer{s: st, durable: "a"}
	if err := c.park(testContext(t), 1, "stamp.token.a.AccessTokenCreated", nil, 1, "parked"); err != nil {
		t.Fatalf("park: %v", err)
	}

	rc := connectAs(t, srv, RoleWriter)
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{domain.StreamName, ArchiveStreamName, ParkedStreamName} {
		rc.refused(t, "delete "+s, "$JS.API.STREAM.DELETE."+s, func(ctx context.Context) error { return js.DeleteStream(ctx, s) })
		rc.refused(t, "purge "+s, "$JS.API.STREAM.PURGE."+s, func(ctx context.Context) error {
			_, err := rc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+s, nil)
			return err
		})
		rc.refused(t, "delete a message of "+s, "$JS.API.STREAM.MSG.DELETE."+s, func(ctx context.Context) error {
			_, err := rc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+s, []byte(`{"seq":1}`))
			return err
		})
	}
	if recs, err := st.Load(testContext(t), token("a")); err != nil || len(recs) != 1 {
		t.Errorf("Load = %d events, %v; want 1", len(recs), err)
	}
	if parked, err := st.Parked(testContext(t), "a"); err != nil || len(parked) != 1 {
		t.Errorf("Parked = %d, %v; want 1", len(parked), err)
	}
}

// The writer may use stamp's key-value buckets fully, purge included, but
// not delete one.
func TestWriterUsesKeyValueBuckets(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	rc := connectAs(t, srv, RoleWriter)
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, bucket := range KVBuckets {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 2})
		if err != nil {
			t.Fatalf("%s: create: %v", bucket, err)
		}
		if kv, err = js.KeyValue(ctx, bucket); err != nil {
			t.Fatalf("%s: look up: %v", bucket, err)
		}
		if _, err := kv.Put(ctx, "u1", []byte("k1")); err != nil {
			t.Fatalf("%s: put: %v", bucket, err)
		}
		if e, err := kv.Get(ctx, "u1"); err != nil || string(e.Value()) != "k1" {
			t.Fatalf("%s: get: %v", bucket, err)
		}
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t.Fatalf("%s: watch: %v", bucket, err)
		}
		if e := <-w.Updates(); e == nil || e.Key() != "u1" {
			t.Errorf("%s: watch: first update %v; want u1", bucket, e)
		}
		_ = w.Stop()
		if err := kv.Delete(ctx, "u1"); err != nil {
			t.Fatalf("%s: delete: %v", bucket, err)
		}
		if err := kv.Purge(ctx, "u1"); err != nil {
			t.Fatalf("%s: purge: %v", bucket, err)
		}
		if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
			t.Fatalf("%s: purge deletes: %v", bucket, err)
		}
		if _, err := kv.Get(ctx, "u1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s: get after purge: %v; want ErrKeyNotFound", bucket, err)
		}
		rc.refused(t, "delete bucket "+bucket, "$JS.API.STREAM.DELETE.KV_"+bucket, func(ctx context.Context) error {
			return js.DeleteKeyValue(ctx, bucket)
		})
	}
	// Nor another bucket.
	rc.refused(t, "create another bucket", "$JS.API.STREAM.CREATE.KV_OTHER", func(ctx context.Context) error {
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "OTHER"})
		return err
	})
}
