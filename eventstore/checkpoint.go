package eventstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// Log checkpoints (domain.LogCheckpointed): WriteCheckpoints writes them,
// a read with ReadOptions.TrustCheckpoints uses them (checkpoint_read.go).

// ErrCheckpointMismatch is wrapped by a read with TrustCheckpoints that
// found the messages of a checkpointed range differ from what its validly
// signed checkpoint pins (a message altered, removed or added since): the
// read stops at the end of that range, so a rebuild built from it fails
// instead of holding unverified events.
var ErrCheckpointMismatch = errors.New("eventstore: the log differs from its signed checkpoint")

// errCheckpointRaced: another instance checkpointed first.
var errCheckpointRaced = errors.New("eventstore: checkpoint: another instance wrote the next checkpoint")

// checkpointSubject is the subject of every LogCheckpointed.
var checkpointSubject = domain.LogCheckpointAggregate.Subject(domain.LogCheckpointed{}.EventType())

// entryFunc turns a stored message into a Recorded, as verifier.read does
// (a refused one has Refused set and comes with an error).
type entryFunc func(seq uint64, subject string, h nats.Header, body []byte) (domain.Recorded, error)

// entryHashes computes the entry hashes of a read's messages, on
// whichever goroutine checks a message, and hands them to the in-order
// consumer of its records. It holds at most the messages in flight. Safe
// for concurrent use.
type entryHashes struct {
	mu     sync.Mutex
	hasher domain.LogEntryHasher
	m      map[uint64][sha256.Size]byte
}

func newEntryHashes() *entryHashes { return &entryHashes{m: map[uint64][sha256.Size]byte{}} }

// put computes and keeps the entry hash of a message (domain.LogEntryHash).
func (e *entryHashes) put(seq uint64, status domain.LogEntryStatus, subject, msgID string, body []byte) {
	e.mu.Lock()
	e.m[seq] = e.hasher.Hash(seq, status, subject, msgID, body)
	e.mu.Unlock()
}

func (e *entryHashes) take(seq uint64) ([sha256.Size]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.m[seq]
	delete(e.m, seq)
	return h, ok
}

// entryStatus is how a verifying reader judged a message with headers h:
// err is what verifier.read returned for it.
func entryStatus(h nats.Header, err error) domain.LogEntryStatus {
	switch {
	case err != nil:
		return domain.LogEntryRefused
	case h.Get(HeaderSignature) != "":
		return domain.LogEntrySigned
	}
	return domain.LogEntryUnsigned
}

// checkpoint is one checkpoint of the log, at stream sequence Seq.
type checkpoint struct {
	Seq uint64
	domain.LogCheckpointed
	refused map[uint64]bool
}

// checkpointChain is what the log holds of checkpoints.
type checkpointChain struct {
	// Valid are the checkpoints a trusted log key validly signed, with
	// ranges ascending and disjoint, in stream order.
	Valid []checkpoint
	// LastSeq is the sequence of the last message on the checkpoint
	// subject, valid or not (0 for none): the next checkpoint's
	// expectation.
	LastSeq uint64
	// Ignored describes the checkpoints left out, and why.
	Ignored []string
}

// next returns where the next checkpoint's range begins.
func (c checkpointChain) next() uint64 {
	if len(c.Valid) == 0 {
		return 1
	}
	return c.Valid[len(c.Valid)-1].To + 1
}

// loadCheckpoints reads every message on the checkpoint subject (hot and
// archived) and keeps those a trusted log key validly signed whose range
// is well formed (From ≤ To < its own sequence) and lies after the
// previous valid one. The others are listed in Ignored: their ranges are
// verified per event.
func (s *Store) loadCheckpoints(ctx context.Context) (checkpointChain, error) {
	var chain checkpointChain
	verdicts := sync.Map{} // seq → reason ("" valid)
	entry := func(seq uint64, subject string, h nats.Header, body []byte) (domain.Recorded, error) {
		reason := s.verify.check(seq, subject, h, body)
		if reason == "" && h.Get(HeaderSignature) == "" {
			reason = "unsigned"
		}
		verdicts.Store(seq, reason)
		return decode(seq, subject, body)
	}
	err := s.Read(ctx, ReadOptions{Filter: checkpointSubject, entry: entry}, func(rec domain.Recorded) error {
		chain.LastSeq = rec.Seq
		reason := ""
		if v, ok := verdicts.LoadAndDelete(rec.Seq); ok {
			reason = v.(string)
		}
		var cp domain.LogCheckpointed
		if reason == "" {
			e, err := domain.Decode(rec.Envelope)
			var ok bool
			if cp, ok = e.(domain.LogCheckpointed); err != nil || !ok {
				reason = "not a LogCheckpointed"
			}
		}
		switch {
		case reason != "":
		case cp.From == 0 || cp.From > cp.To || cp.To >= rec.Seq:
			reason = fmt.Sprintf("bad range %d to %d", cp.From, cp.To)
		case len(chain.Valid) > 0 && cp.From <= chain.Valid[len(chain.Valid)-1].To:
			reason = fmt.Sprintf("range %d to %d overlaps the previous checkpoint's (to %d)", cp.From, cp.To, chain.Valid[len(chain.Valid)-1].To)
		}
		if reason != "" {
			chain.Ignored = append(chain.Ignored, fmt.Sprintf("sequence %d: %s", rec.Seq, reason))
			return nil
		}
		c := checkpoint{Seq: rec.Seq, LogCheckpointed: cp, refused: make(map[uint64]bool, len(cp.Refused))}
		for _, r := range cp.Refused {
			c.refused[r] = true
		}
		chain.Valid = append(chain.Valid, c)
		return nil
	})
	if err != nil {
		return checkpointChain{}, fmt.Errorf("eventstore: checkpoints: %w", err)
	}
	return chain, nil
}

