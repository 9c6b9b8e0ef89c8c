package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// stream is a hand-written in-memory stream with JetStream's guarantees
// that the Committer relies on: a batch is stored whole and contiguous or
// not at all, and an id is stored at most once. It records what reached it.
type stream struct {
	mu       sync.Mutex
	log      []string // message ids; sequence = index + 1
	ids      map[string]bool
	batches  int // batches stored
	refused  int // batches refused
	alone    int // appends published alone
	barriers int
}

var errDuplicate = errors.New("stream: id already stored")

func newStream() *stream { return &stream{ids: map[string]bool{}} }

// store stores msgs all or none and returns the sequence of the last. It
// refuses (ErrRefused) msgs holding an id stored or twice.
func (s *stream) store(msgs []*nats.Msg) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, m := range msgs {
		if s.ids[m.Subject] || seen[m.Subject] {
			return 0, fmt.Errorf("%w: %w: %s", ErrRefused, errDuplicate, m.Subject)
		}
		seen[m.Subject] = true
	}
	for _, m := range msgs {
		s.ids[m.Subject] = true
		s.log = append(s.log, m.Subject)
	}
	return uint64(len(s.log)), nil
}

func (s *stream) PublishBatch(ctx context.Context, what string, msgs []*nats.Msg) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.store(msgs)
	s.mu.Lock()
	if err != nil {
		s.refused++
	} else {
		s.batches++
	}
	s.mu.Unlock()
	return seq, err
}

func (s *stream) Barrier(ctx context.Context) error {
	s.mu.Lock()
	s.barriers++
	s.mu.Unlock()
	return ctx.Err()
}

func (s *stream) snapshot() (log []string, batches, refused, alone, barriers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...), s.batches, s.refused, s.alone, s.barriers
}

// appendOf is an Append of messages whose ids are their subjects.
type appendOf struct {
	s     *stream
	msgs  []*nats.Msg
	guard string
}

func newAppend(s *stream, ids ...string) *appendOf {
	a := &appendOf{s: s}
	for _, id := range ids {
		a.msgs = append(a.msgs, nats.NewMsg(id))
	}
	return a
}

func (a *appendOf) Msgs() []*nats.Msg { return a.msgs }

func (a *appendOf) Guard() string { return a.guard }

func (a *appendOf) PublishAlone(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a.s.mu.Lock()
	a.s.alone++
	a.s.mu.Unlock()
	return a.s.store(a.msgs)
}

func (a *appendOf) ids() []string {
	ids := make([]string, len(a.msgs))
	for i, m := range a.msgs {
		ids[i] = m.Subject
	}
	return ids
}

func newCommitter(tb testing.TB, s *stream) *Committer {
	tb.Helper()
	c, err := New(s, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		select {
		case <-c.quit:
		default:
			c.Close()
		}
		c.Wait()
	})
	return c
}

type outcome struct {
	seq uint64
	err error
}

// appendAsync runs c.Append in a goroutine.
func appendAsync(ctx context.Context, c *Committer, a Append) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		seq, err := c.Append(ctx, a)
		ch <- outcome{seq, err}
	}()
	return ch
}

func result(tb testing.TB, ch <-chan outcome) outcome {
	tb.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("Append did not return within 10s")
		return outcome{}
	}
}

// eventually polls cond until it holds, for at most ten seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// queue holds c and queues appends in order, each once the one before is
// queued, and returns their outcomes; the caller calls c.Release.
func queue(tb testing.TB, ctx context.Context, c *Committer, appends ...Append) []<-chan outcome {
	tb.Helper()
	eventually(tb, "committer idle", c.Hold)
	var chs []<-chan outcome
	for i, a := range appends {
		chs = append(chs, appendAsync(ctx, c, a))
		eventually(tb, fmt.Sprintf("%d appends queued", i+1), func() bool { return c.Queued() >= i+1 })
	}
	return chs
}

// checkStored checks that the append of ids that returned seq sits at
// seq-len(ids)+1 .. seq of log, in order.
func checkStored(tb testing.TB, log []string, ids []string, seq uint64) {
	tb.Helper()
	if seq < uint64(len(ids)) || seq > uint64(len(log)) {
		tb.Errorf("append %v returned %d; the log holds %d", ids, seq, len(log))
		return
	}
	for k, id := range ids {
		at := seq - uint64(len(ids)-1-k)
		if got := log[at-1]; got != id {
			tb.Errorf("append %v returned %d: sequence %d holds %q; want %q", ids, seq, at, got, id)
			return
		}
	}
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
