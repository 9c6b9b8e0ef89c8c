package eventstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// readTrusted is Read with TrustCheckpoints: it loads the checkpoint chain
// (loadCheckpoints: each checkpoint's log signature, its range after the
// previous one's), then reads the log as Read does, except inside the
// range of a valid checkpoint:
//
//   - a message is hashed (domain.LogEntryHash) and decoded, not
//     verified; one the checkpoint lists as refused, and a log-signing
//     announcement, are still verified per event, so every record handed
//     on is what per-event verification hands on, with the same reason;
//   - at the range's end the digest of its messages is compared with the
//     checkpoint's; when they differ the read stops, before handing on the
//     range's last message, with an error wrapping ErrCheckpointMismatch.
//
// A range is trusted only when the read begins at or before it and the
// stream still holds its first sequence (a stream's max age may have
// dropped part of it); every other message, and every message past the
// last checkpoint, is verified per event (past the last range, by a
// second read up to the stream's last sequence as of then, checking on
// several goroutines as Read does). Ignored checkpoints (bad signature,
// bad range) are logged as warnings.
func (s *Store) readTrusted(ctx context.Context, ro ReadOptions, fn func(domain.Recorded) error) error {
	ro.TrustCheckpoints = false
	if len(s.verify.keys) == 0 {
		return s.Read(ctx, ro, fn) // nothing is verified: nothing to save
	}
	chain, err := s.loadCheckpoints(ctx)
	if err != nil {
		return err
	}
	for _, why := range chain.Ignored {
		s.logger.Warn("log checkpoints: a checkpoint is ignored; its range is verified per event", "checkpoint", why)
	}
	first, err := s.FirstSeq(ctx)
	if err != nil {
		return err
	}
	start := max(ro.From, 1, first)
	var ranges []checkpoint
	for _, c := range chain.Valid {
		if c.From >= start {
			ranges = append(ranges, c)
		}
	}
	if len(ranges) == 0 {
		return s.Read(ctx, ro, fn)
	}

	hashes := newEntryHashes()
	ro.serial = true
	ro.entry = func(seq uint64, subject string, h nats.Header, body []byte) (domain.Recorded, error) {
		c := rangeOf(ranges, seq)
		if c == nil {
			return s.verify.read(seq, subject, h, body)
		}
		status := entryStatus(h, nil)
		var rec domain.Recorded
		var err error
		switch {
		case c.refused[seq]:
			status = domain.LogEntryRefused
			rec, err = s.verify.read(seq, subject, h, body)
		case subject == announcementSubject:
			rec, err = s.verify.read(seq, subject, h, body) // teaches the adoption point
		default:
			if rec, err = decode(seq, subject, body); err != nil {
				s.verify.refused.Add(1)
				rec, err = domain.Recorded{Seq: seq, Subject: subject, Refused: "not an envelope"}, fmt.Errorf("%w: %w", ErrRefused, err)
			} else {
				s.verify.hashed.Add(1)
			}
		}
		hashes.put(seq, status, subject, h.Get(hdrMsgID), body)
		return rec, err
	}

	var (
		next   int // index in ranges of the range in progress or to come
		open   bool
		digest *domain.LogDigest
	)
	finish := func() error {
		c := ranges[next]
		next, open = next+1, false
		if got := digest.Sum(); got != c.Digest {
			return fmt.Errorf("%w: sequences %d to %d hash to %s, their checkpoint (sequence %d) says %s; nothing read from them may be trusted", ErrCheckpointMismatch, c.From, c.To, got, c.Seq, c.Digest)
		}
		return nil
	}
	// The checkpointed part, up to the last range's end, one message at a
	// time: hashing costs less than handing messages between goroutines.
	// Then the rest verified per event, as Read does.
	tail := ro
	tail.From, tail.entry, tail.serial = ranges[len(ranges)-1].To+1, nil, false
	ro.upTo = tail.From - 1
	err = s.Read(ctx, ro, func(rec domain.Recorded) error {
		for open && rec.Seq > ranges[next].To {
			if err := finish(); err != nil {
				return err
			}
		}
		for !open && next < len(ranges) && rec.Seq >= ranges[next].From {
			open, digest = true, domain.NewLogDigest()
			if rec.Seq > ranges[next].To { // none of its messages left
				if err := finish(); err != nil {
					return err
				}
			}
		}
		if open {
			h, ok := hashes.take(rec.Seq)
			if !ok {
				return fmt.Errorf("eventstore: checkpoints: no entry hash for sequence %d", rec.Seq)
			}
			digest.Add(h)
			if rec.Seq == ranges[next].To {
				if err := finish(); err != nil {
					return err
				}
			}
		}
		return fn(rec)
	})
	if err == nil && open {
		err = finish()
	}
	if err != nil {
		return err
	}
	return s.Read(ctx, tail, fn)
}

// rangeOf returns the checkpoint of ranges (ascending, disjoint) whose
// range holds seq, or nil.
func rangeOf(ranges []checkpoint, seq uint64) *checkpoint {
	lo, hi := 0, len(ranges)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case seq < ranges[m].From:
			hi = m
		case seq > ranges[m].To:
			lo = m + 1
		default:
			return &ranges[m]
		}
	}
	return nil
}

// Checkpointed is the Store as a rebuild reads it: a Replay of the whole
// log (filter "" or domain.SubjectRoot+".>") trusts the log's checkpoints
// (ReadOptions.TrustCheckpoints, so it may fail with an error wrapping
// ErrCheckpointMismatch); any other read is the Store's. Safe for
// concurrent use.
type Checkpointed struct{ *Store }

// Replay is Store.Replay, trusting checkpoints for the whole log.
func (c Checkpointed) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	if filter != "" && filter != domain.SubjectRoot+".>" {
		return c.Store.Replay(ctx, from, filter, fn)
	}
	return c.Store.Read(ctx, ReadOptions{From: from, TrustCheckpoints: true}, fn)
}
