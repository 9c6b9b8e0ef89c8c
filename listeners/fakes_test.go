package listeners

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The domain.Service is what cmd/stamp hands the listeners as revoker.
var (
	_ TokenRevoker  = (*domain.Service)(nil)
	_ FamilyRevoker = (*domain.Service)(nil)
	_ Waiter        = domain.Waiter(nil)
)

// t0 is the time of the test events.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// record returns e as the log would store it at seq, with envelope id id.
func record(t *testing.T, seq uint64, id string, e domain.Event) domain.Recorded {
	t.Helper()
	env, err := domain.NewEnvelope(id, e, t0, domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	return domain.Recorded{Seq: seq, Subject: e.AggregateOf().Subject(e.EventType()), Envelope: env}
}

// settled is what happened to one delivery.
type settled struct {
	Durable string
	Seq     uint64
	Attempt int
	Op      string // "ack", "retry", "park" or "none"
	Delay   time.Duration
	Reason  string
}

// fakeSource delivers recs to every durable in order, redelivering a
// retried message at once (recording the delay instead of waiting) with
// the attempt counted up, at most maxDeliveries times per message.
type fakeSource struct {
	recs          []domain.Recorded
	maxDeliveries int
	block         bool             // after delivering, wait for ctx to end
	fail          map[string]error // durable -> error Deliver returns at once

	mu      sync.Mutex
	got     []settled
	filters map[string]string
}

func (s *fakeSource) Deliver(ctx context.Context, durable, filter string, fn func(context.Context, Delivery)) error {
	s.mu.Lock()
	if s.filters == nil {
		s.filters = map[string]string{}
	}
	s.filters[durable] = filter
	s.mu.Unlock()
	if err := s.fail[durable]; err != nil {
		return err
	}
	limit := s.maxDeliveries
	if limit == 0 {
		limit = 10
	}
	for _, rec := range s.recs {
		for attempt := 1; attempt <= limit; attempt++ {
			d := &fakeDelivery{rec: rec, attempt: attempt, op: "none"}
			fn(ctx, d)
			s.mu.Lock()
			s.got = append(s.got, settled{durable, rec.Seq, attempt, d.op, d.delay, d.reason})
			s.mu.Unlock()
			if d.op != "retry" {
				break
			}
		}
	}
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (s *fakeSource) settled() []settled {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]settled(nil), s.got...)
}

// fakeDelivery records how the runner settled it.
type fakeDelivery struct {
	rec     domain.Recorded
	attempt int
	op      string
	delay   time.Duration
	reason  string
}

func (d *fakeDelivery) Record() domain.Recorded { return d.rec }
func (d *fakeDelivery) Attempt() int            { return d.attempt }
func (d *fakeDelivery) Ack() error              { return d.settle("ack") }
func (d *fakeDelivery) Retry(delay time.Duration) error {
	d.delay = delay
	return d.settle("retry")
}
func (d *fakeDelivery) Park(reason string) error {
	d.reason = reason
	return d.settle("park")
}

func (d *fakeDelivery) settle(op string) error {
	if d.op != "none" {
		return fmt.Errorf("delivery already settled by %s", d.op)
	}
	d.op = op
	return nil
}

// fakeWaiter records the sequences waited for.
type fakeWaiter struct {
	mu   sync.Mutex
	seqs []uint64
}

func (w *fakeWaiter) WaitFor(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seqs = append(w.seqs, seq)
	return ctx.Err()
}

// revocation is one call of a fake revoker.
type revocation struct {
	Actor  domain.Actor
	ID     string
	Reason string
	Cause  string
}

// fakeLog stands for the event log behind the domain.Service: it stores
// each derived event id once, as JetStream's message-id dedupe does.
type fakeLog struct {
	ids   map[string]bool
	order []string
}

func (l *fakeLog) append(id string) {
	if l.ids == nil {
		l.ids = map[string]bool{}
	}
	if !l.ids[id] {
		l.ids[id] = true
		l.order = append(l.order, id)
	}
}
