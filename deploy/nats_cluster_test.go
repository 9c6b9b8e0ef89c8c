package deploy

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestNATSConfigRunsACluster runs the three node files as a real cluster
// on loopback (ports, store directories and the identities' keys replaced
// with the test's own): the routes authenticate, JetStream elects a
// leader in account STAMP, the writer creates the stream with three
// replicas and appends, the reader reads but cannot write, the writer
// cannot purge, and the archiver purges STAMP and nothing else.
func TestNATSConfigRunsACluster(t *testing.T) {
	seeds := map[string]nkeys.KeyPair{}
	examples := exampleKeys(t)
	for role := range identityVars {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seeds[role] = kp
	}
	dir := installNATSConfig(t, func(name, text string) string {
		if name != "stamp-identities.conf" {
			return text
		}
		for role, kp := range seeds {
			pub, _ := kp.PublicKey()
			text = strings.ReplaceAll(text, examples[role], pub)
		}
		return text
	})
	routePorts := map[string]int{}
	for i := 1; i <= 3; i++ {
		routePorts[fmt.Sprintf("n%d.internal", i)] = freePort(t)
	}
	var urls []string
	for i := 1; i <= 3; i++ {
		opts, err := server.ProcessConfigFile(filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i)))
		if err != nil {
			t.Fatal(err)
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
		opts.StoreDir = filepath.Join(t.TempDir(), filepath.Base(opts.StoreDir))
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routePorts[fmt.Sprintf("n%d.internal", i)]
		for _, r := range opts.Routes {
			port, ok := routePorts[r.Hostname()]
			if !ok {
				t.Fatalf("route to an unknown host %s", r.Hostname())
			}
			r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		}
		opts.NoLog, opts.NoSigs = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		// Ready means JetStream too, which in a cluster waits for the
		// routes and the meta group: on a loaded 2-core machine that
		// takes longer than a quiet one's second.
		if !s.ReadyForConnections(60 * time.Second) {
			t.Fatalf("node %d did not accept clients within 60s", i)
		}
		urls = append(urls, s.ClientURL())
	}

	connect := func(role, inbox string) jetstream.JetStream {
		t.Helper()
		kp := seeds[role]
		pub, _ := kp.PublicKey()
		opts := []nats.Option{nats.Nkey(pub, kp.Sign)}
		if inbox != "" {
			opts = append(opts, nats.CustomInboxPrefix(inbox))
		}
		nc, err := nats.Connect(strings.Join(urls, ","), opts...)
		if err != nil {
			t.Fatalf("connect as %s: %v", role, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	writer := connect("writer", "_INBOX_STAMP")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stream jetstream.Stream
	deadline := time.Now().Add(30 * time.Second)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		var err error
		// Purges allowed, as stamp creates STAMP since it has an
		// archive: only the identities' permissions stand between them
		// and a purge.
		stream, err = writer.CreateStream(attempt, jetstream.StreamConfig{
			Name: "STAMP", Subjects: []string{"stamp.>"}, Replicas: 3, DenyDelete: true,
		})
		cancelAttempt()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer could not create the stream with 3 replicas within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the cluster elects its JetStream leader
	}
	ack, err := writer.Publish(ctx, "stamp.client.c1.ClientRegistered", []byte(`{}`))
	if err != nil {
		t.Fatalf("the writer's append: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream info %+v, %v; want a leader and two replicas", info, err)
	}

	reader := connect("reader", "")
	got, err := reader.Stream(ctx, "STAMP")
	if err != nil {
		t.Fatalf("the reader's stream info: %v", err)
	}
	if msg, err := got.GetMsg(ctx, ack.Sequence); err != nil || msg.Subject != "stamp.client.c1.ClientRegistered" {
		t.Errorf("the reader's get of sequence %d: %v, %v; want the writer's event", ack.Sequence, msg, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := reader.Publish(short, "stamp.client.c1.ClientDeleted", []byte(`{}`)); err == nil {
		t.Error("the reader appended to the stream; want its publish refused")
	}
	if _, err := reader.CreateStream(short, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err == nil {
		t.Error("the reader created a stream; want it refused")
	}
	if err := writer.DeleteStream(short, "STAMP"); err == nil {
		t.Error("the writer deleted the stream; want it refused")
	}
	checkArchiver(ctx, t, writer, connect("archiver", "_INBOX_STAMP_ARCHIVER"))
}

// checkArchiver: the writer cannot purge STAMP; the archiver can, but
// cannot purge STAMP_ARCHIVE (created here without deny_purge, unlike
// stamp's, so that only the archiver's permissions refuse it), append an
// event or delete a stream.
func checkArchiver(ctx context.Context, t *testing.T, writer, archiver jetstream.JetStream) {
	t.Helper()
	archive, err := writer.CreateStream(ctx, jetstream.StreamConfig{
		Name: "STAMP_ARCHIVE", Sources: []*jetstream.StreamSource{{Name: "STAMP"}}, Replicas: 3, DenyDelete: true,
	})
	if err != nil {
		t.Fatalf("the writer's archive: %v", err)
	}
	refused := func(what string, do func(context.Context) error) {
		t.Helper()
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := do(short); err == nil {
			t.Errorf("%s: done; want it refused", what)
		}
	}
	stream := func(js jetstream.JetStream, name string) jetstream.Stream {
		t.Helper()
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream info of %s: %v", name, err)
		}
		return s
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := archive.Info(ctx)
		if err == nil && info.State.Msgs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive holds no event 30s later (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	refused("the writer's purge of STAMP", func(c context.Context) error { return stream(writer, "STAMP").Purge(c) })
	refused("the archiver's purge of STAMP_ARCHIVE", func(c context.Context) error { return stream(archiver, "STAMP_ARCHIVE").Purge(c) })
	refused("the archiver's append", func(c context.Context) error {
		_, err := archiver.Publish(c, "stamp.client.c1.ClientDeleted", []byte(`{}`))
		return err
	})
	refused("the archiver's deletion of STAMP", func(c context.Context) error { return archiver.DeleteStream(c, "STAMP") })
	refused("the archiver's deletion of STAMP_ARCHIVE", func(c context.Context) error { return archiver.DeleteStream(c, "STAMP_ARCHIVE") })

	hot := stream(archiver, "STAMP")
	if info, err := hot.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("STAMP before the archiver's purge: %+v, %v; want the writer's event still there", info, err)
	}
	if err := hot.Purge(ctx); err != nil {
		t.Fatalf("the archiver's purge of STAMP: %v", err)
	}
	if info, err := hot.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("STAMP after the archiver's purge: %+v, %v; want it empty", info, err)
	}
	if info, err := archive.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("STAMP_ARCHIVE after the purge of STAMP: %+v, %v; want the event kept", info, err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
