package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// pullBatch is how many messages a read asks the server for at once.
const pullBatch = 4096

// ReadOptions choose what Read delivers.
type ReadOptions struct {
	// From is the first stream sequence to deliver; 0 and 1 both mean the
	// beginning.
	From uint64
	// Since, when set, starts at the first event stored at or after it
	// instead; exclusive with From.
	Since time.Time
	// Filter is a subject filter under stamp.> (for example
	// stamp.token.> or stamp.*.*.AccessTokenCreated); empty means every
	// event.
	Filter string
	// Follow keeps delivering new events after the last one, until ctx ends.
	// Without it, Read stops at the stream's last sequence as of the call.
	Follow bool
	// TrustCheckpoints verifies the log's signatures by its checkpoints
	// (domain.LogCheckpointed) where it can: inside a range whose
	// checkpoint is validly signed, each message is hashed instead of
	// verified, and the read stops with an error wrapping
	// ErrCheckpointMismatch at the end of a range whose digest differs
	// (see readTrusted). Only for a read of the whole log without Follow
	// (Validate says so); a rebuild's read.
	TrustCheckpoints bool

	// entry, when set, turns each stored message into a Recorded in place
	// of the Store's verifier (verifier.read); it must be safe for
	// concurrent use. serial keeps the read from checking messages on
	// several goroutines. upTo, when set, ends a read without Follow at
	// that sequence if the stream goes further.
	entry  entryFunc
	serial bool
	upTo   uint64
}

// Validate reports the first problem with ro, or nil; Read calls it.
func (ro ReadOptions) Validate() error {
	if ro.From > 1 && !ro.Since.IsZero() {
		return errors.New("eventstore: read options: From and Since are exclusive")
	}
	if ro.TrustCheckpoints && (ro.Follow || !ro.Since.IsZero() || (ro.Filter != "" && ro.Filter != domain.SubjectRoot+".>")) {
		return errors.New("eventstore: read options: TrustCheckpoints reads the whole log from a sequence, without Follow")
	}
	return nil
}

// Read calls fn with every event ro selects, one at a time, in stream order,
// without gaps: it reads through an ordered consumer, which recreates itself
// from the last delivered sequence after a lost message, a reconnect or a
// server restart. fn may keep what it is given.
//
// Without Follow, Read returns nil once it has delivered the last matching
// event at or below the stream's last sequence as of the call (at once when
// there is none). With Follow it waits for new events until ctx ends, then
// returns an error wrapping ctx.Err(). When fn returns an error Read stops
// and returns it wrapped (errors.Is finds it); after Close it fails. A
// stored message that must not be applied — not an envelope, or a missing
// (after adoption) or bad log signature — reaches fn as a domain.Recorded
// with Refused set and a zero Envelope, and is counted in LogSigning; it
// never stops the read. Read may be
// called concurrently; each call has its own consumer, deleted when it
// returns.
//
// With Follow a watchdog checks the read every Options.WatchEvery: when it
// is behind the stream (for a filtered read or one by time: its consumer
// has pending messages) and has delivered nothing for
// Options.StallAfter while fn was not running, the consumer is dropped
// and a fresh one resumes after the last delivered event; this is logged
// at error level and counted (see Store.Watchdog). A transient NATS failure
// Read returns is a *domain.RetryError matching
// domain.ErrTemporarilyUnavailable.
func (s *Store) Read(ctx context.Context, ro ReadOptions, fn func(domain.Recorded) error) error {
	where := ro.Filter
	if where == "" {
		where = domain.SubjectRoot + ".>"
	}
	if err := ro.Validate(); err != nil {
		return fmt.Errorf("eventstore: read %s: %w", where, err)
	}
	if ro.TrustCheckpoints {
		return s.readTrusted(ctx, ro, fn) // see checkpoint_read.go
	}
	var stop uint64 // last sequence to deliver, when not following
	if !ro.Follow {
		last, err := s.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("eventstore: read %s: %w", where, err)
		}
		if last == 0 || last < ro.From {
			return nil
		}
		stop = last
		if ro.upTo > 0 {
			stop = min(stop, ro.upTo)
		}
	}

	if s.archive != nil {
		return s.readWithArchive(ctx, ro, stop, fn)
	}
	return s.readHot(ctx, ro, stop, fn)
}

