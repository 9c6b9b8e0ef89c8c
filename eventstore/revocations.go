package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// RevocationSink is told what a RevocationFeed learns; see
// domain.RevocationSink, which httpapi/guard's Feed names too, so that a
// *RevocationFeed is a guard.Feed. A RevocationFeed calls it from one
// goroutine at a time.
type RevocationSink = domain.RevocationSink

// Timing of a RevocationFeed.
const (
	// revocationMargin widens the feed's window for clock skew (see
	// domain.RevocationWindow).
	revocationMargin = domain.DefaultRevocationMargin
	// revocationHeartbeat is the idle heartbeat the feed asks of its
	// consumer; two missed in a row make it not current.
	revocationHeartbeat = time.Second
	// revocationExpiry is how long one pull request waits.
	revocationExpiry = 5 * revocationHeartbeat
	// revocationBackoff bounds the wait between attempts to resume.
	revocationBackoffMin = 50 * time.Millisecond
	revocationBackoffMax = 5 * time.Second
)

// revocationSubjects are the events that make tokens stop validating. The
// feed's consumers, one filtered to each, read only these, not every token
// issued.
var revocationSubjects = []string{
	domain.SubjectRoot + "." + domain.KindToken + ".*." + domain.AccessTokenRevoked{}.EventType(),
	domain.SubjectRoot + "." + domain.KindClient + ".*." + domain.ClientDeleted{}.EventType(),
	domain.SubjectRoot + "." + domain.KindUser + ".*." + domain.UserDeleted{}.EventType(),
	// The log-signing announcement, so that a feed learns the adoption
	// point in order when signing is adopted while it runs.
	announcementSubject,
}

// errFeedStalled ends a feed session whose connection or consumer stopped.
var errFeedStalled = errors.New("eventstore: revocation feed: connection lost or consumer stalled")

// RevocationFeed streams the revocations a resource server needs to
// validate access tokens locally: revoked access tokens, deleted clients
// and deleted users, from the longest token lifetime ago on (older
// revocations concern tokens that have expired anyway). It implements
// httpapi/guard's Feed.
type RevocationFeed struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	lifetime time.Duration
	margin   time.Duration // revocationMargin; tests change it
	owned    bool          // Close closes nc
	// The watchdog's bounds (Options.StallAfter, WatchEvery) and count.
	stallAfter, watchEvery time.Duration
	recreated              atomic.Uint64
	verify                 *verifier
	logger                 *slog.Logger
}

// RevocationFeed returns a feed reading through s's connection.
// maxTokenLifetime is the longest lifetime of any token the authorization
// server issues: personal access tokens last a year by default, so that is
// the usual answer. The feed lives no longer than s; its Close does
// nothing.
func (s *Store) RevocationFeed(maxTokenLifetime time.Duration) *RevocationFeed {
	return &RevocationFeed{nc: s.nc, js: s.js, lifetime: maxTokenLifetime, margin: revocationMargin, verify: s.verify, logger: s.logger,
		stallAfter: s.watch.stallAfter, watchEvery: s.watch.every}
}

