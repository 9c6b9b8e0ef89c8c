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
// replicas and appends, and the reader reads but cannot write.
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
		stream, err = writer.CreateStream(attempt, jetstream.StreamConfig{
			Name: "STAMP", Subjects: []string{"stamp.>"}, Replicas: 3, DenyDelete: true, DenyPurge: true,
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
