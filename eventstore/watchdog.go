package eventstore

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// Defaults of the watchdog (Options.StallAfter, Options.WatchEvery).
const (
	DefaultStallAfter = 5 * time.Second
	DefaultWatchEvery = time.Second
)

// WatchStatus is what the watchdog of a Store knows about its followers
// (reads with Follow and Deliver's durable consumers) and the stream.
type WatchStatus struct {
	// Connected tells whether the NATS connection is up now.
	Connected bool
	// LastSeq is the stream's last sequence as of CheckedAt, the last time
	// a watchdog asked the server (zero time: never).
	LastSeq   uint64
	CheckedAt time.Time
	// Followers counts the running followers; Stalled names those found
	// behind the stream without delivering anything for StallAfter whose
	// consumer is being recreated (normally empty: recreating takes a
	// moment).
	Followers int
	Stalled   []string
	// Recreated counts the consumers the watchdog recreated since Open.
	Recreated uint64
}

// watchdog is a Store's register of followers and their counters. Its
// methods are safe for concurrent use.
type watchdog struct {
	stallAfter, every time.Duration

	mu        sync.Mutex
	lastSeq   uint64
	checkedAt time.Time
	followers map[*follower]struct{}
	recreated uint64
}

func newWatchdog(opts Options) *watchdog {
	opts = opts.withDefaults()
	return &watchdog{stallAfter: opts.StallAfter, every: opts.WatchEvery, followers: make(map[*follower]struct{})}
}

// follower is one watched consumer: the loop that hands its messages over
// sets delivered and busy, the watchdog reads them.
type follower struct {
	name string
	// byStream: the follower reads the whole stream, so "behind" is the
	// stream's last sequence beyond delivered; otherwise the consumer's
	// own count of pending messages says it.
	byStream  bool
	delivered atomic.Uint64 // the last stream sequence handed over
	busy      atomic.Bool   // a message is being handled
	stalled   atomic.Bool   // set by the watchdog before it calls onStall
}

// Watchdog returns what the Store's watchdog knows. It does no I/O.
func (s *Store) Watchdog() WatchStatus {
	w := s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	st := WatchStatus{Connected: s.nc.IsConnected(), LastSeq: w.lastSeq, CheckedAt: w.checkedAt, Followers: len(w.followers), Recreated: w.recreated}
	for f := range w.followers {
		if f.stalled.Load() {
			st.Stalled = append(st.Stalled, f.name)
		}
	}
	sort.Strings(st.Stalled)
	return st
}

// Connected reports whether the Store's NATS connection is up.
func (s *Store) Connected() bool { return s.nc.IsConnected() }

func (w *watchdog) observe(last uint64) {
	w.mu.Lock()
	w.lastSeq, w.checkedAt = max(w.lastSeq, last), time.Now()
	w.mu.Unlock()
}

// watchFollower registers f and, until stop is called, checks it every
// WatchEvery: when it is behind (see follower.byStream) and has handed
// nothing over, and handled nothing, for StallAfter, the watchdog marks f
// stalled, logs at error level with the lag, counts a recreation and
// calls onStall once, which must end the consumer's delivery so that its
// owner recreates it; the watch then ends. stop may be called more than
// once. While the server cannot be
// asked (NATS down) nothing counts as behind: the connection's own
// reconnect comes first.
func (s *Store) watchFollower(f *follower, cons jetstream.Consumer, onStall func()) (stop func()) {
	w := s.watch
	w.mu.Lock()
	w.followers[f] = struct{}{}
	w.mu.Unlock()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.every)
		defer t.Stop()
		seen, progressAt := f.delivered.Load(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			d := f.delivered.Load()
			if d != seen || f.busy.Load() {
				seen, progressAt = d, time.Now()
				continue
			}
			lag, behind := s.behind(f, cons, d)
			if !behind {
				progressAt = time.Now()
				continue
			}
			if stalled := time.Since(progressAt); stalled >= w.stallAfter {
				f.stalled.Store(true)
				w.mu.Lock()
				w.recreated++
				w.mu.Unlock()
				s.logger.Error("eventstore: consumer stalled behind the stream; recreating it",
					"follower", f.name, "delivered", d, "lag", lag, "stalled_for", stalled.Round(time.Millisecond))
				onStall()
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			w.mu.Lock()
			delete(w.followers, f)
			w.mu.Unlock()
		})
	}
}

// behind asks the server whether f, having handed over up to delivered,
// has messages waiting, and how many (for a whole-stream follower, the
// stream's last sequence minus delivered).
func (s *Store) behind(f *follower, cons jetstream.Consumer, delivered uint64) (lag uint64, behind bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.watch.every)
	defer cancel()
	if f.byStream {
		info, err := s.stream.Info(ctx)
		if err != nil {
			return 0, false
		}
		s.watch.observe(info.State.LastSeq)
		if info.State.LastSeq <= delivered {
			return 0, false
		}
		return info.State.LastSeq - delivered, true
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumPending == 0 || info.NumAckPending > 0 {
		return 0, false
	}
	return info.NumPending, true
}

// followerName names a follower of filter in the watchdog's log lines.
func followerName(kind, filter string) string {
	if filter == "" {
		filter = domain.SubjectRoot + ".>"
	}
	return kind + " " + filter
}
