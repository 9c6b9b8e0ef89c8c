package projections

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Incremental verification. Verify reads the whole store, which at start
// costs 0.16–0.23 s per 100,000 events applied: 16–23 s for a log of ten
// million. But Pebble's tables never change once written: a table whose
// blocks all passed their checksums once can only have rotted on disk
// since, and Pebble checks each block's checksum again on every read
// anyway (a damaged block fails the read that meets it, see corruption in
// integrity.go). So VerifyIncremental reads only the tables it has not
// read before (new flushes and compactions since the last start), plus,
// so that rot in cold tables is still found, some of the others, those
// verified longest ago: reverifyBudget bytes per call. The budget is
// fixed, so that what a start reads again does not grow with the length
// of the history: a store of up to reverifyBudget bytes is read whole at
// every start, a bigger one in turn over size/reverifyBudget starts (a
// store of 700 MB, some ten million events, over 44 starts). The memtable's
// contents are checked by the WAL's checksums when the store opens. What a
// server wrote while it ran it reads as it goes (VerifyNew), so what its
// next start reads does not grow with how long it ran either.
//
// The tables verified, in the order they were (oldest first), are listed
// in a file beside Pebble's (verifiedFile), one table number a line;
// Pebble ignores files it does not know. A missing or unreadable list
// means nothing was verified: the next call verifies everything.

const (
	verifiedFile   = "STAMP-VERIFIED"
	reverifyBudget = 16 << 20
)

// Verified is what VerifyIncremental read.
type Verified struct {
	// Tables and Bytes are the tables (and their bytes) it read; Skipped
	// those it trusted from an earlier call.
	Tables, Skipped int
	Bytes           uint64
}

// VerifyIncremental checks the store as Verify does, but reads only the
// tables not verified by an earlier call and, in turn, reverifyBudget
// bytes of the others (see above). It returns an error wrapping ErrCorrupt if a block
// is damaged; a failure to record what it verified is no error (the next
// call verifies more). Safe for concurrent use; it must not run beside
// another VerifyIncremental of the same directory.
func (s *Store) VerifyIncremental() (Verified, error) {
	return s.verifyIncremental(reverifyBudget, 0)
}

// VerifyNew reads the tables no call has verified yet (the flushes and
// compactions since the last one) and records them, reading none of the
// others again. A running server calls it now and then, so that a start
// has only the tables written since the last call to read, plus
// VerifyIncremental's budget, however long it ran. Errors and concurrency
// as VerifyIncremental.
func (s *Store) VerifyNew() (Verified, error) {
	return s.verifyIncremental(0, 0)
}

// verifyIncremental is VerifyIncremental reverifying at least minBytes
// and 1/share of the store (share 0: no share) of the tables verified
// before.
func (s *Store) verifyIncremental(minBytes uint64, share uint64) (Verified, error) {
	if err := s.rlock(); err != nil {
		return Verified{}, err
	}
	defer s.closeMu.RUnlock()
	levels, err := s.db.SSTables()
	if err != nil {
		return Verified{}, fmt.Errorf("projections: verify: %w", err)
	}
	type table struct {
		num               uint64
		size              uint64
		smallest, largest []byte
	}
	live := map[uint64]table{}
	var total uint64
	for _, level := range levels {
		for _, t := range level {
			live[uint64(t.FileNum)] = table{uint64(t.FileNum), t.Size, t.Smallest.UserKey, t.Largest.UserKey}
			total += t.Size
		}
	}
	// The earlier list, oldest first, without tables gone since.
	var order []uint64
	earlier := s.readVerified()
	for _, num := range earlier {
		if _, ok := live[num]; ok && !slices.Contains(order, num) {
			order = append(order, num)
		}
	}
	var todo []table
	for num, t := range live {
		if !slices.Contains(order, num) {
			todo = append(todo, t)
		}
	}
	// A share of the tables verified longest ago, again.
	budget := minBytes
	if share > 0 {
		budget = max(budget, total/share)
	}
	var spent uint64
	kept := order[:0:0]
	for _, num := range order {
		if t := live[num]; spent < budget {
			spent += t.size
			todo = append(todo, t)
			continue
		}
		kept = append(kept, num)
	}
	var v Verified
	for _, t := range todo {
		if err := verifyRange(s.db, t.smallest, t.largest); err != nil {
			return v, err
		}
		v.Tables++
		v.Bytes += t.size
		kept = append(kept, t.num)
	}
	v.Skipped = len(live) - v.Tables
	// A pass that read nothing, with no table gone, leaves the list as
	// it is: VerifyNew runs every few seconds on an idle store too.
	if v.Tables > 0 || len(kept) != len(earlier) {
		s.writeVerified(kept)
	}
	return v, nil
}

// verifyRange reads every key and value from smallest to largest (user
// keys, both included), and so every block of the tables holding them.
func verifyRange(db *pebble.DB, smallest, largest []byte) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: smallest, UpperBound: append(slices.Clip(largest), 0)})
	if err != nil {
		return asCorrupt(fmt.Errorf("projections: verify: %w", err))
	}
	for ok := it.First(); ok; ok = it.Next() {
		if _, err := it.ValueAndErr(); err != nil {
			return asCorrupt(fmt.Errorf("projections: verify: %w", errors.Join(err, it.Close())))
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return asCorrupt(fmt.Errorf("projections: verify: %w", err))
	}
	return nil
}

// readVerified returns the table numbers of verifiedFile, oldest first;
// nil if it is missing or unreadable.
func (s *Store) readVerified() []uint64 {
	f, err := s.fs.Open(s.fs.PathJoin(s.dir, verifiedFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var nums []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			return nil
		}
		nums = append(nums, n)
	}
	if sc.Err() != nil {
		return nil
	}
	return nums
}

// writeVerified replaces verifiedFile with nums (write, sync, rename).
// Failing, it logs and leaves the old list or none.
func (s *Store) writeVerified(nums []uint64) {
	var b bytes.Buffer
	for _, n := range nums {
		fmt.Fprintln(&b, n)
	}
	path := s.fs.PathJoin(s.dir, verifiedFile)
	tmp := path + ".tmp"
	f, err := s.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err == nil {
		_, err = f.Write(b.Bytes())
		err = errors.Join(err, f.Sync(), f.Close())
	}
	if err == nil {
		err = s.fs.Rename(tmp, path)
	}
	if err != nil {
		s.logger.Warn("projections: recording the verified tables", "err", err)
	}
}
