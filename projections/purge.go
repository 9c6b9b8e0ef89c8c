package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/stamp-oauth/stamp/domain"
)

// purge deletes, with their index entries, the records of m that p drops
// (m.purge.drops): it finds them through the time indexes p reads (those
// whose purgedBy(p) holds), by their owners before p.Before. It reads the
// committed state only, so ApplyBatch commits the events before a purge
// first (see models.startsBatch).
func purge[T any](w *writer, m *model[T], p domain.TokensPurged) error {
	var ids []string
	for i := range m.lists {
		l := &m.lists[i]
		if l.purgedBy == nil || !l.purgedBy(p) {
			continue
		}
		found, err := w.indexed([]byte(m.indexPrefix(l)), m.ownedBy(l, timeKey(p.Before)))
		if err != nil {
			return err
		}
		ids = append(ids, found...)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		key := m.name.idKey(id)
		val, found, err := w.loadRaw(key)
		if err != nil {
			return err
		}
		if !found {
			continue // an entry without its record: nothing to drop
		}
		var rec T
		if err := json.Unmarshal(val, &rec); err != nil {
			return err
		}
		if !m.purge.drops(p, rec) {
			continue
		}
		_, id := m.fold.Ident(rec)
		if err := unindex(w, m, rec, id); err != nil {
			return err
		}
		if err := w.drop(key); err != nil {
			return err
		}
	}
	return nil
}

// indexed returns the values (ids) of the committed index entries in
// [lower, upper).
func (w *writer) indexed(lower, upper []byte) ([]string, error) {
	it, err := w.iter()
	if err != nil {
		return nil, err
	}
	var out []string
	for ok := it.SeekGE(lower); ok && bytes.Compare(it.Key(), upper) < 0; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		out = append(out, string(v))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("scan %s: %w", lower, err)
	}
	return out, nil
}
