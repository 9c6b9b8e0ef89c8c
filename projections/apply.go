package projections

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stamp-oauth/stamp/domain"
)

// Apply applies one recorded event to every model whose checkpoint is below
// rec.Seq, and moves those checkpoints to rec.Seq, in one Pebble batch
// committed before it returns. It is ApplyBatch of one event; see there for
// what it returns. Safe for concurrent use (writers are serialized), but
// events must come in stream order.
func (s *Store) Apply(rec domain.Recorded) error {
	return s.ApplyBatch([]domain.Recorded{rec})
}

// ApplyBatch applies recs, in order, in one Pebble batch committed before it
// returns: each model folds each event whose sequence is above its
// checkpoint, and its checkpoint moves to the last such sequence. A later
// event of the batch sees the state the earlier ones left. (A TokensPurged
// event, which reads indexes, first commits the events before it as a batch
// of their own, checkpoints included.)
//
// An event every model has applied already is skipped without a look, so a
// redelivery writes nothing at all. An event of a type domain does not know
// advances the checkpoints without effect. At the first event that cannot
// be applied — a known type at a newer schema version, a malformed event,
// a message the log refused (domain.Recorded.Refused) — it parks the event
// instead (see parked.go): it records it under parked/ and moves the
// checkpoints past it, in the same batch, and goes on; a newer version
// also blocks the later events of its aggregate. At sequence 0 it commits
// the events before it and returns an error wrapping ErrMalformed; nothing
// of that event or those after it is written. A storage error, or a user
// key store that keeps failing (see reveal), writes nothing of the batch
// (since its last purge). recs must be in stream order; gaps (a
// filtered replay) are fine. Safe for concurrent use: writers are
// serialized.
func (s *Store) ApplyBatch(recs []domain.Recorded) error {
	return s.applyBatch(recs, nil, nil)
}

// applyBatch is ApplyBatch with the events of recs decoded already, evs
// and errs as decodeAll returns them (for any sequence at or below the
// store's checkpoint at the time), or, with evs nil, decoded here.
func (s *Store) applyBatch(recs []domain.Recorded, evs []domain.Event, errs []error) error {
	if len(recs) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()

	w := &s.w
	w.begin(s)
	defer w.end()
	if evs == nil {
		evs, errs = decodeAll(recs, w.lowest())
	}
	if err := s.reveal(recs, evs, errs, w.lowest()); err != nil {
		return err // nothing written: the batch is tried again
	}
	var stop error
	for i, rec := range recs {
		if rec.Seq == 0 {
			stop = fmt.Errorf("%w: event %s has sequence 0", ErrMalformed, rec.Envelope.ID)
			break
		}
		if rec.Seq <= w.lowest() {
			continue // every model has it: a redelivery
		}
		p, park, err := w.parkReason(rec, errs[i])
		if err != nil {
			return err // the batch is discarded: nothing written
		}
		if park {
			if err := w.park(p); err != nil {
				return err
			}
			continue
		}
		if s.models.startsBatch(rec, evs[i]) && w.dirty() {
			if err := w.commit(); err != nil {
				return err
			}
			w.end()
			w.begin(s)
		}
		if err := w.apply(rec, evs[i]); err != nil {
			return err // the batch is discarded: nothing written
		}
	}
	if err := w.commit(); err != nil {
		return err
	}
	return stop
}

// parallelDecodeMin is the smallest batch whose events are decoded on
// several goroutines.
const parallelDecodeMin = 64

