package eventstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// HeaderAggregate names the aggregate of every event, as kind/id
// (domain.Aggregate.String): on a shard subject (see domain.Aggregate) it is
// the only place outside the payload that says which token, family, code
// or device code the event is about.
const HeaderAggregate = "Stamp-Aggregate"

// recentLookback bounds how far back findRecent looks for an id: JetStream
// refuses an id as a duplicate only within the stream's duplicate window,
// which is at most this (a longer window is found, just slower: see
// findRecent).
const recentLookback = 10 * time.Minute

// appendSlot publishes msgs, the messages of events, for an append that
// expects the sharded aggregate agg at sequence seq: the first message goes
// out under Nats-Msg-Id domain.SlotID(agg, seq) instead of its envelope id
// (signed so: msgs come from withSlot), and JetStream stores that id once. A duplicate is our own
// earlier attempt (a retry of a stored append: the stored message carries
// envID, the first envelope's id, as ours does) or a competing decision on
// the same state (ErrConflict).
func (s *Store) appendSlot(ctx context.Context, where string, agg domain.Aggregate, seq uint64, envID string, msgs []*nats.Msg) (uint64, error) {
	slot := domain.SlotID(agg, seq)
	first := msgs[0]
	if len(msgs) == 1 {
		ack, err := s.js.PublishMsg(ctx, first)
		if err != nil {
			return 0, appendError(where, err)
		}
		if !ack.Duplicate {
			return ack.Sequence, nil
		}
		stored, err := s.getSeq(ctx, ack.Sequence)
		if err != nil {
			return 0, fmt.Errorf("eventstore: append %s: read the holder of %s: %w", where, slot, err)
		}
		if !stored.holds(first.Subject, envID) {
			return 0, fmt.Errorf("eventstore: append %s: %w: %s@%d already decided at sequence %d", where, domain.ErrConflict, agg, seq, ack.Sequence)
		}
		return ack.Sequence, nil
	}
	last, err := s.publishBatch(ctx, where, msgs)
	if !errors.Is(err, errBatchDuplicate) {
		return last, err
	}
	stored, ok, ferr := s.findRecent(ctx, first.Subject, slot)
	if ferr != nil || !ok {
		return 0, err
	}
	if !stored.holds(first.Subject, envID) {
		return 0, fmt.Errorf("eventstore: append %s: %w: %s@%d already decided at sequence %d", where, domain.ErrConflict, agg, seq, stored.seq)
	}
	// A stored atomic batch is contiguous.
	return stored.seq + uint64(len(msgs)) - 1, nil
}

// withSlot returns msgs with the first replaced by a copy that goes out
// under Nats-Msg-Id domain.SlotID(agg, seq), signed so; msgs are left
// unchanged.
func (s *Store) withSlot(agg domain.Aggregate, seq uint64, msgs []*nats.Msg) []*nats.Msg {
	first := &nats.Msg{Subject: msgs[0].Subject, Data: msgs[0].Data, Header: make(nats.Header, len(msgs[0].Header))}
	for k, v := range msgs[0].Header {
		first.Header[k] = v
	}
	first.Header.Set(hdrMsgID, domain.SlotID(agg, seq))
	s.sign(first)
	return append([]*nats.Msg{first}, msgs[1:]...)
}

// rawMessage is a stored message as a direct get returned it.
type rawMessage struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// holds reports whether r is the event envID on subject.
func (r rawMessage) holds(subject, envID string) bool {
	var env struct {
		ID string `json:"id"`
	}
	return r.subject == subject && json.Unmarshal(r.data, &env) == nil && env.ID == envID
}

// getSeq reads the message at seq.
func (s *Store) getSeq(ctx context.Context, seq uint64) (rawMessage, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	g := newGetter(s.replies, s.verify)
	defer g.close()
	reply, err := g.send(directGetRequest{Seq: seq})
	if err != nil {
		return rawMessage{}, err
	}
	for {
		m, err := g.recv(ctx)
		if err != nil {
			return rawMessage{}, err
		}
		if m.Subject != reply {
			continue
		}
		if m.Header.Get(hdrStatus) != "" {
			return rawMessage{}, statusError(m)
		}
		return rawFrom(m)
	}
}

func rawFrom(m *nats.Msg) (rawMessage, error) {
	seq, err := parseHeader(m, hdrSequence)
	if err != nil {
		return rawMessage{}, err
	}
	return rawMessage{seq: seq, subject: m.Header.Get(hdrSubject), header: m.Header, data: m.Data}, nil
}

// findRecent looks for the message with Nats-Msg-Id id on the literal
// subject among the messages of the last recentLookback (an id JetStream
// still deduplicates is that recent, unless the stream's window is longer),
// and reports whether it found it.
func (s *Store) findRecent(ctx context.Context, subject, id string) (rawMessage, bool, error) {
	since := time.Now().Add(-recentLookback)
	var found rawMessage
	ok := false
	err := s.scanRaw(ctx, directGetRequest{NextFor: subject, StartTime: &since}, func(r rawMessage) bool {
		if r.header.Get(hdrMsgID) == id {
			found, ok = r, true
			return false
		}
		return true
	})
	return found, ok, err
}

