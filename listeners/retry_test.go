package listeners

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// fakeParked is the parked events of each listener, in memory (the real
// one is the eventstore's parked stream, driven by integration's
// TestListenerRetry).
type fakeParked struct {
	parked   map[string][]domain.Recorded
	cleared  []uint64
	failRead error
}

func (p *fakeParked) ParkedRecords(_ context.Context, listener string) ([]domain.Recorded, error) {
	if p.failRead != nil {
		return nil, p.failRead
	}
	return slices.Clone(p.parked[listener]), nil
}

func (p *fakeParked) ClearParked(_ context.Context, listener string, seq uint64) error {
	p.parked[listener] = slices.DeleteFunc(p.parked[listener], func(r domain.Recorded) bool { return r.Seq == seq })
	p.cleared = append(p.cleared, seq)
	return nil
}

// TestRetrierRedrivesParkedEvents: a request hands the parked events it
// names to their listener; those it takes are cleared, one it refuses
// again and one refused by the log (a bad signature) stay parked; a
// request for another listener or a listener not run here changes
// nothing; a redelivered request finds nothing more to do.
func TestRetrierRedrivesParkedEvents(t *testing.T) {
	ctx := context.Background()
	hook := &funcListener{name: "webhook-a", handle: func(_ context.Context, rec domain.Recorded, _ int) error {
		if rec.Seq == 12 {
			return errors.New("still 500")
		}
		return nil
	}}
	forged := revoked(t, 13)
	forged.Refused, forged.Envelope = "unsigned", domain.Envelope{}
	p := &fakeParked{parked: map[string][]domain.Recorded{
		"webhook-a": {revoked(t, 10), revoked(t, 11), revoked(t, 12), forged},
		"webhook-b": {revoked(t, 20)},
	}}
	r := NewRetrier(p, slog.New(slog.DiscardHandler), hook)
	if r.Name() != RetrierName || r.Filter() != "stamp.listener.*.ListenerRetryRequested" {
		t.Errorf("name %q, filter %q", r.Name(), r.Filter())
	}
	handle := func(req domain.ListenerRetryRequested) {
		t.Helper()
		if err := r.Handle(ctx, record(t, 100, "req", req), req); err != nil {
			t.Fatal(err)
		}
	}

	handle(domain.ListenerRetryRequested{Listener: "webhook-a", Seq: 11})
	if got := hook.handled(); !slices.Equal(got, []uint64{11}) || !slices.Equal(p.cleared, []uint64{11}) {
		t.Errorf("one event: handled %v, cleared %v; want 11 and 11", got, p.cleared)
	}
	handle(domain.ListenerRetryRequested{Listener: "webhook-a", All: true})
	if got := hook.handled(); !slices.Equal(got, []uint64{11, 10, 12}) || !slices.Equal(p.cleared, []uint64{11, 10}) {
		t.Errorf("all: handled %v, cleared %v; want 10 and 12 handled (the forged 13 never), 10 cleared", got, p.cleared)
	}
	if left := p.parked["webhook-a"]; len(left) != 2 || left[0].Seq != 12 || left[1].Seq != 13 {
		t.Errorf("still parked %v; want 12 (refused again) and 13 (refused by the log)", left)
	}
	handle(domain.ListenerRetryRequested{Listener: "webhook-b", All: true}) // not run here
	handle(domain.ListenerRetryRequested{Listener: "webhook-a", Seq: 11})   // redelivered: nothing left
	if got := hook.handled(); len(got) != 3 || len(p.parked["webhook-b"]) != 1 || len(p.cleared) != 2 {
		t.Errorf("handled %v, webhook-b parked %v, cleared %v; want nothing more", got, p.parked["webhook-b"], p.cleared)
	}

	// Reading the parked events fails: the Runner retries the request.
	p.failRead = errors.New("nats down")
	if err := r.Handle(ctx, record(t, 101, "req2", domain.ListenerRetryRequested{Listener: "webhook-a", All: true}),
		domain.ListenerRetryRequested{Listener: "webhook-a", All: true}); err == nil {
		t.Error("a failed read of the parked events: no error")
	}
}