// OpenRevocationFeed connects to NATS for a resource server and returns a
// feed over its own connection (see Store.RevocationFeed for
// maxTokenLifetime). Unlike Open it never creates, updates or appends to
// the stream: a resource server only reads, so it needs no more than the
// permissions to look the stream up and create ordered consumers on it,
// each filtered to one revocation subject (RoleRevocations' permissions),
// and it cannot change the authorization
// server's stream settings (Open would set them to opts' Replicas, MaxAge
// and DuplicateWindow). Its replies come under RevocationsInboxPrefix. It
// does not delete its consumers (RoleRevocations may not): the server
// drops each once it has been idle for a few minutes. Of opts it uses URL
// or InProcess, the credentials (in-process without any: the server's
// RoleRevocations), Name, Logger and the log keys (LogKey,
// TrustedLogKeys): with a key, the feed refuses (skips and counts) a
// revocation whose log signature is missing after the adoption point or
// bad, so a forged event cannot revoke tokens; it learns the adoption
// point with a direct get when it opens. It fails when the stream does
// not exist yet. The caller must call Close.
func OpenRevocationFeed(ctx context.Context, opts Options, maxTokenLifetime time.Duration) (*RevocationFeed, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if maxTokenLifetime <= 0 {
		return nil, fmt.Errorf("eventstore: revocation feed: maxTokenLifetime %s is not positive", maxTokenLifetime)
	}
	opts = opts.withDefaults()
	nc, err := opts.connect(RoleRevocations, nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("eventstore: revocation feed: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	v := newVerifier(opts)
	if err == nil {
		ctx, cancel := withTimeout(ctx)
		if _, err = js.Stream(ctx, domain.StreamName); err == nil {
			err = v.learnByConsumer(ctx, js)
		}
		cancel()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: revocation feed: stream %s: %w", domain.StreamName, err)
	}
	return &RevocationFeed{nc: nc, js: js, lifetime: maxTokenLifetime, margin: revocationMargin, owned: true, verify: v, logger: opts.Logger,
		stallAfter: opts.StallAfter, watchEvery: opts.WatchEvery}, nil
}

// Close closes the connection OpenRevocationFeed made; a Run in progress
// then returns. For a feed from Store.RevocationFeed it does nothing.
func (f *RevocationFeed) Close() {
	if f.owned {
		f.nc.Close()
	}
}

// Run tells sink every revocation from the longest token lifetime ago on,
// then every new one as it is appended, until ctx ends. It reads with one
// ordered consumer per revocation event type, starting by time, so events
// of one type come in log order, and those of different types in any
// order (each only adds to what the sink refuses). It calls
// sink.Current(false) first, and sink.Current(true) once it has delivered
// every revocation stored when its consumers were created. When the
// connection drops or a consumer's heartbeats stop it calls
// sink.Current(false), waits for the connection, resumes each consumer
// after the last revocation it delivered and reports Current(true) again
// once all have caught up. A watchdog does the same when a consumer has
// had revocations pending on the server for Options.StallAfter without
// delivering any (logged at error level, counted in Recreated). An
// AccessTokenRevoked's until is the
// token's expiry, which the event carries, plus a margin for clock skew
// (its time plus the lifetime when an event lacks it).
//
// A revocation with a missing (after adoption) or bad log signature is
// refused: skipped, logged at error level and counted (see
// Store.LogSigning), never told to sink.
//
// Run returns an error wrapping ctx.Err() when ctx ends, ErrClosed (wrapped)
// when the connection is closed, and the error for a stored revocation it
// cannot read (ErrNotEnvelope, or a *domain.FutureVersionError for an event
// written by a newer stamp), so that a guard fails closed rather than
// miss a revocation. Its last call to the sink is Current(false). Run may
// be called concurrently; each call has its own consumers.
func (f *RevocationFeed) Run(ctx context.Context, sink RevocationSink) error {
	if f.lifetime <= 0 {
		return fmt.Errorf("eventstore: revocation feed: maxTokenLifetime %s is not positive", f.lifetime)
	}
	status := f.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer f.nc.RemoveStatusListener(status)
	sink.Current(false)
	// The stream sequence to resume at, per revocation subject; 0: by time.
	next := make([]uint64, len(revocationSubjects))
	backoff := revocationBackoffMin
	for {
		drain(status)
		caughtUp, err := f.session(ctx, sink, status, next)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("eventstore: revocation feed: %w", ctx.Err())
		case f.nc.IsClosed():
			return fmt.Errorf("eventstore: revocation feed: %w", ErrClosed)
		case errors.Is(err, errUnreadable):
			return err
		}
		if caughtUp {
			backoff = revocationBackoffMin
		}
		// Wait for the connection, and a little more after a failure, so
		// that a server that refuses consumers is not asked in a loop.
		t := time.NewTimer(backoff)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("eventstore: revocation feed: %w", ctx.Err())
			case s := <-status:
				if s == nats.CONNECTED {
					waiting = false // reconnected: resume at once
				}
			case <-t.C:
				if f.nc.IsConnected() || f.nc.IsClosed() {
					waiting = false
				} else {
					t.Reset(backoff)
				}
			}
		}
		t.Stop()
		backoff = min(2*backoff, revocationBackoffMax)
	}
}

// drain discards the status changes already reported: a session watches
// for those that follow.
func drain(status <-chan nats.Status) {
	for {
		select {
		case <-status:
		default:
			return
		}
	}
}

// errUnreadable marks a stored revocation the feed cannot read: retrying
// would meet it again, so Run returns.
var errUnreadable = errors.New("eventstore: revocation feed: unreadable revocation")

