package integration

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/eventstore"
)

// emailInClear matches what looks like an email address.
var emailInClear = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)

// assertNoSecretInStream reads every message of the STAMP stream of n's
// embedded NATS server with a plain NATS client, as anyone allowed to read
// the stream would (the reader identity), and fails if any header or body
// contains one of secrets, or an email address in clear (users' emails
// travel sealed). It returns how many messages it read.
func assertNoSecretInStream(t *testing.T, n *app.Node, secrets ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := jetStreamAs(t, n.NATSURL(), n.NATSSeedFile(eventstore.RoleReader), eventstore.RoleReader)
	stream, err := js.Stream(ctx, "STAMP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for read < int(last) {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read message %d of %d: %v", read+1, last, err)
		}
		read++
		text := msg.Subject() + string(msg.Data())
		for k, v := range msg.Headers() {
			text += k + strings.Join(v, "")
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("message on %s contains a secret (%.8s…): %s", msg.Subject(), s, msg.Data())
			}
		}
		if m := emailInClear.FindString(text); m != "" {
			t.Errorf("message on %s contains an email address in clear (%q): %s", msg.Subject(), m, msg.Data())
		}
	}
	if read == 0 {
		t.Fatalf("the stream is empty; nothing was scanned")
	}
	return read
}

// tokenSecrets returns what of a JWT must not appear in the log: the whole
// token and its signature.
func tokenSecrets(jwt string) []string {
	parts := strings.Split(jwt, ".")
	out := []string{jwt}
	if len(parts) == 3 {
		out = append(out, parts[2])
	}
	return out
}

// jetStreamAs connects to the NATS server at url with the nkey seed in
// seedFile (a role's identity, with that role's inbox prefix) and returns
// its JetStream context; the connection closes when the test ends.
func jetStreamAs(t *testing.T, url, seedFile string, role eventstore.Role) jetstream.JetStream {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nk, nats.CustomInboxPrefix(role.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
