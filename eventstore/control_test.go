package eventstore

import (
	"errors"
	"testing"
	"time"
)

// TestControlRequestReply: a request reaches a Serve on another connection
// and gets its answer; published messages reach a subscriber; nothing of it
// enters the stream; a subject nobody serves is ErrNoResponder; subjects
// under stamp.> are refused.
func TestControlRequestReply(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	server, client := openStore(t, srv), openStore(t, srv)

	got := make(chan string, 4)
	stopSub, err := client.Subscribe("stampctl.n1.job.progress", func(m []byte) { got <- string(m) })
	if err != nil {
		t.Fatal(err)
	}
	defer stopSub()
	stop, err := server.Serve("stampctl.n1.job", func(req []byte) []byte {
		if err := server.Publish("stampctl.n1.job.progress", append([]byte("working on "), req...)); err != nil {
			t.Error(err)
		}
		return append([]byte("ok "), req...)
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Request(ctx, "stampctl.n1.job", []byte("x"))
	if err != nil || string(resp) != "ok x" {
		t.Fatalf("Request = %q, %v; want \"ok x\", nil", resp, err)
	}
	select {
	case m := <-got:
		if m != "working on x" {
			t.Errorf("progress %q; want %q", m, "working on x")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress message within 10s")
	}
	if last, err := server.LastSeq(ctx); err != nil || last != 0 {
		t.Errorf("LastSeq after control messages = %d, %v; want 0 (nothing stored)", last, err)
	}

	stop()
	stop()
	if _, err := client.Request(ctx, "stampctl.n1.job", nil); !errors.Is(err, ErrNoResponder) {
		t.Errorf("Request after stop = %v; want ErrNoResponder", err)
	}
	for _, subject := range []string{"stamp.token.t1.Ctl", "stamp", ">", "*.x", "", "a b"} {
		if _, err := server.Serve(subject, func([]byte) []byte { return nil }); err == nil {
			t.Errorf("Serve(%q) succeeded; want an error", subject)
		}
		if _, err := client.Request(ctx, subject, nil); err == nil || errors.Is(err, ErrNoResponder) {
			t.Errorf("Request(%q) = %v; want a subject error", subject, err)
		}
		if err := client.Publish(subject, nil); err == nil {
			t.Errorf("Publish(%q) succeeded; want an error", subject)
		}
	}
}
