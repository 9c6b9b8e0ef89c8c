package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
)

// With nothing in flight an append is published at once, on its own, by
// its caller: no round, no batch.
func TestAppendAloneWhenIdle(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	ctx := testContext(t)
	for i := range 3 {
		a := newAppend(s, fmt.Sprintf("e%d", i))
		seq, err := c.Append(ctx, a)
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("Append %d = %d, %v; want %d", i, seq, err, i+1)
		}
	}
	_, batches, _, alone, _ := s.snapshot()
	if st := c.Stats(); batches != 0 || alone != 3 || st.Batches != 0 || st.Solo != 0 {
		t.Errorf("stream batches %d, alone %d; stats %+v; want 3 alone, no round", batches, alone, st)
	}
}

// A combined round stores the appends in queue order, each contiguous, and
// gives each caller the sequence of its own last message; a barrier
// follows the batch, and its cost is measured.
func TestCombinedRoundKeepsOrderAndSequences(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.CombineAlways()
	ctx := testContext(t)
	appends := []*appendOf{
		newAppend(s, "a1"),
		newAppend(s, "b1", "b2", "b3"),
		newAppend(s, "c1"),
		newAppend(s, "d1", "d2"),
	}
	var as []Append
	for _, a := range appends {
		as = append(as, a)
	}
	chs := queue(t, ctx, c, as...)
	c.Release()
	results := make([]outcome, len(chs))
	for i, ch := range chs {
		if results[i] = result(t, ch); results[i].err != nil {
			t.Fatalf("append %v: %v", appends[i].ids(), results[i].err)
		}
	}
	log, batches, _, alone, barriers := s.snapshot()
	if want := []string{"a1", "b1", "b2", "b3", "c1", "d1", "d2"}; !cmp.Equal(log, want) {
		t.Errorf("log = %v; want %v (queue order)", log, want)
	}
	for i, a := range appends {
		checkStored(t, log, a.ids(), results[i].seq)
	}
	if st := c.Stats(); batches != 1 || alone != 0 || barriers != 1 || st.Batches != 1 || st.Batched != 4 {
		t.Errorf("stream batches %d, alone %d, barriers %d; stats %+v; want one batch of 4 and its barrier", batches, alone, barriers, st)
	}
	c.mu.Lock()
	cost := c.batchCost
	c.mu.Unlock()
	if cost <= 0 {
		t.Errorf("batch cost after a combined batch = %s; want it measured", cost)
	}
}

// A round larger than maxBatchEvents is split, keeping each append whole.
func TestRoundSplitsAtMaxBatchEvents(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.CombineAlways()
	ctx := testContext(t)
	var appends []*appendOf
	var as []Append
	for i := range 5 {
		ids := make([]string, 300)
		for k := range ids {
			ids[k] = fmt.Sprintf("a%d-%d", i, k)
		}
		a := newAppend(s, ids...)
		appends = append(appends, a)
		as = append(as, a)
	}
	chs := queue(t, ctx, c, as...)
	c.Release()
	var seqs []uint64
	for i, ch := range chs {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		seqs = append(seqs, r.seq)
	}
	log, batches, _, _, _ := s.snapshot()
	for i, a := range appends {
		checkStored(t, log, a.ids(), seqs[i])
	}
	// 1500 messages: 3 appends (900) in the first batch, 2 in the second.
	if batches != 2 {
		t.Errorf("batches = %d; want 2 (split at %d messages)", batches, maxBatchEvents)
	}
}