// session reads with one ordered consumer per revocation subject, each
// from its next[i] (or by time), until the connection drops, a consumer
// stalls, a revocation cannot be read or ctx ends; it reports whether it
// caught up (every consumer did). It leaves the sink not current.
//
// One consumer per subject rather than one with three filters: the API
// subject of a consumer's creation names its filter only when it has one,
// so only then can the server's permissions (RoleRevocations) hold a
// resource server to the revocation subjects.
func (f *RevocationFeed) session(ctx context.Context, sink RevocationSink, status <-chan nats.Status, next []uint64) (caughtUp bool, err error) {
	if !f.nc.IsConnected() {
		return false, errFeedStalled
	}
	since := f.window().Since(time.Now())

	// The handlers run on the client's goroutines; mu orders them against
	// each other and against the end of the session, after which they tell
	// the sink nothing more.
	var mu sync.Mutex
	live, current := true, false
	behind := make([]bool, len(revocationSubjects)) // not caught up yet
	for i := range behind {
		behind[i] = true
	}
	waiting := len(behind)
	ended := make(chan error, 1)
	end := func(err error) { // mu held
		if live {
			live = false
			ended <- err
		}
	}
	caught := func(i int) { // mu held
		if live && behind[i] {
			behind[i] = false
			waiting--
		}
		if live && waiting == 0 && !current {
			current = true
			sink.Current(true)
		}
	}
	var conss []jetstream.Consumer
	var ccs []jetstream.ConsumeContext
	handled := make([]uint64, len(revocationSubjects)) // messages handled, per consumer; under mu
	watchDone := make(chan struct{})
	var watch sync.WaitGroup
	stop := func(tellSink bool) {
		select {
		case <-watchDone:
		default:
			close(watchDone)
		}
		watch.Wait()
		for _, cc := range ccs {
			cc.Stop()
		}
		if tellSink {
			sink.Current(false)
		}
		for _, cons := range conss {
			f.deleteConsumer(cons)
		}
	}

	for i, subject := range revocationSubjects {
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
		if next[i] > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, next[i]
		} else {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		cons, err := f.createConsumer(ctx, status, cfg)
		if err != nil {
			mu.Lock()
			live = false
			mu.Unlock()
			stop(false) // the sink was never current
			return false, err
		}
		conss = append(conss, cons)
		handle := func(msg jetstream.Msg) {
			meta, err := msg.Metadata()
			var rec domain.Recorded
			if err == nil {
				rec, err = f.verify.read(meta.Sequence.Stream, msg.Subject(), msg.Headers(), msg.Data())
				if err != nil && !errors.Is(err, ErrNotEnvelope) {
					// A forged or altered revocation: refused, counted, skipped.
					f.logger.Error("eventstore: revocation feed: refused event skipped", "seq", rec.Seq, "subject", rec.Subject, "reason", rec.Refused)
					err = nil
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !live {
				return
			}
			handled[i]++
			if err == nil && rec.Refused == "" {
				err = f.deliver(sink, rec)
			}
			if err != nil {
				end(fmt.Errorf("%w: %w", errUnreadable, err))
				return
			}
			next[i] = meta.Sequence.Stream + 1
			if meta.NumPending == 0 {
				caught(i)
			}
		}
		cc, err := cons.Consume(handle,
			jetstream.PullHeartbeat(revocationHeartbeat),
			jetstream.PullExpiry(revocationExpiry),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				mu.Lock()
				end(fmt.Errorf("%w: %w", errFeedStalled, err))
				mu.Unlock()
			}))
		if err != nil {
			mu.Lock()
			live = false
			mu.Unlock()
			stop(false) // the sink was never current
			return false, fmt.Errorf("eventstore: revocation feed: consume: %w", err)
		}
		ccs = append(ccs, cc)
		// Nothing to catch up with: everything from now on is new.
		if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
			mu.Lock()
			caught(i)
			mu.Unlock()
		}
	}

	watch.Go(func() { f.watch(conss, handled, &mu, end, watchDone) })
	for err == nil {
		select {
		case err = <-ended:
		case <-ctx.Done():
			err = ctx.Err()
		case s, ok := <-status:
			if !ok || s != nats.CONNECTED {
				err = errFeedStalled
			}
		}
	}
	mu.Lock()
	live = false
	caughtUp = current
	mu.Unlock()
	stop(true)
	return caughtUp, err
}

