package groupcommit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// part returns n queued appends of events messages each.
func part(n, events int) []*queuedAppend {
	out := make([]*queuedAppend, n)
	for i := range out {
		out[i] = &queuedAppend{msgs: make([]*nats.Msg, events)}
	}
	return out
}

// plan follows the cost model: measure the solo cost first, then batch
// when n appends alone cost more than a batch, probing the other way now
// and then when it is old and not far off.
func TestPlanFollowsCosts(t *testing.T) {
	ms := time.Millisecond
	old := 2 * probeInterval // a figure older than probeInterval
	tests := []struct {
		name          string
		n, events     int
		solo          time.Duration // per append; 0: not measured
		batch         time.Duration // 0: not measured
		soloAge       time.Duration // how long ago each was measured
		batchAge      time.Duration
		combineAlways bool
		want          int // appends on their own; the rest one batch
	}{
		{"one append goes alone", 1, 1, ms, 4 * ms, 0, 0, false, 1},
		{"an append of several events makes it a batch", 8, 2, 0, 0, 0, 0, false, 0},
		{"combine always", 8, 1, 10 * ms, ms, 0, 0, true, 0},
		{"solo cost unmeasured: measure it", 8, 1, 0, 0, 0, 0, false, 8},
		{"batch cost unmeasured: measure it", 8, 1, ms, 0, 0, 0, false, 0},
		{"batch cheaper (8 x 1ms > 4ms)", 8, 1, ms, 4 * ms, 0, 0, false, 0},
		{"alone cheaper (2 x 1ms < 4ms)", 2, 1, ms, 4 * ms, 0, 0, false, 2},
		{"batch cheaper, solo figure old and not far off: probe alone", 16, 1, ms, 4 * ms, old, 0, false, probeSize},
		{"batch cheaper, solo figure old but far off: batch", 100, 1, ms, 4 * ms, old, 0, false, 0},
		{"alone cheaper, batch figure old and not far off: probe a batch", 2, 1, ms, 4 * ms, 0, old, false, 0},
		{"alone cheaper, batch figure old but far off: alone", 2, 1, ms, 40 * ms, 0, old, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Committer{combineAlways: tt.combineAlways}
			now := time.Now()
			if tt.solo > 0 {
				c.soloTime, c.soloCount = float64(tt.solo)*16, 16
			}
			c.batchCost = tt.batch
			c.lastSolo, c.lastBatch = now.Add(-tt.soloAge), now.Add(-tt.batchAge)
			if got := c.plan(part(tt.n, tt.events)); got != tt.want {
				t.Errorf("plan(%d appends of %d events) = %d alone; want %d", tt.n, tt.events, got, tt.want)
			}
		})
	}
}

// lowDemand lets direct appends go out side by side while the appends in
// the committer cost less alone than a batch, probing a batch now and
// then when its figure is old and not far off.
func TestLowDemand(t *testing.T) {
	ms := time.Millisecond
	old := 2 * probeInterval
	tests := []struct {
		name     string
		active   int
		solo     time.Duration
		batch    time.Duration
		batchAge time.Duration
		want     bool
	}{
		{"unmeasured", 2, 0, 0, 0, false},
		{"few appends, batch dear", 2, ms, 4 * ms, 0, true},
		{"many appends: batch pays", 8, ms, 4 * ms, 0, false},
		{"batch figure old, not far off: queue to probe", 2, ms, 4 * ms, old, false},
		{"batch figure old, far off: still direct", 2, ms, 40 * ms, old, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			c := &Committer{active: tt.active, batchCost: tt.batch, lastBatch: now.Add(-tt.batchAge), lastProbe: now.Add(-tt.batchAge)}
			if tt.solo > 0 {
				c.soloTime, c.soloCount = float64(tt.solo)*16, 16
			}
			if got := c.lowDemand(); got != tt.want {
				t.Errorf("lowDemand() = %v; want %v", got, tt.want)
			}
		})
	}
}

// The measured costs: the batch cost a moving average giving the newest
// sample a quarter; the solo cost decaying sums, so that samples of many
// appends weigh more.
func TestMeasuredCosts(t *testing.T) {
	if got := average(0, 8*time.Millisecond); got != 8*time.Millisecond {
		t.Errorf("average(0, 8ms) = %s; want 8ms (first sample)", got)
	}
	if got := average(8*time.Millisecond, 16*time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("average(8ms, 16ms) = %s; want 10ms", got)
	}
	c := &Committer{}
	c.measureSolo(10*time.Millisecond, 10) // 1ms each
	c.measureSolo(4*time.Millisecond, 1)   // 4ms, one append
	per := time.Duration(c.soloTime / c.soloCount)
	// (10ms·7/8 + 4ms) / (10·7/8 + 1) = 12.75ms / 9.75 ≈ 1.31ms
	if per < 1300*time.Microsecond || per > 1320*time.Microsecond {
		t.Errorf("solo cost after 10 appends in 10ms then 1 in 4ms = %s; want about 1.31ms", per)
	}
	if c.lastSolo.IsZero() {
		t.Error("measureSolo did not record when")
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	for _, o := range []Options{{BatchTimeout: -1}, {BarrierTimeout: -time.Second}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil; want an error", o)
		}
		if _, err := New(newStream(), o); err == nil {
			t.Errorf("New with %+v: no error", o)
		}
	}
	if got := (Options{}).withDefaults(); got.BatchTimeout != DefaultBatchTimeout || got.BarrierTimeout != DefaultBarrierTimeout {
		t.Errorf("defaults = %+v", got)
	}
}

// While batches would not pay, a single event goes out beside an append in
// flight, but an append of several events, which costs a batch anyway,
// queues so that the round it starts can share that batch.
func TestMultiEventAppendQueuesBesideInflight(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.SetCosts(time.Millisecond, time.Second) // batches dear: direct appends
	ctx := testContext(t)
	release := make(chan struct{})
	slow := &blockingAppend{appendOf: newAppend(s, "slow"), release: release}
	chSlow := appendAsync(ctx, c, slow)
	eventually(t, "slow append in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.inflight == 1
	})
	single := newAppend(s, "single")
	if r := result(t, appendAsync(ctx, c, single)); r.err != nil {
		t.Fatalf("single beside the one in flight: %v", r.err)
	}
	multi := newAppend(s, "m1", "m2")
	chMulti := appendAsync(ctx, c, multi)
	eventually(t, "the multi-event append queued", func() bool { return c.Queued() == 1 })
	close(release)
	rs, rm := result(t, chSlow), result(t, chMulti)
	if rs.err != nil || rm.err != nil {
		t.Fatalf("slow %v, multi %v", rs.err, rm.err)
	}
	log, _, _, _, _ := s.snapshot()
	checkStored(t, log, multi.ids(), rm.seq)
}

// blockingAppend is published alone only once release is closed.
type blockingAppend struct {
	*appendOf
	release chan struct{}
}

func (a *blockingAppend) PublishAlone(ctx context.Context) (uint64, error) {
	select {
	case <-a.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return a.appendOf.PublishAlone(ctx)
}
