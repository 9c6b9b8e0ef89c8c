package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// LimitsBucket is the JetStream key-value bucket that holds the rate
// limits' buckets, shared by every instance on the stream.
const LimitsBucket = "STAMP_LIMITS"

// defaultMirrorKeys bounds a Limiter's mirror: ~150 bytes a key, so
// about 15 MB at most.
const defaultMirrorKeys = 100_000

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	// TTL is how long the bucket keeps a key after its last failure: the
	// longest time a rate's bucket takes to refill
	// (domain.Limits.LongestRefill). Required. Debt older than that (more
	// concurrent failures than the burst) is forgotten with the key.
	TTL time.Duration
	// Fallback counts the failures the bucket cannot take (NATS
	// unreachable, a timeout, a key written by many instances at once),
	// and Wait consults it too. Nil returns those errors instead.
	Fallback domain.Limiter
	// Logger reports outages of the bucket (once each); slog.Default if
	// nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// MaxKeys bounds the mirror; 100,000 if zero. Past it, refilled keys
	// are dropped, then arbitrary ones.
	MaxKeys int
}

// Validate reports the first problem with o, or nil; it only checks.
func (o LimiterOptions) Validate() error {
	switch {
	case o.TTL <= 0:
		return errors.New("eventstore: limiter: TTL is required")
	case o.MaxKeys < 0:
		return fmt.Errorf("eventstore: limiter: negative MaxKeys %d", o.MaxKeys)
	}
	return nil
}

// withDefaults returns o with every zero field set to its default.
func (o LimiterOptions) withDefaults() LimiterOptions {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = defaultMirrorKeys
	}
	return o
}

// Limiter is domain.Limiter for a whole cluster: the token buckets of
// every instance on the stream live in the LimitsBucket, one key per
// (rate, key) (their hash, so no address or account name is stored),
// whose value is the instant the bucket is full again (domain.Rate.FailAt,
// the arithmetic of the per-process limiter too).
//
// Wait costs no round trip: it reads a mirror of the bucket in memory,
// fed by a watcher of every key, so a failure counted by another instance
// holds here as soon as its update arrives (within milliseconds). Fail
// writes through the bucket with compare-and-set on the key's revision
// and retries on a conflict with the newer value; Reset deletes the key.
// When the bucket cannot be reached, both act on Fallback instead and the
// outage is logged once at warn: a cluster then limits each instance on
// its own (availability over strictness) until the bucket is back.
//
// It is safe for concurrent use. Close stops the watcher; it lives no
// longer than the Store it was made from.
type Limiter struct {
	kv    jetstream.KeyValue
	opts  LimiterOptions
	avail *availability

	mu     sync.RWMutex
	mirror map[string]mirrored
	swept  time.Time

	stop context.CancelFunc
	done chan struct{}
}

// mirrored is one key of the bucket as this instance last saw it.
type mirrored struct {
	full time.Time // when the bucket is full again
	rev  uint64    // the key's revision; 0: not in the bucket
}

var _ domain.Limiter = (*Limiter)(nil)