// createConsumer creates the session's consumer, giving up when the
// connection changes state meanwhile: a request sent just before a
// disconnect is never answered, and waiting for its timeout would leave the
// sink not current for that long after a reconnect.
func (f *RevocationFeed) createConsumer(ctx context.Context, status <-chan nats.Status, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	cctx, cancel := withTimeout(ctx)
	defer cancel()
	type result struct {
		cons jetstream.Consumer
		err  error
	}
	done := make(chan result, 1)
	go func() {
		cons, err := f.js.OrderedConsumer(cctx, domain.StreamName, cfg)
		done <- result{cons, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("eventstore: revocation feed: consumer: %w", r.err)
		}
		return r.cons, nil
	case <-status:
		cancel()
		if r := <-done; r.err == nil {
			f.deleteConsumer(r.cons)
		}
		return nil, errFeedStalled
	}
}

// deleteConsumer removes a session's consumer at once rather than leaving
// it to expire; failure is harmless. A feed of OpenRevocationFeed leaves
// it to expire, since RoleRevocations may not delete consumers.
func (f *RevocationFeed) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || f.owned || !f.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.js.DeleteConsumer(ctx, domain.StreamName, info.Name)
}

// deliver tells sink about one revocation.
func (f *RevocationFeed) deliver(sink RevocationSink, rec domain.Recorded) error {
	e, err := domain.Decode(rec.Envelope)
	if errors.Is(err, domain.ErrUnknownEventType) {
		return nil // not one of ours: the filters rule it out
	}
	if err != nil {
		return fmt.Errorf("sequence %d on %s: %w", rec.Seq, rec.Subject, err)
	}
	switch e := e.(type) {
	case domain.AccessTokenRevoked:
		sink.Revoked(e.TokenID, f.window().Until(rec.Envelope.Time, e))
	case domain.ClientDeleted:
		sink.ClientDeleted(e.ClientID)
	case domain.UserDeleted:
		sink.UserDeleted(e.UserID)
	}
	return nil
}

// window is how long the feed's revocations matter.
func (f *RevocationFeed) window() domain.RevocationWindow {
	return domain.RevocationWindow{MaxLifetime: f.lifetime, Margin: f.margin}
}

// Recreated counts the feed's consumers its watchdog found stalled and
// had recreated (by ending the session, which resumes after the last
// revocation delivered). Safe for concurrent use.
func (f *RevocationFeed) Recreated() uint64 { return f.recreated.Load() }

// watch is a session's watchdog: every WatchEvery it checks each consumer
// that handled nothing since the last look, and when one has had messages
// pending on the server for StallAfter without handling any, it logs at
// error level, counts it and ends the session with errFeedStalled, so Run
// resumes with fresh consumers. handled is read under mu; end must be
// called with mu held. It returns when done is closed or it ended the
// session.
func (f *RevocationFeed) watch(conss []jetstream.Consumer, handled []uint64, mu *sync.Mutex, end func(error), done <-chan struct{}) {
	every, stallAfter := f.watchEvery, f.stallAfter
	if every <= 0 {
		every = DefaultWatchEvery
	}
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	t := time.NewTicker(every)
	defer t.Stop()
	seen := make([]uint64, len(conss))
	progress := make([]time.Time, len(conss))
	for i := range progress {
		progress[i] = time.Now()
	}
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		for i, cons := range conss {
			mu.Lock()
			h := handled[i]
			mu.Unlock()
			if h != seen[i] {
				seen[i], progress[i] = h, time.Now()
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			info, err := cons.Info(ctx)
			cancel()
			if err != nil || info.NumPending == 0 {
				progress[i] = time.Now()
				continue
			}
			if stalled := time.Since(progress[i]); stalled >= stallAfter {
				f.recreated.Add(1)
				f.logger.Error("eventstore: revocation feed: consumer stalled behind the stream; recreating it",
					"subject", revocationSubjects[i], "lag", info.NumPending, "stalled_for", stalled.Round(time.Millisecond))
				mu.Lock()
				end(fmt.Errorf("%w: the consumer of %s is stalled", errFeedStalled, revocationSubjects[i]))
				mu.Unlock()
				return
			}
		}
	}
}
