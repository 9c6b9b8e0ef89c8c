package replayctl

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// errNoResponder stands for eventstore.ErrNoResponder.
var errNoResponder = errors.New("no responders")

// bus is NATS core messaging in memory, for both ends of the protocol:
// requests reach the one server of a subject, publications every
// subscriber, in order, each subscriber on its own goroutine.
type bus struct {
	mu      sync.Mutex
	servers map[string]func([]byte) []byte
	subs    map[string][]chan []byte
}

func newBus() *bus {
	return &bus{servers: map[string]func([]byte) []byte{}, subs: map[string][]chan []byte{}}
}

func (b *bus) Serve(subject string, fn func([]byte) []byte) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.servers[subject] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.servers, subject)
	}, nil
}

func (b *bus) Publish(subject string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs[subject] {
		ch <- bytes.Clone(msg)
	}
	return nil
}

func (b *bus) Subscribe(subject string, fn func([]byte)) (func(), error) {
	ch := make(chan []byte, 1024)
	b.mu.Lock()
	b.subs[subject] = append(b.subs[subject], ch)
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range ch {
			fn(msg)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			for i, c := range b.subs[subject] {
				if c == ch {
					b.subs[subject] = append(b.subs[subject][:i:i], b.subs[subject][i+1:]...)
				}
			}
			b.mu.Unlock()
			close(ch)
			<-done
		})
	}, nil
}

func (b *bus) Request(_ context.Context, subject string, req []byte) ([]byte, error) {
	b.mu.Lock()
	fn := b.servers[subject]
	b.mu.Unlock()
	if fn == nil {
		return nil, errNoResponder
	}
	return fn(req), nil
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestFollowAReplay(t *testing.T) {
	b := newBus()
	want := Result{Events: 100, Seconds: 0.5, Seq: 101, Checksum: "abc", LiveChecksum: "abd", Note: "n"}
	srv, err := Serve(b, "i1", func(ctx context.Context, _ Request, r Reporter) (Result, error) {
		for done := uint64(0); done <= 100; done += 10 {
			r.Progress(done, 100)
		}
		r.Swapping()
		return want, nil
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out bytes.Buffer
	got, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&out, time.Now))
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if got != want {
		t.Errorf("Follow = %+v; want %+v", got, want)
	}
	if !got.Drifted() {
		t.Errorf("%+v: Drifted() = false; want true", got)
	}
	for _, s := range []string{"replay: 100/100 events (100%)", "replay: the server is catching its live read models up"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("progress lacks %q:\n%s", s, out.String())
		}
	}
}

func TestFollowAFailedReplay(t *testing.T) {
	b := newBus()
	srv, err := Serve(b, "i1", func(ctx context.Context, _ Request, r Reporter) (Result, error) {
		return Result{Events: 7}, errors.New("the log is damaged")
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now))
	if err == nil || !strings.Contains(err.Error(), "the server's replay failed: the log is damaged") {
		t.Errorf("Follow error %v; want the server's failure", err)
	}
	if got.Events != 7 || got.Error != "the log is damaged" {
		t.Errorf("Follow = %+v; want the partial result with its error", got)
	}
}

func TestOneReplayAtATime(t *testing.T) {
	b := newBus()
	started, release := make(chan struct{}), make(chan struct{})
	srv, err := Serve(b, "i1", func(ctx context.Context, _ Request, r Reporter) (Result, error) {
		close(started)
		select {
		case <-release:
			return Result{Checksum: "abc"}, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now))
		first <- err
	}()
	<-started
	if _, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now)); err == nil || !strings.Contains(err.Error(), "a replay is already running") {
		t.Errorf("second Follow error %v; want a refusal", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first Follow: %v", err)
	}
	srv.Close()
	if _, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now)); !errors.Is(err, errNoResponder) {
		t.Errorf("Follow after Close: %v; want the requester's no-responder error", err)
	}
	var nilServer *Server
	nilServer.Close() // safe on nil
}

func TestCloseCancelsAReplay(t *testing.T) {
	b := newBus()
	started, ended := make(chan struct{}), make(chan error, 1)
	srv, err := Serve(b, "i1", func(ctx context.Context, _ Request, r Reporter) (Result, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return Result{}, ctx.Err()
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() {
		_, err := Follow(ctx, b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now))
		followed <- err
	}()
	<-started
	srv.Close() // returns once the replay has ended
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the replay ended with %v; want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the replay ended")
	}
	if err := <-followed; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Follow error %v; want the cancelled replay's failure", err)
	}
	cancel()
}

func TestRequestReachesTheReplay(t *testing.T) {
	b := newBus()
	got := make(chan Request, 1)
	srv, err := Serve(b, "i1", func(ctx context.Context, req Request, r Reporter) (Result, error) {
		got <- req
		return Result{Checksum: "abc", FromSnapshot: 42}, nil
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := Follow(context.Background(), b, "i1", Request{FromScratch: true}, NewMeter(&bytes.Buffer{}, time.Now))
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if req := <-got; !req.FromScratch {
		t.Errorf("the replay got %+v; want FromScratch", req)
	}
	if res.FromSnapshot != 42 {
		t.Errorf("Follow = %+v; want FromSnapshot 42", res)
	}
	// A request that is not JSON starts nothing.
	resp, err := b.Request(context.Background(), Subject("i1"), []byte("{from"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp), "malformed replay request") || strings.Contains(string(resp), `"started":true`) {
		t.Errorf("a malformed request was answered %s; want a refusal", resp)
	}
	// An older CLI's "{}" asks for the default replay.
	if _, err := Follow(context.Background(), b, "i1", Request{}, NewMeter(&bytes.Buffer{}, time.Now)); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if req := <-got; req.FromScratch {
		t.Errorf("the replay got %+v; want the default", req)
	}
}