// WriteCheckpoints keeps the log checkpointed until ctx ends, then returns
// nil. It follows the stream from the end of the last valid checkpoint
// (from sequence 1 on a log without one), verifies every message as every
// reader does (one at a time, so it takes at most one CPU), and once
// every sequences are verified appends a domain.LogCheckpointed of the
// range, signed like every event, expecting the checkpoint subject's last
// sequence: when another instance checkpointed first, it drops its own,
// reloads the chain and goes on after the winner's range. The checkpoint's
// id is derived from its range, so a retried append is stored once.
// Failures are logged and retried after a pause. It needs a LogKey
// (Options.LogKey); without one it returns an error at once. every must
// be at least 1.
func (s *Store) WriteCheckpoints(ctx context.Context, every uint64) error {
	if s.logKey == nil {
		return errors.New("eventstore: checkpoints: the Store holds no log key")
	}
	if every == 0 {
		return errors.New("eventstore: checkpoints: want an interval of at least 1")
	}
	pause := time.Second
	for {
		err := s.checkpointRun(ctx, every)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errCheckpointRaced) {
			pause = time.Second
			continue
		}
		s.logger.Warn("log checkpoints: will try again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}

// checkpointRun is one run of WriteCheckpoints: load the chain, follow
// the log from its end, checkpoint every every sequences. It returns
// errCheckpointRaced when another instance checkpointed first, ctx's error
// when ctx ends, or the failure.
func (s *Store) checkpointRun(ctx context.Context, every uint64) error {
	chain, err := s.loadCheckpoints(ctx)
	if err != nil {
		return err
	}
	for _, why := range chain.Ignored {
		s.logger.Warn("log checkpoints: a checkpoint is ignored; its range is verified per event", "checkpoint", why)
	}
	from, expect := chain.next(), chain.LastSeq
	hashes := newEntryHashes()
	entry := func(seq uint64, subject string, h nats.Header, body []byte) (domain.Recorded, error) {
		rec, err := s.verify.read(seq, subject, h, body)
		hashes.put(seq, entryStatus(h, err), subject, h.Get(hdrMsgID), body)
		return rec, err
	}
	digest, refused := domain.NewLogDigest(), []uint64(nil)
	deliver := func(rec domain.Recorded) error {
		h, ok := hashes.take(rec.Seq)
		if !ok {
			return fmt.Errorf("eventstore: checkpoints: no entry hash for sequence %d", rec.Seq)
		}
		digest.Add(h)
		if rec.Refused != "" {
			refused = append(refused, rec.Seq)
		}
		if rec.Seq < from+every-1 {
			return nil
		}
		cp := domain.LogCheckpointed{From: from, To: rec.Seq, Digest: digest.Sum(), Refused: refused, KeyID: s.logKeyID}
		env, err := domain.NewEnvelope(fmt.Sprintf("logcheckpoint-%d-%d", cp.From, cp.To), cp, time.Now(), domain.Actor{Kind: domain.ActorSystem, ID: "log-checkpoint"})
		if err != nil {
			return err
		}
		seq, err := s.Append(ctx, domain.LogCheckpointAggregate, domain.ExpectSeq(expect), env)
		if errors.Is(err, domain.ErrConflict) {
			return errCheckpointRaced
		}
		if err != nil {
			return err
		}
		s.logger.Debug("log checkpoint", "from", cp.From, "to", cp.To, "refused", len(cp.Refused), "seq", seq)
		from, expect = rec.Seq+1, seq
		digest, refused = domain.NewLogDigest(), nil
		return nil
	}
	return s.Read(ctx, ReadOptions{From: from, Follow: true, entry: entry, serial: true}, deliver)
}
