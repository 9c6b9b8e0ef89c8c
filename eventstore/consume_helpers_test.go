package eventstore

import (
	"context"
	"testing"
	"time"
)

// delivered is what a test handler saw of one delivery.
type delivered struct {
	id      string
	seq     uint64
	attempt int
}

// runDeliver runs st.deliver in the background until the returned stop is
// called or the test ends. stop cancels it and returns what it returned.
func runDeliver(t *testing.T, st *Store, durable, filter string, o deliverOptions, fn func(context.Context, Delivery)) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- st.deliver(ctx, durable, filter, o, fn) }()
	var err error
	stopped := false
	stop = func() error {
		t.Helper()
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("deliver %s did not return within 10s of cancel", durable)
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// recorder returns a handler that reports each delivery on the channel it
// returns, after settling it with settle.
func recorder(t *testing.T, settle func(Delivery) error) (func(context.Context, Delivery), <-chan delivered) {
	ch := make(chan delivered, 64)
	return func(_ context.Context, d Delivery) {
		r := d.Record()
		if err := settle(d); err != nil {
			t.Errorf("settle %s (attempt %d): %v", r.Envelope.ID, d.Attempt(), err)
		}
		ch <- delivered{id: r.Envelope.ID, seq: r.Seq, attempt: d.Attempt()}
	}, ch
}

func ack(d Delivery) error { return d.Ack() }

// nextDelivery waits up to 10s for the next delivery.
func nextDelivery(t *testing.T, ch <-chan delivered) delivered {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	return delivered{}
}

// expectDeliveries checks that the next deliveries are want, in order.
func expectDeliveries(t *testing.T, ch <-chan delivered, want ...delivered) {
	t.Helper()
	for i, w := range want {
		got := nextDelivery(t, ch)
		if w.seq == 0 {
			got.seq = 0 // not checked
		}
		if got != w {
			t.Fatalf("delivery %d = %+v; want %+v", i, got, w)
		}
	}
}

// waitConsumer polls until the durable consumer exists, for up to 10s.
func waitConsumer(t *testing.T, st *Store, durable string) ConsumerState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		states, err := st.Consumers(testContext(t))
		if err != nil {
			t.Fatalf("Consumers: %v", err)
		}
		for _, c := range states {
			if c.Name == durable {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not created within 10s", durable)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// consumerState polls Consumers until cond holds of durable's state, for up
// to 10s, and returns that state.
func consumerState(t *testing.T, st *Store, durable string, cond func(ConsumerState) bool) ConsumerState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := waitConsumer(t, st, durable)
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: state %+v never met the condition within 10s", durable, c)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}