// scanRaw reads the messages req selects (NextFor, from Seq or StartTime)
// in batches, handing each to f until f returns false or none is left.
func (s *Store) scanRaw(ctx context.Context, req directGetRequest, f func(rawMessage) bool) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	g := newGetter(s.replies, s.verify)
	defer g.close()
	req.Batch = loadBatch
	for {
		reply, err := g.send(req)
		if err != nil {
			return err
		}
		for {
			m, err := g.recv(ctx)
			if err != nil {
				return err
			}
			if m.Subject != reply {
				continue
			}
			switch m.Header.Get(hdrStatus) {
			case "":
				r, err := rawFrom(m)
				if err != nil {
					return err
				}
				if !f(r) {
					return nil
				}
				req.Seq, req.StartTime = r.seq+1, nil
				continue
			case statusNotFound:
				return nil
			case statusEndOfBatch:
				pending, err := parseHeader(m, hdrNumPending)
				if err != nil {
					return err
				}
				if pending == 0 || req.Seq == 0 {
					return nil
				}
			default:
				return statusError(m)
			}
			break
		}
	}
}

// storedSharded reports whether every event is stored on the sharded
// aggregate agg, looking for the last one's id on its subject among recent
// messages, and if so returns the sequence of the last one.
func (s *Store) storedSharded(ctx context.Context, agg domain.Aggregate, events []domain.Envelope) (uint64, bool) {
	last := events[len(events)-1]
	r, ok, err := s.findRecent(ctx, agg.Subject(last.Type), last.ID)
	if err != nil || !ok {
		return 0, false
	}
	return r.seq, true
}

// loadSharded reads the events of the sharded aggregate agg: those on its
// per-id subjects (logs written before the shards), then those on its
// shard with agg's Stamp-Aggregate header. It reads the whole shard, a
// sixteenth of the kind's history: the server loads such aggregates
// through the read models' event index and Get instead; this is the answer
// for a caller without read models (a CLI command on a stopped server).
func (g getter) loadSharded(ctx context.Context, s *Store, agg domain.Aggregate) ([]domain.Recorded, error) {
	out, err := g.load(ctx, agg.LegacyFilter())
	if err != nil {
		return nil, err
	}
	name := agg.String()
	err = s.scanRaw(ctx, directGetRequest{Seq: 1, NextFor: agg.Filter()}, func(r rawMessage) bool {
		if r.header.Get(HeaderAggregate) == name {
			rec, _ := s.verify.read(r.seq, r.subject, r.header, r.data)
			out = append(out, rec)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b domain.Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// Get returns the events at the stream sequences seqs, in the order of
// seqs, read with direct gets (all requests at once). A sequence that holds
// no message is left out. A stored message that must not be applied comes
// back with Refused set, as Read documents. It is how one aggregate of a
// sharded kind is read: its sequences from the read models' event index,
// then Get. Get tries again while the failure is transient.
func (s *Store) Get(ctx context.Context, seqs []uint64) ([]domain.Recorded, error) {
	return retrying(ctx, s, func(ctx context.Context) ([]domain.Recorded, error) { return s.getOnce(ctx, seqs) })
}

func (s *Store) getOnce(ctx context.Context, seqs []uint64) ([]domain.Recorded, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	g := newGetter(s.replies, s.verify)
	defer g.close()
	got, err := g.getSeqs(ctx, seqs, 0)
	if err != nil {
		return nil, err
	}
	if s.archive != nil && slices.Contains(got, nil) {
		// What the hot stream no longer holds, the archive does (see
		// archive_read.go): ask it for the sequences left.
		if err := s.getArchived(ctx, seqs, got); err != nil {
			return nil, err
		}
	}
	out := make([]domain.Recorded, 0, len(seqs))
	for _, r := range got {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// getArchived fills the nil entries of got, the events at seqs, from the
// archive, when it has them.
func (s *Store) getArchived(ctx context.Context, seqs []uint64, got []*domain.Recorded) error {
	offset, ok, err := s.archiveOffset(ctx)
	if err != nil || !ok {
		return err
	}
	var missing []uint64
	var at []int
	for i, r := range got {
		if r == nil && seqs[i] > offset {
			missing, at = append(missing, seqs[i]), append(at, i)
		}
	}
	g := getter{in: s.replies.Open(), v: s.verify, subject: "$JS.API.DIRECT.GET." + ArchiveStreamName, archive: true, offset: offset}
	defer g.close()
	arch, err := g.getSeqs(ctx, missing, offset)
	if err != nil {
		return err
	}
	for j, r := range arch {
		if r != nil {
			r.Seq += offset
			got[at[j]] = r
		}
	}
	return nil
}

// getSeqs asks g's stream for the events at seqs (each less offset: the
// archive's numbering) all at once; an entry is nil where the stream holds
// no such message.
func (g getter) getSeqs(ctx context.Context, seqs []uint64, offset uint64) ([]*domain.Recorded, error) {
	pending := make(map[string]int, len(seqs))
	for i, seq := range seqs {
		reply, err := g.send(directGetRequest{Seq: seq - offset})
		if err != nil {
			return nil, fmt.Errorf("eventstore: get %d: %w", seq, err)
		}
		pending[reply] = i
	}
	got := make([]*domain.Recorded, len(seqs))
	for len(pending) > 0 {
		m, err := g.recv(ctx)
		if err != nil {
			return nil, fmt.Errorf("eventstore: get: %w", err)
		}
		i, ok := pending[m.Subject]
		if !ok {
			continue
		}
		delete(pending, m.Subject)
		switch m.Header.Get(hdrStatus) {
		case "":
			rec, err := g.decode(m)
			if err != nil {
				return nil, fmt.Errorf("eventstore: get %d: %w", seqs[i], err)
			}
			got[i] = &rec
		case statusNotFound:
		default:
			return nil, fmt.Errorf("eventstore: get %d: %w", seqs[i], statusError(m))
		}
	}
	return got, nil
}
