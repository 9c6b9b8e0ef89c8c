package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stamp-oauth/stamp/domain"
)

// Parking. An event the Store cannot apply never stops it: it is parked,
// recorded under the parked/ prefix with its sequence and the reason, in
// the same batch as the checkpoints that move past it, and the store goes
// on with the next event. Parking is deterministic, so a rebuild parks the
// same events with the same records and yields the same checksum.
//
// Reasons: the log refused the message (not an envelope, missing or bad
// log signature: domain.Recorded.Refused); a malformed event
// (ErrMalformed); or a known type at a newer schema version than this code
// knows (*domain.FutureVersionError). The last also blocks the event's
// aggregate (as named by its subject): every later event of that aggregate
// is parked with reason "blocked behind sequence N", since applying it
// without the newer one would build a wrong state. The way out is to
// upgrade stamp and rebuild the store (stamp replay), which applies them.
//
// Key layout: parked/seq/<sequence, 8 bytes big-endian> holds a
// ParkedEvent as JSON; parked/blocked/<kind>/<id> holds the sequence (8
// bytes big-endian) of the event that blocks the aggregate.
const (
	prefixParkedSeq     = "parked/seq/"
	prefixParkedBlocked = "parked/blocked/"
)

// ParkedEvent is an event the Store set aside instead of applying.
type ParkedEvent struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	// Type is the envelope's event type; empty when the message was
	// refused before it was decoded.
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason"`
	// BlockedBehind, when not 0, is the sequence of the newer-version
	// event of the same aggregate that this one waits behind.
	BlockedBehind uint64 `json:"blocked_behind,omitempty"`
	// Blocks reports that this event (of a newer version) blocks the
	// later events of its aggregate.
	Blocks bool `json:"blocks,omitempty"`
}

func parkedKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixParkedSeq), seq)
}

func blockedKey(agg domain.Aggregate) []byte {
	return cat(prefixParkedBlocked, agg.Kind, "/", agg.ID)
}

// parkReason decides whether rec, with decode's result err, is to be
// parked, and returns the record to write. ok is false for an event to
// apply (err is nil).
func (w *writer) parkReason(rec domain.Recorded, err error) (p ParkedEvent, ok bool, _ error) {
	p = ParkedEvent{Seq: rec.Seq, Subject: rec.Subject, Type: rec.Envelope.Type}
	if rec.Refused != "" {
		p.Reason = "refused: " + rec.Refused
		return p, true, nil
	}
	agg, _, aggOK := domain.ParseSubject(rec.Subject)
	if aggOK && w.s.mayBlock {
		v, found, lerr := w.loadRaw(blockedKey(agg))
		if lerr != nil {
			return p, false, fmt.Errorf("projections: read %s: %w", blockedKey(agg), lerr)
		}
		if found && len(v) == 8 && binary.BigEndian.Uint64(v) < rec.Seq {
			p.BlockedBehind = binary.BigEndian.Uint64(v)
			p.Reason = fmt.Sprintf("blocked behind sequence %d", p.BlockedBehind)
			return p, true, nil
		}
	}
	if err == nil {
		return p, false, nil
	}
	var future *domain.FutureVersionError
	p.Reason = err.Error()
	if errors.As(err, &future) {
		p.Reason, p.Blocks = future.Error(), aggOK
	}
	return p, true, nil
}

// park writes p and, if it blocks, its aggregate's block, and moves every
// checkpoint below p.Seq to it. It logs the parking at error level.
func (w *writer) park(p ParkedEvent) error {
	val, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := w.batch.Set(parkedKey(p.Seq), val, nil); err != nil {
		return fmt.Errorf("projections: park seq %d: %w", p.Seq, err)
	}
	if p.Blocks {
		w.s.mayBlock = true
		agg, _, _ := domain.ParseSubject(p.Subject)
		key := blockedKey(agg)
		v := binary.BigEndian.AppendUint64(nil, p.Seq)
		w.pending[string(key)] = v
		if err := w.batch.Set(key, v, nil); err != nil {
			return fmt.Errorf("projections: park seq %d: %w", p.Seq, err)
		}
	}
	for i := range numModels {
		if w.cps[i] < p.Seq {
			w.cps[i] = p.Seq
		}
	}
	w.s.logger.Error("projections: event parked, not applied", "seq", p.Seq, "subject", p.Subject, "type", p.Type, "reason", p.Reason)
	return nil
}

// loadMayBlock sets s.mayBlock when the store holds a blocked aggregate.
func (s *Store) loadMayBlock() error {
	lower := []byte(prefixParkedBlocked)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("projections: read blocked aggregates: %w", err)
	}
	s.mayBlock = it.First()
	return errors.Join(it.Error(), it.Close())
}

// Parked returns every event the store has parked, in stream order; none
// is an empty slice. It returns ErrClosed (wrapped) after Close. Safe for
// concurrent use.
func (s *Store) Parked() ([]ParkedEvent, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	lower := []byte(prefixParkedSeq)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, fmt.Errorf("projections: parked: %w", err)
	}
	out := []ParkedEvent{}
	for ok := it.First(); ok; ok = it.Next() {
		var p ParkedEvent
		if err := json.Unmarshal(it.Value(), &p); err != nil {
			return nil, errors.Join(fmt.Errorf("projections: parked %x: %w", it.Key(), err), it.Close())
		}
		out = append(out, p)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("projections: parked: %w", err)
	}
	return out, nil
}

// Parked returns the events the runner's store has parked (see
// Store.Parked): what a status or readiness report shows.
func (r *Runner) Parked() ([]ParkedEvent, error) { return r.store.Parked() }