// A batch the stream refuses (ErrRefused) is split in halves until the
// refused append is alone: each caller gets the answer it would have got
// alone (the append whose id is stored its refusal, the others their
// sequences), and the others still share batches.
func TestRefusedBatchIsSplit(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.CombineAlways()
	ctx := testContext(t)
	if _, err := c.Append(ctx, newAppend(s, "dup")); err != nil {
		t.Fatal(err)
	}
	appends := []*appendOf{
		newAppend(s, "a1"), newAppend(s, "b1", "b2"), newAppend(s, "c1"), newAppend(s, "d1"),
		newAppend(s, "e1"), newAppend(s, "dup"), newAppend(s, "g1", "g2"), newAppend(s, "h1"),
	}
	const dup = 5
	var as []Append
	for _, a := range appends {
		as = append(as, a)
	}
	chs := queue(t, ctx, c, as...)
	c.Release()
	results := make([]outcome, len(chs))
	for i, ch := range chs {
		results[i] = result(t, ch)
	}
	if !errors.Is(results[dup].err, errDuplicate) {
		t.Errorf("the duplicate append = %d, %v; want its own refusal", results[dup].seq, results[dup].err)
	}
	log, batches, refused, alone, _ := s.snapshot()
	for i, a := range appends {
		if i == dup {
			continue
		}
		if results[i].err != nil {
			t.Fatalf("append %v: %v", a.ids(), results[i].err)
		}
		checkStored(t, log, a.ids(), results[i].seq)
	}
	if len(log) != 1+9 {
		t.Errorf("log = %v; want the first dup and the 9 other messages once each", log)
	}
	// all 8 refused; a..d stored; e+dup refused, then each alone (dup's
	// attempt counted: 1 + 2 alone after the first dup); g+h stored.
	if st := c.Stats(); batches != 2 || refused != 3 || alone != 3 || st.Fallbacks != 3 {
		t.Errorf("batches %d, refused %d, alone %d, stats %+v; want 2 batches, 3 refused, 3 alone", batches, refused, alone, st)
	}
}

// After an error that is no refusal (a timeout, a lost connection) the
// batch's appends are published each alone, at once.
func TestFailedBatchFallsBackToEachAlone(t *testing.T) {
	s := newStream()
	c, err := New(failingBatches{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); c.Wait() })
	c.CombineAlways()
	ctx := testContext(t)
	appends := []*appendOf{newAppend(s, "a1"), newAppend(s, "b1", "b2"), newAppend(s, "c1"), newAppend(s, "d1")}
	var as []Append
	for _, a := range appends {
		as = append(as, a)
	}
	chs := queue(t, ctx, c, as...)
	c.Release()
	log, _, _, _, _ := s.snapshot()
	for i, ch := range chs {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %v: %v", appends[i].ids(), r.err)
		}
		log, _, _, _, _ = s.snapshot()
		checkStored(t, log, appends[i].ids(), r.seq)
	}
	if _, _, _, alone, _ := s.snapshot(); alone != 4 || len(log) != 5 {
		t.Errorf("%d published alone, log %v; want 4 alone", alone, log)
	}
}

// failingBatches is a stream whose batches time out.
type failingBatches struct{ *stream }

func (failingBatches) PublishBatch(context.Context, string, []*nats.Msg) (uint64, error) {
	return 0, context.DeadlineExceeded
}