// Limiter creates the LimitsBucket, or updates its configuration (TTL,
// replicas), loads its keys and starts following it. It fails when opts
// are invalid (see Validate) or the bucket cannot be created or read (for instance without permission on
// it); the caller may then limit per process.
func (s *Store) Limiter(ctx context.Context, opts LimiterOptions) (*Limiter, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	kv, err := s.stateBucket(ctx, LimitsBucket, "stamp: rate limits of failed attempts, shared by every instance", opts.TTL)
	if err != nil {
		return nil, fmt.Errorf("eventstore: limiter: %w", err)
	}
	l := &Limiter{kv: kv, opts: opts, mirror: map[string]mirrored{}, done: make(chan struct{}),
		avail: &availability{bucket: LimitsBucket, logger: opts.Logger, nc: s.nc}}
	w, err := l.watchInitial(ctx)
	if err != nil {
		return nil, fmt.Errorf("eventstore: limiter: %w", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.follow(runCtx, w)
	return l, nil
}

// Close stops following the bucket. Wait, Fail and Reset keep working,
// on a mirror that no longer learns other instances' failures.
func (l *Limiter) Close() {
	l.stop()
	<-l.done
}

// limitKey is the bucket key of key under r.
func limitKey(r domain.Rate, key string) string { return stateKey("l.", r.Name, key) }

// Wait returns how long key must wait under r: the longer of the
// mirror's and the fallback's waits. It never sends a request.
func (l *Limiter) Wait(ctx context.Context, r domain.Rate, key string) (time.Duration, error) {
	now := l.opts.Now()
	k := limitKey(r, key)
	l.mu.RLock()
	m := l.mirror[k]
	l.mu.RUnlock()
	w := r.WaitAt(m.full, now)
	if l.opts.Fallback != nil {
		fw, err := l.opts.Fallback.Wait(ctx, r, key)
		if err != nil {
			return 0, err
		}
		w = max(w, fw)
	}
	return w, nil
}

// Fail counts one failure of key under r in the bucket: it writes
// r.FailAt of the newest value it knows, on condition that the key is
// still at that revision, and on a conflict reads the key and tries
// again. When the bucket cannot take it, the failure counts in Fallback
// (or the error is returned when there is none).
func (l *Limiter) Fail(ctx context.Context, r domain.Rate, key string) error {
	now := l.opts.Now()
	k := limitKey(r, key)
	if !l.avail.usable() {
		return l.fallback(ctx, r, key, errors.New("not connected"))
	}
	ctx, cancel := stateContext(ctx)
	defer cancel()
	l.mu.RLock()
	m := l.mirror[k]
	l.mu.RUnlock()
	for range maxCASAttempts {
		full := r.FailAt(m.full, now)
		value := strconv.AppendInt(nil, full.UnixNano(), 10)
		var rev uint64
		var err error
		if m.rev == 0 {
			rev, err = l.kv.Create(ctx, k, value)
		} else {
			rev, err = l.kv.Update(ctx, k, value, m.rev)
		}
		if err == nil {
			l.avail.up()
			l.set(k, mirrored{full: full, rev: rev}, now)
			return nil
		}
		if !isConflict(err) {
			return l.fallback(ctx, r, key, err)
		}
		e, err := l.kv.Get(ctx, k)
		switch {
		case err == nil:
			m = parseMirrored(e)
		case errors.Is(err, jetstream.ErrKeyNotFound):
			m = mirrored{}
		default:
			return l.fallback(ctx, r, key, err)
		}
	}
	return l.fallback(ctx, r, key, fmt.Errorf("%d conflicts in a row", maxCASAttempts))
}

// fallback counts a failure the bucket could not take in Fallback.
func (l *Limiter) fallback(ctx context.Context, r domain.Rate, key string, cause error) error {
	if l.opts.Fallback == nil {
		return fmt.Errorf("eventstore: limiter: %s: %w", r.Name, cause)
	}
	l.avail.down(cause)
	return l.opts.Fallback.Fail(context.WithoutCancel(ctx), r, key)
}

// Reset forgets key's failures under r: in Fallback, and in the bucket
// (a delete) when the mirror holds failures of it. A bucket that cannot
// be reached keeps them until they refill; that is not an error.
func (l *Limiter) Reset(ctx context.Context, r domain.Rate, key string) error {
	if l.opts.Fallback != nil {
		if err := l.opts.Fallback.Reset(ctx, r, key); err != nil {
			return err
		}
	}
	now := l.opts.Now()
	k := limitKey(r, key)
	l.mu.Lock()
	m, ok := l.mirror[k]
	delete(l.mirror, k)
	l.mu.Unlock()
	if !ok || !m.full.After(now) || !l.avail.usable() {
		return nil
	}
	ctx, cancel := stateContext(ctx)
	defer cancel()
	if err := l.kv.Delete(ctx, k); err != nil {
		if l.opts.Fallback == nil {
			return fmt.Errorf("eventstore: limiter: reset %s: %w", r.Name, err)
		}
		l.avail.down(err)
		return nil
	}
	l.avail.up()
	return nil
}

// parseMirrored reads a bucket entry; a value that is not a time in
// nanoseconds counts as a full bucket at its revision.
func parseMirrored(e jetstream.KeyValueEntry) mirrored {
	m := mirrored{rev: e.Revision()}
	if e.Operation() != jetstream.KeyValuePut {
		return m
	}
	if ns, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
		m.full = time.Unix(0, ns)
	}
	return m
}

// set records m for key k unless the mirror has a newer revision.
func (l *Limiter) set(k string, m mirrored, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.mirror[k]
	if ok && old.rev >= m.rev {
		return
	}
	if !ok {
		l.makeRoom(now)
	}
	l.mirror[k] = m
	if now.Sub(l.swept) >= time.Minute {
		l.sweep(now)
	}
}

// apply takes one update of the watcher into the mirror.
func (l *Limiter) apply(e jetstream.KeyValueEntry) {
	now := l.opts.Now()
	if e.Operation() == jetstream.KeyValuePut {
		l.set(e.Key(), parseMirrored(e), now)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.mirror[e.Key()]; ok && old.rev < e.Revision() {
		delete(l.mirror, e.Key())
	}
}

// makeRoom makes sure one more key fits: it sweeps at the limit, and
// drops arbitrary keys when that is not enough. l.mu is held.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.mirror) < l.opts.MaxKeys {
		return
	}
	l.sweep(now)
	for k := range l.mirror {
		if len(l.mirror) < l.opts.MaxKeys {
			break
		}
		delete(l.mirror, k)
	}
}

// sweep drops the keys that have refilled: the same as no key. l.mu is
// held.
func (l *Limiter) sweep(now time.Time) {
	for k, m := range l.mirror {
		if !m.full.After(now) {
			delete(l.mirror, k)
		}
	}
	l.swept = now
}

// watchInitial starts a watcher of every key and applies the bucket's
// current keys, returning once they are all in the mirror.
func (l *Limiter) watchInitial(ctx context.Context) (jetstream.KeyWatcher, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	w, err := l.kv.WatchAll(context.Background())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", LimitsBucket, err)
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: the watcher stopped", LimitsBucket)
			}
			if e == nil {
				return w, nil
			}
			l.apply(e)
		case <-ctx.Done():
			w.Stop()
			return nil, fmt.Errorf("watch %s: load the keys: %w", LimitsBucket, ctx.Err())
		}
	}
}

// follow applies the watcher's updates until ctx ends, and watches again
// (after a pause that grows to a few seconds) whenever the watcher stops.
func (l *Limiter) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(l.done)
	pause := 100 * time.Millisecond
	for {
		if w != nil {
			l.drain(ctx, w)
			w.Stop()
			w = nil
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		var err error
		if w, err = l.kv.WatchAll(ctx); err != nil {
			l.avail.down(err)
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
	}
}

// drain applies w's updates until it stops or ctx ends.
func (l *Limiter) drain(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				l.apply(e)
			}
		}
	}
}
