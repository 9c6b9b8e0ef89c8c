package projections

import (
	"slices"
	"strings"
)

// unique is an index in which a value names one record: its key prefix. The
// entry of value v is at prefix + v, with the record's id as value (for
// emails, the ids of its claimants, the first of which holds it: see
// join). Values are written as they are (an email may hold any byte, a '/'
// included): they are only ever looked up whole, never listed by prefix.
//
// Entries go through the writer's pending values, unlike those of the
// listing indexes, because a fold reads them back: a release deletes an
// entry only if it still names the record released, and an email's entry
// lists its claimants (see join). So a later event of the same batch sees
// what an earlier one wrote, and batching cannot change the outcome.
type unique string

func (x unique) key(v string) []byte { return cat(string(x), v) }

// claim points x's entry for v at id, whatever it named before (the last
// claim wins): the values of these indexes are hashes of secrets of 256
// random bits, which no two records share. An empty v is in no index.
func (w *writer) claim(x unique, v, id string) error {
	if v == "" {
		return nil
	}
	key := x.key(v)
	val := []byte(id)
	w.pending[string(key)] = val
	return w.batch.Set(key, val, nil)
}

// join adds id to the claimants of v in x, after those that claimed it
// before: an entry's value is the ids of its claimants in claim order,
// comma-separated (ids are domain.ValidID: no commas). The first holds v;
// the others wait for it to leave. A users' email index needs this: one
// user's registration cannot check the email's other users in the log, so
// two racing registrations may both be appended, and the first must not
// strand the second when it is deleted.
func (w *writer) join(x unique, v, id string) error {
	if v == "" {
		return nil
	}
	key := x.key(v)
	held, _, err := w.loadRaw(key)
	if err != nil {
		return err
	}
	ids := claimants(held)
	if slices.Contains(ids, id) {
		return nil
	}
	return w.putClaimants(key, append(ids, id))
}

// leave removes id from the claimants of v in x, deleting the entry with
// the last one.
func (w *writer) leave(x unique, v, id string) error {
	if v == "" {
		return nil
	}
	key := x.key(v)
	held, found, err := w.loadRaw(key)
	if err != nil || !found {
		return err
	}
	ids := claimants(held)
	rest := slices.DeleteFunc(slices.Clone(ids), func(c string) bool { return c == id })
	switch {
	case len(rest) == len(ids):
		return nil
	case len(rest) == 0:
		return w.drop(key)
	}
	return w.putClaimants(key, rest)
}

func (w *writer) putClaimants(key []byte, ids []string) error {
	val := []byte(strings.Join(ids, ","))
	w.pending[string(key)] = val
	return w.batch.Set(key, val, nil)
}

// claimants splits an entry's value into its ids (none for nil).
func claimants(val []byte) []string {
	if len(val) == 0 {
		return nil
	}
	return strings.Split(string(val), ",")
}

// holder returns the id that holds an entry: its first claimant.
func holder(val []byte) string {
	first, _, _ := strings.Cut(string(val), ",")
	return first
}

// release deletes x's entry for v if it names id: an entry another record
// has claimed since stays.
func (w *writer) release(x unique, v, id string) error {
	if v == "" {
		return nil
	}
	key := x.key(v)
	held, found, err := w.loadRaw(key)
	if err != nil || !found || string(held) != id {
		return err
	}
	return w.drop(key)
}

// rehash moves record id's entries in x from the values was to the values
// is: it releases those it holds no more and claims the new ones. A
// refresh family's values only grow by appending (see familyHashes), so
// the common prefix of was and is is skipped first: a rotation claims its
// new hash and reads nothing.
func (w *writer) rehash(x unique, id string, was, is []string) error {
	n := 0
	for n < len(was) && n < len(is) && was[n] == is[n] {
		n++
	}
	was, is = was[n:], is[n:]
	for _, v := range was {
		if !slices.Contains(is, v) {
			if err := w.release(x, v, id); err != nil {
				return err
			}
		}
	}
	for _, v := range is {
		if !slices.Contains(was, v) {
			if err := w.claim(x, v, id); err != nil {
				return err
			}
		}
	}
	return nil
}
