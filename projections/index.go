package projections

import "slices"

// The index maintenance every model shares: a record's entries move with
// it when a fold changes it (reindex), and go with it when a purge drops
// it (unindex).

// reindex moves a record's index entries from the state old, with id was,
// to the state next, with id is: one record, or old has no id (was is "":
// it is new). An
// entry whose owner or value did not change is not touched; a moved one is
// deleted and the new one written. Listing entries are written to the
// batch directly (a fold never reads them back); unique entries go through
// the writer's pending values (see unique.go).
func reindex[T any](w *writer, m *model[T], old T, was string, next T, is string) error {
	for _, x := range m.uniques {
		var before []string
		if was != "" {
			before = x.values(old)
		}
		if err := revalue(w, x, is, before, x.values(next)); err != nil {
			return err
		}
	}
	for i := range m.lists {
		l := &m.lists[i]
		var before string
		if was != "" {
			before = l.owner(old)
		}
		after := l.owner(next)
		if before == after && was == is {
			continue
		}
		if before != "" {
			if err := w.batch.Delete(m.entryKey(l, before, was), nil); err != nil {
				return err
			}
		}
		if after != "" {
			if err := w.batch.Set(m.entryKey(l, after, is), []byte(is), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// revalue moves record id's entries in x from the values was to the
// values is.
func revalue[T any](w *writer, x uniqueIndex[T], id string, was, is []string) error {
	if !x.shared {
		return w.rehash(x.x, id, was, is)
	}
	for _, v := range was {
		if !slices.Contains(is, v) {
			if err := w.leave(x.x, v, id); err != nil {
				return err
			}
		}
	}
	for _, v := range is {
		if !slices.Contains(was, v) {
			if err := w.join(x.x, v, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// unindex deletes every index entry of rec, a record of m with id id.
func unindex[T any](w *writer, m *model[T], rec T, id string) error {
	for i := range m.lists {
		l := &m.lists[i]
		if owner := l.owner(rec); owner != "" {
			if err := w.batch.Delete(m.entryKey(l, owner, id), nil); err != nil {
				return err
			}
		}
	}
	for _, x := range m.uniques {
		for _, v := range x.values(rec) {
			var err error
			if x.shared {
				err = w.leave(x.x, v, id)
			} else {
				err = w.release(x.x, v, id)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
