package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// forgedClient is a ClientRegistered nobody asked stamp for: a client
// with a known secret hash and every grant, as an attacker would publish.
func forgedClient(t *testing.T) *nats.Msg {
	t.Helper()
	e, err := domain.NewEnvelope("forged-client", domain.ClientRegistered{
		ClientID: "forged", Name: "forged", SecretHash: strings.Repeat("0", 64),
		Grants: []string{domain.GrantClientCredentials},
	}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(domain.SubjectRoot + "." + domain.KindClient + ".forged." + e.Type)
	if m.Data, err = json.Marshal(e); err != nil {
		t.Fatal(err)
	}
	return m
}

// credentialsFile runs `stamp nats credentials --role role` and saves what
// it prints to a file of the test's own, as an operator would.
func (e *env) credentialsFile(role eventstore.Role) string {
	e.t.Helper()
	code, out, errOut := e.run("nats", "credentials", "--role", string(role))
	if code != 0 {
		e.t.Fatalf("nats credentials --role %s: exit %d: %s", role, code, errOut)
	}
	file := filepath.Join(e.t.TempDir(), string(role)+".nk")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return file
}

// Finding 1: anyone reaching the NATS port could publish events. Now an
// anonymous client cannot connect, and the reader identity cannot publish.
func TestNATSRefusesForgedEvents(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(n.NATSURL())
	if err == nil {
		// What the finding did: publish a forged client into the log.
		js, _ := jetstream.New(nc)
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		_, perr := js.PublishMsg(pctx, forgedClient(t))
		pcancel()
		nc.Close()
		t.Fatalf("an anonymous client connected (publish: %v); want an authorization violation", perr)
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous connect: %v; want nats.ErrAuthorization", err)
	}

	// The reader may read, not write.
	var mu sync.Mutex
	var violations []string
	nk, err := nats.NkeyOptionFromSeed(e.credentialsFile(eventstore.RoleReader))
	if err != nil {
		t.Fatal(err)
	}
	nc, err = nats.Connect(n.NATSURL(), nk, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	_, err = js.PublishMsg(pctx, forgedClient(t))
	pcancel()
	if err == nil {
		t.Fatal("the reader published a forged ClientRegistered; want refusal")
	}
	want := `Permissions Violation for Publish to "` + forgedClient(t).Subject + `"`
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(violations, "\n")
		mu.Unlock()
		if strings.Contains(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s reported within 10s; got %q", want, got)
		}
		time.Sleep(time.Millisecond)
	}
	after, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the stream went from %d to %d events; want no change", before, after)
	}
	if _, err := n.Views().Client(ctx, "forged"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("forged client: %v; want ErrNotFound", err)
	}
}

// What `stamp nats credentials` prints lets a plain nats.go client read
// the whole stream, and its --context points the nats CLI at the server.
func TestNATSCredentialsLetAPlainClientRead(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	e.createClient(n, "reader-test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last, err := n.Store().LastSeq(ctx)
	if err != nil || last < 2 {
		t.Fatalf("LastSeq = %d, %v; want the key and the client at least", last, err)
	}

	js := jetStreamAs(t, n.NATSURL(), e.credentialsFile(eventstore.RoleReader), eventstore.RoleReader)
	cons, err := js.OrderedConsumer(ctx, domain.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for seq := uint64(0); seq < last; {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("after %d of %d events: %v", seq, last, err)
		}
		meta, _ := m.Metadata()
		seq = meta.Sequence.Stream
		var env domain.Envelope
		if err := json.Unmarshal(m.Data(), &env); err != nil || env.Type == "" {
			t.Fatalf("event %d is no envelope: %s", seq, m.Data())
		}
		types = append(types, env.Type)
	}
	if !strings.Contains(strings.Join(types, " "), "ClientRegistered") {
		t.Errorf("read %v; want the client's registration among them", types)
	}

	code, out, errOut := e.run("nats", "credentials", "--role", "reader", "--context")
	if code != 0 {
		t.Fatalf("--context: exit %d: %s", code, errOut)
	}
	var nctx struct {
		URL, Nkey   string
		InboxPrefix string `json:"inbox_prefix"`
	}
	if err := json.Unmarshal([]byte(out), &nctx); err != nil {
		t.Fatalf("--context printed %q: %v", out, err)
	}
	if nctx.URL != n.NATSURL() || nctx.Nkey != n.NATSSeedFile(eventstore.RoleReader) || nctx.InboxPrefix != "_INBOX" {
		t.Errorf("context %+v; want url %s, nkey %s, inbox _INBOX", nctx, n.NATSURL(), n.NATSSeedFile(eventstore.RoleReader))
	}

	code, _, errOut = e.run("nats", "credentials", "--role", "admin")
	if code != 2 || !strings.Contains(errOut, `"admin"`) {
		t.Errorf("--role admin: exit %d, %q; want 2 and a message naming the role", code, errOut)
	}
}