// A guarded append never shares a batch with an earlier message its guard
// matches (the server would check its expectation without it): it starts
// the next batch. Guards that match nothing before change nothing.
func TestGuardStartsNextBatch(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.CombineAlways()
	ctx := testContext(t)
	a := newAppend(s, "x.1.created")
	b := newAppend(s, "y.1.created")
	b.guard = "y.1.>" // its own aggregate, untouched before it: same batch
	d := newAppend(s, "z.1.updated")
	d.guard = "x.1.>" // behind a's message: next batch
	e := newAppend(s, "x.2.created")
	e.guard = "x.2.>"
	chs := queue(t, ctx, c, a, b, d, e)
	c.Release()
	for _, ch := range chs {
		if r := result(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	log, batches, _, _, _ := s.snapshot()
	if want := []string{"x.1.created", "y.1.created", "z.1.updated", "x.2.created"}; !cmp.Equal(log, want) {
		t.Errorf("log = %v; want %v", log, want)
	}
	if batches != 2 {
		t.Errorf("batches = %d; want 2 (a+b, then d+e)", batches)
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		filter, subject string
		want            bool
	}{
		{"stamp.client.c1.>", "stamp.client.c1.ClientUpdated", true},
		{"stamp.client.c1.>", "stamp.client.c1.a.b", true},
		{"stamp.client.c1.>", "stamp.client.c1", false},
		{"stamp.client.c1.>", "stamp.client.c10.ClientUpdated", false},
		{"stamp.*.c1.>", "stamp.user.c1.UserRegistered", true},
		{"stamp.client.c1.ClientUpdated", "stamp.client.c1.ClientUpdated", true},
		{"stamp.client.c1.ClientUpdated", "stamp.client.c1.ClientDeleted", false},
		{"stamp.client.*", "stamp.client.c1.x", false},
		{"stamp", "stamp.client", false},
		{">", "stamp", true},
	}
	for _, tt := range tests {
		if got := subjectMatches(tt.filter, tt.subject); got != tt.want {
			t.Errorf("subjectMatches(%q, %q) = %v; want %v", tt.filter, tt.subject, got, tt.want)
		}
	}
}

// An append whose caller's ctx ends while it waits returns ErrWaitEnded
// with the ctx's error, and is left out of the round: it is not stored
// behind its caller's back.
func TestEndedWaitIsLeftOut(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	c.CombineAlways()
	ctx := testContext(t)
	short, cancel := context.WithCancel(ctx)
	before, gone, after := newAppend(s, "before"), newAppend(s, "gone"), newAppend(s, "after")
	eventually(t, "committer idle", c.Hold)
	chBefore := appendAsync(ctx, c, before)
	eventually(t, "1 queued", func() bool { return c.Queued() >= 1 })
	chGone := appendAsync(short, c, gone)
	eventually(t, "2 queued", func() bool { return c.Queued() >= 2 })
	chAfter := appendAsync(ctx, c, after)
	eventually(t, "3 queued", func() bool { return c.Queued() >= 3 })
	cancel()
	if r := result(t, chGone); !errors.Is(r.err, ErrWaitEnded) || !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled append = %d, %v; want ErrWaitEnded and context.Canceled", r.seq, r.err)
	}
	c.Release()
	rb, ra := result(t, chBefore), result(t, chAfter)
	if rb.err != nil || ra.err != nil {
		t.Fatalf("the others: %v, %v", rb.err, ra.err)
	}
	log, _, _, _, _ := s.snapshot()
	if want := []string{"before", "after"}; !cmp.Equal(log, want) {
		t.Errorf("log = %v; want %v", log, want)
	}
}

// Close fails the queued appends with ErrClosed and publishes nothing;
// every later Append fails so too, and the flusher exits.
func TestCloseFailsQueuedAndLaterAppends(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	ctx := testContext(t)
	chs := queue(t, ctx, c, newAppend(s, "q1"), newAppend(s, "q2"))
	c.Close()
	for i, ch := range chs {
		if r := result(t, ch); !errors.Is(r.err, ErrClosed) {
			t.Errorf("queued append %d at Close = %d, %v; want ErrClosed", i, r.seq, r.err)
		}
	}
	if _, err := c.Append(ctx, newAppend(s, "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v; want ErrClosed", err)
	}
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the flusher did not exit within 10s of Close")
	}
	if log, _, _, _, _ := s.snapshot(); len(log) != 0 {
		t.Errorf("log after Close = %v; want nothing stored", log)
	}
}

// Many concurrent appends through the adaptive committer: each is stored
// once, contiguously, and gets its own last sequence.
func TestConcurrentAppends(t *testing.T) {
	s := newStream()
	c := newCommitter(t, s)
	ctx := testContext(t)
	const goroutines, each = 32, 40
	type done struct {
		ids []string
		seq uint64
	}
	results := make([][]done, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				n := 1 + i%3
				ids := make([]string, n)
				for k := range ids {
					ids[k] = fmt.Sprintf("g%d-%d-%d", g, i, k)
				}
				seq, err := c.Append(ctx, newAppend(s, ids...))
				if err != nil {
					t.Errorf("Append %v: %v", ids, err)
					return
				}
				results[g] = append(results[g], done{ids, seq})
			}
		})
	}
	wg.Wait()
	log, _, _, _, _ := s.snapshot()
	total := 0
	for _, rs := range results {
		for _, r := range rs {
			checkStored(t, log, r.ids, r.seq)
			total += len(r.ids)
		}
	}
	if len(log) != total {
		t.Errorf("log holds %d messages; want %d", len(log), total)
	}
	t.Logf("%+v", c.Stats())
}