// decodeAll decodes the events of recs above sequence applied (decoding is
// pure, so on several goroutines for a big batch, which speeds up replay);
// evs[i] and errs[i] are decode's results for recs[i].
func decodeAll(recs []domain.Recorded, applied uint64) (evs []domain.Event, errs []error) {
	evs, errs = make([]domain.Event, len(recs)), make([]error, len(recs))
	decodeRange := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if recs[i].Seq > applied {
				evs[i], errs[i] = decode(recs[i])
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(recs)/(parallelDecodeMin/2), 8)
	if len(recs) < parallelDecodeMin || workers < 2 {
		decodeRange(0, len(recs))
		return evs, errs
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += chunk {
		wg.Go(func() { decodeRange(lo, min(lo+chunk, len(recs))) })
	}
	wg.Wait()
	return evs, errs
}

// decode returns rec's event, nil for an event of an unknown type (to be
// skipped), or the error that stops the projection.
func decode(rec domain.Recorded) (domain.Event, error) {
	ev, err := domain.Decode(rec.Envelope)
	var future *domain.FutureVersionError
	switch {
	case errors.Is(err, domain.ErrUnknownEventType):
		return nil, nil
	case errors.As(err, &future):
		return nil, fmt.Errorf("projections: apply seq %d: %w", rec.Seq, err)
	case err != nil:
		return nil, fmt.Errorf("%w: seq %d: %w", ErrMalformed, rec.Seq, err)
	}
	agg := ev.AggregateOf()
	if !domain.ValidID(agg.ID) {
		return nil, fmt.Errorf("%w: seq %d: %s has invalid aggregate id %q", ErrMalformed, rec.Seq, rec.Envelope.Type, agg.ID)
	}
	if rec.Subject != "" {
		if !agg.OnSubject(rec.Subject, rec.Envelope.Type) {
			return nil, fmt.Errorf("%w: seq %d: %s of %s recorded on subject %q", ErrMalformed, rec.Seq, rec.Envelope.Type, agg, rec.Subject)
		}
	}
	return ev, nil
}

// writer gathers the effects of a batch of events. The Store keeps one and
// lends it to the holder of writeMu, so a batch allocates little.
//
// State reads must see the writes of earlier events of the same batch;
// pending holds every value written in the batch by key, in front of the
// committed database (which only the writer changes, so it is exactly the
// state before the batch). Values are stored and read back as bytes, so a
// fold starts from the same bytes whether its predecessor was committed
// alone or in the same batch.
type writer struct {
	s       *Store
	batch   *pebble.Batch
	pending map[string][]byte
	cps     [numModels]uint64
	// it reads the committed state, made at the first load of a batch: one
	// iterator seeked per load costs less than a fresh Get each time.
	it *pebble.Iterator
	// written, while Rebuild fills a fresh store, is a Bloom filter of
	// every key a committed batch has written (written.go); a key it does
	// not hold is in no committed state, so its load skips the lookup
	// (most events of a replay create their aggregate). A false positive
	// only costs a lookup. Its size is fixed (8 MiB); it is nil outside
	// Rebuild.
	written *writtenSet
	// keysChanged and clientsChanged: the batch wrote under the signing
	// keys or the clients model's prefix (see keys_cache.go).
	keysChanged, clientsChanged bool
}

func (w *writer) begin(s *Store) {
	w.s = s
	w.batch = s.db.NewBatch()
	w.cps = s.cps
	if w.pending == nil {
		w.pending = make(map[string][]byte)
	}
}

// end releases the batch, committed or not, and the iterator.
func (w *writer) end() {
	if w.it != nil {
		w.it.Close()
		w.it = nil
	}
	w.batch.Close()
	w.batch = nil
	w.keysChanged, w.clientsChanged = false, false
	clear(w.pending)
}

// dirty reports whether the batch has applied an event.
func (w *writer) dirty() bool { return w.cps != w.s.cps }

func (w *writer) lowest() uint64 {
	lowest := w.cps[0]
	for _, cp := range w.cps[1:] {
		lowest = min(lowest, cp)
	}
	return lowest
}

// apply folds ev (nil: unknown type) into each model that has not applied
// rec.Seq and moves its checkpoint.
func (w *writer) apply(rec domain.Recorded, ev domain.Event) error {
	for i := range numModels {
		if rec.Seq <= w.cps[i] {
			continue
		}
		if ev != nil {
			if err := w.s.models.folders[i].apply(w, rec, ev); err != nil {
				return fmt.Errorf("projections: apply seq %d to %s: %w", rec.Seq, modelAt(i), err)
			}
		}
		w.cps[i] = rec.Seq
	}
	return nil
}

// commit writes the moved checkpoints and commits the batch, then publishes
// them. A batch with no moved checkpoint has nothing to write and is not
// committed.
//
// The commit does not wait for fsync (pebble.NoSync). The log is the truth
// and every checkpoint is in the same batch as its effects; Pebble recovers
// whole batches from its WAL, in order, so a crash can lose only the last
// batches, checkpoints with effects, and the Runner then replays them from
// the checkpoint that did reach the disk. Nothing is acknowledged to the log
// on the strength of a commit, so no event can be lost or applied twice.
func (w *writer) commit() error {
	moved := false
	for i := range numModels {
		if w.cps[i] != w.s.cps[i] {
			moved = true
			if err := w.batch.Set(checkpointKey(i), encodeSeq(w.cps[i]), nil); err != nil {
				return fmt.Errorf("projections: write checkpoint: %w", err)
			}
		}
	}
	if !moved {
		return nil
	}
	if w.written != nil {
		r := w.batch.Reader()
		for {
			_, key, _, ok, err := r.Next()
			if err != nil {
				return fmt.Errorf("projections: read batch: %w", err)
			}
			if !ok {
				break
			}
			w.written.add(key)
		}
	}
	if err := w.batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("projections: commit: %w", err)
	}
	if w.keysChanged {
		w.s.keyGen.Add(1)
	}
	if w.clientsChanged {
		w.s.clientGen.Add(1)
	}
	w.s.publish(w.cps)
	return nil
}

// load reads the JSON value at key into v, from the batch's own writes if
// it made any, else from the database. It reports whether the key exists.
func (w *writer) load(key []byte, v any) (bool, error) {
	val, found, err := w.loadRaw(key)
	if err != nil || !found {
		return false, err
	}
	return true, json.Unmarshal(val, v)
}

// loadRaw returns the value at key, valid until the next load, and whether
// it exists.
func (w *writer) loadRaw(key []byte) ([]byte, bool, error) {
	if val, ok := w.pending[string(key)]; ok {
		return val, val != nil, nil // nil: dropped in this batch
	}
	if w.written != nil {
		if !w.written.mayHold(key) {
			return nil, false, nil
		}
	}
	it, err := w.iter()
	if err != nil {
		return nil, false, err
	}
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		return nil, false, it.Error()
	}
	val, err := it.ValueAndErr()
	if err != nil {
		return nil, false, err
	}
	return val, true, nil
}

// iter returns the batch's iterator over the committed state.
func (w *writer) iter() (*pebble.Iterator, error) {
	if w.it == nil {
		it, err := w.s.db.NewIter(nil)
		if err != nil {
			return nil, err
		}
		w.it = it
	}
	return w.it, nil
}

// store writes v as JSON at key.
func (w *writer) store(key []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.pending[string(key)] = val
	w.noteChange(key)
	return w.batch.Set(key, val, nil)
}

// drop deletes the value at key. Index entries, which a batch never reads
// back, are written to the batch directly; values go through here and
// store, so later events of the batch see them.
func (w *writer) drop(key []byte) error {
	w.pending[string(key)] = nil
	w.noteChange(key)
	return w.batch.Delete(key, nil)
}
