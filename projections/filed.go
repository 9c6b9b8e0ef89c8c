package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/stamp-oauth/stamp/domain"
)

// The folds of the filed models, access tokens and refresh families: as
// the others (see models.go), plus their index entries, kept in step with
// the state (an entry whose owner changed is deleted and the new one
// written), and purges, which drop the records they name.

func (w *writer) foldToken(rec domain.Recorded, ev domain.Event) error {
	if p, ok := ev.(domain.TokensPurged); ok {
		return w.purge(filedTokens, p, func(val []byte) (filing, error) {
			var x domain.AccessToken
			err := json.Unmarshal(val, &x)
			return tokenFiling(x), err
		})
	}
	return foldState(w, rec, ev, domain.KindToken, filedTokens.idKey, domain.ApplyAccessToken,
		func(x domain.AccessToken) (uint64, string) { return x.Seq, x.ID },
		func(old, next domain.AccessToken) error {
			return w.refile(filedTokens, tokenFiling(old), tokenFiling(next))
		})
}

func (w *writer) foldFamily(rec domain.Recorded, ev domain.Event) error {
	if p, ok := ev.(domain.TokensPurged); ok {
		return w.purge(filedFamilies, p, func(val []byte) (filing, error) {
			var x domain.RefreshFamily
			err := json.Unmarshal(val, &x)
			return familyFiling(x), err
		})
	}
	return foldState(w, rec, ev, domain.KindRefresh, filedFamilies.idKey, domain.ApplyRefreshFamily,
		func(x domain.RefreshFamily) (uint64, string) { return x.Seq, x.ID },
		func(old, next domain.RefreshFamily) error {
			return w.refile(filedFamilies, familyFiling(old), familyFiling(next))
		})
}

// refile moves a record's index entries from what was to what is: those of
// the listing indexes and, for a model with one, of its unique index of
// hashes. was and is are one record (or was has no id: it is new).
func (w *writer) refile(m filed, was, is filing) error {
	if x := m.hashes(); x != noUnique {
		if err := w.rehash(x, is.id, was.hashes, is.hashes); err != nil {
			return err
		}
	}
	before, after := was.owners(), is.owners()
	for i := range numIndexes {
		if before[i] == after[i] && was.id == is.id {
			continue
		}
		if before[i] != "" {
			if err := w.batch.Delete(m.indexKey(i, before[i], was.id), nil); err != nil {
				return err
			}
		}
		if after[i] != "" {
			if err := w.batch.Set(m.indexKey(i, after[i], is.id), []byte(is.id), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// purge deletes, with their index entries (hashes included), the records
// of m that p purges: those revoked (if p.Revoked) or expiring (if
// p.Expired) before p.Before, found through the revocation and expiry
// indexes. It reads the committed state only, so ApplyBatch commits the
// events before a purge first (see startsBatch).
func (w *writer) purge(m filed, p domain.TokensPurged, fileOf func(val []byte) (filing, error)) error {
	var ids []string
	for _, idx := range []struct {
		on bool
		i  int
	}{{p.Expired, byExpiry}, {p.Revoked, byRevoked}} {
		if !idx.on {
			continue
		}
		found, err := w.indexed([]byte(m.indexPrefix(idx.i)), m.ownedBy(idx.i, timeKey(p.Before)))
		if err != nil {
			return err
		}
		ids = append(ids, found...)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		key := m.idKey(id)
		val, found, err := w.loadRaw(key)
		if err != nil {
			return err
		}
		if !found {
			continue // an entry without its record: nothing to drop
		}
		f, err := fileOf(val)
		if err != nil {
			return err
		}
		if !p.Purges(f.revoked, f.revokedAt, f.expires) {
			continue
		}
		for i, owner := range f.owners() {
			if owner != "" {
				if err := w.batch.Delete(m.indexKey(i, owner, f.id), nil); err != nil {
					return err
				}
			}
		}
		for _, h := range f.hashes {
			if err := w.release(m.hashes(), h, f.id); err != nil {
				return err
			}
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

// startsBatch reports whether ev must be applied on a batch holding no
// other uncommitted event: it reads indexes, which hold committed entries
// only.
func startsBatch(ev domain.Event) bool {
	switch ev.(type) {
	case domain.TokensPurged, domain.SessionEnded: // see foldSession
		return true
	}
	return false
}
