package domain

import (
	"context"
	"testing"
)

// TestRequestListenerRetry: a request names one listener and exactly one
// of a parked event and all of them; anything else appends nothing.
func TestRequestListenerRetry(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []struct {
		listener string
		seq      uint64
		all      bool
		field    string
	}{
		{"webhook.billing", 3, false, "listener"},
		{"", 0, true, "listener"},
		{"webhook-billing", 0, false, "event"},
		{"webhook-billing", 3, true, "event"},
	} {
		// No log: a valid request would fail on the nil port, not here.
		svc := &Service{}
		_, err := svc.RequestListenerRetry(ctx, Actor{Kind: ActorCLI}, bad.listener, bad.seq, bad.all)
		if v, ok := AsValidation(err); !ok || v.Field != bad.field {
			t.Errorf("%q seq %d all %v: %v; want a validation error on %s", bad.listener, bad.seq, bad.all, err, bad.field)
		}
	}
	e := ListenerRetryRequested{Listener: "webhook-billing", Seq: 7}
	if a := e.AggregateOf(); a != (Aggregate{KindListener, "webhook-billing"}) || !e.Wants(7) || e.Wants(8) {
		t.Errorf("aggregate %+v, wants 7 %v, 8 %v", a, e.Wants(7), e.Wants(8))
	}
	if all := (ListenerRetryRequested{Listener: "x", All: true}); !all.Wants(1) || !all.Wants(99) {
		t.Error("an --all request does not want every sequence")
	}
}
