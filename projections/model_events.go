package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// The event index: for each aggregate of a sharded kind (tokens, refresh
// families, codes, device codes: domain.Sharded), the stream sequence of
// each of its events, at events/<kind>/<id>/<seq as 8 bytes big-endian>
// with the same 8 bytes as value. Those aggregates have no subject of
// their own (see domain.Aggregate), so one token's history is found here,
// then read with direct gets (eventstore.Store.Get): `stamp audit token`,
// `stamp events --token` and the server's loads of such aggregates.
//
// It keeps every event of such an aggregate, the old per-id subjects'
// included (about 40 bytes an event before compression, on disk, not in
// memory), as long as the log holds them: no purge drops it, since an
// audit must reach every token the log still holds, the purged ones
// included. It depends on nothing but the events it applies, so dropping
// and rebuilding any other model leaves it as it is. It is rebuilt from the log like every
// model, and like the sessions model it was added without a new layout: a
// store without its checkpoint starts it at 0.
type eventIndex struct{}

// ErrNotIndexed: EventSeqs was asked for an aggregate of a kind the event
// index does not hold.
var ErrNotIndexed = errors.New("projections: not in the event index")

func (eventIndex) named() Model { return ModelEvents }

func (eventIndex) purges(domain.Recorded, domain.Event) bool { return false }

func (eventIndex) apply(w *writer, rec domain.Recorded, ev domain.Event) error {
	agg := ev.AggregateOf()
	if !agg.Sharded() {
		return nil
	}
	seq := binary.BigEndian.AppendUint64(nil, rec.Seq)
	if err := w.batch.Set(append(eventsPrefix(agg), seq...), seq, nil); err != nil {
		return fmt.Errorf("projections: index %s at %d: %w", agg, rec.Seq, err)
	}
	return nil
}

// eventsPrefix is the prefix of agg's entries in the event index.
func eventsPrefix(agg domain.Aggregate) []byte {
	return cat(string(ModelEvents), "/", agg.Kind, "/", agg.ID, "/")
}

// EventSeqs returns the stream sequences of the events of agg, an
// aggregate of a sharded kind, in stream order, as far as the store has
// applied the log (Checkpoint of ModelEvents); none is an empty slice. It
// returns an error wrapping ErrNotIndexed for an aggregate of another
// kind, whose events are found by subject.
func (s *Store) EventSeqs(ctx context.Context, agg domain.Aggregate) ([]uint64, error) {
	if !agg.Sharded() || !domain.ValidID(agg.ID) {
		return nil, fmt.Errorf("projections: events of %s: %w", agg, ErrNotIndexed)
	}
	out := []uint64{}
	err := s.scan(ctx, eventsPrefix(agg), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("event index entry of %s holds %d bytes", agg, len(v))
		}
		out = append(out, binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projections: events of %s: %w", agg, err)
	}
	return out, nil
}
