package replymux

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// connect starts a real nats-server on a random port and returns a
// connection to it, both closed when the test ends.
func connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	tb.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready within 10s")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// respond answers every request on subject with n messages carrying the
// request's body and their index ("body/i"), as a direct get answers a
// batch with several messages.
func respond(tb testing.TB, nc *nats.Conn, subject string, n int) {
	tb.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		for i := range n {
			if err := nc.Publish(m.Reply, fmt.Appendf(nil, "%s/%d", m.Data, i)); err != nil {
				tb.Errorf("publish answer: %v", err)
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// Many inboxes, each with pipelined requests each answered several times:
// every inbox receives exactly the answers to its own requests, on the
// reply subject Request returned, in the order each request's answers
// were sent.
func TestInboxesReceiveOnlyTheirOwnAnswers(t *testing.T) {
	nc := connect(t)
	const answers = 5
	respond(t, nc, "svc", answers)
	mux, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	const inboxes, requests = 16, 8
	var wg sync.WaitGroup
	for i := range inboxes {
		wg.Go(func() {
			in := mux.Open()
			defer in.Close()
			replies := map[string]string{} // reply subject -> body
			for r := range requests {
				body := fmt.Sprintf("inbox%d-req%d", i, r)
				reply, err := in.Request("svc", []byte(body))
				if err != nil {
					t.Errorf("Request: %v", err)
					return
				}
				if _, dup := replies[reply]; dup {
					t.Errorf("reply subject %s returned twice", reply)
				}
				replies[reply] = body
			}
			next := map[string]int{} // reply subject -> next answer index
			for range requests * answers {
				m, err := in.Recv(ctx)
				if err != nil {
					t.Errorf("inbox %d: Recv: %v", i, err)
					return
				}
				body, ok := replies[m.Subject]
				if !ok {
					t.Errorf("inbox %d got an answer on %s, not one of its reply subjects", i, m.Subject)
					continue
				}
				if want := body + "/" + strconv.Itoa(next[m.Subject]); string(m.Data) != want {
					t.Errorf("inbox %d on %s: got %q; want %q", i, m.Subject, m.Data, want)
				}
				next[m.Subject]++
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if m, err := in.Recv(short); err == nil {
				t.Errorf("inbox %d: an answer more than sent: %s %q", i, m.Subject, m.Data)
			}
		})
	}
	wg.Wait()
}

// An inbox whose reader is slow loses nothing: far more answers than its
// buffer holds all arrive, in order, once it reads.
func TestSlowInboxLosesNothing(t *testing.T) {
	nc := connect(t)
	const answers = 20 * inboxBuffer
	respond(t, nc, "svc", answers)
	mux, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := mux.Open()
	defer in.Close()
	if _, err := in.Request("svc", []byte("r")); err != nil {
		t.Fatal(err)
	}
	// Wait until the buffer is full before reading anything.
	deadline := time.Now().Add(10 * time.Second)
	for len(in.msgs) < inboxBuffer {
		if time.Now().After(deadline) {
			t.Fatalf("buffer holds %d answers; want %d within 10s", len(in.msgs), inboxBuffer)
		}
		time.Sleep(time.Millisecond)
	}
	ctx := testContext(t)
	for i := range answers {
		m, err := in.Recv(ctx)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if want := fmt.Sprintf("r/%d", i); string(m.Data) != want {
			t.Fatalf("answer %d = %q; want %q", i, m.Data, want)
		}
	}
}

// A closed inbox's answers are discarded and do not hold up the others,
// even when it was closed with a full buffer.
func TestClosedInboxDoesNotBlockOthers(t *testing.T) {
	nc := connect(t)
	respond(t, nc, "flood", 4*inboxBuffer)
	respond(t, nc, "svc", 1)
	mux, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	closed := mux.Open()
	if _, err := closed.Request("flood", []byte("f")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(closed.msgs) < inboxBuffer {
		if time.Now().After(deadline) {
			t.Fatalf("buffer holds %d answers; want %d within 10s", len(closed.msgs), inboxBuffer)
		}
		time.Sleep(time.Millisecond)
	}
	closed.Close()

	in := mux.Open()
	defer in.Close()
	reply, err := in.Request("svc", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := in.Recv(testContext(t))
	if err != nil {
		t.Fatalf("Recv after another inbox closed full: %v", err)
	}
	if m.Subject != reply || string(m.Data) != "s/0" {
		t.Errorf("got %s %q; want %s \"s/0\"", m.Subject, m.Data, reply)
	}
}

// Recv returns the context's error when it ends before an answer.
func TestRecvEndsWithContext(t *testing.T) {
	nc := connect(t)
	mux, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := mux.Open()
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := in.Recv(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Recv on an ended context = %v, %v; want context.Canceled", m, err)
	}
}

// Requests on a closed connection fail, naming the subject.
func TestRequestOnClosedConnection(t *testing.T) {
	nc := connect(t)
	mux, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := mux.Open()
	defer in.Close()
	nc.Close()
	if _, err := in.Request("svc", nil); err == nil {
		t.Error("Request on a closed connection: no error")
	}
}