// readHot is Read on the hot stream only.
func (s *Store) readHot(ctx context.Context, ro ReadOptions, stop uint64, fn func(domain.Recorded) error) error {
	for {
		last, stalled, err := s.readSession(ctx, ro, stop, fn)
		if !stalled {
			return unavailable(err)
		}
		// The watchdog ended a stalled consumer: a fresh ordered consumer
		// resumes after the last event delivered.
		if last > 0 {
			ro.From, ro.Since = last+1, time.Time{}
		}
	}
}

// readSession is Read with one ordered consumer, from ro.From or ro.Since.
// With Follow it is watched (see watchFollower): when the watchdog finds
// it stalled, readSession ends it and returns stalled with the last
// sequence it delivered (0 for none), for Read to go on from there.
func (s *Store) readSession(ctx context.Context, ro ReadOptions, stop uint64, fn func(domain.Recorded) error) (last uint64, stalled bool, err error) {
	where := ro.Filter
	if where == "" {
		where = domain.SubjectRoot + ".>"
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if ro.Filter != "" && ro.Filter != domain.SubjectRoot+".>" {
		cfg.FilterSubjects = []string{ro.Filter}
	}
	switch {
	case !ro.Since.IsZero():
		since := ro.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	case ro.From > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, ro.From
	}
	cons, err := s.js.OrderedConsumer(ctx, domain.StreamName, cfg)
	if err != nil {
		return 0, false, fmt.Errorf("eventstore: read %s: %w", where, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return 0, false, fmt.Errorf("eventstore: read %s: %w", where, err)
	}
	// Stop also ends a consumer reset the iterator may be retrying.
	stopIter := context.AfterFunc(ctx, it.Stop)
	defer func() {
		stopIter()
		it.Stop()
		s.deleteConsumer(cons)
	}()

	f := &follower{name: followerName("follow", ro.Filter), byStream: cfg.FilterSubjects == nil && ro.Since.IsZero()}
	if ro.From > 0 {
		f.delivered.Store(ro.From - 1)
	}
	if ro.Follow {
		stopWatch := s.watchFollower(f, cons, it.Stop)
		defer stopWatch()
	} else if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, false, nil
	}
	// A refused message reaches fn with Refused set (see verifier.read).
	next, stopReads := s.reads(ctx, it, ro.entry, ro.serial)
	defer stopReads()
	for {
		rec, pending, err := next()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else if f.stalled.Load() {
				return last, true, nil
			}
			return last, false, fmt.Errorf("eventstore: read %s: %w", where, err)
		}
		seq := rec.Seq
		if !ro.Follow && seq > stop {
			return last, false, nil
		}
		f.busy.Store(true)
		err = fn(rec)
		f.busy.Store(false)
		if err != nil {
			return last, false, fmt.Errorf("eventstore: read %s: at sequence %d: %w", where, seq, err)
		}
		last = seq
		f.delivered.Store(seq)
		if !ro.Follow && (seq >= stop || pending == 0) {
			return last, false, nil
		}
	}
}

// Replay calls fn with every event with a sequence of at least from (0 or 1:
// from the beginning) that matches filter ("" for all), in order, up to the
// stream's last sequence as of the call, then returns nil. It is Read without
// Follow; see Read for errors.
func (s *Store) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	return s.Read(ctx, ReadOptions{From: from, Filter: filter}, fn)
}

// Follow calls fn with every event from sequence from on (0 or 1: from the
// beginning), in order and without gaps, waiting for new ones, until ctx
// ends (it then returns an error wrapping ctx.Err()) or fn fails (it returns
// fn's error, wrapped). It is Read with Follow.
func (s *Store) Follow(ctx context.Context, from uint64, fn func(domain.Recorded) error) error {
	return s.Read(ctx, ReadOptions{From: from, Follow: true}, fn)
}

// deleteConsumer removes a finished read's consumer from the server at once
// instead of leaving it to expire. Failure is harmless: an ordered consumer
// is ephemeral and the server drops it after five idle minutes.
func (s *Store) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || s.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.js.DeleteConsumer(ctx, domain.StreamName, info.Name)
}
